//! The relying party's side: a tiny HTTP server on loopback that answers every request with 200,
//! so the browser has somewhere to land when authd redirects it with a code.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Path of a page whose title a script rewrites: it tells whether a session runs JavaScript.
pub const SCRIPT_PROBE_PATH: &str = "/script-probe";
/// The probe page's title when no script ran.
pub const TITLE_WITHOUT_SCRIPTS: &str = "scripts off";

const SCRIPT_PROBE_PAGE: &str = "<!doctype html><html><head><title>scripts off</title>\
    <script>document.title = 'scripts on';</script></head><body>probe</body></html>";

/// A running callback server.
pub struct Callback {
    port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Callback {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Callback {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the callback server");
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream));
            }
        });
        Callback { port, task }
    }

    /// `http://localhost:PORT{path}`: localhost, as WebAuthn will need.
    pub fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port)
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(mut stream: TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 2048];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let line = String::from_utf8_lossy(&request);
    let path = line.split_whitespace().nth(1).unwrap_or("/");
    let (content_type, body) = if path.starts_with(SCRIPT_PROBE_PATH) {
        ("text/html; charset=utf-8", SCRIPT_PROBE_PAGE)
    } else {
        ("text/plain; charset=utf-8", "signed in")
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
