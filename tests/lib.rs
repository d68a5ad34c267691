//! Helpers shared by the end-to-end tests: where the built binaries and the
//! fixtures are. The tests start the real binaries as a user would; build
//! them first (`cargo build --workspace --bins`, as the README's test
//! command does).

pub mod lsp_client;
pub mod tiny_model;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A binary of this workspace, built in the same target directory and
/// profile as the running test.
pub fn binary(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let profile_dir = test_exe.parent().and_then(Path::parent).expect("test binaries live in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first with `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Runs `recode` with `args` in `dir`, hermetically: no inherited variables
/// that would change version resolution, release notes offline, and a fresh
/// cache directory.
pub fn recode(dir: &Path, args: &[&str]) -> Output {
    let cache = tempfile::tempdir().expect("a temporary cache directory");
    hermetic(dir, cache.path()).args(args).output().expect("recode starts")
}

/// The fetched default model, found the way the binary finds it (the
/// caller's `RECODE_CACHE_DIR`, else the user cache). Fails, never skips,
/// when it is absent: CI fetches it first (`.ci/run`).
pub fn fetched_default_model() -> PathBuf {
    let out = Command::new(binary("recode")).args(["model", "path"]).output().expect("recode starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the default model is not fetched: run `recode model fetch` first (CI does this in .ci/run)\n{stderr}");
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(path.is_file(), "{} is not a file", path.display());
    path
}

/// A `recode` command in `dir` with no inherited variables that would change
/// version resolution, release notes offline, and `cache` as its cache.
pub fn hermetic(dir: &Path, cache: &Path) -> Command {
    let mut command = Command::new(binary("recode"));
    command
        .current_dir(dir)
        .env_remove("VIRTUAL_ENV")
        .env_remove("CONDA_PREFIX")
        .env_remove("RECODE_LOG")
        .env_remove("RECODE_NOTES_BASE")
        .env("RECODE_OFFLINE", "1")
        .env("RECODE_CACHE_DIR", cache);
    command
}

/// A loopback HTTP server answering GETs from a fixed table of paths (404
/// for the rest), for tests that must not leave the machine. It stops when
/// dropped.
pub struct StaticServer {
    pub base: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StaticServer {
    pub fn start(routes: Vec<(String, Vec<u8>)>) -> StaticServer {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                let mut request_line = String::new();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Drain the headers.
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let (status, body) = match routes.iter().find(|(p, _)| *p == path) {
                    Some((_, body)) => ("200 OK", body.clone()),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body));
            }
        });
        StaticServer { base, stop, thread: Some(thread) }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(self.base.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a fake endpoint received: (path, JSON body) per request.
pub type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>;

/// A loopback OpenAI-compatible server answering every `/v1/completions`
/// request with `completion` (finish reason `stop`) and every
/// `/v1/chat/completions` request with `chat` (finish reason `length`),
/// recording what it received. Returns the API base (`http://127.0.0.1:PORT/v1`).
pub fn fake_openai(completion: &str, chat: &str) -> (String, Seen) {
    fake_openai_after(std::time::Duration::ZERO, completion, chat)
}

/// [`fake_openai`] answering each request only after `delay` (a slow model,
/// for cancellation).
pub fn fake_openai_after(delay: std::time::Duration, completion: &str, chat: &str) -> (String, Seen) {
    use std::io::{BufRead, BufReader, Read, Write};
    let (completion, chat) = (completion.to_string(), chat.to_string());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen: Seen = std::sync::Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some((name, value)) = header.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            record.lock().unwrap().push((path.clone(), body));
            std::thread::sleep(delay);
            let (status, answer) = match path.as_str() {
                "/v1/completions" => ("200 OK", serde_json::json!({"choices": [{"index": 0, "text": completion, "finish_reason": "stop"}],
                                                     "usage": {"prompt_tokens": 40, "completion_tokens": 5}})),
                "/v1/chat/completions" => ("200 OK", serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": chat}, "finish_reason": "length"}]})),
                _ => ("404 Not Found", serde_json::json!({"error": {"message": "no such route"}})),
            };
            let answer = answer.to_string();
            let head = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", answer.len());
            let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(answer.as_bytes()));
        }
    });
    (base, seen)
}
