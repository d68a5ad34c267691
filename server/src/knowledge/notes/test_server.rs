//! A loopback HTTP/1.1 server for the tests: fixture pages by path, and routes
//! that misbehave (404, hang, oversize bodies, redirects, garbage).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

#[derive(Clone)]
pub(crate) enum Route {
    /// A response with a Content-Length.
    Body { status: u16, content_type: &'static str, body: Vec<u8> },
    /// `302 Found` to this location.
    Redirect(String),
    /// Read the request, then say nothing for this long.
    Hang(Duration),
    /// This many bytes without a Content-Length (the connection closes at the end).
    Stream(usize),
    /// A Content-Length header announcing this many bytes, and a short body.
    Announce(u64),
}

impl Route {
    pub(crate) fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Route {
        Route::Body { status: 200, content_type, body: body.into() }
    }
}

#[derive(Clone, Default)]
struct State {
    routes: HashMap<String, Route>,
    /// Request heads received, in order.
    log: Vec<String>,
}

pub(crate) struct TestServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl TestServer {
    pub(crate) fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                thread::spawn(move || serve(stream, &state));
            }
        });
        TestServer { addr, state }
    }

    /// `http://127.0.0.1:PORT`
    pub(crate) fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn route(&self, path: &str, route: Route) {
        self.state.lock().unwrap().routes.insert(path.to_string(), route);
    }

    /// Requests for `path` so far.
    pub(crate) fn hits(&self, path: &str) -> usize {
        let prefix = format!("GET {path} ");
        self.state.lock().unwrap().log.iter().filter(|r| r.starts_with(&prefix)).count()
    }

    /// All request heads so far.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
        if head.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let route = {
        let mut s = state.lock().unwrap();
        s.log.push(head.clone());
        s.routes.get(&path).cloned()
    };
    let route =
        route.unwrap_or(Route::Body { status: 404, content_type: "text/plain", body: b"404: Not Found".to_vec() });
    let _ = respond(&mut stream, route);
}

fn respond(stream: &mut TcpStream, route: Route) -> std::io::Result<()> {
    match route {
        Route::Body { status, content_type, body } => {
            let reason = match status {
                200 => "OK",
                404 => "Not Found",
                500 => "Internal Server Error",
                _ => "Status",
            };
            write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body)?;
        }
        Route::Redirect(location) => {
            write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
        }
        Route::Hang(time) => {
            thread::sleep(time);
        }
        Route::Stream(n) => {
            write!(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")?;
            let chunk = vec![b'a'; 8192];
            let mut sent = 0;
            while sent < n {
                let k = chunk.len().min(n - sent);
                stream.write_all(&chunk[..k])?;
                sent += k;
            }
        }
        Route::Announce(n) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {n}\r\nConnection: close\r\n\r\nshort"
            )?;
        }
    }
    stream.flush()
}
