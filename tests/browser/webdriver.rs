//! chromedriver on a free port and headless Chromium sessions through it (fantoccini).

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use url::Url;

/// Browsers are heavy on two cores: the tests of this binary take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a page may take to show what a step waits for.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

fn chromedriver_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|candidate| candidate.is_file())
}

/// chromedriver, if installed. Missing is fatal under CI=true, as PostgreSQL is.
fn find_chromedriver() -> Option<PathBuf> {
    let found = chromedriver_path();
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromedriver is not installed and CI=true (Debian: chromium chromium-driver)");
        }
        eprintln!(
            "SKIPPED: chromedriver is not on the PATH; install Debian's chromium and \
             chromium-driver to run the browser tests"
        );
    }
    found
}

/// A running chromedriver; killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(binary: PathBuf) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port for chromedriver")
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let ready = reqwest::get(&status)
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                return driver;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn session(&self, javascript: bool) -> Client {
        let mut chrome = json!({
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=800,720",
            ],
        });
        if std::path::Path::new("/usr/bin/chromium").is_file() {
            chrome["binary"] = json!("/usr/bin/chromium");
        }
        if !javascript {
            // 2 = block: pages run no script at all, as for a person who turned it off.
            chrome["prefs"] = json!({ "profile.default_content_setting_values.javascript": 2 });
        }
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), chrome);
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("opening a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `scenario` in a fresh browser session (cookies and all), then closes it, also when the
/// scenario fails. Returns without running it when no chromedriver is installed (see above).
pub async fn with_browser<F, Fut>(javascript: bool, scenario: F)
where
    F: FnOnce(Client) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(binary) = find_chromedriver() else {
        return;
    };
    let _turn = ONE_AT_A_TIME.lock().await;
    let driver = Driver::start(binary).await;
    let client = driver.session(javascript).await;
    // A task, so that a failed assertion still lets the session close and Chromium exit.
    let outcome = tokio::spawn(scenario(client.clone())).await;
    let _ = client.close().await;
    drop(driver);
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// Waits for an element; panics with the page's address and text when it does not come.
pub async fn wait_for(browser: &Client, css: &str) -> fantoccini::elements::Element {
    match browser
        .wait()
        .at_most(STEP_TIMEOUT)
        .for_element(Locator::Css(css))
        .await
    {
        Ok(element) => element,
        Err(error) => panic!(
            "{css} did not appear ({error}); {}",
            describe(browser).await
        ),
    }
}

/// Waits until the browser's address starts with `prefix` and returns it.
pub async fn wait_for_address(browser: &Client, prefix: &str) -> Url {
    let deadline = Instant::now() + STEP_TIMEOUT;
    loop {
        let url = browser.current_url().await.expect("reading the address");
        if url.as_str().starts_with(prefix) {
            return url;
        }
        if Instant::now() > deadline {
            panic!(
                "the browser did not reach {prefix}; {}",
                describe(browser).await
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where the browser is and what it shows, for failure messages.
pub async fn describe(browser: &Client) -> String {
    let url = browser
        .current_url()
        .await
        .map_or_else(|e| format!("<{e}>"), |u| u.to_string());
    let text = match browser.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    format!("it is at {url} showing {text:?}")
}
