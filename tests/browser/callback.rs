//! The relying party's side: a tiny HTTP server on loopback that answers every request with 200,
//! so the browser has somewhere to land when authd redirects it with a code, and that keeps the
//! bodies POSTed to it (back-channel logout tokens).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Path of a page whose title a script rewrites: it tells whether a session runs JavaScript.
pub const SCRIPT_PROBE_PATH: &str = "/script-probe";
/// The probe page's title when no script ran.
pub const TITLE_WITHOUT_SCRIPTS: &str = "scripts off";

const SCRIPT_PROBE_PAGE: &str = "<!doctype html><html><head><title>scripts off</title>\
    <script>document.title = 'scripts on';</script></head><body>probe</body></html>";

/// Largest request (head and body) the server reads.
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// A POST the server received.
#[derive(Clone, Debug)]
pub struct Post {
    pub path: String,
    pub content_type: Option<String>,
    pub body: String,
}

/// A running callback server.
pub struct Callback {
    port: u16,
    posts: Arc<Mutex<Vec<Post>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Callback {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Callback {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the callback server");
        let port = listener.local_addr().unwrap().port();
        let posts = Arc::new(Mutex::new(Vec::new()));
        let kept = posts.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, kept.clone()));
            }
        });
        Callback { port, posts, task }
    }

    /// `http://localhost:PORT{path}`: localhost, as WebAuthn will need.
    pub fn url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port)
    }

    /// The POSTs to `path` so far.
    pub fn posts_to(&self, path: &str) -> Vec<Post> {
        let posts = self.posts.lock().unwrap();
        posts.iter().filter(|p| p.path == path).cloned().collect()
    }

    /// Waits up to `timeout` for a POST to `path`; panics naming `what` when none comes.
    pub async fn wait_for_post(&self, path: &str, timeout: Duration, what: &str) -> Post {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(post) = self.posts_to(path).into_iter().next() {
                return post;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: nothing was POSTed to {path} within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(mut stream: TcpStream, posts: Arc<Mutex<Vec<Post>>>) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 2048];
    let head_end = loop {
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if request.len() >= MAX_REQUEST_BYTES {
            return;
        }
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("GET").to_owned();
    let path = words.next().unwrap_or("/").to_owned();
    if method == "POST" {
        let length = header(&head, "content-length")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0)
            .min(MAX_REQUEST_BYTES);
        while request.len() < head_end + length {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buffer[..n]),
            }
        }
        let end = request.len().min(head_end + length);
        posts.lock().unwrap().push(Post {
            path: path.clone(),
            content_type: header(&head, "content-type"),
            body: String::from_utf8_lossy(&request[head_end..end]).into_owned(),
        });
    }
    let (content_type, body) = if path.starts_with(SCRIPT_PROBE_PATH) {
        ("text/html; charset=utf-8", SCRIPT_PROBE_PAGE)
    } else {
        ("text/plain; charset=utf-8", "signed in")
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The value of header `name` (lowercase) in a request head.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}
