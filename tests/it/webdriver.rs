//! Just enough of the W3C WebDriver protocol, spoken to ChromeDriver over
//! HTTP with ureq, to drive headless Chromium through the local cloud's
//! console: open a page, find elements by CSS selector, click, type, read
//! text, take a screenshot. No WebDriver crate: these few calls are the
//! whole need.

#![allow(
    clippy::unwrap_used,
    reason = "a harness failure is a failed test, which is what a panic reports"
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian's `chromium` and `chromium-driver` packages put them
/// (overridable with `IOTCS_CHROMIUM` and `IOTCS_CHROMEDRIVER`).
fn tool(env: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(env).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.is_file().then_some(path)
}

/// Chromium and ChromeDriver, if both are installed.
pub(crate) fn find_browser() -> Option<(PathBuf, PathBuf)> {
    Some((
        tool("IOTCS_CHROMIUM", "/usr/bin/chromium")?,
        tool("IOTCS_CHROMEDRIVER", "/usr/bin/chromedriver")?,
    ))
}

/// A ChromeDriver process and one browser session in it; both end on drop.
pub(crate) struct Browser {
    agent: ureq::Agent,
    session: String,
    base: String,
    driver: Child,
    // Chromium's profile, deleted after the driver has stopped.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts ChromeDriver on a free loopback port and a headless Chromium
    /// session that accepts the local cloud's certificate.
    pub(crate) fn start(chromium: &Path, chromedriver: &Path, patience: Duration) -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + patience;
        while agent
            .get(format!("{base}/status"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
            .is_none_or(|v| v["value"]["ready"] != true)
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::TempDir::with_prefix("chromium-profile").unwrap();
        let mut browser = Browser {
            agent,
            session: String::new(),
            base,
            driver,
            _profile: profile,
        };
        let args = [
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--window-size=1400,1000".to_owned(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        // acceptInsecureCerts: the cloud's CA is made fresh for each test
        // and Chromium cannot be told to trust one CA without writing to the
        // user's certificate database; this session (and only it) accepts
        // the cloud's certificate, as a browser would after "proceed".
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let answer = browser.call("POST", "/session", Some(capabilities));
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        browser
    }

    /// A WebDriver command; returns its `value`, panicking on an error.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let value = self.try_call(method, path, body);
        assert!(value.get("error").is_none(), "{method} {path}: {value}");
        value
    }

    /// A WebDriver command; returns its `value` (an `{"error"}` object on
    /// failure).
    fn try_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("POST", Some(b)) => self.agent.post(&url).send_json(b),
            ("POST", None) => self.agent.post(&url).send_json(json!({})),
            ("DELETE", _) => self.agent.delete(&url).call(),
            _ => self.agent.get(&url).call(),
        };
        let read = response.and_then(|mut r| r.body_mut().read_json::<Value>());
        match read {
            Ok(v) => v["value"].clone(),
            Err(e) => json!({"error": format!("chromedriver: {e}")}),
        }
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    pub(crate) fn open(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(json!({ "url": url })),
        );
    }

    /// The element `css` selects, once there is one (the page polls, so
    /// what a test waits for appears within the deadline or never).
    #[track_caller]
    pub(crate) fn wait_for(&self, css: &str, patience: Duration) -> String {
        let deadline = Instant::now() + patience;
        loop {
            let found = self.try_call(
                "POST",
                &self.session_path("/element"),
                Some(json!({"using": "css selector", "value": css})),
            );
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "no element {css:?} appeared; the page says: {}",
                self.text(&self.body())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn body(&self) -> String {
        let found = self.call(
            "POST",
            &self.session_path("/element"),
            Some(json!({"using": "css selector", "value": "body"})),
        );
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    /// The rendered text of an element.
    pub(crate) fn text(&self, element: &str) -> String {
        let v = self.call(
            "GET",
            &self.session_path(&format!("/element/{element}/text")),
            None,
        );
        v.as_str().unwrap_or_default().to_owned()
    }

    /// A DOM property of an element as text (`href` is the absolute URL).
    pub(crate) fn property(&self, element: &str, name: &str) -> String {
        let v = self.call(
            "GET",
            &self.session_path(&format!("/element/{element}/property/{name}")),
            None,
        );
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The rendered text of an element, or "" if the page replaced it.
    pub(crate) fn text_if_there(&self, element: &str) -> String {
        let path = self.session_path(&format!("/element/{element}/text"));
        let v = self.try_call("GET", &path, None);
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks the element `css` selects, finding it again if the page
    /// re-rendered it in between (a "stale element reference").
    #[track_caller]
    pub(crate) fn click(&self, css: &str, patience: Duration) {
        self.act(css, "click", json!({}), patience);
    }

    /// Types `text` into the element `css` selects (found again if stale).
    #[track_caller]
    pub(crate) fn type_into(&self, css: &str, text: &str, patience: Duration) {
        self.act(css, "value", json!({ "text": text }), patience);
    }

    /// Empties the input or textarea `css` selects (found again if stale).
    #[track_caller]
    pub(crate) fn clear(&self, css: &str, patience: Duration) {
        self.act(css, "clear", json!({}), patience);
    }

    /// Scrolls the element `css` selects to the top of the window (for
    /// screenshots of a part of the page below the fold).
    #[track_caller]
    pub(crate) fn scroll_to(&self, css: &str, patience: Duration) {
        let element = self.wait_for(css, patience);
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(json!({
                "script": "arguments[0].scrollIntoView(true);",
                "args": [{ ELEMENT: element }],
            })),
        );
    }

    #[track_caller]
    fn act(&self, css: &str, command: &str, body: Value, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            let element = self.wait_for(css, patience);
            let path = self.session_path(&format!("/element/{element}/{command}"));
            let answer = self.try_call("POST", &path, Some(body.clone()));
            match answer["error"].as_str() {
                None => return,
                Some("stale element reference") if Instant::now() < deadline => {}
                Some(_) => panic!("{command} on {css:?}: {answer}"),
            }
        }
    }

    /// A PNG of the window.
    pub(crate) fn screenshot(&self) -> Vec<u8> {
        let v = self.call("GET", &self.session_path("/screenshot"), None);
        iotcs_core::__private::encoding::base64_decode(v.as_str().unwrap()).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.try_call("DELETE", &self.session_path(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
