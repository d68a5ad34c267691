//! A [`Generator`] backed by an OpenAI-compatible HTTP endpoint: Ollama,
//! vLLM, the llama.cpp server, mistralrs-server, …
//!
//! The prompt is already rendered ChatML with a prefilled assistant turn, so
//! the preferred route is `POST {base}/completions` with the raw prompt. For
//! servers that only offer chat, [`EndpointMode::Chat`] splits the ChatML
//! back into messages and sends the prefill as a final assistant message
//! (with vLLM's `continue_final_message`, which llama.cpp and Ollama treat
//! as a prefill too).
//!
//! Each sample is its own request (`n: 1`, its own seed), sent concurrently,
//! since not every server honours `n`. Requests run on helper threads so
//! that a [`CancelToken`] returns control at once; an abandoned request
//! ends on its own at the timeout.

use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{
    fresh_seed, sample_seed, truncate_at_stop, CancelToken, Completion, FinishReason, Generation, Generator, LoadOptions,
    ModelError, SamplingParams,
};

/// Which endpoint to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointMode {
    /// `/completions` with the raw prompt (preferred).
    #[default]
    Completions,
    /// `/chat/completions` with the prompt split into messages.
    Chat,
}

/// Settings of the HTTP backend.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    pub mode: EndpointMode,
    /// Longest one `generate` call may take. `None`: no limit.
    pub timeout: Option<Duration>,
    pub connect_timeout: Duration,
    /// Sent as `Authorization: Bearer …`.
    pub api_key: Option<String>,
    /// In chat mode, ask the server to continue the prefilled assistant
    /// message (`continue_final_message: true, add_generation_prompt: false`).
    pub continue_final_message: bool,
}

impl Default for OpenAiConfig {
    fn default() -> Self {
        OpenAiConfig {
            mode: EndpointMode::Completions,
            timeout: Some(Duration::from_secs(600)),
            connect_timeout: Duration::from_secs(10),
            api_key: None,
            continue_final_message: true,
        }
    }
}

impl OpenAiConfig {
    pub fn from_load_options(options: &LoadOptions) -> OpenAiConfig {
        OpenAiConfig {
            mode: options.endpoint_mode,
            timeout: options.timeout,
            connect_timeout: options.connect_timeout,
            api_key: options.api_key.clone(),
            ..OpenAiConfig::default()
        }
    }
}

/// The HTTP backend.
pub struct OpenAiGenerator {
    base: String,
    model: Option<String>,
    /// The model name found at `{base}/models` when none was given.
    discovered: OnceLock<String>,
    config: OpenAiConfig,
    client: reqwest::blocking::Client,
}

impl OpenAiGenerator {
    /// `base` is the API root (`http://127.0.0.1:8080/v1`); `model` the name
    /// sent in requests (`None`: the first one `{base}/models` lists).
    pub fn new(base: &str, model: Option<String>, config: OpenAiConfig) -> Result<OpenAiGenerator, ModelError> {
        let mut builder = reqwest::blocking::Client::builder()
            .connect_timeout(config.connect_timeout)
            // Per-request timeouts are set on each request.
            .timeout(None)
            .user_agent(concat!("recode/", env!("CARGO_PKG_VERSION")));
        // A server on this machine is reached directly, whatever proxy the
        // environment names; a remote one through the usual proxy variables.
        if is_loopback(base) {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| ModelError::Load { model: base.to_string(), message: e.to_string() })?;
        Ok(OpenAiGenerator {
            base: base.trim_end_matches('/').to_string(),
            model,
            discovered: OnceLock::new(),
            config,
            client,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    /// The model name to send.
    fn model_name(&self, cancel: &CancelToken) -> String {
        if let Some(model) = &self.model {
            return model.clone();
        }
        self.discovered
            .get_or_init(|| {
                let url = self.url("models");
                let timeout = remaining(cancel, self.config.timeout).unwrap_or(Duration::from_secs(30)).min(Duration::from_secs(30));
                let mut request = self.client.get(&url).timeout(timeout);
                if let Some(key) = &self.config.api_key {
                    request = request.bearer_auth(key);
                }
                let found = request
                    .send()
                    .ok()
                    .filter(|r| r.status().is_success())
                    .and_then(|r| r.text().ok())
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .and_then(|v| v["data"][0]["id"].as_str().map(str::to_string));
                match found {
                    Some(name) => {
                        tracing::info!("model endpoint {}: using model {name}", self.base);
                        name
                    }
                    None => "default".to_string(),
                }
            })
            .clone()
    }

    fn request_body(&self, model: &str, prompt: &str, params: &SamplingParams, seed: u64) -> Value {
        let mut body = json!({
            "model": model,
            "max_tokens": params.max_tokens,
            "temperature": shortest_decimal(params.temperature.max(0.0)),
            "top_p": shortest_decimal(params.top_p),
            "n": 1,
            "seed": seed,
            "stream": false,
        });
        if !params.stop.is_empty() {
            body["stop"] = json!(params.stop);
        }
        match self.config.mode {
            EndpointMode::Completions => body["prompt"] = json!(prompt),
            EndpointMode::Chat => {
                let (messages, prefilled) = chatml_to_messages(prompt);
                body["messages"] = json!(messages);
                if prefilled && self.config.continue_final_message {
                    body["continue_final_message"] = json!(true);
                    body["add_generation_prompt"] = json!(false);
                }
            }
        }
        body
    }
}

/// Whether a URL's host is this machine (`localhost`, `127.x.y.z`, `[::1]`).
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Time left before the token's deadline or the backend's timeout.
fn remaining(cancel: &CancelToken, timeout: Option<Duration>) -> Option<Duration> {
    let from_token = cancel.deadline().map(|d| d.saturating_duration_since(Instant::now()));
    match (from_token, timeout) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Generator for OpenAiGenerator {
    fn describe(&self) -> String {
        match &self.model {
            Some(model) => format!("{}#{model}", self.base),
            None => self.base.clone(),
        }
    }

    fn context_length(&self) -> Option<usize> {
        None
    }

    fn generate(&self, prompt: &str, params: &SamplingParams, cancel: &CancelToken) -> Result<Generation, ModelError> {
        cancel.check()?;
        let limit = remaining(cancel, self.config.timeout);
        let cancel = match self.config.timeout {
            Some(timeout) => cancel.with_timeout(timeout),
            None => cancel.clone(),
        };
        let model = self.model_name(&cancel);
        let path = match self.config.mode {
            EndpointMode::Completions => "completions",
            EndpointMode::Chat => "chat/completions",
        };
        let url = self.url(path);
        let base_seed = params.seed.unwrap_or_else(fresh_seed);
        let n = params.n.max(1);
        let (sender, receiver) = mpsc::channel();
        for index in 0..n {
            let body = self.request_body(&model, prompt, params, sample_seed(base_seed, index));
            let mut request = self.client.post(&url).json_body(&body);
            if let Some(limit) = limit {
                request = request.timeout(limit);
            }
            if let Some(key) = &self.config.api_key {
                request = request.bearer_auth(key);
            }
            let sender = sender.clone();
            let url = url.clone();
            let mode = self.config.mode;
            std::thread::Builder::new()
                .name("recode-openai".into())
                .spawn(move || {
                    let result = send(request, &url, mode, limit);
                    let _ = sender.send((index, result));
                })
                .map_err(|e| ModelError::Generation(format!("cannot start a request thread: {e}")))?;
        }
        drop(sender);
        let mut answers: Vec<Option<(Completion, Option<usize>)>> = vec![None; n];
        let mut received = 0;
        while received < n {
            cancel.check().map_err(|e| match e {
                ModelError::TimedOut(_) => ModelError::TimedOut(limit),
                other => other,
            })?;
            match receiver.recv_timeout(Duration::from_millis(20)) {
                Ok((index, result)) => {
                    answers[index] = Some(result?);
                    received += 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(ModelError::Generation("a request thread ended without an answer".into()))
                }
            }
        }
        let mut prompt_tokens = None;
        let completions = answers
            .into_iter()
            .map(|answer| {
                let (mut completion, tokens) = answer.expect("every sample answered");
                prompt_tokens = prompt_tokens.or(tokens);
                if truncate_at_stop(&mut completion.text, &params.stop) {
                    completion.finish = FinishReason::Stop;
                }
                completion
            })
            .collect();
        Ok(Generation { completions, prompt_tokens, timing: None })
    }
}

/// `RequestBuilder::json` needs reqwest's `json` feature; this sends the
/// same bytes with the workspace's feature set.
trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::blocking::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_string())
    }
}

fn send(
    request: reqwest::blocking::RequestBuilder,
    url: &str,
    mode: EndpointMode,
    limit: Option<Duration>,
) -> Result<(Completion, Option<usize>), ModelError> {
    let response = request.send().map_err(|e| transport_error(url, &e, limit))?;
    let status = response.status();
    let text = response.text().map_err(|e| transport_error(url, &e, limit))?;
    if !status.is_success() {
        return Err(ModelError::Http { url: url.to_string(), status: status.as_u16(), body: excerpt(&text) });
    }
    parse_answer(url, mode, &text)
}

fn transport_error(url: &str, error: &reqwest::Error, limit: Option<Duration>) -> ModelError {
    if error.is_timeout() {
        return ModelError::TimedOut(limit);
    }
    // The innermost cause says what happened ("Connection refused").
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = cause.to_string();
        source = cause.source();
    }
    if error.is_connect() {
        ModelError::Connect { url: url.to_string(), message }
    } else {
        ModelError::Generation(format!("{url}: {message}"))
    }
}

/// The first 300 characters of a body, on one line.
fn excerpt(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = flat.chars().take(300).collect();
    if flat.chars().count() > 300 {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty body)");
    }
    out
}

fn parse_answer(url: &str, mode: EndpointMode, text: &str) -> Result<(Completion, Option<usize>), ModelError> {
    let bad = |message: String| ModelError::BadResponse { url: url.to_string(), message };
    let value: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON ({e}): {}", excerpt(text))))?;
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        let message = error.get("message").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| error.to_string());
        return Err(bad(format!("error: {message}")));
    }
    let choice = value
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .ok_or_else(|| bad(format!("no choices: {}", excerpt(text))))?;
    let content = match mode {
        EndpointMode::Completions => choice.get("text"),
        EndpointMode::Chat => choice.get("message").and_then(|m| m.get("content")),
    };
    let text_out = match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) => String::new(),
        _ => {
            let field = if mode == EndpointMode::Chat { "choices[0].message.content" } else { "choices[0].text" };
            return Err(bad(format!("no {field}: {}", excerpt(text))));
        }
    };
    let finish = match choice.get("finish_reason").and_then(Value::as_str) {
        Some("length") => FinishReason::Length,
        _ => FinishReason::Stop,
    };
    let usage = value.get("usage");
    let tokens = usage.and_then(|u| u.get("completion_tokens")).and_then(Value::as_u64).map(|t| t as usize);
    let prompt_tokens = usage.and_then(|u| u.get("prompt_tokens")).and_then(Value::as_u64).map(|t| t as usize);
    Ok((Completion { text: text_out, finish, tokens }, prompt_tokens))
}

/// Splits a ChatML prompt (`<|im_start|>role\ncontent<|im_end|>` …) into
/// chat messages; an unterminated last turn is the prefilled assistant
/// message (the `bool`). Text that is not ChatML becomes one user message.
pub fn chatml_to_messages(prompt: &str) -> (Vec<Value>, bool) {
    const START: &str = "<|im_start|>";
    const END: &str = "<|im_end|>";
    if !prompt.contains(START) {
        return (vec![json!({"role": "user", "content": prompt})], false);
    }
    let mut messages = Vec::new();
    let mut prefilled = false;
    for turn in prompt.split(START).skip(1) {
        let (header, rest) = turn.split_once('\n').unwrap_or((turn, ""));
        let role = header.trim();
        match rest.find(END) {
            Some(end) => messages.push(json!({"role": role, "content": &rest[..end]})),
            None => {
                messages.push(json!({"role": role, "content": rest}));
                prefilled = true;
            }
        }
    }
    // An empty prefill (`<|im_start|>assistant\n`) is just the generation prompt.
    if prefilled && messages.last().is_some_and(|m| m["content"] == "") {
        messages.pop();
        prefilled = false;
    }
    (messages, prefilled)
}

/// A loopback server speaking just enough HTTP/1.1 to stand in for an
/// OpenAI-compatible endpoint in tests.
/// `x` as the f64 with the same shortest decimal form, so that 0.7f32 goes
/// out as `0.7`, not `0.699999988079071`.
fn shortest_decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

#[cfg(test)]
pub(crate) mod fake {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// What the server answers: status, body, and a delay before answering.
    pub struct Reply {
        pub status: u16,
        pub body: String,
        pub delay: Duration,
    }

    impl Reply {
        pub fn ok(body: serde_json::Value) -> Reply {
            Reply { status: 200, body: body.to_string(), delay: Duration::ZERO }
        }
    }

    /// A received request: path and JSON body.
    pub type Seen = Arc<Mutex<Vec<(String, String)>>>;

    pub struct FakeServer {
        pub base: String,
        pub seen: Seen,
    }

    pub fn start(handler: impl Fn(&str, &serde_json::Value) -> Reply + Send + Sync + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/v1", listener.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let record = seen.clone();
        let handler = Arc::new(handler);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let handler = handler.clone();
                let record = record.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let mut length = 0usize;
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
                    let mut body = vec![0u8; length];
                    let _ = reader.read_exact(&mut body);
                    let body = String::from_utf8_lossy(&body).into_owned();
                    record.lock().unwrap().push((path.clone(), body.clone()));
                    let json = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                    let reply = handler(&path, &json);
                    std::thread::sleep(reply.delay);
                    let head = format!(
                        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(reply.body.as_bytes()));
                });
            }
        });
        FakeServer { base, seen }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{self, Reply};
    use super::*;

    fn completion(text: &str, finish: &str) -> Value {
        json!({"id": "c1", "object": "text_completion", "choices": [{"index": 0, "text": text, "finish_reason": finish}],
               "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}})
    }

    fn generator(base: &str, model: Option<&str>, config: OpenAiConfig) -> OpenAiGenerator {
        OpenAiGenerator::new(base, model.map(str::to_string), config).unwrap()
    }

    const PROMPT: &str = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nfix np.float_<|im_end|>\n<|im_start|>assistant\nLet me solve this step by step.\n<think>";

    #[test]
    fn completions_send_the_raw_prompt_and_one_request_per_sample() {
        let server = fake::start(|path, body| {
            assert_eq!(path, "/v1/completions");
            let seed = body["seed"].as_u64().unwrap();
            Reply::ok(completion(&format!(" sample {}</think>STOP tail", seed % 1000), "stop"))
        });
        let generator = generator(&server.base, Some("qwen2.5-coder"), OpenAiConfig::default());
        let params = SamplingParams { temperature: 0.7, top_p: 0.9, max_tokens: 64, seed: Some(42), stop: vec!["STOP".into()], n: 3 };
        let generation = generator.generate(PROMPT, &params, &CancelToken::new()).unwrap();
        assert_eq!(generation.completions.len(), 3);
        assert_eq!(generation.prompt_tokens, Some(12));
        for (i, c) in generation.completions.iter().enumerate() {
            assert_eq!(c.text, format!(" sample {}</think>", sample_seed(42, i) % 1000), "cut at the stop string");
            assert_eq!(c.finish, FinishReason::Stop);
            assert_eq!(c.tokens, Some(5));
        }
        let seen = server.seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        let body: Value = serde_json::from_str(&seen[0].1).unwrap();
        assert_eq!(body["prompt"], PROMPT);
        assert_eq!(body["model"], "qwen2.5-coder");
        assert_eq!(body["max_tokens"], 64);
        assert_eq!(body["n"], 1);
        assert_eq!(body["stop"], json!(["STOP"]));
        assert_eq!(body["temperature"], 0.7, "sent as written, not widened from f32");
        assert_eq!(body["top_p"], 0.9);
    }

    #[test]
    fn chat_mode_sends_messages_with_the_prefill_to_continue() {
        let server = fake::start(|path, _| {
            assert_eq!(path, "/v1/chat/completions");
            Reply::ok(json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok</think>"}, "finish_reason": "length"}]}))
        });
        let config = OpenAiConfig { mode: EndpointMode::Chat, ..OpenAiConfig::default() };
        let generator = generator(&server.base, Some("m"), config);
        let generation = generator.generate(PROMPT, &SamplingParams::default(), &CancelToken::new()).unwrap();
        assert_eq!(generation.completions[0].text, "ok</think>");
        assert_eq!(generation.completions[0].finish, FinishReason::Length);
        let body: Value = serde_json::from_str(&server.seen.lock().unwrap()[0].1).unwrap();
        assert_eq!(
            body["messages"],
            json!([
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "fix np.float_"},
                {"role": "assistant", "content": "Let me solve this step by step.\n<think>"},
            ])
        );
        assert_eq!(body["continue_final_message"], true);
        assert_eq!(body["add_generation_prompt"], false);
    }

    #[test]
    fn the_model_name_is_discovered_when_not_given() {
        let server = fake::start(|path, body| {
            if path == "/v1/models" {
                return Reply::ok(json!({"object": "list", "data": [{"id": "served-model", "object": "model"}]}));
            }
            assert_eq!(body["model"], "served-model");
            Reply::ok(completion("x", "stop"))
        });
        let generator = generator(&server.base, None, OpenAiConfig::default());
        generator.generate("hi", &SamplingParams::default(), &CancelToken::new()).unwrap();
        generator.generate("hi", &SamplingParams::default(), &CancelToken::new()).unwrap();
        let paths: Vec<String> = server.seen.lock().unwrap().iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(paths.iter().filter(|p| *p == "/v1/models").count(), 1, "asked once: {paths:?}");
    }

    #[test]
    fn http_errors_carry_status_and_body() {
        let server = fake::start(|_, _| Reply {
            status: 400,
            body: json!({"error": {"message": "prompt is too long for this model"}}).to_string(),
            delay: Duration::ZERO,
        });
        let err = generator(&server.base, Some("m"), OpenAiConfig::default())
            .generate("hi", &SamplingParams::default(), &CancelToken::new())
            .unwrap_err();
        assert!(matches!(err, ModelError::Http { status: 400, .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("HTTP 400") && message.contains("prompt is too long"), "{message}");
    }

    #[test]
    fn malformed_answers_are_named() {
        let server = fake::start(|path, _| match path {
            "/v1/completions" => Reply { status: 200, body: "<html>oops</html>".into(), delay: Duration::ZERO },
            _ => Reply::ok(json!({"choices": []})),
        });
        let err = generator(&server.base, Some("m"), OpenAiConfig::default())
            .generate("hi", &SamplingParams::default(), &CancelToken::new())
            .unwrap_err();
        assert!(matches!(err, ModelError::BadResponse { .. }), "{err}");
        assert!(err.to_string().contains("not JSON"), "{err}");
        let chat = OpenAiConfig { mode: EndpointMode::Chat, ..OpenAiConfig::default() };
        let err = generator(&server.base, Some("m"), chat)
            .generate("hi", &SamplingParams::default(), &CancelToken::new())
            .unwrap_err();
        assert!(err.to_string().contains("no choices"), "{err}");
    }

    #[test]
    fn connection_refused_is_a_clear_error() {
        // A port that was just free: bind, read it, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let base = format!("http://127.0.0.1:{port}/v1");
        let err = generator(&base, Some("m"), OpenAiConfig::default())
            .generate("hi", &SamplingParams::default(), &CancelToken::new())
            .unwrap_err();
        assert!(matches!(err, ModelError::Connect { .. }), "{err}");
        assert!(err.to_string().contains("cannot reach the model endpoint"), "{err}");
    }

    #[test]
    fn slow_servers_time_out() {
        let server = fake::start(|_, _| Reply { delay: Duration::from_secs(5), ..Reply::ok(completion("late", "stop")) });
        let config = OpenAiConfig { timeout: Some(Duration::from_millis(300)), ..OpenAiConfig::default() };
        let started = Instant::now();
        let err = generator(&server.base, Some("m"), config)
            .generate("hi", &SamplingParams::default(), &CancelToken::new())
            .unwrap_err();
        assert!(matches!(err, ModelError::TimedOut(_)), "{err}");
        assert!(started.elapsed() < Duration::from_secs(4));
        // A token's deadline works the same without a backend timeout.
        let config = OpenAiConfig { timeout: None, ..OpenAiConfig::default() };
        let token = CancelToken::new().with_timeout(Duration::from_millis(200));
        let err = generator(&server.base, Some("m"), config).generate("hi", &SamplingParams::default(), &token).unwrap_err();
        assert!(matches!(err, ModelError::TimedOut(_)), "{err}");
    }

    #[test]
    fn cancellation_returns_at_once() {
        let server = fake::start(|_, _| Reply { delay: Duration::from_secs(5), ..Reply::ok(completion("late", "stop")) });
        let generator = generator(&server.base, Some("m"), OpenAiConfig::default());
        let token = CancelToken::new();
        let canceller = token.clone();
        let started = Instant::now();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            canceller.cancel();
        });
        let err = generator.generate("hi", &SamplingParams { n: 2, ..SamplingParams::default() }, &token).unwrap_err();
        assert!(matches!(err, ModelError::Cancelled), "{err}");
        assert!(started.elapsed() < Duration::from_secs(3));
        // An already-cancelled token sends nothing.
        let before = server.seen.lock().unwrap().len();
        assert!(matches!(generator.generate("hi", &SamplingParams::default(), &token), Err(ModelError::Cancelled)));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(server.seen.lock().unwrap().len(), before);
    }

    #[test]
    fn loopback_hosts_bypass_proxies() {
        assert!(is_loopback("http://127.0.0.1:8080/v1"));
        assert!(is_loopback("http://localhost/v1"));
        assert!(is_loopback("http://[::1]:11434/v1"));
        assert!(!is_loopback("https://gpu-box.internal:8000/v1"));
        assert!(!is_loopback("http://10.0.0.2/v1"));
    }

    #[test]
    fn chatml_splitting() {
        let (messages, prefilled) = chatml_to_messages(PROMPT);
        assert!(prefilled);
        assert_eq!(messages.len(), 3);
        let (messages, prefilled) = chatml_to_messages("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
        assert!(!prefilled, "an empty assistant turn is the generation prompt");
        assert_eq!(messages, vec![json!({"role": "user", "content": "hi"})]);
        let (messages, prefilled) = chatml_to_messages("plain text");
        assert_eq!((messages, prefilled), (vec![json!({"role": "user", "content": "plain text"})], false));
    }
}
