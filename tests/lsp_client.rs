//! A language-server client for the tests: starts `recode lsp`, speaks
//! JSON-RPC over its stdio as an editor would, answers the server's own
//! requests (`workspace/applyEdit` is recorded and accepted), and applies
//! text edits with the protocol's position rules.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long a test waits for any one answer.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct LspClient {
    child: Child,
    stdin: ChildStdin,
    incoming: Receiver<Value>,
    next_id: i64,
    /// Notifications and server requests not yet looked at, in arrival order.
    pub unseen: Vec<Value>,
    /// Every `workspace/applyEdit` the server sent.
    pub applied_edits: Vec<Value>,
    /// Every `window/showMessage` the server sent.
    pub messages: Vec<Value>,
}

/// `file://` URI of an absolute path.
pub fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

impl LspClient {
    /// Starts `recode lsp` in `root` with a fresh cache, hermetically (see
    /// [`crate::hermetic`]); `vars` are set on top.
    pub fn start(root: &Path, cache: &Path, vars: &[(&str, &str)]) -> LspClient {
        let mut command = crate::hermetic(root, cache);
        command.arg("lsp").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (key, value) in vars {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("recode lsp starts");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, incoming) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        LspClient { child, stdin, incoming, next_id: 0, unseen: Vec::new(), applied_edits: Vec::new(), messages: Vec::new() }
    }

    /// `initialize` then `initialized`; the server's `InitializeResult`.
    pub fn initialize(&mut self, root: &Path, capabilities: Value, options: Value) -> Value {
        let result = self.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": uri(root),
                "workspaceFolders": [{"uri": uri(root), "name": "root"}],
                "capabilities": capabilities,
                "initializationOptions": options,
            }),
        );
        self.notify("initialized", json!({}));
        result
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).and_then(|_| self.stdin.flush()).expect("the server reads its stdin");
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        self.send_raw(format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request; its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        id
    }

    /// A request's result; panics on an error answer.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        let response = self.response(id);
        if let Some(error) = response.get("error") {
            panic!("{method} failed: {error}");
        }
        response["result"].clone()
    }

    /// The whole response (result or error) to request `id`.
    pub fn response(&mut self, id: i64) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let message = self.next_message(deadline).unwrap_or_else(|| panic!("no response to request {id} in time"));
            if message.get("method").is_none() && message["id"] == id {
                return message;
            }
            self.unseen.push(message);
        }
    }

    /// The first unseen notification or server request for which `wanted`
    /// holds, waiting up to `timeout`; the ones before it stay unseen.
    pub fn wait_for(&mut self, timeout: Duration, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(at) = self.unseen.iter().position(&wanted) {
            return Some(self.unseen.remove(at));
        }
        let deadline = Instant::now() + timeout;
        while let Some(message) = self.next_message(deadline) {
            if wanted(&message) {
                return Some(message);
            }
            self.unseen.push(message);
        }
        None
    }

    /// The diagnostics published for `uri` at `version`.
    pub fn diagnostics(&mut self, uri: &str, version: i64) -> Vec<Value> {
        let published = self
            .wait_for(PATIENCE, |m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri && m["params"]["version"] == version)
            .unwrap_or_else(|| panic!("no diagnostics for {uri} version {version}; unseen: {:?}", self.unseen));
        published["params"]["diagnostics"].as_array().unwrap().clone()
    }

    /// The next message, answering server requests on the way.
    fn next_message(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = match self.incoming.recv_timeout(left) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => return None,
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed its stdout"),
        };
        if message["method"] == "window/showMessage" {
            self.messages.push(message.clone());
        }
        if let (Some(id), Some(method)) = (message.get("id"), message["method"].as_str()) {
            let result = match method {
                "workspace/applyEdit" => {
                    self.applied_edits.push(message["params"].clone());
                    json!({"applied": true})
                }
                "workspace/configuration" => json!([]),
                _ => Value::Null,
            };
            self.send(json!({"jsonrpc": "2.0", "id": id, "result": result}));
        }
        Some(message)
    }

    /// `shutdown`, `exit`, and the process's exit status.
    pub fn shutdown(mut self) -> std::process::ExitStatus {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not exit after `exit`");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LspClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok();
            }
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    Some(serde_json::from_slice(&body).expect("the server sends JSON"))
}

/// The byte offset of an LSP position in `text` (columns in UTF-16 units
/// or bytes), clamped as the protocol says: past a line's end is its end,
/// past the last line is the text's end, inside a character is its start.
pub fn offset(text: &str, position: &Value, utf16: bool) -> usize {
    let line = position["line"].as_u64().unwrap() as usize;
    let column = position["character"].as_u64().unwrap() as usize;
    let mut start = 0;
    for _ in 0..line {
        match text[start..].find('\n') {
            Some(nl) => start += nl + 1,
            None => return text.len(),
        }
    }
    let end = text[start..].find('\n').map_or(text.len(), |nl| start + nl);
    let line_text = text[start..end].strip_suffix('\r').unwrap_or(&text[start..end]);
    let mut units = 0;
    for (at, c) in line_text.char_indices() {
        let width = if utf16 { c.len_utf16() } else { c.len_utf8() };
        if units + width > column {
            return start + at;
        }
        units += width;
    }
    start + line_text.len()
}

/// `text` with LSP text edits applied (all against the same text).
pub fn apply_edits(text: &str, edits: &[Value], utf16: bool) -> String {
    let mut ranged: Vec<(usize, usize, &str)> = edits
        .iter()
        .map(|e| (offset(text, &e["range"]["start"], utf16), offset(text, &e["range"]["end"], utf16), e["newText"].as_str().unwrap()))
        .collect();
    ranged.sort_by_key(|&(start, end, _)| (start, end));
    let mut out = text.to_string();
    for &(start, end, new) in ranged.iter().rev() {
        out.replace_range(start..end, new);
    }
    out
}
