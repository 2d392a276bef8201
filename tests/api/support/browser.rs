//! Headless Chromium driven over WebDriver (Debian's chromium and
//! chromium-driver; nothing is downloaded): a driver per test, browser
//! windows with profiles of their own, and what tests do in them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::free_port;

/// WebDriver's codes for keys that are not text.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_driver(http: &reqwest::Client) -> Driver {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is not installed: apt-get install -y chromium chromium-driver");
    let driver = Driver { child, url: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await
            && r.status().is_success()
        {
            return driver;
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One browser window with its own profile (cookies).
pub struct Browser {
    http: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn open(http: &reqwest::Client, driver: &Driver) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1280,1000".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}});
        let r: Value =
            http.post(format!("{}/session", driver.url)).json(&caps).send().await.unwrap().json().await.unwrap();
        let session = r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no browser session: {r}")).to_owned();
        Browser { http: http.clone(), session: format!("{}/session/{session}", driver.url), _profile: profile }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if !body.is_null() {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let v: Value = r.json().await.unwrap();
        assert!(v["value"]["error"].is_null(), "{path}: {v}");
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({"url": url})).await;
    }

    pub async fn find(&self, css: &str) -> String {
        let v = self.call(reqwest::Method::POST, "/element", json!({"using": "css selector", "value": css})).await;
        v[ELEMENT].as_str().unwrap_or_else(|| panic!("{css}: {v}")).to_owned()
    }

    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{e}/clear"), json!({})).await;
        self.call(reqwest::Method::POST, &format!("/element/{e}/value"), json!({"text": text})).await;
    }

    pub async fn click(&self, css: &str) {
        let e = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{e}/click"), json!({})).await;
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", Value::Null).await.as_str().unwrap().to_owned()
    }

    /// The page source once it contains `text` (navigation may still be under way).
    pub async fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let source = self.source().await;
            if source.contains(text) {
                return source;
            }
            assert!(Instant::now() < deadline, "page never showed {text:?}:\n{source}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A screenshot of the window, into artifacts/ (not committed).
    pub async fn screenshot(&self, name: &str) {
        self.screenshot_into(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("artifacts"), name).await;
    }

    pub async fn screenshot_into(&self, dir: &Path, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", Value::Null).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
    }

    /// Runs `script` in the page (its `return` is the result).
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", json!({"script": script, "args": args})).await
    }

    /// Runs `script`, which calls its last argument with the result.
    pub async fn execute_async(&self, script: &str, args: Value) -> Value {
        self.call(reqwest::Method::POST, "/execute/async", json!({"script": script, "args": args})).await
    }

    /// Resizes the window to `width` × `height` CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) {
        self.call(reqwest::Method::POST, "/window/rect", json!({"width": width, "height": height})).await;
    }

    /// Types `text` into whatever has the focus, key by key.
    pub async fn type_keys(&self, text: &str) {
        for c in text.chars() {
            self.press(&c.to_string()).await;
        }
    }

    /// Presses and releases one key (a WebDriver key code such as [`TAB`]),
    /// wherever the focus is, as a keyboard would.
    pub async fn press(&self, key: &str) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]});
        self.call(reqwest::Method::POST, "/actions", actions).await;
    }

    pub async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}
