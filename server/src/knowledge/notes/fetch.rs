//! Bounded HTTP GET of release-notes pages.
//!
//! HTTPS only, except plain HTTP to a loopback host (`127.0.0.0/8`, `::1`,
//! `localhost`) so tests can serve pages locally; connect and total time limits; a
//! size cap enforced while the body is read; at most `max_redirects` redirects, each
//! checked by the same rule (and a public page never redirects to a loopback one);
//! no cookies, no credentials, no referer; `User-Agent: recode/VERSION`.

use std::io::Read;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::redirect::Policy;
use reqwest::{header, Url};

use super::NotesError;

/// Limits on one fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchLimits {
    pub connect_timeout: Duration,
    /// For the whole request: connecting, sending, and reading the body.
    pub timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_bytes: u64,
    pub max_redirects: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_bytes: 4 * 1024 * 1024,
            max_redirects: 5,
        }
    }
}

/// Why a redirect was refused; carried through reqwest's error to classify it.
#[derive(Debug, thiserror::Error)]
enum RedirectRefused {
    #[error("more than {0} redirects")]
    TooMany(usize),
    #[error("redirect to {url} refused: {reason}")]
    Refused { url: String, reason: String },
}

/// Whether `url` names a loopback host.
pub fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// Checks that `url` may be fetched: `https`, or `http` to a loopback host; no
/// user name or password in it. `allow_loopback_http` is false for a redirect
/// out of a public page.
fn url_allowed(url: &Url, allow_loopback_http: bool) -> Result<(), String> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("URLs with credentials are not fetched".to_string());
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme `{}` is not fetched; use https", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".to_string());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) && allow_loopback_http => Ok(()),
        "http" if is_loopback(url) => Err("a public page may not redirect to a loopback address".to_string()),
        "http" => Err("plain HTTP is allowed only to loopback hosts; use https".to_string()),
        other => Err(format!("scheme `{other}` is not fetched; use https")),
    }
}

/// Parses and checks a URL by the fetch rules.
pub fn check_url(url: &str) -> Result<Url, NotesError> {
    let parsed =
        Url::parse(url).map_err(|e| NotesError::Refused { url: url.to_string(), reason: format!("not a URL: {e}") })?;
    url_allowed(&parsed, true).map_err(|reason| NotesError::Refused { url: url.to_string(), reason })?;
    Ok(parsed)
}

/// A blocking HTTP client with the rules above. Build once, use for many pages.
pub struct Fetcher {
    client: Client,
    limits: FetchLimits,
}

impl Fetcher {
    pub fn new(limits: FetchLimits) -> Result<Fetcher, NotesError> {
        let max_redirects = limits.max_redirects;
        let policy = Policy::custom(move |attempt| {
            // `previous` holds the original URL and every URL redirected from so far.
            if attempt.previous().len() > max_redirects {
                return attempt.error(RedirectRefused::TooMany(max_redirects));
            }
            let from_loopback = attempt.previous().iter().all(is_loopback);
            match url_allowed(attempt.url(), from_loopback) {
                Ok(()) => attempt.follow(),
                Err(reason) => {
                    let url = attempt.url().to_string();
                    attempt.error(RedirectRefused::Refused { url, reason })
                }
            }
        });
        let client = Client::builder()
            .user_agent(concat!("recode/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.timeout)
            .redirect(policy)
            .referer(false)
            // Release notes are public: never go through a proxy that could see a
            // loopback test server, and never send proxy credentials.
            .no_proxy()
            .build()
            .map_err(|e| NotesError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Fetcher { client, limits })
    }

    pub fn limits(&self) -> &FetchLimits {
        &self.limits
    }

    /// GETs `url` and returns its body as UTF-8 text.
    pub fn get_text(&self, url: &str, accept: &str) -> Result<String, NotesError> {
        let body = self.get(url, accept)?;
        String::from_utf8(body).map_err(|e| NotesError::Parse {
            url: url.to_string(),
            message: format!("the page is not UTF-8 text (invalid byte at offset {})", e.utf8_error().valid_up_to()),
        })
    }

    /// GETs `url` and returns its body, within the limits.
    pub fn get(&self, url: &str, accept: &str) -> Result<Vec<u8>, NotesError> {
        let parsed = check_url(url)?;
        let started = Instant::now();
        let deadline = started + self.limits.timeout;
        tracing::debug!(url, "fetching release notes");
        let mut response = self
            .client
            .get(parsed)
            .header(header::ACCEPT, accept)
            .send()
            .map_err(|e| self.classify(url, e, started))?;
        let status = response.status();
        if !status.is_success() {
            return Err(NotesError::Status { url: url.to_string(), status: status.to_string() });
        }
        let limit = self.limits.max_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(NotesError::TooLarge { url: url.to_string(), limit });
        }
        let mut body = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            if Instant::now() > deadline {
                return Err(self.timeout(url, started));
            }
            let n = match response.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                        || e.get_ref()
                            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
                            .is_some_and(|r| r.is_timeout())
                        || Instant::now() > deadline;
                    if timed_out {
                        return Err(self.timeout(url, started));
                    }
                    return Err(NotesError::Http { url: url.to_string(), message: format!("reading the body: {e}") });
                }
            };
            if n == 0 {
                break;
            }
            if body.len() as u64 + n as u64 > limit {
                return Err(NotesError::TooLarge { url: url.to_string(), limit });
            }
            body.extend_from_slice(&chunk[..n]);
        }
        Ok(body)
    }

    fn timeout(&self, url: &str, started: Instant) -> NotesError {
        NotesError::Timeout { url: url.to_string(), seconds: started.elapsed().as_secs_f64() }
    }

    fn classify(&self, url: &str, error: reqwest::Error, started: Instant) -> NotesError {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        while let Some(e) = source {
            if let Some(refused) = e.downcast_ref::<RedirectRefused>() {
                return match refused {
                    RedirectRefused::TooMany(limit) => {
                        NotesError::TooManyRedirects { url: url.to_string(), limit: *limit }
                    }
                    RedirectRefused::Refused { url: target, reason } => {
                        NotesError::Refused { url: target.clone(), reason: format!("{reason} (redirected from {url})") }
                    }
                };
            }
            source = e.source();
        }
        if error.is_timeout() {
            return self.timeout(url, started);
        }
        let mut message = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(e) = source {
            message.push_str(": ");
            message.push_str(&e.to_string());
            source = e.source();
        }
        NotesError::Http { url: url.to_string(), message }
    }
}
