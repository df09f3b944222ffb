//! Just enough of the Chrome DevTools Protocol to drive headless Chromium
//! (click, type, resize, screenshot, evaluate): the debugging port from `DevToolsActivePort`, the page's
//! WebSocket from `/json/list`, and a minimal WebSocket client (text frames
//! only) to send commands and read their answers. DevTools evaluation is not
//! subject to the page's Content-Security-Policy, so the page needs no
//! test hooks.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{wait_for, within};

/// A headless Chromium with one page open, driven over DevTools.
pub struct Browser {
    _child: tokio::process::Child,
    socket: TcpStream,
    next_id: u64,
}

/// Flags for headless Chromium on this closed network: no GPU, no sandbox
/// (root in CI), and none of the background connections that would be
/// refused here.
pub const HEADLESS_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// Headless Chromium: Debian's package (CI installs it in `.ci/run`), or
/// the one `CHROMIUM` names.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        path.exists(),
        "{} not found: the browser test needs Chromium (apt-get install chromium; .ci/run installs it)",
        path.display()
    );
    path
}

/// Starts headless Chromium with its own profile directory and `args`;
/// its output is piped when `capture`, else dropped. Killed when dropped.
pub fn spawn_chromium<I, S>(profile: &Path, args: I, capture: bool) -> tokio::process::Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let output = || if capture { Stdio::piped() } else { Stdio::null() };
    tokio::process::Command::new(chromium())
        .args(HEADLESS_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdout(output())
        .stderr(output())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium starts")
}

impl Browser {
    /// Starts Chromium on `url` with a DevTools port and connects to the page.
    pub async fn open(profile: &Path, url: &str) -> Self {
        let child = spawn_chromium(
            profile,
            ["--window-size=1280,900", "--remote-debugging-port=0", url],
            false,
        );
        let port_file = profile.join("DevToolsActivePort");
        let port: u16 = wait_for("chromium's DevTools port", || async {
            std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|text| text.lines().next().and_then(|l| l.trim().parse().ok()))
        })
        .await;
        let page_socket = wait_for("chromium to list its page", || async {
            let targets: Vec<Value> = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let page = targets.into_iter().find(|t| t["type"] == "page")?;
            page["webSocketDebuggerUrl"].as_str().map(str::to_owned)
        })
        .await;
        let path = page_socket
            .split_once(&format!("127.0.0.1:{port}"))
            .map(|(_, path)| path.to_owned())
            .expect("page socket on the DevTools port");
        let mut socket = TcpStream::connect(("127.0.0.1", port)).await.expect("DevTools socket");
        let handshake = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        socket.write_all(handshake.as_bytes()).await.expect("handshake");
        let mut answer = Vec::new();
        while !answer.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            socket.read_exact(&mut byte).await.expect("handshake answer");
            answer.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&answer);
        assert!(head.starts_with("HTTP/1.1 101"), "no WebSocket: {head}");
        Self {
            _child: child,
            socket,
            next_id: 0,
        }
    }

    async fn send_text(&mut self, text: &str) {
        let payload = text.as_bytes();
        // FIN + text; clients must mask, and an all-zero mask leaves the bytes as they are.
        let mut frame = vec![0x81u8];
        match payload.len() {
            n @ 0..=125 => frame.push(0x80 | u8::try_from(n).expect("small")),
            n @ 126..=65_535 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&u16::try_from(n).expect("fits").to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(payload);
        self.socket.write_all(&frame).await.expect("send frame");
    }

    async fn read_message(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut head = [0u8; 2];
            self.socket.read_exact(&mut head).await.expect("frame head");
            let mut len = u64::from(head[1] & 0x7f);
            if len == 126 {
                let mut ext = [0u8; 2];
                self.socket.read_exact(&mut ext).await.expect("length");
                len = u64::from(u16::from_be_bytes(ext));
            } else if len == 127 {
                let mut ext = [0u8; 8];
                self.socket.read_exact(&mut ext).await.expect("length");
                len = u64::from_be_bytes(ext);
            }
            let mut payload = vec![0u8; usize::try_from(len).expect("fits")];
            self.socket.read_exact(&mut payload).await.expect("payload");
            let opcode = head[0] & 0x0f;
            if opcode == 0x1 || opcode == 0x0 {
                message.extend_from_slice(&payload);
            }
            if head[0] & 0x80 != 0 && (opcode == 0x1 || opcode == 0x0) {
                return String::from_utf8_lossy(&message).into_owned();
            }
        }
    }

    /// Sends a command and returns its `result` (or the error object).
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        self.send_text(&json!({"id": id, "method": method, "params": params}).to_string())
            .await;
        let answer = within(Duration::from_secs(20), "a DevTools answer", async {
            loop {
                let message: Value = serde_json::from_str(&self.read_message().await).expect("DevTools JSON");
                if message["id"] == id {
                    return message;
                }
            }
        })
        .await;
        match answer.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(answer["result"].clone()),
        }
    }

    /// Evaluates an expression in the page; `None` while it cannot (e.g.
    /// during a navigation) or when it throws.
    pub async fn eval(&mut self, expression: &str) -> Option<Value> {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true}),
            )
            .await
            .ok()?;
        if result.get("exceptionDetails").is_some() {
            return None;
        }
        Some(result["result"]["value"].clone())
    }

    /// Polls `expression` until it is `true`; panics after `deadline`.
    pub async fn wait_for(&mut self, expression: &str, deadline: Duration) {
        let until = Instant::now() + deadline;
        while self.eval(expression).await != Some(Value::Bool(true)) {
            assert!(Instant::now() < until, "page never satisfied {expression}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Evaluates an expression that may return a promise, and waits for
    /// it; panics when it throws or rejects.
    pub async fn eval_async(&mut self, expression: &str) -> Value {
        let result = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await
            .unwrap_or_else(|e| panic!("DevTools refused {expression}: {e}"));
        if let Some(details) = result.get("exceptionDetails") {
            panic!("{expression} threw: {details}");
        }
        result["result"]["value"].clone()
    }

    /// Goes to `url` and waits until the page has loaded.
    pub async fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await.expect("navigate");
        self.wait_for(
            &format!("location.href === {} && document.readyState === 'complete'", json!(url)),
            Duration::from_secs(20),
        )
        .await;
    }

    /// Emulates a screen `width` CSS pixels wide (a phone below 500).
    pub async fn set_width(&mut self, width: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500}),
        )
        .await
        .expect("device metrics");
    }

    /// A PNG of the whole page (beyond the viewport), written to `path`.
    pub async fn screenshot(&mut self, path: &Path) {
        self.screenshot_part(path, 0.0, None).await;
    }

    /// The page's height in CSS pixels.
    pub async fn page_height(&mut self) -> f64 {
        let metrics = self
            .call("Page.getLayoutMetrics", json!({}))
            .await
            .expect("layout metrics");
        metrics["cssContentSize"]["height"].as_f64().expect("height")
    }

    /// A PNG of the page from `top`, `height` CSS pixels high (to its end
    /// when `None`), written to `path`.
    pub async fn screenshot_part(&mut self, path: &Path, top: f64, height: Option<f64>) {
        use base64::Engine as _;
        let metrics = self
            .call("Page.getLayoutMetrics", json!({}))
            .await
            .expect("layout metrics");
        let size = &metrics["cssContentSize"];
        let full = size["height"].as_f64().expect("height");
        let height = height.map_or(full - top, |h| h.min(full - top));
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": {"x": 0, "y": top, "width": size["width"], "height": height, "scale": 1}
                }),
            )
            .await
            .expect("screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("screenshot written");
    }

    /// Focuses the element matching `selector` with a real click, selects
    /// its text and types `text` over it, as a keyboard would.
    pub async fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector).await;
        let selected = self
            .eval(&format!(
                "(() => {{ const e = document.querySelector({}); e.focus(); \
                 if (e.select) e.select(); return document.activeElement === e; }})()",
                json!(selector)
            ))
            .await;
        assert_eq!(selected, Some(Value::Bool(true)), "{selector} takes focus");
        self.call("Input.insertText", json!({"text": text}))
            .await
            .expect("insert text");
    }

    /// Presses one key (`Enter`, `Tab`, ` `) on the focused element.
    pub async fn press(&mut self, key: &str, code: &str, key_code: u32) {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": key_code,
                       "text": match (kind, key) { ("keyDown", "Enter") => "\r", ("keyDown", key) => key, _ => "" }}),
            )
            .await
            .expect("key event");
        }
    }

    /// A real mouse click (press and release) in the middle of the element
    /// matching `selector`, scrolled into view first.
    pub async fn click(&mut self, selector: &str) {
        self.eval(&format!(
            "document.querySelector({}).scrollIntoView({{block: 'center'}})",
            json!(selector)
        ))
        .await;
        let rect = self
            .eval(&format!(
                "(() => {{ const r = document.querySelector({}).getBoundingClientRect(); \
                 return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()",
                json!(selector)
            ))
            .await
            .unwrap_or_else(|| panic!("no {selector} to click"));
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": rect["x"], "y": rect["y"], "button": "left", "clickCount": 1}),
            )
            .await
            .expect("mouse event");
        }
    }
}
