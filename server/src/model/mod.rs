//! The local model: the [`Generator`] trait and its backends.
//!
//! A generator turns a fully rendered prompt text (ChatML with a prefilled
//! assistant turn, rendered by the vocabulary module) into `n` sampled
//! continuations. This module never knows what a finding is.
//!
//! Backends:
//!
//! * [`embedded`] (cargo feature `embedded`, on by default for the `recode`
//!   binary): mistralrs 0.8.1 in-process, loading a local GGUF file or a local
//!   Hugging Face model directory (`config.json` + `*.safetensors` +
//!   `tokenizer.json`, e.g. what `recode-train merge` writes). It never contacts
//!   a model hub.
//! * [`openai`]: an OpenAI-compatible HTTP endpoint (`/v1/completions`, or
//!   `/v1/chat/completions` as a fallback) for Ollama, vLLM, the llama.cpp
//!   server or mistralrs-server.
//!
//! Which one is used is said by a [`ModelSpec`] (`--model SPEC`): `default`
//! (SmolLM2-135M-Instruct from the user cache, see [`fetch`]), a `.gguf` path,
//! a model directory, or an `http(s)://` endpoint URL.
//!
//! **Blocking API.** [`Generator::generate`] blocks the calling thread. The
//! command line calls it from rayon workers as is; an async caller (the
//! tokio-based language server) calls it inside `tokio::task::spawn_blocking`.
//! The embedded backend drives mistralrs on a private tokio runtime of its
//! own, so it never needs (nor may run on) the caller's runtime: calling it
//! from an async task returns [`ModelError::AsyncContext`] instead of
//! panicking. Fanning calls out over rayon's global pool (`par_iter`) is
//! safe: candle's CPU kernels need that pool too, so a call waiting on a
//! rayon worker keeps running the pool's jobs instead of parking the worker.
//! Cancellation is a [`CancelToken`] (a shared flag, optionally
//! with a deadline) checked while waiting; timeouts are per backend
//! ([`LoadOptions::timeout`]) and per call (a token's deadline).
//!
//! **Once per process.** [`shared`] loads a spec once and hands out the same
//! `Arc` afterwards; loading reports its progress through
//! [`LoadOptions::progress`] (stderr by default).

pub mod fetch;
#[cfg(feature = "gguf")]
pub mod gguf;
pub mod openai;
pub mod spec;

#[cfg(feature = "embedded")]
pub mod embedded;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use spec::{ModelSpec, SpecError};

/// How to sample. `temperature <= 0` is greedy decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability
    /// adds up to `top_p` (1.0 keeps every token).
    pub top_p: f32,
    /// Most tokens to generate per sample; backends with a known context
    /// length lower it so prompt + completion fit (see [`cap_max_tokens`]).
    pub max_tokens: usize,
    /// Seed for reproducible sampling; sample `i` of a call uses a seed
    /// derived from `seed` and `i`. `None`: a fresh seed per call.
    pub seed: Option<u64>,
    /// Generation stops before the first occurrence of any of these strings;
    /// the returned text never contains them.
    pub stop: Vec<String>,
    /// Number of samples.
    pub n: usize,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams { temperature: 0.0, top_p: 1.0, max_tokens: 512, seed: None, stop: Vec::new(), n: 1 }
    }
}

/// Why a sample ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model's end-of-sequence token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The model's context length reached (`max_tokens` was lowered to fit).
    ContextLength,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContextLength => "context_length",
        }
    }
}

impl std::fmt::Display for FinishReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sampled continuation of the prompt (the text after the prompt only).
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub finish: FinishReason,
    /// Generated tokens, when the backend says.
    pub tokens: Option<usize>,
}

/// The answer to one [`Generator::generate`] call.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// `params.n` completions, in sample order.
    pub completions: Vec<Completion>,
    /// Prompt length in tokens, when the backend says.
    pub prompt_tokens: Option<usize>,
    /// Where the time went, when the backend measures it (the embedded one).
    pub timing: Option<Timing>,
}

/// Time spent on the prompt (up to each sample's first token) and on
/// decoding the tokens after it, over all samples of a call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// From sending the request to the first sampled token.
    pub prefill: Duration,
    /// From the first sampled token to the last one.
    pub decode: Duration,
    /// Tokens sampled after the first one, over all samples.
    pub decode_tokens: usize,
}

/// A cancellation flag shared between the caller and a running generation,
/// optionally with a deadline. Clones share the flag.
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
    deadline: Option<Instant>,
}

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// The same flag, and a deadline `timeout` from now (the earlier one wins
    /// when the token already had one).
    pub fn with_timeout(&self, timeout: Duration) -> CancelToken {
        let deadline = Instant::now() + timeout;
        CancelToken { flag: self.flag.clone(), deadline: Some(self.deadline.map_or(deadline, |d| d.min(deadline))) }
    }

    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// `Err(Cancelled)` once cancelled, `Err(TimedOut)` past the deadline.
    pub fn check(&self) -> Result<(), ModelError> {
        if self.is_cancelled() {
            return Err(ModelError::Cancelled);
        }
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Err(ModelError::TimedOut(None)),
            _ => Ok(()),
        }
    }
}

/// Errors of the model layer. Messages are meant for the user as they are.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("the generation was cancelled")]
    Cancelled,
    #[error("the model did not answer in time{}", .0.map(|d| format!(" ({:.1} s)", d.as_secs_f64())).unwrap_or_default())]
    TimedOut(Option<Duration>),
    #[error(
        "the prompt is {prompt_tokens} tokens long, but the model's context length is {context_length}: shorten the prompt (fewer worked examples or release-note entries)"
    )]
    PromptTooLong { prompt_tokens: usize, context_length: usize },
    #[error("cannot reach the model endpoint {url}: {message}")]
    Connect { url: String, message: String },
    #[error("the model endpoint {url} answered HTTP {status}: {body}")]
    Http { url: String, status: u16, body: String },
    #[error("the model endpoint {url} sent an answer that is not what an OpenAI-compatible server sends: {message}")]
    BadResponse { url: String, message: String },
    #[error("cannot load the model {model}: {message}")]
    Load { model: String, message: String },
    #[error("the model failed while generating: {0}")]
    Generation(String),
    #[error("the model tokenizer failed: {0}")]
    Tokenizer(String),
    #[error(
        "this recode was built without the embedded model backend (cargo feature `embedded`): serve {0} with an OpenAI-compatible server and pass its URL to --model"
    )]
    EmbeddedDisabled(String),
    #[error(
        "the embedded model backend blocks; call it from a blocking thread (tokio::task::spawn_blocking), not from an async task"
    )]
    AsyncContext,
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
}

/// A text generator: a loaded local model or a remote endpoint.
///
/// Implementations are shared between threads (`Arc<dyn Generator>`) and
/// may serve several calls at once (the embedded backend batches them).
pub trait Generator: Send + Sync {
    /// A short name for messages: the model file, directory or URL.
    fn describe(&self) -> String;

    /// The model's context length in tokens (prompt + completion), if known.
    fn context_length(&self) -> Option<usize>;

    /// Samples `params.n` continuations of `prompt`, a fully rendered prompt
    /// text used as is (no chat template is applied on top of it, special
    /// tokens such as `<|im_start|>` in it are read as such).
    ///
    /// Blocks until every sample is done, `cancel` is cancelled
    /// ([`ModelError::Cancelled`]) or its deadline or the backend's timeout
    /// passes ([`ModelError::TimedOut`]).
    fn generate(&self, prompt: &str, params: &SamplingParams, cancel: &CancelToken) -> Result<Generation, ModelError>;
}

/// Receives loading progress lines (what is being loaded, how long it took).
pub type ProgressFn = Arc<dyn Fn(&str) + Send + Sync>;

/// How to load a generator.
#[derive(Clone)]
pub struct LoadOptions {
    /// Longest one `generate` call may take (all samples), on top of any
    /// deadline of its [`CancelToken`]. `None`: no limit.
    pub timeout: Option<Duration>,
    /// Longest the HTTP backend waits for a TCP connection.
    pub connect_timeout: Duration,
    /// For endpoints: use `/v1/chat/completions` instead of `/v1/completions`.
    pub endpoint_mode: openai::EndpointMode,
    /// For endpoints: a bearer token (`Authorization: Bearer …`); also read
    /// from `RECODE_API_KEY` by [`LoadOptions::default`].
    pub api_key: Option<String>,
    /// For the embedded backend: CPU threads for the model (`None`: all).
    pub threads: Option<usize>,
    /// Where loading progress goes; default: stderr.
    pub progress: ProgressFn,
}

impl std::fmt::Debug for LoadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadOptions")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("endpoint_mode", &self.endpoint_mode)
            .field("api_key", &self.api_key.as_ref().map(|_| "…"))
            .field("threads", &self.threads)
            .finish()
    }
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            timeout: Some(Duration::from_secs(600)),
            connect_timeout: Duration::from_secs(10),
            endpoint_mode: openai::EndpointMode::Completions,
            api_key: std::env::var("RECODE_API_KEY").ok().filter(|k| !k.is_empty()),
            threads: None,
            progress: Arc::new(|line: &str| eprintln!("{line}")),
        }
    }
}

/// Loads the generator a spec names (a new one on every call; see [`shared`]).
pub fn load(spec: &ModelSpec, options: &LoadOptions) -> Result<Arc<dyn Generator>, ModelError> {
    match spec {
        ModelSpec::Endpoint { base, model } => Ok(Arc::new(openai::OpenAiGenerator::new(
            base,
            model.clone(),
            openai::OpenAiConfig::from_load_options(options),
        )?)),
        ModelSpec::Default => {
            let path = fetch::default_model_path()?;
            load_local(&ModelSpec::Gguf(path), options)
        }
        ModelSpec::Gguf(_) | ModelSpec::Dir(_) => load_local(spec, options),
    }
}

#[cfg(feature = "embedded")]
fn load_local(spec: &ModelSpec, options: &LoadOptions) -> Result<Arc<dyn Generator>, ModelError> {
    Ok(Arc::new(embedded::EmbeddedGenerator::load(spec, options)?))
}

#[cfg(not(feature = "embedded"))]
fn load_local(spec: &ModelSpec, _options: &LoadOptions) -> Result<Arc<dyn Generator>, ModelError> {
    Err(ModelError::EmbeddedDisabled(spec.to_string()))
}

/// The process-wide generator for a spec: loaded on first use, then shared.
/// Concurrent first calls for the same spec load it once.
pub fn shared(spec: &ModelSpec, options: &LoadOptions) -> Result<Arc<dyn Generator>, ModelError> {
    type Slot = Arc<OnceLock<Arc<dyn Generator>>>;
    static LOADED: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    let key = spec.cache_key();
    let slot = {
        let mut map = LOADED.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
        map.entry(key).or_default().clone()
    };
    // One loader at a time per spec; a failed load leaves the slot empty so
    // a later call tries again.
    static LOADING: Mutex<()> = Mutex::new(());
    if let Some(generator) = slot.get() {
        return Ok(generator.clone());
    }
    let _guard = LOADING.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(generator) = slot.get() {
        return Ok(generator.clone());
    }
    let generator = load(spec, options)?;
    let _ = slot.set(generator.clone());
    Ok(generator)
}

/// The most tokens a sample may generate so that `prompt_tokens + max` stays
/// within `context_length`, and whether `requested` had to be lowered.
/// A prompt that leaves no room at all is refused.
pub fn cap_max_tokens(prompt_tokens: usize, requested: usize, context_length: usize) -> Result<(usize, bool), ModelError> {
    if prompt_tokens >= context_length {
        return Err(ModelError::PromptTooLong { prompt_tokens, context_length });
    }
    let room = context_length - prompt_tokens;
    Ok(if requested > room { (room, true) } else { (requested, false) })
}

/// Cuts `text` before the first occurrence of any stop string; says whether
/// one was found.
pub fn truncate_at_stop(text: &mut String, stop: &[String]) -> bool {
    let cut = stop.iter().filter(|s| !s.is_empty()).filter_map(|s| text.find(s.as_str())).min();
    match cut {
        Some(at) => {
            text.truncate(at);
            true
        }
        None => false,
    }
}

/// The seed of sample `index` of a call seeded with `seed` (SplitMix64, so
/// neighbouring seeds give unrelated streams).
pub fn sample_seed(seed: u64, index: usize) -> u64 {
    let mut z = seed.wrapping_add((index as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for calls that gave none.
pub(crate) fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capping_keeps_prompt_and_completion_within_the_context() {
        assert_eq!(cap_max_tokens(100, 50, 2048).unwrap(), (50, false));
        assert_eq!(cap_max_tokens(2000, 512, 2048).unwrap(), (48, true));
        assert_eq!(cap_max_tokens(2047, 512, 2048).unwrap(), (1, true));
        let err = cap_max_tokens(2048, 512, 2048).unwrap_err();
        assert!(matches!(err, ModelError::PromptTooLong { prompt_tokens: 2048, context_length: 2048 }));
        assert!(err.to_string().contains("context length is 2048"), "{err}");
        assert!(cap_max_tokens(5000, 1, 2048).is_err());
    }

    #[test]
    fn stop_strings_cut_at_the_earliest_match() {
        let mut text = "abc</answer>def```x".to_string();
        assert!(truncate_at_stop(&mut text, &["```".into(), "</answer>".into()]));
        assert_eq!(text, "abc");
        let mut text = "nothing here".to_string();
        assert!(!truncate_at_stop(&mut text, &["STOP".into(), String::new()]));
        assert_eq!(text, "nothing here");
    }

    #[test]
    fn cancel_tokens_share_the_flag_and_keep_the_earliest_deadline() {
        let token = CancelToken::new();
        let clone = token.with_timeout(Duration::from_secs(60));
        assert!(clone.check().is_ok());
        token.cancel();
        assert!(matches!(clone.check(), Err(ModelError::Cancelled)));
        let expired = CancelToken::new().with_timeout(Duration::ZERO);
        assert!(matches!(expired.check(), Err(ModelError::TimedOut(_))));
        let later = expired.with_timeout(Duration::from_secs(60));
        assert_eq!(later.deadline(), expired.deadline(), "the earlier deadline wins");
    }

    #[test]
    fn shared_generators_are_loaded_once_per_spec() {
        let spec = ModelSpec::parse("http://127.0.0.1:9/v1#once").unwrap();
        let first = shared(&spec, &LoadOptions::default()).unwrap();
        let second = shared(&spec, &LoadOptions::default()).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        let other = shared(&ModelSpec::parse("http://127.0.0.1:9/v1#other").unwrap(), &LoadOptions::default()).unwrap();
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(first.describe(), "http://127.0.0.1:9/v1#once");
    }

    #[test]
    fn sample_seeds_differ_per_sample_and_repeat_per_seed() {
        assert_eq!(sample_seed(7, 0), sample_seed(7, 0));
        assert_ne!(sample_seed(7, 0), sample_seed(7, 1));
        assert_ne!(sample_seed(7, 0), sample_seed(8, 0));
    }
}
