//! The embedded backend: mistralrs 0.8.1 in-process, on local files only.
//!
//! * A GGUF file loads with `GgufModelBuilder` (its directory as the model id,
//!   its file name as the file); a Hugging Face model directory (the merged
//!   output of `recode-train merge`) with `TextModelBuilder`. Both get an
//!   existing local path and `TokenSource::None`, which is what keeps
//!   mistralrs off the hub: it lists and reads a path that exists instead of
//!   asking the hub (`HF_HUB_OFFLINE=1` is set as well).
//! * The prompt is tokenized here (the GGUF's own tokenizer rebuilt from its
//!   metadata, or the directory's `tokenizer.json`) and sent as tokens, so
//!   the prompt length is known before generating: `max_tokens` is lowered
//!   so prompt + completion fit the context length, and a prompt that alone
//!   fills it is refused ([`ModelError::PromptTooLong`]); mistralrs itself
//!   would only fail past the context.
//! * Sampling is done by a logits processor of ours, seeded per sample
//!   ([`SamplingParams::seed`]), since mistralrs 0.8.1 seeds its sampler once
//!   per engine. It records the chosen tokens, and the completion text is
//!   decoded from them (mistralrs trims the start of its streamed text).
//! * Each sample is a streaming request, all sent at once, except that a
//!   seeded call sends them one after another (batching changes rounding,
//!   and a seed promises the same text); cancellation (or a deadline) drops
//!   the streams and makes the processor pick end-of-sequence, so the
//!   engine stops those sequences at the next token.
//!
//! The CPU threads are rayon's global pool (`RAYON_NUM_THREADS`).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mistralrs::core::{Constraint, CustomLogitsProcessor, NormalRequest, Request, RequestMessage, Response, StopTokens};
use mistralrs::{GgufModelBuilder, Model, ModelDType, TextModelBuilder, TokenSource};
use rand::{Rng, SeedableRng};
use tokenizers::Tokenizer;

use super::gguf::{context_length_from_config, GgufMetadata};
use super::{
    cap_max_tokens, fresh_seed, sample_seed, truncate_at_stop, CancelToken, Completion, FinishReason, Generation, Generator,
    LoadOptions, ModelError, ModelSpec, SamplingParams, Timing,
};

/// A model loaded into this process.
pub struct EmbeddedGenerator {
    name: String,
    model: Model,
    runtime: tokio::runtime::Runtime,
    tokenizer: Tokenizer,
    /// Ids that end a sample (end-of-sequence and end-of-turn tokens).
    eos_ids: Vec<u32>,
    context_length: Option<usize>,
    timeout: Option<Duration>,
    next_id: AtomicUsize,
}

fn load_error(name: &str, message: impl std::fmt::Display) -> ModelError {
    ModelError::Load { model: name.to_string(), message: message.to_string() }
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

impl EmbeddedGenerator {
    /// Loads a [`ModelSpec::Gguf`] or [`ModelSpec::Dir`] (the default spec is
    /// resolved to its GGUF path by [`super::load`]).
    pub fn load(spec: &ModelSpec, options: &LoadOptions) -> Result<EmbeddedGenerator, ModelError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(ModelError::AsyncContext);
        }
        // Nothing here may reach a hub; mistralrs reads local paths, and this
        // makes any stray hf-hub call fail fast instead of going out.
        std::env::set_var("HF_HUB_OFFLINE", "1");
        let started = Instant::now();
        let (name, tokenizer, eos_ids, context_length, build): (String, Tokenizer, Vec<u32>, Option<usize>, Builder) = match spec {
            ModelSpec::Gguf(path) => {
                let path = absolute(path);
                let name = path.display().to_string();
                let metadata = GgufMetadata::read(&path)?;
                let built = metadata.tokenizer().map_err(|e| load_error(&name, e))?;
                let eos_ids = eos_ids(&built.tokenizer, built.eos_id);
                let dir = path.parent().ok_or_else(|| load_error(&name, "no parent directory"))?;
                let file = path.file_name().and_then(|f| f.to_str()).ok_or_else(|| load_error(&name, "file name is not UTF-8"))?;
                let builder = GgufModelBuilder::new(dir.display().to_string(), vec![file.to_string()])
                    .with_token_source(TokenSource::None);
                (name, built.tokenizer, eos_ids, metadata.context_length(), Builder::Gguf(Box::new(builder)))
            }
            ModelSpec::Dir(dir) => {
                let dir = absolute(dir);
                let name = dir.display().to_string();
                let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
                    .map_err(|e| load_error(&name, format!("tokenizer.json: {e}")))?;
                let eos = eos_from_config(&dir);
                let eos_ids = eos_ids(&tokenizer, eos);
                let builder = TextModelBuilder::new(dir.display().to_string())
                    .with_token_source(TokenSource::None)
                    .with_dtype(dtype_from_config(&dir));
                (name, tokenizer, eos_ids, context_length_from_config(&dir.join("config.json")), Builder::Text(Box::new(builder)))
            }
            other => return Err(load_error(&other.to_string(), "not a local model")),
        };
        (options.progress)(&format!("loading model {name} …"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("recode-model")
            .enable_all()
            .build()
            .map_err(|e| load_error(&name, e))?;
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let model = match build {
                Builder::Gguf(b) => b.build().await,
                Builder::Text(b) => b.build().await,
            };
            let _ = done_tx.send(model);
        });
        let model = wait_for(&done_rx)
            .ok_or_else(|| load_error(&name, "the loading task stopped"))?
            .map_err(|e| load_error(&name, format!("{e:#}")))?;
        // The engine knows the context it was built for; the metadata is the fallback.
        let context_length = model.max_sequence_length().ok().flatten().or(context_length);
        (options.progress)(&format!(
            "loaded model {name} in {:.1} s (context {} tokens)",
            started.elapsed().as_secs_f64(),
            context_length.map_or("unknown".to_string(), |n| n.to_string())
        ));
        Ok(EmbeddedGenerator {
            name,
            model,
            runtime,
            tokenizer,
            eos_ids,
            context_length,
            timeout: options.timeout,
            next_id: AtomicUsize::new(1),
        })
    }

    /// The tokenizer the prompt is counted with.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
}

enum Builder {
    Gguf(Box<GgufModelBuilder>),
    Text(Box<TextModelBuilder>),
}

/// End-of-sequence ids: the model's own, plus ChatML's end of turn and
/// `<|endoftext|>` when the vocabulary has them.
fn eos_ids(tokenizer: &Tokenizer, eos: Option<u32>) -> Vec<u32> {
    let mut ids: Vec<u32> = eos.into_iter().collect();
    for token in ["<|im_end|>", "<|endoftext|>"] {
        if let Some(id) = tokenizer.token_to_id(token) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// The dtype `config.json` names (`torch_dtype`, or `dtype`): what the
/// merge wrote is what is served; mistralrs's automatic choice otherwise.
fn dtype_from_config(dir: &Path) -> ModelDType {
    let value: Option<serde_json::Value> =
        std::fs::read_to_string(dir.join("config.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
    let name = value.as_ref().and_then(|v| v.get("torch_dtype").or_else(|| v.get("dtype"))).and_then(|v| v.as_str());
    match name {
        Some("float32") => ModelDType::F32,
        Some("bfloat16") => ModelDType::BF16,
        Some("float16") => ModelDType::F16,
        _ => ModelDType::Auto,
    }
}

/// `eos_token_id` from `config.json` / `generation_config.json` (first one).
fn eos_from_config(dir: &Path) -> Option<u32> {
    ["generation_config.json", "config.json"].iter().find_map(|name| {
        let text = std::fs::read_to_string(dir.join(name)).ok()?;
        let value: serde_json::Value = serde_json::from_str(&text).ok()?;
        match &value["eos_token_id"] {
            serde_json::Value::Number(n) => n.as_u64().map(|n| n as u32),
            serde_json::Value::Array(a) => a.first().and_then(|n| n.as_u64()).map(|n| n as u32),
            _ => None,
        }
    })
}

/// Picks each next token itself (greedy, or seeded temperature / top-p
/// sampling) by leaving only that token's logit finite, and remembers what
/// it picked.
struct Sampler {
    temperature: f32,
    top_p: f32,
    prompt_len: usize,
    /// The end-of-sequence token mistralrs stops at, and every token that
    /// ends a sample for us (picking one of those picks `eos`).
    eos: Option<u32>,
    eos_ids: Vec<u32>,
    cancel: CancelToken,
    state: Mutex<SamplerState>,
}

struct SamplerState {
    rng: rand::rngs::StdRng,
    /// The generated tokens so far (including the last pick).
    generated: Vec<u32>,
    /// When the first and the latest token were picked.
    first_pick: Option<Instant>,
    last_pick: Option<Instant>,
}

impl Sampler {
    fn pick(&self, logits: &[f32], rng: &mut rand::rngs::StdRng) -> usize {
        if self.cancel.check().is_err() {
            if let Some(eos) = self.eos {
                return eos as usize;
            }
        }
        let chosen = sample_token(logits, self.temperature, self.top_p, rng);
        match self.eos {
            Some(eos) if self.eos_ids.contains(&(chosen as u32)) => eos as usize,
            _ => chosen,
        }
    }

    fn generated(&self) -> Vec<u32> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).generated.clone()
    }

    fn picks(&self) -> (Option<Instant>, Option<Instant>) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.first_pick, state.last_pick)
    }
}

/// The index of the next token: argmax when `temperature <= 0`, else a draw
/// from `softmax(logits / temperature)` restricted to the top-p nucleus.
pub(crate) fn sample_token(logits: &[f32], temperature: f32, top_p: f32, rng: &mut impl Rng) -> usize {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_nan())
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i)
    };
    if temperature <= 0.0 || logits.is_empty() {
        return argmax();
    }
    let max = logits.iter().copied().filter(|l| l.is_finite()).fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return argmax();
    }
    let inv_t = 1.0 / temperature as f64;
    // Tokens whose weight is below 1e-12 of the best one cannot matter.
    let floor = (1e-12f64).ln();
    let mut candidates: Vec<(usize, f64)> = logits
        .iter()
        .enumerate()
        .filter_map(|(i, &l)| {
            let z = (l as f64 - max as f64) * inv_t;
            (z.is_finite() && z > floor).then(|| (i, z.exp()))
        })
        .collect();
    let total: f64 = candidates.iter().map(|c| c.1).sum();
    if top_p < 1.0 && top_p > 0.0 {
        candidates.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut kept = 0.0;
        let mut keep = 0;
        for (_, w) in &candidates {
            kept += w;
            keep += 1;
            if kept >= top_p as f64 * total {
                break;
            }
        }
        candidates.truncate(keep.max(1));
    }
    let total: f64 = candidates.iter().map(|c| c.1).sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in &candidates {
        if u < *w {
            return *i;
        }
        u -= w;
    }
    candidates.last().map_or_else(argmax, |c| c.0)
}

impl CustomLogitsProcessor for Sampler {
    fn apply(&self, logits: &mistralrs::Tensor, context: &[u32]) -> mistralrs::Result<mistralrs::Tensor> {
        let values: Vec<f32> = logits.to_dtype(mistralrs::DType::F32)?.flatten_all()?.to_vec1()?;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let SamplerState { rng, generated, first_pick, last_pick } = &mut *state;
        let chosen = self.pick(&values, rng);
        let now = Instant::now();
        first_pick.get_or_insert(now);
        *last_pick = Some(now);
        // The context holds the prompt and every token generated so far; it
        // is the truth for all but the token picked now.
        generated.clear();
        generated.extend_from_slice(context.get(self.prompt_len..).unwrap_or(&[]));
        generated.push(chosen as u32);
        let mut out = vec![f32::NEG_INFINITY; values.len()];
        out[chosen] = 0.0;
        mistralrs::Tensor::from_vec(out, logits.shape(), logits.device())?.to_dtype(logits.dtype())
    }
}

struct Sample {
    sampler: Arc<Sampler>,
    receiver: tokio::sync::mpsc::Receiver<Response>,
}

/// Reads a sample's stream to its end; the finish reason mistralrs gave
/// (empty when the stream ended without one).
async fn finish_of(mut receiver: tokio::sync::mpsc::Receiver<Response>) -> Result<String, ModelError> {
    while let Some(response) = receiver.recv().await {
        match response {
            Response::CompletionChunk(chunk) => {
                if let Some(reason) = chunk.choices.iter().find_map(|c| c.finish_reason.clone()) {
                    return Ok(reason);
                }
            }
            Response::CompletionDone(done) => {
                return Ok(done.choices.first().map(|c| c.finish_reason.clone()).unwrap_or_else(|| "stop".into()))
            }
            Response::InternalError(e) | Response::ValidationError(e) => return Err(ModelError::Generation(e.to_string())),
            Response::CompletionModelError(message, _) | Response::ModelError(message, _) => {
                return Err(ModelError::Generation(message))
            }
            _ => return Err(ModelError::Generation("mistralrs sent an unexpected kind of response".into())),
        }
    }
    // mistralrs sends no chunk for a step whose text ends inside a UTF-8
    // character, the last step included: a stream that just ends is a
    // finished sample too (the tokens picked tell how it ended).
    Ok(String::new())
}

/// Waits for the answer. On a rayon worker thread the wait keeps running
/// the pool's pending jobs: candle's CPU kernels run on rayon's global pool,
/// so a caller that fans generations out with rayon (`par_iter`) would
/// otherwise hold every worker while the model waits for one: a deadlock.
fn wait_for<T>(receiver: &std::sync::mpsc::Receiver<T>) -> Option<T> {
    if rayon::current_thread_index().is_none() {
        return receiver.recv().ok();
    }
    loop {
        match receiver.try_recv() {
            Ok(value) => return Some(value),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return None,
            Err(std::sync::mpsc::TryRecvError::Empty) => match rayon::yield_now() {
                Some(rayon::Yield::Executed) => {}
                _ => std::thread::sleep(Duration::from_micros(200)),
            },
        }
    }
}

impl EmbeddedGenerator {
    /// Sends one sample's streaming request to the engine.
    fn send(
        &self,
        sender: &tokio::sync::mpsc::Sender<Request>,
        prompt_ids: &[u32],
        params: &SamplingParams,
        max_tokens: usize,
        seed: u64,
        cancel: &CancelToken,
    ) -> Result<Sample, ModelError> {
        let sampler = Arc::new(Sampler {
            temperature: params.temperature,
            top_p: params.top_p,
            prompt_len: prompt_ids.len(),
            eos: self.eos_ids.first().copied(),
            eos_ids: self.eos_ids.clone(),
            cancel: cancel.clone(),
            state: Mutex::new(SamplerState {
                rng: rand::rngs::StdRng::seed_from_u64(seed),
                generated: Vec::new(),
                first_pick: None,
                last_pick: None,
            }),
        });
        let mut sampling = mistralrs::SamplingParams::neutral();
        sampling.max_len = Some(max_tokens);
        sampling.n_choices = 1;
        let stops: Vec<String> = params.stop.iter().filter(|s| !s.is_empty()).cloned().collect();
        // mistralrs takes stop strings or stop ids, not both; the sampler
        // maps every end token of ours to the model's own EOS, which
        // mistralrs always stops at.
        sampling.stop_toks =
            if stops.is_empty() { Some(StopTokens::Ids(self.eos_ids.clone())) } else { Some(StopTokens::Seqs(stops)) };
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let request = NormalRequest {
            messages: RequestMessage::CompletionTokens(prompt_ids.to_vec()),
            sampling_params: sampling,
            response: tx,
            return_logprobs: false,
            is_streaming: true,
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            constraint: Constraint::None,
            suffix: None,
            tools: None,
            tool_choice: None,
            logits_processors: Some(vec![sampler.clone() as Arc<dyn CustomLogitsProcessor>]),
            return_raw_logits: false,
            web_search_options: None,
            model_id: None,
            truncate_sequence: false,
        };
        sender
            .blocking_send(Request::Normal(Box::new(request)))
            .map_err(|_| ModelError::Generation("the model engine has stopped".into()))?;
        Ok(Sample { sampler, receiver: rx })
    }

    /// Waits for every sample's stream to end (or the cancel token to
    /// fire); mistralrs's finish reason per sample, in order.
    fn finish(&self, samples: Vec<Sample>, cancel: &CancelToken) -> Result<Vec<String>, ModelError> {
        let n = samples.len();
        let watched = cancel.clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        self.runtime.spawn(async move {
            let collect = async move {
                let mut set = tokio::task::JoinSet::new();
                for (index, sample) in samples.into_iter().enumerate() {
                    set.spawn(async move { (index, finish_of(sample.receiver).await) });
                }
                let mut reasons = vec![String::new(); n];
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tokio::select! {
                        joined = set.join_next() => match joined {
                            None => return Ok(reasons),
                            Some(Ok((index, result))) => reasons[index] = result?,
                            Some(Err(e)) => return Err(ModelError::Generation(e.to_string())),
                        },
                        _ = tick.tick() => watched.check()?,
                    }
                }
                // Leaving drops the streams: the engine cancels those sequences.
            };
            let _ = done_tx.send(collect.await);
        });
        let reasons: Result<Vec<String>, ModelError> =
            wait_for(&done_rx).unwrap_or_else(|| Err(ModelError::Generation("the model runtime stopped".into())));
        reasons.map_err(|e| match e {
            ModelError::TimedOut(_) => ModelError::TimedOut(self.timeout),
            other => other,
        })
    }
}

impl Generator for EmbeddedGenerator {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn context_length(&self) -> Option<usize> {
        self.context_length
    }

    fn generate(&self, prompt: &str, params: &SamplingParams, cancel: &CancelToken) -> Result<Generation, ModelError> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return Err(ModelError::AsyncContext);
        }
        cancel.check()?;
        let cancel = match self.timeout {
            Some(timeout) => cancel.with_timeout(timeout),
            None => cancel.clone(),
        };
        let encoding = self.tokenizer.encode(prompt, false).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let prompt_ids = encoding.get_ids().to_vec();
        if prompt_ids.is_empty() {
            return Err(ModelError::Generation("the prompt is empty".into()));
        }
        let (max_tokens, capped) = match self.context_length {
            Some(context) => cap_max_tokens(prompt_ids.len(), params.max_tokens, context)?,
            None => (params.max_tokens, false),
        };
        if max_tokens == 0 {
            let empty = Completion { text: String::new(), finish: FinishReason::Length, tokens: Some(0) };
            return Ok(Generation {
                completions: vec![empty; params.n.max(1)],
                prompt_tokens: Some(prompt_ids.len()),
                timing: None,
            });
        }
        let base_seed = params.seed.unwrap_or_else(fresh_seed);
        let started = Instant::now();
        let sender = self.model.inner().get_sender(None).map_err(|e| ModelError::Generation(e.to_string()))?;
        let n = params.n.max(1);
        let request = |index: usize| self.send(&sender, &prompt_ids, params, max_tokens, sample_seed(base_seed, index), &cancel);
        let mut samplers = Vec::with_capacity(n);
        let mut reasons = Vec::with_capacity(n);
        if params.seed.is_some() {
            // Batched sequences see different matrix shapes as the engine's
            // batch changes, which moves logits by rounding: a seeded call
            // decodes its samples one after another to give the same text
            // every time.
            for index in 0..n {
                let sample = request(index)?;
                samplers.push(sample.sampler.clone());
                reasons.extend(self.finish(vec![sample], &cancel)?);
            }
        } else {
            let samples = (0..n).map(request).collect::<Result<Vec<_>, _>>()?;
            samplers.extend(samples.iter().map(|s| s.sampler.clone()));
            reasons = self.finish(samples, &cancel)?;
        }

        let completions = samplers
            .iter()
            .zip(reasons)
            .map(|(sampler, reason)| {
                let mut tokens = sampler.generated();
                let end = tokens.iter().position(|t| self.eos_ids.contains(t));
                let ended_by_eos = end.is_some();
                if let Some(end) = end {
                    tokens.truncate(end);
                }
                let count = tokens.len() + usize::from(ended_by_eos);
                let mut text = self.tokenizer.decode(&tokens, false).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
                let stopped = truncate_at_stop(&mut text, &params.stop);
                let hit_length = reason == "length" || (reason.is_empty() && count >= max_tokens);
                let finish = if stopped || ended_by_eos || !hit_length {
                    FinishReason::Stop
                } else if capped {
                    FinishReason::ContextLength
                } else {
                    FinishReason::Length
                };
                Ok(Completion { text, finish, tokens: Some(count) })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let picks: Vec<(Option<Instant>, Option<Instant>)> = samplers.iter().map(|s| s.picks()).collect();
        let first = picks.iter().filter_map(|p| p.0).min();
        let last = picks.iter().filter_map(|p| p.1).max();
        let timing = first.zip(last).map(|(first, last)| Timing {
            prefill: first.duration_since(started),
            decode: last.duration_since(first),
            decode_tokens: completions.iter().map(|c| c.tokens.unwrap_or(0).saturating_sub(1)).sum(),
        });
        Ok(Generation { completions, prompt_tokens: Some(prompt_ids.len()), timing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn async_callers_get_an_error_not_a_panic() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let result = runtime.block_on(async {
            EmbeddedGenerator::load(&ModelSpec::Gguf("missing.gguf".into()), &LoadOptions::default()).err()
        });
        assert!(matches!(result, Some(ModelError::AsyncContext)));
    }

    /// Generations fanned out over rayon's global pool, which candle's
    /// kernels also need, finish (this hung before `wait_for`).
    #[test]
    fn rayon_callers_do_not_starve_the_model() {
        use rayon::prelude::*;
        let path = crate::model::fetch::default_model_path()
            .unwrap_or_else(|e| panic!("{e} (this test runs the real SmolLM2 model)"));
        let options = LoadOptions { progress: Arc::new(|_: &str| {}), ..LoadOptions::default() };
        let generator = EmbeddedGenerator::load(&ModelSpec::Gguf(path), &options).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let params = SamplingParams { max_tokens: 3, ..SamplingParams::default() };
            let jobs = rayon::current_num_threads() * 2;
            let texts: Vec<usize> = (0..jobs)
                .into_par_iter()
                .map(|_| generator.generate("<|im_start|>user\nSay hi<|im_end|>\n<|im_start|>assistant\n", &params, &CancelToken::new()))
                .map(|g| g.unwrap().completions[0].tokens.unwrap())
                .collect();
            let _ = tx.send(texts);
        });
        let counts = rx.recv_timeout(Duration::from_secs(300)).expect("generations from rayon workers finish");
        assert!(counts.iter().all(|&t| (1..=3).contains(&t)), "{counts:?}");
    }

    #[test]
    fn cancelling_stops_a_running_generation() {
        let path = crate::model::fetch::default_model_path()
            .unwrap_or_else(|e| panic!("{e} (this test runs the real SmolLM2 model)"));
        let options = LoadOptions { progress: Arc::new(|_: &str| {}), ..LoadOptions::default() };
        let generator = EmbeddedGenerator::load(&ModelSpec::Gguf(path), &options).unwrap();
        let token = CancelToken::new();
        let canceller = token.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            canceller.cancel();
        });
        let params = SamplingParams { max_tokens: 4000, temperature: 1.0, seed: Some(1), ..SamplingParams::default() };
        let started = Instant::now();
        let result = generator.generate("<|im_start|>user\nWrite a long story.<|im_end|>\n<|im_start|>assistant\n", &params, &token);
        assert!(matches!(result, Err(ModelError::Cancelled)), "{:?}", result.map(|g| g.completions[0].tokens));
        assert!(started.elapsed() < Duration::from_secs(60));
        // A deadline works the same, and the engine still serves afterwards.
        let result = generator.generate("<|im_start|>user\nWrite a long story.<|im_end|>\n<|im_start|>assistant\n", &params, &CancelToken::new().with_timeout(Duration::from_millis(300)));
        assert!(matches!(result, Err(ModelError::TimedOut(_))));
        let ok = generator.generate("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", &SamplingParams { max_tokens: 2, ..SamplingParams::default() }, &CancelToken::new()).unwrap();
        assert!(ok.completions[0].tokens.unwrap() <= 2);
    }

    #[test]
    fn greedy_picks_the_argmax() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        assert_eq!(sample_token(&[0.1, 3.0, -1.0, 2.9], 0.0, 1.0, &mut rng), 1);
        assert_eq!(sample_token(&[f32::NEG_INFINITY, 0.0], 0.7, 1.0, &mut rng), 1);
    }

    #[test]
    fn sampling_is_seeded_and_follows_the_distribution() {
        let logits = [0.0f32, (3.0f32).ln(), f32::NEG_INFINITY];
        let draw = |seed| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            (0..4000).map(|_| sample_token(&logits, 1.0, 1.0, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(9), draw(9), "same seed, same draws");
        let draws = draw(9);
        assert!(!draws.contains(&2), "a -inf logit is never drawn");
        let share = draws.iter().filter(|&&i| i == 1).count() as f64 / draws.len() as f64;
        assert!((share - 0.75).abs() < 0.03, "p(1) = 0.75, drew {share}");
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // p = [0.6, 0.3, 0.1]: top-p 0.5 keeps only the first token,
        // top-p 0.85 the first two.
        let logits = [(0.6f32).ln(), (0.3f32).ln(), (0.1f32).ln()];
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        assert!((0..500).all(|_| sample_token(&logits, 1.0, 0.5, &mut rng) == 0));
        let draws: Vec<usize> = (0..2000).map(|_| sample_token(&logits, 1.0, 0.85, &mut rng)).collect();
        assert!(!draws.contains(&2));
        assert!(draws.contains(&1));
    }
}
