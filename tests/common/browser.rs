//! Headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol, for
//! integration tests of the server-rendered web pages.
//!
//! Each [`Browser`] is its own chromium process with a throwaway profile, listening for
//! DevTools on a random loopback port; each [`Page`] is a tab with its own websocket to it
//! (a flattened CDP session), so pages never share protocol state.

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc as std_mpsc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// Chromium's start-up on a busy two-core machine can take several seconds.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on any single protocol command and on a page load.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Where tests put screenshots: `<cargo target dir>/screenshots`, kept across runs so a failing
/// test's last picture can be looked at.
pub fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp for integration tests.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .join("screenshots")
}

/// A headless chromium process, killed when dropped.
pub struct Browser {
    child: Child,
    /// The browser-level DevTools websocket (ws://127.0.0.1:<port>/devtools/browser/<id>).
    ws_url: String,
    /// Holds chromium's profile and its TMPDIR; removed by `drop` once chromium is dead.
    scratch: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium's helper processes (zygotes, renderers, crashpad) exit on their own once
        // the browser process is gone, but may still write into the scratch directory for a
        // moment: retry its removal briefly rather than leave it behind in /tmp.
        let _ = self.child.kill();
        let _ = self.child.wait();
        for _ in 0..50 {
            if std::fs::remove_dir_all(&self.scratch).is_ok() || !self.scratch.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn chromium_program() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    let fallback = PathBuf::from("/usr/bin/chromium");
    match on_path {
        Some(path) => path,
        None if fallback.is_file() => fallback,
        None => panic!(
            "Debian's chromium is not installed: run scripts/test, or apt-get install chromium"
        ),
    }
}

impl Browser {
    /// Starts headless chromium and waits (up to 30 s) until its DevTools endpoint listens.
    pub fn launch() -> Browser {
        let program = chromium_program();
        // Kept past the TempDir (removed in Drop, after the kill) so chromium's files are gone
        // only once it cannot write any more.
        let scratch = tempfile::Builder::new()
            .prefix("promshard-chromium-")
            .tempdir()
            .expect("create a scratch directory for chromium")
            .keep();
        let profile = scratch.join("profile");
        // Chromium's TMPDIR: a killed chromium leaves its singleton socket directory there
        // (and, with --disable-dev-shm-usage, shared memory files).
        let tmp = scratch.join("tmp");
        std::fs::create_dir_all(&tmp).expect("create chromium's TMPDIR");
        let child = Command::new(&program)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                // Tests only talk to 127.0.0.1; never route that through an environment proxy.
                "--no-proxy-server",
                // 0: chromium picks a free port and prints it, so parallel tests cannot clash.
                "--remote-debugging-port=0",
                &format!("--user-data-dir={}", profile.display()),
                "--window-size=1400,1000",
                "about:blank",
            ])
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        // From here on, Drop kills chromium and removes the scratch directory, also when
        // launch panics below.
        let mut browser = Browser {
            child,
            ws_url: String::new(),
            scratch,
        };
        let stderr = browser
            .child
            .stderr
            .take()
            .expect("chromium's stderr is piped");

        // A thread reads stderr for the whole life of the process: a full pipe would block
        // chromium. Lines go to `launch` until it stops listening, then are discarded.
        let (lines_tx, lines_rx) = std_mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = lines_tx.send(line);
            }
        });

        let deadline = std::time::Instant::now() + LAUNCH_TIMEOUT;
        let mut seen = String::new();
        let ws_url = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("DevTools listening on ") {
                        break url.trim().to_string();
                    }
                    seen.push_str(&line);
                    seen.push('\n');
                }
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "chromium did not print its DevTools address within {LAUNCH_TIMEOUT:?}; stderr:\n{seen}"
                    )
                }
                Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                    // Stderr closed: chromium is exiting; its status says why.
                    let _ = browser.child.kill();
                    let status = browser.child.wait();
                    panic!(
                        "chromium closed its stderr before printing its DevTools address (exit: {status:?}); stderr:\n{seen}"
                    )
                }
            }
        };
        let loopback = ["ws://127.0.0.1:", "ws://[::1]:", "ws://localhost:"];
        if !loopback.iter().any(|prefix| ws_url.starts_with(prefix)) {
            panic!("chromium's DevTools endpoint is not on loopback: {ws_url}");
        }
        browser.ws_url = ws_url;
        browser
    }

    /// Opens a new tab on about:blank.
    pub async fn new_page(&self) -> Page {
        let cdp = Cdp::connect(&self.ws_url).await;
        let target = cdp
            .call("Target.createTarget", json!({"url": "about:blank"}), None)
            .await
            .expect("create a chromium tab");
        let target_id = target["targetId"]
            .as_str()
            .unwrap_or_else(|| panic!("Target.createTarget answered without targetId: {target}"));
        let attached = cdp
            .call(
                "Target.attachToTarget",
                json!({"targetId": target_id, "flatten": true}),
                None,
            )
            .await
            .expect("attach to the new chromium tab");
        let session = attached["sessionId"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("Target.attachToTarget answered without sessionId: {attached}")
            })
            .to_string();
        Page { cdp, session }
    }
}

type Reply = Result<Value, String>;

struct Request {
    method: String,
    params: Value,
    session: Option<String>,
    reply: oneshot::Sender<Reply>,
}

/// One DevTools websocket. A task owns the socket: it numbers outgoing commands and routes
/// each response to its caller by id; events (messages without an id) are dropped.
struct Cdp {
    requests: mpsc::UnboundedSender<Request>,
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Cdp {
    async fn connect(ws_url: &str) -> Cdp {
        // Full-page screenshots arrive as one base64 message, beyond tungstenite's 16 MiB
        // default frame limit for tall pages.
        let config = WebSocketConfig::default()
            .max_message_size(Some(256 << 20))
            .max_frame_size(Some(256 << 20));
        let connect = tokio_tungstenite::connect_async_with_config(ws_url, Some(config), true);
        let (socket, _) = tokio::time::timeout(COMMAND_TIMEOUT, connect)
            .await
            .unwrap_or_else(|_| {
                panic!("no websocket handshake with {ws_url} within {COMMAND_TIMEOUT:?}")
            })
            .unwrap_or_else(|e| panic!("cannot open the DevTools websocket {ws_url}: {e}"));
        let (requests, incoming) = mpsc::unbounded_channel();
        // The task ends when the Cdp (the only sender) is dropped or the socket closes.
        tokio::spawn(run_socket(socket, incoming));
        Cdp { requests }
    }

    /// Sends a command and waits up to 30 s for its result.
    async fn call(&self, method: &str, params: Value, session: Option<&str>) -> Reply {
        self.call_within(method, params, session, COMMAND_TIMEOUT)
            .await
    }

    async fn call_within(
        &self,
        method: &str,
        params: Value,
        session: Option<&str>,
        timeout: Duration,
    ) -> Reply {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            method: method.to_string(),
            params,
            session: session.map(str::to_string),
            reply,
        };
        self.requests
            .send(request)
            .map_err(|_| format!("{method}: the DevTools connection is closed"))?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(format!("{method}: the DevTools connection closed")),
            Err(_) => Err(format!(
                "{method}: no answer from chromium within {timeout:?}"
            )),
        }
    }
}

async fn run_socket(mut socket: Socket, mut requests: mpsc::UnboundedReceiver<Request>) {
    let mut pending: HashMap<u64, (String, oneshot::Sender<Reply>)> = HashMap::new();
    let mut next_id: u64 = 1;
    let closed = loop {
        tokio::select! {
            request = requests.recv() => {
                let Some(request) = request else { break "the page was dropped".to_string() };
                let id = next_id;
                next_id += 1;
                let mut message = json!({"id": id, "method": request.method, "params": request.params});
                if let Some(session) = request.session {
                    message["sessionId"] = Value::String(session);
                }
                if let Err(e) = socket.send(Message::text(message.to_string())).await {
                    let _ = request.reply.send(Err(format!("{}: cannot send: {e}", request.method)));
                    break format!("send failed: {e}");
                }
                pending.insert(id, (request.method, request.reply));
            }
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let Ok(message) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                    let Some(id) = message.get("id").and_then(Value::as_u64) else { continue };
                    let Some((method, reply)) = pending.remove(&id) else { continue };
                    let result = match message.get("error") {
                        Some(error) => Err(format!("{method} failed: {error}")),
                        None => Ok(message.get("result").cloned().unwrap_or(Value::Null)),
                    };
                    let _ = reply.send(result);
                }
                // tungstenite answers pings itself; chromium sends no binary frames.
                Some(Ok(_)) => {}
                Some(Err(e)) => break format!("websocket error: {e}"),
                None => break "chromium closed the websocket".to_string(),
            },
        }
    };
    for (_, (method, reply)) in pending {
        let _ = reply.send(Err(format!("{method}: {closed}")));
    }
}

/// A JavaScript string literal for `text`, safe to splice into an expression.
fn js_string(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

/// A browser tab.
pub struct Page {
    cdp: Cdp,
    session: String,
}

impl Page {
    async fn call(&self, method: &str, params: Value) -> Reply {
        self.cdp.call(method, params, Some(&self.session)).await
    }

    async fn evaluate<T: DeserializeOwned>(
        &self,
        js: &str,
        timeout: Duration,
    ) -> Result<T, String> {
        let params = json!({"expression": js, "returnByValue": true, "awaitPromise": true});
        let answer = self
            .cdp
            .call_within("Runtime.evaluate", params, Some(&self.session), timeout)
            .await?;
        if let Some(details) = answer.get("exceptionDetails") {
            // An Error has a description (message and stack); `throw "x"` only a value.
            let exception = &details["exception"];
            let what = exception["description"]
                .as_str()
                .map(str::to_string)
                .or_else(|| exception.get("value").map(Value::to_string))
                .or_else(|| details["text"].as_str().map(str::to_string))
                .unwrap_or_else(|| details.to_string());
            return Err(format!("JavaScript exception: {what}"));
        }
        // `undefined` has no value; it reads as null, so `eval::<()>` works for statements.
        let value = answer
            .pointer("/result/value")
            .cloned()
            .unwrap_or(Value::Null);
        serde_json::from_value(value.clone())
            .map_err(|e| format!("unexpected result {value} of {js:?}: {e}"))
    }

    /// Evaluates `js` in the page (awaiting a returned promise) and returns its JSON value.
    /// A thrown exception or rejected promise is an Err with its description.
    pub async fn eval<T: DeserializeOwned>(&self, js: &str) -> Result<T, String> {
        self.evaluate(js, COMMAND_TIMEOUT).await
    }

    /// Polls the JavaScript expression `js_condition` until it is truthy; Err after `timeout`
    /// with the last value or error (an error while polling, e.g. mid-navigation, is retried).
    pub async fn wait_for(&self, js_condition: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let js = format!("!!(\n{js_condition}\n)");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let last = match self.evaluate::<bool>(&js, left).await {
                Ok(true) => return Ok(()),
                Ok(false) => "false".to_string(),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "timed out after {timeout:?} waiting for {js_condition:?}; last: {last}"
                ));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Navigates to `url` and waits (up to 30 s) until the new document's readyState is
    /// "complete". Err when chromium cannot load it (e.g. net::ERR_CONNECTION_REFUSED); an
    /// HTTP error status is a loaded page, not an Err.
    pub async fn goto(&self, url: &str) -> Result<(), String> {
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        // Chromium answers Page.navigate once the new document has committed (the self-test's
        // late /slow page checks this), so the readyState polled below is the new document's.
        let navigation = self.call("Page.navigate", json!({"url": url})).await?;
        if let Some(error) = navigation["errorText"].as_str()
            && !error.is_empty()
        {
            return Err(format!("navigating to {url}: {error}"));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        self.wait_for("document.readyState === 'complete'", left)
            .await
            .map_err(|e| format!("navigating to {url}: {e}"))
    }

    /// Clicks the element matching `selector` with real mouse events at its centre, after
    /// scrolling it into view. Err if nothing matches, it has no size, or another element
    /// covers its centre (a user could not click it either).
    pub async fn click(&self, selector: &str) -> Result<(), String> {
        let sel = js_string(selector);
        let js = format!(
            r#"(() => {{
                const el = document.querySelector({sel});
                if (!el) throw new Error('no element matches ' + {sel});
                el.scrollIntoView({{block: 'center', inline: 'center'}});
                const r = el.getBoundingClientRect();
                if (r.width === 0 || r.height === 0) throw new Error({sel} + ' is not visible');
                const x = r.left + r.width / 2, y = r.top + r.height / 2;
                const hit = document.elementFromPoint(x, y);
                if (!hit || !el.contains(hit)) {{
                    throw new Error({sel} + ' is covered by ' + (hit ? hit.outerHTML.slice(0, 200) : 'nothing'));
                }}
                return [x, y];
            }})()"#
        );
        let (x, y): (f64, f64) = self
            .eval(&js)
            .await
            .map_err(|e| format!("click {selector}: {e}"))?;
        for (kind, button, buttons) in [
            ("mouseMoved", "none", 0),
            ("mousePressed", "left", 1),
            ("mouseReleased", "left", 0),
        ] {
            let event = json!({
                "type": kind, "x": x, "y": y,
                "button": button, "buttons": buttons, "clickCount": 1,
            });
            self.call("Input.dispatchMouseEvent", event)
                .await
                .map_err(|e| format!("click {selector}: {e}"))?;
        }
        Ok(())
    }

    /// Sets the value of the input matching `selector` to `text` and dispatches `input` and
    /// `change` (bubbling), as a user typing and leaving the field would. Err if nothing
    /// matches or the field is disabled or read-only.
    pub async fn type_into(&self, selector: &str, text: &str) -> Result<(), String> {
        let sel = js_string(selector);
        let value = js_string(text);
        let js = format!(
            r#"(() => {{
                const el = document.querySelector({sel});
                if (!el) throw new Error('no element matches ' + {sel});
                if (el.disabled || el.readOnly) throw new Error({sel} + ' is disabled or read-only');
                el.focus();
                el.value = {value};
                el.dispatchEvent(new Event('input', {{bubbles: true}}));
                el.dispatchEvent(new Event('change', {{bubbles: true}}));
            }})()"#
        );
        self.eval::<()>(&js)
            .await
            .map_err(|e| format!("type into {selector}: {e}"))
    }

    /// Writes a PNG of the whole page (not only the 1400x1000 viewport) to `path`, creating
    /// its parent directories.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Result<(), String> {
        let path = path.as_ref();
        let metrics = self.call("Page.getLayoutMetrics", json!({})).await?;
        let size = |key: &str| {
            metrics
                .pointer(&format!("/cssContentSize/{key}"))
                .and_then(Value::as_f64)
                .map(f64::ceil)
                .ok_or_else(|| format!("Page.getLayoutMetrics without cssContentSize: {metrics}"))
        };
        let clip =
            json!({"x": 0, "y": 0, "width": size("width")?, "height": size("height")?, "scale": 1});
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true, "clip": clip}),
            )
            .await?;
        let data = shot["data"]
            .as_str()
            .ok_or("Page.captureScreenshot answered without data")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| format!("Page.captureScreenshot data is not base64: {e}"))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// The current document's HTML (document.documentElement.outerHTML); panics if the page
    /// cannot be read, which in a test is the failure to report.
    pub async fn html(&self) -> String {
        self.eval("document.documentElement.outerHTML")
            .await
            .unwrap_or_else(|e| panic!("cannot read the page's HTML: {e}"))
    }
}
