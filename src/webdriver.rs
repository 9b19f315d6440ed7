//! A small W3C WebDriver client for headless Chromium (Debian's `chromium` and
//! `chromium-driver`): the browser tests and `troupe bench console` drive the web console
//! with it.
//!
//! It speaks the handful of WebDriver commands they need over `reqwest`, which troupe already
//! has; a WebDriver crate (`fantoccini`) would add `icu_segmenter`, a second `http` and
//! `cookie` to the build for the same six endpoints.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian installs the browser and its driver.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's ChromeDriver.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Returns whether the browser and its driver are installed.
pub fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

/// A running ChromeDriver with one headless Chromium session; both end when dropped.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    base: String,
    _profile: tempfile::TempDir,
}

/// An element of the page.
#[derive(Clone, Debug)]
pub struct Element(String);

impl Browser {
    /// Starts ChromeDriver on a free port and a headless Chromium of `width`×`height`.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {CHROMEDRIVER}"))?;
        let profile = tempfile::tempdir()?;
        let mut browser = Self {
            driver,
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?,
            base: format!("http://127.0.0.1:{port}"),
            _profile: profile,
        };
        let status = format!("{}/status", browser.base);
        let ready = || async {
            let answer = browser.http.get(&status).send().await;
            anyhow::Ok(answer.is_ok_and(|response| response.status().is_success()).then_some(()))
        };
        poll(Duration::from_secs(20), ready).await?.context("ChromeDriver did not answer within 20 s")?;
        let args = vec![
            "--headless=new".to_owned(),
            // As root (CI) Chromium refuses to start without this; the page is our own.
            "--no-sandbox".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-gpu".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args}
        }}});
        let session = browser.command("POST", "/session", Some(capabilities)).await?;
        let id = session["sessionId"].as_str().context("no session id")?.to_owned();
        browser.base = format!("{}/session/{id}", browser.base);
        Ok(browser)
    }

    async fn command(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.parse()?, &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.with_context(|| format!("WebDriver {method} {path}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("WebDriver {method} {path}: {status}: {}", body["value"]["message"].as_str().unwrap_or_default());
        }
        Ok(body["value"].clone())
    }

    /// Opens a URL.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.command("POST", "/url", Some(json!({"url": url}))).await.map(drop)
    }

    /// Runs a script in the page (`arguments[0]`…) and returns what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        self.command("POST", "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// Finds the first element a CSS selector matches, if any.
    pub async fn find(&self, selector: &str) -> anyhow::Result<Option<Element>> {
        let found =
            self.command("POST", "/elements", Some(json!({"using": "css selector", "value": selector}))).await?;
        Ok(found
            .as_array()
            .and_then(|all| all.first())
            .and_then(|first| first[ELEMENT].as_str())
            .map(|id| Element(id.to_owned())))
    }

    /// Waits until `selector` matches an element; fails past `deadline`.
    pub async fn wait_for(&self, selector: &str, deadline: Duration) -> anyhow::Result<Element> {
        poll(deadline, || self.find(selector))
            .await?
            .with_context(|| format!("nothing matched `{selector}` within {deadline:?}"))
    }

    /// Waits until `script` (an expression) is truthy in the page; fails past `deadline`.
    pub async fn wait_until(&self, expression: &str, deadline: Duration) -> anyhow::Result<Value> {
        let script = format!("return ({expression});");
        let truthy = || async {
            let value = self.execute(&script, Vec::new()).await?;
            let falsy = value.is_null() || value == json!(false) || value == json!("") || value == json!(0);
            anyhow::Ok((!falsy).then_some(value))
        };
        poll(deadline, truthy).await?.with_context(|| format!("`{expression}` was not true within {deadline:?}"))
    }

    /// Clicks an element.
    pub async fn click(&self, element: &Element) -> anyhow::Result<()> {
        self.command("POST", &format!("/element/{}/click", element.0), Some(json!({}))).await.map(drop)
    }

    /// Types into an element (a file input takes a path).
    pub async fn type_into(&self, element: &Element, text: &str) -> anyhow::Result<()> {
        self.command("POST", &format!("/element/{}/value", element.0), Some(json!({"text": text}))).await.map(drop)
    }

    /// Returns an element's visible text.
    pub async fn text(&self, element: &Element) -> anyhow::Result<String> {
        let text = self.command("GET", &format!("/element/{}/text", element.0), None).await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// Resizes the window (the viewport follows).
    pub async fn resize(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.command("POST", "/window/rect", Some(json!({"width": width, "height": height}))).await.map(drop)
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<PathBuf> {
        use base64::Engine;
        let data = self.command("GET", "/screenshot", None).await?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or_default())?;
        std::fs::write(path, bytes)?;
        Ok(path.to_owned())
    }

    /// Ends the session and the driver.
    pub async fn quit(mut self) {
        let _ = self.command("DELETE", "", None).await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Asks `check` every 50 ms until it answers `Some` or `deadline` passes (then `None`).
async fn poll<T, F, Fut>(deadline: Duration, mut check: F) -> anyhow::Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let until = tokio::time::Instant::now() + deadline;
    let mut every = tokio::time::interval(Duration::from_millis(50));
    loop {
        every.tick().await;
        if let Some(found) = check().await? {
            return Ok(Some(found));
        }
        if tokio::time::Instant::now() > until {
            return Ok(None);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
