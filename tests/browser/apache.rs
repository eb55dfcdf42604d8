//! Apache httpd with mod_auth_openidc as a child process: a relying party people deploy, set up
//! with nothing but authd's discovery URL, a client id and a secret. Its config, pages and logs
//! live in a temporary directory; the server stops on drop.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const APACHE: &str = "/usr/sbin/apache2";
const MODULES: &str = "/usr/lib/apache2/modules";
const OPENIDC_MODULE: &str = "mod_auth_openidc.so";

/// The protected area and mod_auth_openidc's own endpoint inside it.
pub const PROTECTED_PATH: &str = "/protected/";
const REDIRECT_PATH: &str = "/protected/redirect_uri";
/// An unprotected page for after logout.
pub const SIGNED_OUT_PATH: &str = "/signed-out.html";

/// How long Apache may take to start or stop.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The protected page: who mod_auth_openidc says signed in, from the id_token's claims.
const PROTECTED_PAGE: &str = r#"<!doctype html>
<html><head><title>Intranet</title></head><body>
<p>Signed in as <span id="user"><!--#echo var="REMOTE_USER" --></span>
(<span id="email"><!--#echo var="OIDC_CLAIM_email" --></span>)</p>
</body></html>
"#;

const SIGNED_OUT_PAGE: &str =
    "<!doctype html><html><head><title>Signed out</title></head><body>bye</body></html>\n";

/// What mod_auth_openidc is told about the provider and the client.
pub struct OpenidcSettings<'a> {
    pub metadata_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
}

/// An Apache about to start (port and directory chosen) or running.
pub struct Apache {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

/// Apache and mod_auth_openidc, if installed. Missing is fatal under CI=true, as chromedriver is.
fn installed() -> bool {
    let found = Path::new(APACHE).is_file() && Path::new(MODULES).join(OPENIDC_MODULE).is_file();
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "Apache or mod_auth_openidc is not installed and CI=true \
                 (Debian: apache2 libapache2-mod-auth-openidc)"
            );
        }
        eprintln!(
            "SKIPPED: {APACHE} or {MODULES}/{OPENIDC_MODULE} is missing; install Debian's \
             apache2 and libapache2-mod-auth-openidc to run the Apache test"
        );
    }
    found
}

impl Apache {
    /// Chooses a port and a directory; `None` (after printing why) when Apache is not installed.
    pub fn prepare() -> Option<Apache> {
        if !installed() {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port for Apache")
            .port();
        let dir = tempfile::tempdir().expect("a directory for Apache");
        Some(Apache {
            port,
            dir,
            child: None,
        })
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// mod_auth_openidc's redirect URI, to register at authd.
    pub fn redirect_uri(&self) -> String {
        self.url(REDIRECT_PATH)
    }

    /// The URL that signs out of mod_auth_openidc and, through authd's end_session_endpoint,
    /// of authd; the browser ends at `return_to`.
    pub fn logout_url(&self, return_to: &str) -> String {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("logout", return_to)
            .finish();
        format!("{}?{query}", self.redirect_uri())
    }

    /// Writes the config and pages, starts `apache2 -DFOREGROUND` and waits until it listens.
    pub async fn start(&mut self, openidc: &OpenidcSettings<'_>) {
        let root = self.dir.path();
        let docs = root.join("htdocs");
        std::fs::create_dir_all(docs.join("protected")).unwrap();
        std::fs::write(docs.join("protected/index.shtml"), PROTECTED_PAGE).unwrap();
        std::fs::write(
            docs.join(SIGNED_OUT_PATH.trim_start_matches('/')),
            SIGNED_OUT_PAGE,
        )
        .unwrap();
        let config = root.join("httpd.conf");
        std::fs::write(&config, self.config(openidc)).unwrap();
        // Run as root, Apache serves as www-data, which must be able to read the pages.
        for dir in [root.to_path_buf(), docs.clone(), docs.join("protected")] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let log = |name: &str| std::fs::File::create(root.join(name)).unwrap();
        let child = Command::new(APACHE)
            .arg("-f")
            .arg(&config)
            .arg("-DFOREGROUND")
            .env_clear()
            .stdin(Stdio::null())
            .stdout(log("stdout.log"))
            .stderr(log("stderr.log"))
            .spawn()
            .expect("starting Apache");
        self.child = Some(child);
        self.wait_until_listening().await;
    }

    async fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let address = format!("127.0.0.1:{}", self.port);
        loop {
            if tokio::net::TcpStream::connect(&address).await.is_ok() {
                return;
            }
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            if let Some(status) = exited {
                panic!("Apache exited ({status}): {}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "Apache did not listen: {}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Apache's error log and console output, for failure messages.
    pub fn logs(&self) -> String {
        ["stderr.log", "error.log"]
            .iter()
            .map(|name| {
                let text = std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
                format!("--- {name}\n{text}")
            })
            .collect()
    }

    /// The lines mod_auth_openidc logged as errors.
    pub fn openidc_errors(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("error.log"))
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("[auth_openidc:error]"))
            .map(str::to_owned)
            .collect()
    }

    fn config(&self, openidc: &OpenidcSettings<'_>) -> String {
        let root = self.dir.path().display();
        let port = self.port;
        let modules: String = [
            ("mpm_event", "mod_mpm_event.so"),
            ("authn_core", "mod_authn_core.so"),
            ("authz_core", "mod_authz_core.so"),
            ("authz_user", "mod_authz_user.so"),
            ("mime", "mod_mime.so"),
            ("dir", "mod_dir.so"),
            ("include", "mod_include.so"),
            ("auth_openidc", OPENIDC_MODULE),
        ]
        .iter()
        .map(|(name, file)| format!("LoadModule {name}_module {MODULES}/{file}\n"))
        .collect();
        // As root, Apache refuses to serve; it switches to Debian's unprivileged user.
        let user = if running_as_root() {
            "User www-data\nGroup www-data\n"
        } else {
            ""
        };
        let passphrase = uuid::Uuid::new_v4().simple().to_string();
        let OpenidcSettings {
            metadata_url,
            client_id,
            client_secret,
        } = openidc;
        let redirect_uri = self.redirect_uri();
        format!(
            r#"ServerRoot "{root}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{root}/httpd.pid"
DefaultRuntimeDir "{root}"
ErrorLog "{root}/error.log"
LogLevel warn
{user}{modules}
StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
TypesConfig /etc/mime.types
DocumentRoot "{root}/htdocs"
AddType text/html .shtml
AddOutputFilter INCLUDES .shtml
DirectoryIndex index.shtml

OIDCProviderMetadataURL {metadata_url}
OIDCClientID {client_id}
OIDCClientSecret {client_secret}
OIDCRedirectURI {redirect_uri}
OIDCCryptoPassphrase {passphrase}
OIDCScope "openid profile email"
OIDCPKCEMethod S256
OIDCRemoteUserClaim preferred_username

<Location /protected>
    AuthType openid-connect
    Require valid-user
    Options +Includes
</Location>
"#
        )
    }
}

fn running_as_root() -> bool {
    // /proc/self belongs to the effective user of this process.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl Drop for Apache {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if std::thread::panicking() {
            eprintln!("Apache's logs:\n{}", self.logs());
        }
        // SIGTERM, not SIGKILL: the parent then stops its worker processes too.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
