//! The model side of training: a Llama-family decoder in candle, its
//! checkpoints (Hugging Face directories and GGUF files), DoRA/LoRA adapters
//! in PEFT's format, and [`LocalModel`], the [`Policy`] the RL loop drives.

pub mod adapter;
pub mod checkpoint;
pub mod config;
pub mod decoder;
pub mod merge;
pub mod sampling;

use std::path::Path;

use anyhow::{bail, Context};
use candle_core::{DType, Device, Tensor, Var, D};
use rand::SeedableRng;
use rand_pcg::Pcg64;
use tokenizers::Tokenizer;

use crate::policy::{Policy, SampleParams, Sampled, TokenLogprobs};
use adapter::{AdapterConfig, LowRankAdapter};
use checkpoint::Checkpoint;
use decoder::{attention_mask, Adapter, Decoder, FoldedAdapters, KvCache};

/// Rows being decoded together: their cache, which of its columns each
/// row may attend to (padding may not), and where each row's next token goes.
struct Decoding {
    cache: KvCache,
    keys: Vec<Vec<bool>>,
    positions: Vec<u32>,
}

impl Decoding {
    /// Keeps the rows named in `rows`, in that order (a row may be named twice).
    fn keep_rows(&mut self, rows: &[usize]) -> candle_core::Result<()> {
        self.cache = self.cache.select_rows(&rows.iter().map(|&row| row as u32).collect::<Vec<_>>())?;
        self.keys = rows.iter().map(|&row| self.keys[row].clone()).collect();
        self.positions = rows.iter().map(|&row| self.positions[row]).collect();
        Ok(())
    }
}

/// A decoder, its tokenizer and where its turns end, with an optional
/// adapter on its projections.
pub struct LocalModel {
    decoder: Decoder,
    tokenizer: Tokenizer,
    /// Sampling stops at any of these (EOS, `<|im_end|>`).
    end_ids: Vec<u32>,
    adapter_config: Option<AdapterConfig>,
}

impl LocalModel {
    pub fn new(decoder: Decoder, tokenizer: Tokenizer, end_ids: Vec<u32>) -> LocalModel {
        LocalModel { decoder, tokenizer, end_ids, adapter_config: None }
    }

    /// A `.gguf` file or a Hugging Face model directory, its weights cast to
    /// `dtype` (f32 on CPU; bf16 halves memory on a GPU).
    pub fn load(path: &Path, dtype: DType, device: &Device) -> anyhow::Result<LocalModel> {
        let checkpoint = Checkpoint::load(path, device)?;
        let decoder = Decoder::new(checkpoint.config, &checkpoint.weights, dtype)?;
        Ok(LocalModel::new(decoder, checkpoint.tokenizer, checkpoint.end_ids))
    }

    pub fn decoder(&self) -> &Decoder {
        &self.decoder
    }

    #[cfg(test)]
    pub fn end_ids(&self) -> &[u32] {
        &self.end_ids
    }

    /// Puts a fresh adapter (B = 0: the model is unchanged) on every
    /// projection `config.target_modules` names; `seed` draws A.
    pub fn attach_adapter(&mut self, config: AdapterConfig, seed: u64) -> anyhow::Result<()> {
        let mut rng = Pcg64::seed_from_u64(seed);
        let mut attached = 0;
        for linear in self.decoder.linears_mut() {
            linear.adapter = None;
            if config.targets(linear.module()) {
                linear.adapter = Some(LowRankAdapter::init(&linear.weight, &config, &mut rng)?);
                attached += 1;
            }
        }
        if attached == 0 {
            bail!("target_modules {:?} name no projection of this model", config.target_modules);
        }
        self.adapter_config = Some(config);
        Ok(())
    }

    /// Loads a PEFT adapter directory onto the model. Where an adapter of
    /// the same shape is attached already, its vars take the saved values in
    /// place, so an optimiser holding them keeps working (resuming a run).
    pub fn load_adapter(&mut self, dir: &Path) -> anyhow::Result<()> {
        let (config, tensors) = adapter::read_adapter(dir, self.decoder.device())?;
        let in_place = self.adapter_config.as_ref().is_some_and(|c| c.r == config.r && c.use_dora == config.use_dora && c.target_modules == config.target_modules);
        for linear in self.decoder.linears_mut() {
            if !config.targets(linear.module()) {
                linear.adapter = None;
            } else if in_place {
                for (name, var) in linear.adapter_vars() {
                    let saved = tensors.get(&name).with_context(|| format!("{}: the adapter has no {name}", dir.display()))?;
                    var.set(&saved.to_dtype(DType::F32)?).with_context(|| format!("{}: {name}", dir.display()))?;
                }
            } else {
                linear.set_adapter(&tensors, &config).with_context(|| dir.display().to_string())?;
            }
        }
        self.adapter_config = Some(config);
        Ok(())
    }

    fn tensor_2d(&self, values: Vec<u32>, rows: usize, cols: usize) -> candle_core::Result<Tensor> {
        Tensor::from_vec(values, (rows, cols), self.decoder.device())
    }

    /// One unpadded sequence through the decoder into `cache`: hidden states
    /// `[1, len, hidden]`.
    fn forward_prompt(&self, prompt: &[u32], cache: &mut KvCache, adapter: Adapter) -> anyhow::Result<Tensor> {
        let length = prompt.len();
        let positions: Vec<u32> = (0..length as u32).collect();
        let mask = attention_mask(&[vec![true; length]], length, self.decoder.dtype(), self.decoder.device())?;
        Ok(self.decoder.forward(&self.tensor_2d(prompt.to_vec(), 1, length)?, &self.tensor_2d(positions, 1, length)?, &mask, Some(cache), adapter)?)
    }

    /// Runs each prompt alone (no compute spent on padding), then stacks
    /// their caches left-padded to one width (see [`Policy::sample`]): one
    /// row per prompt, and what each prompt's last token predicts,
    /// `[prompt][vocab]`.
    fn prefill(&self, prompts: &[&[u32]], folded: &FoldedAdapters) -> anyhow::Result<(Decoding, Vec<Vec<f32>>)> {
        let width = prompts.iter().map(|prompt| prompt.len()).max().unwrap_or(0);
        let mut caches = Vec::with_capacity(prompts.len());
        let mut logits = Vec::with_capacity(prompts.len());
        for prompt in prompts {
            let mut cache = KvCache::new(self.decoder.config());
            let hidden = self.forward_prompt(prompt, &mut cache, Adapter::Folded(folded))?;
            logits.push(self.decoder.logits(&hidden.get(0)?.get(prompt.len() - 1)?)?.to_vec1()?);
            caches.push(cache);
        }
        let keys = prompts.iter().map(|prompt| (0..width).map(|column| column >= width - prompt.len()).collect()).collect();
        let positions = prompts.iter().map(|prompt| prompt.len() as u32).collect();
        Ok((Decoding { cache: KvCache::stack_left_padded(&caches)?, keys, positions }, logits))
    }

    /// Feeds each row its next token: logits `[rows, vocab]` out.
    fn step(&self, decoding: &mut Decoding, tokens: Vec<u32>, folded: &FoldedAdapters) -> anyhow::Result<Vec<Vec<f32>>> {
        let rows = tokens.len();
        decoding.keys.iter_mut().for_each(|row| row.push(true));
        let mask = attention_mask(&decoding.keys, 1, self.decoder.dtype(), self.decoder.device())?;
        let positions = self.tensor_2d(decoding.positions.clone(), rows, 1)?;
        let hidden = self.decoder.forward(&self.tensor_2d(tokens, rows, 1)?, &positions, &mask, Some(&mut decoding.cache), Adapter::Folded(folded))?;
        decoding.positions.iter_mut().for_each(|position| *position += 1);
        Ok(self.decoder.logits(&hidden.squeeze(1)?)?.to_vec2()?)
    }

    /// `log π(c_k | prompt, c_<k)` of completions that share `prompt`,
    /// `[completions, width]`, 0 past each completion's end.
    fn group_logprobs(&self, prompt: &[u32], completions: &[&[u32]], width: usize, adapter: Adapter) -> anyhow::Result<Tensor> {
        let device = self.decoder.device();
        let (rows, length, hidden_size) = (completions.len(), prompt.len(), self.decoder.config().hidden_size);
        let mut cache = KvCache::differentiable(self.decoder.config());
        let hidden = self.forward_prompt(prompt, &mut cache, adapter)?;
        // The prompt's last position predicts every completion's first token.
        let mut predicting = hidden.narrow(1, length - 1, 1)?.broadcast_as((rows, 1, hidden_size))?.contiguous()?;
        // Each completion but its last token is input; its last is only a target.
        let inputs = width - 1;
        if inputs > 0 {
            let mut tokens = Vec::with_capacity(rows * inputs);
            let mut key_valid = Vec::with_capacity(rows);
            for completion in completions {
                let fed = completion.len().saturating_sub(1);
                tokens.extend(completion[..fed].iter().copied().chain(std::iter::repeat(0)).take(inputs));
                key_valid.push((0..length + inputs).map(|j| j < length + fed).collect::<Vec<_>>());
            }
            let positions: Vec<u32> = (0..rows).flat_map(|_| (length..length + inputs).map(|p| p as u32)).collect();
            let mask = attention_mask(&key_valid, inputs, self.decoder.dtype(), device)?;
            let mut shared = cache.select_rows(&vec![0; rows])?;
            let hidden = self.decoder.forward(&self.tensor_2d(tokens, rows, inputs)?, &self.tensor_2d(positions, rows, inputs)?, &mask, Some(&mut shared), adapter)?;
            predicting = Tensor::cat(&[&predicting, &hidden], 1)?;
        }
        let logits = self.decoder.logits(&predicting.reshape((rows * width, hidden_size))?)?;
        let targets: Vec<u32> = completions.iter().flat_map(|c| (0..width).map(|k| c.get(k).copied().unwrap_or(0))).collect();
        let valid: Vec<f32> = completions.iter().flat_map(|c| (0..width).map(|k| if k < c.len() { 1.0 } else { 0.0 })).collect();
        // log softmax at the target only: target logit − logsumexp; the
        // shift by the row maximum is a constant, so it is detached.
        let max = logits.max_keepdim(D::Minus1)?.detach();
        let log_total = (logits.broadcast_sub(&max)?.exp()?.sum_keepdim(D::Minus1)?.log()? + max)?;
        let picked = logits.gather(&Tensor::new(targets, device)?.unsqueeze(1)?, D::Minus1)?;
        let valid = Tensor::from_vec(valid, (rows, width), device)?;
        Ok((picked - log_total)?.reshape((rows, width))?.mul(&valid)?)
    }
}

impl Policy for LocalModel {
    fn encode(&self, text: &str) -> anyhow::Result<Vec<u32>> {
        let encoding = self.tokenizer.encode(text, false).map_err(|e| anyhow::anyhow!("tokenizing: {e}"))?;
        Ok(encoding.get_ids().to_vec())
    }

    fn decode(&self, tokens: &[u32]) -> anyhow::Result<String> {
        let kept: Vec<u32> = tokens.iter().copied().filter(|t| !self.end_ids.contains(t)).collect();
        self.tokenizer.decode(&kept, false).map_err(|e| anyhow::anyhow!("detokenizing: {e}"))
    }

    /// The adapter is folded into copies of the weights once per call (see
    /// [`Decoder::fold_adapters`]). Each prompt runs once, and the caches are
    /// stacked left-padded so that every prompt ends in the same column and
    /// each decoding step appends one column for all rows; padding is masked
    /// and positions count from each prompt's first token. Each prompt's cache is copied to
    /// its `n` rows, and all rows decode in lock-step; rows that finish are
    /// dropped from the cache, so the batch shrinks to the samples still
    /// running. Row order (prompt by prompt) fixes which random draw goes to
    /// which sample.
    fn sample(&self, prompts: &[&[u32]], n: usize, params: &SampleParams, rng: &mut Pcg64) -> anyhow::Result<Vec<Vec<Sampled>>> {
        if prompts.iter().any(|prompt| prompt.is_empty()) {
            bail!("sampling needs non-empty prompts");
        }
        let mut samples = vec![vec![Sampled { tokens: Vec::new(), finished: false }; n]; prompts.len()];
        if prompts.is_empty() || n == 0 || params.max_new_tokens == 0 {
            return Ok(samples);
        }
        let folded = self.decoder.fold_adapters()?;
        let (mut decoding, prompt_logits) = self.prefill(prompts, &folded)?;
        // `running[row]` is the (prompt, sample) that row belongs to.
        let mut running: Vec<(usize, usize)> = (0..prompts.len()).flat_map(|prompt| (0..n).map(move |sample| (prompt, sample))).collect();
        decoding.keep_rows(&running.iter().map(|&(prompt, _)| prompt).collect::<Vec<_>>())?;
        let mut logits: Vec<Vec<f32>> = running.iter().map(|&(prompt, _)| prompt_logits[prompt].clone()).collect();
        for step in 0..params.max_new_tokens {
            let mut still_running = Vec::new();
            let mut kept_rows = Vec::new();
            let mut next_tokens = Vec::new();
            for (row, &(prompt, sample)) in running.iter().enumerate() {
                let token = sampling::next_token(&logits[row], params.temperature, params.top_p, rng);
                let sampled = &mut samples[prompt][sample];
                sampled.tokens.push(token);
                if self.end_ids.contains(&token) {
                    sampled.finished = true;
                } else {
                    still_running.push((prompt, sample));
                    kept_rows.push(row);
                    next_tokens.push(token);
                }
            }
            if still_running.is_empty() || step + 1 == params.max_new_tokens {
                break;
            }
            if still_running.len() < running.len() {
                decoding.keep_rows(&kept_rows)?;
            }
            running = still_running;
            logits = self.step(&mut decoding, next_tokens, &folded)?;
        }
        Ok(samples)
    }

    /// Rows that share a prompt (a GRPO group) are scored together: the
    /// prompt runs once and its keys and values, graph and all, serve every
    /// completion after it, so a group of G costs one prompt pass instead
    /// of G. The output head runs only on positions that predict completion
    /// tokens.
    fn logprobs(&self, batch: &[(&[u32], &[u32])], adapter: bool) -> anyhow::Result<TokenLogprobs> {
        let device = self.decoder.device();
        let rows = batch.len();
        if batch.iter().any(|(p, _)| p.is_empty()) {
            bail!("scoring needs a non-empty prompt before each completion");
        }
        let width = batch.iter().map(|(_, c)| c.len()).max().unwrap_or(0);
        let mask_values: Vec<f32> =
            batch.iter().flat_map(|(_, c)| (0..width).map(|k| if k < c.len() { 1.0 } else { 0.0 })).collect();
        let mask = Tensor::from_vec(mask_values, (rows, width), device)?;
        if width == 0 {
            return Ok(TokenLogprobs { logprobs: mask.clone(), mask });
        }
        let mut groups: Vec<(&[u32], Vec<usize>)> = Vec::new();
        for (row, (prompt, _)) in batch.iter().enumerate() {
            match groups.iter_mut().find(|(shared, _)| shared == prompt) {
                Some((_, members)) => members.push(row),
                None => groups.push((prompt, vec![row])),
            }
        }
        let mode = if adapter { Adapter::On } else { Adapter::Off };
        let mut scored = Vec::with_capacity(groups.len());
        let mut group_order = Vec::with_capacity(rows);
        for (prompt, members) in &groups {
            let completions: Vec<&[u32]> = members.iter().map(|&row| batch[row].1).collect();
            scored.push(self.group_logprobs(prompt, &completions, width, mode)?);
            group_order.extend(members.iter().copied());
        }
        let mut batch_order = vec![0u32; rows];
        for (position, &row) in group_order.iter().enumerate() {
            batch_order[row] = position as u32;
        }
        let logprobs = Tensor::cat(&scored, 0)?.index_select(&Tensor::new(batch_order, device)?, 0)?;
        // The reference pass needs no graph; dropping it frees its activations.
        let logprobs = if adapter { logprobs } else { logprobs.detach() };
        Ok(TokenLogprobs { logprobs, mask })
    }

    fn trainable(&self) -> Vec<(String, Var)> {
        self.decoder.linears().flat_map(|l| l.adapter_vars()).collect()
    }

    /// `adapter_config.json` and `adapter_model.safetensors`.
    fn save_adapter(&self, dir: &Path) -> anyhow::Result<()> {
        let config = self.adapter_config.as_ref().context("no adapter to save")?;
        adapter::save_adapter(dir, config, &self.trainable())
    }
}

/// A tiny random model for tests that need a [`Policy`] but not a trained
/// one (this module's, and the RL loop's).
#[cfg(test)]
pub mod testing {
    use super::*;
    use config::Config;
    use tokenizers::models::bpe::{Vocab, BPE};
    use tokenizers::AddedToken;

    /// 50 tokens: `a`–`z`, `A`–`W` one character each, and `<|im_end|>` (49),
    /// the end of a turn.
    pub fn tiny_tokenizer() -> Tokenizer {
        let mut tokens: Vec<String> = ('a'..='z').chain('A'..='W').map(String::from).collect();
        tokens.push(checkpoint::CHATML_END.into());
        let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let bpe = BPE::builder().vocab_and_merges(vocab, Vec::new()).build().expect("a merge-free BPE builds");
        let mut tokenizer = Tokenizer::new(bpe);
        tokenizer.add_special_tokens(&[AddedToken::from(checkpoint::CHATML_END, true)]);
        tokenizer
    }

    pub fn tiny_config(qwen2: bool) -> Config {
        Config {
            vocab_size: 50,
            hidden_size: 32,
            intermediate_size: 48,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            max_position_embeddings: 256,
            tie_word_embeddings: qwen2,
            attention_bias: qwen2,
        }
    }

    /// Random weights from `seed`; Llama-shaped, or Qwen2-shaped (q/k/v
    /// biases, tied embeddings).
    pub fn tiny_model(qwen2: bool, seed: u64) -> LocalModel {
        let config = tiny_config(qwen2);
        let weights = decoder::random_weights(&config, seed, &Device::Cpu).expect("random weights");
        let decoder = Decoder::new(config, &weights, DType::F32).expect("a decoder from random weights");
        LocalModel::new(decoder, tiny_tokenizer(), vec![49])
    }

    /// A DoRA (or LoRA) adapter of rank 4 on every projection.
    pub fn tiny_adapter(use_dora: bool) -> AdapterConfig {
        AdapterConfig::new("tiny", 4, 8.0, use_dora, &adapter::DEFAULT_TARGET_MODULES)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{tiny_adapter, tiny_model};
    use super::*;

    const PROMPT: &[u32] = &[3, 14, 15, 9, 26];

    fn params(temperature: f64, max_new_tokens: usize) -> SampleParams {
        SampleParams { temperature, top_p: 0.95, max_new_tokens }
    }

    /// Moves every adapter parameter off its initial value (B ≠ 0).
    fn perturb(model: &LocalModel, seed: u64) {
        let mut rng = Pcg64::seed_from_u64(seed);
        for (_, var) in model.trainable() {
            let noise: Vec<f32> = (0..var.elem_count()).map(|_| rand::Rng::random_range(&mut rng, -0.1..0.1)).collect();
            let noise = Tensor::from_vec(noise, var.shape(), &Device::Cpu).unwrap();
            var.set(&(var.as_tensor() + noise).unwrap()).unwrap();
        }
    }

    /// Log-softmax of each completion token from one unbatched, uncached
    /// forward pass over the whole sequence, `[completion_len]`, with its graph.
    fn reference_logprob_tensor(model: &LocalModel, prompt: &[u32], completion: &[u32], adapter: bool) -> Tensor {
        let tokens: Vec<u32> = prompt.iter().chain(completion).copied().collect();
        let n = tokens.len();
        let input = Tensor::new(tokens.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let positions = Tensor::arange(0u32, n as u32, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let mask = attention_mask(&[vec![true; n]], n, DType::F32, &Device::Cpu).unwrap();
        let hidden = model.decoder.forward(&input, &positions, &mask, None, if adapter { Adapter::On } else { Adapter::Off }).unwrap();
        let predicting = hidden.squeeze(0).unwrap().narrow(0, prompt.len() - 1, completion.len()).unwrap();
        let logprobs = candle_nn::ops::log_softmax(&model.decoder.logits(&predicting).unwrap(), D::Minus1).unwrap();
        let targets = Tensor::new(completion, &Device::Cpu).unwrap().unsqueeze(1).unwrap();
        logprobs.gather(&targets, D::Minus1).unwrap().squeeze(1).unwrap()
    }

    fn reference_logprobs(model: &LocalModel, prompt: &[u32], completion: &[u32], adapter: bool) -> Vec<f32> {
        if completion.is_empty() {
            return Vec::new();
        }
        reference_logprob_tensor(model, prompt, completion, adapter).to_vec1().unwrap()
    }

    #[test]
    fn sampling_is_reproducible_for_a_seed() {
        let mut model = tiny_model(false, 1);
        model.attach_adapter(tiny_adapter(true), 2).unwrap();
        perturb(&model, 3);
        let draw = |seed| model.sample(&[PROMPT], 4, &params(1.0, 12), &mut Pcg64::seed_from_u64(seed)).unwrap().remove(0);
        let first = draw(5);
        assert_eq!(first, draw(5));
        assert_ne!(first, draw(6));
        assert_eq!(first.len(), 4);
        for sample in &first {
            assert!(!sample.tokens.is_empty() && sample.tokens.len() <= 12);
            assert_eq!(sample.finished, sample.tokens.last() == Some(&49));
            assert!(sample.finished || sample.tokens.len() == 12);
        }
    }

    /// Greedy decoding through the cache picks, at every step, the arg-max
    /// of a full uncached forward pass, and its log-probabilities are those
    /// of that pass.
    #[test]
    fn greedy_samples_and_logprobs_agree_with_the_full_forward() {
        for qwen2 in [false, true] {
            let mut model = tiny_model(qwen2, 4);
            model.attach_adapter(tiny_adapter(true), 2).unwrap();
            perturb(&model, 5);
            let samples = model.sample(&[PROMPT], 2, &params(0.0, 10), &mut Pcg64::seed_from_u64(0)).unwrap().remove(0);
            assert_eq!(samples[0], samples[1]);
            let completion = &samples[0].tokens;
            let scored = model.logprobs(&[(PROMPT, completion)], true).unwrap();
            let scored: Vec<f32> = scored.logprobs.squeeze(0).unwrap().to_vec1().unwrap();
            let expected = reference_logprobs(&model, PROMPT, completion, true);
            for (k, (a, b)) in scored.iter().zip(&expected).enumerate() {
                assert!((a - b).abs() < 1e-4, "qwen2 {qwen2} token {k}: {a} vs {b}");
            }
            for k in 0..completion.len() {
                // The chosen token is the most likely one at its step.
                let mut prefix = completion[..k].to_vec();
                let best = (0..50u32)
                    .map(|t| {
                        prefix.push(t);
                        let lp = *reference_logprobs(&model, PROMPT, &prefix, true).last().unwrap();
                        prefix.pop();
                        (lp, t)
                    })
                    .fold((f32::NEG_INFINITY, 0), |best, c| if c.0 > best.0 { c } else { best });
                assert_eq!(completion[k], best.1, "qwen2 {qwen2} step {k}");
            }
        }
    }

    fn assert_close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}");
        let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{what}: differs by {worst}");
    }

    /// Left padding is invisible: prompts run together give each prompt's
    /// logits as one uncached pass over it alone does, and so do decoding
    /// steps after, also once rows are copied, reordered and dropped.
    #[test]
    fn prompts_prefilled_and_stepped_together_give_each_alone_logits() {
        let mut model = tiny_model(true, 9);
        model.attach_adapter(tiny_adapter(true), 2).unwrap();
        perturb(&model, 10);
        let folded = model.decoder.fold_adapters().unwrap();
        let prompts: [&[u32]; 3] = [&[1, 2, 3, 4, 5, 6, 7], &[8], &[10, 11, 12]];
        let (mut together, logits) = model.prefill(&prompts, &folded).unwrap();
        together.keep_rows(&[2, 0, 1, 1]).unwrap();
        let first = model.step(&mut together, vec![20, 21, 22, 23], &folded).unwrap();
        together.keep_rows(&[0, 2]).unwrap();
        let second = model.step(&mut together, vec![30, 31], &folded).unwrap();
        // What the last token predicts in one uncached pass over the prompt
        // and the tokens fed after it.
        let alone = |prompt: usize, fed: &[u32]| -> Vec<f32> {
            let tokens: Vec<u32> = prompts[prompt].iter().chain(fed).copied().collect();
            let n = tokens.len();
            let input = Tensor::new(tokens.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let positions = Tensor::arange(0u32, n as u32, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let mask = attention_mask(&[vec![true; n]], n, DType::F32, &Device::Cpu).unwrap();
            let hidden = model.decoder.forward(&input, &positions, &mask, None, Adapter::On).unwrap();
            model.decoder.logits(&hidden.get(0).unwrap().get(n - 1).unwrap()).unwrap().to_vec1().unwrap()
        };
        for (index, prompt) in prompts.iter().enumerate() {
            assert_close(&logits[index], &alone(index, &[]), &format!("prompt {prompt:?}"));
        }
        for (row, (prompt, token)) in [(2, 20), (0, 21), (1, 22), (1, 23)].into_iter().enumerate() {
            assert_close(&first[row], &alone(prompt, &[token]), &format!("first step, row {row}"));
        }
        assert_close(&second[0], &alone(2, &[20, 30]), "second step, prompt 2");
        assert_close(&second[1], &alone(1, &[22, 31]), "second step, prompt 1");
    }

    /// Prompts of different lengths sampled together (left-padded, masked,
    /// positions from each prompt's start) decode as each does alone, also
    /// when one prompt's rows finish at once and leave the batch.
    #[test]
    fn prompts_sampled_together_decode_as_each_alone() {
        let model_ending_at = |end_ids: Option<Vec<u32>>| {
            let mut model = tiny_model(true, 9);
            if let Some(end_ids) = end_ids {
                model.end_ids = end_ids;
            }
            model.attach_adapter(tiny_adapter(true), 2).unwrap();
            perturb(&model, 10);
            model
        };
        let prompts: [&[u32]; 3] = [&[1, 2, 3, 4, 5, 6, 7], &[8], &[10, 11, 12]];
        let greedy = params(0.0, 10);
        let first_of_second = model_ending_at(None).sample(&[prompts[1]], 1, &greedy, &mut Pcg64::seed_from_u64(0)).unwrap()[0][0].tokens[0];
        for end_ids in [None, Some(vec![first_of_second])] {
            let model = model_ending_at(end_ids.clone());
            let together = model.sample(&prompts, 2, &greedy, &mut Pcg64::seed_from_u64(0)).unwrap();
            assert_eq!(together.len(), 3);
            for (prompt, samples) in prompts.iter().zip(&together) {
                let alone = model.sample(&[prompt], 2, &greedy, &mut Pcg64::seed_from_u64(0)).unwrap().remove(0);
                assert_eq!(*samples, alone, "prompt {prompt:?}, end {end_ids:?}");
            }
            assert_ne!(together[0], together[2], "the rows are not mixed up");
            if end_ids.is_some() {
                assert!(together[1].iter().all(|s| s.tokens.len() == 1 && s.finished));
                assert!(together[0].iter().all(|s| s.tokens.len() > 1));
            }
        }
        assert!(model_ending_at(None).sample(&[&[1], &[]], 1, &greedy, &mut Pcg64::seed_from_u64(0)).is_err(), "an empty prompt");
    }

    #[test]
    fn sampling_stops_at_an_end_token() {
        let model = tiny_model(false, 6);
        let greedy = model.sample(&[PROMPT], 1, &params(0.0, 3), &mut Pcg64::seed_from_u64(0)).unwrap().remove(0);
        let first = greedy[0].tokens[0];
        let stopping = LocalModel { end_ids: vec![first], ..tiny_model(false, 6) };
        let stopped = stopping.sample(&[PROMPT], 3, &params(0.0, 3), &mut Pcg64::seed_from_u64(0)).unwrap().remove(0);
        assert!(stopped.iter().all(|s| s.tokens == [first] && s.finished));
    }

    #[test]
    fn batched_logprobs_equal_each_pair_alone_and_padding_is_zero() {
        let mut model = tiny_model(true, 7);
        model.attach_adapter(tiny_adapter(true), 2).unwrap();
        perturb(&model, 8);
        let pairs: [(&[u32], &[u32]); 3] = [(&[1, 2, 3], &[4, 5, 6, 7]), (&[8], &[9]), (&[10, 11, 12, 13, 14], &[15, 16])];
        for adapter in [true, false] {
            let scored = model.logprobs(&pairs, adapter).unwrap();
            let logprobs: Vec<Vec<f32>> = scored.logprobs.to_vec2().unwrap();
            let mask: Vec<Vec<f32>> = scored.mask.to_vec2().unwrap();
            for (row, (prompt, completion)) in pairs.iter().enumerate() {
                let expected = reference_logprobs(&model, prompt, completion, adapter);
                for k in 0..4 {
                    if k < completion.len() {
                        assert_eq!(mask[row][k], 1.0);
                        assert!((logprobs[row][k] - expected[k]).abs() < 1e-4, "row {row} token {k}: {} vs {}", logprobs[row][k], expected[k]);
                    } else {
                        assert_eq!((mask[row][k], logprobs[row][k]), (0.0, 0.0));
                    }
                }
            }
        }
    }

    /// A GRPO group's rows share one prompt pass: each row's
    /// log-probabilities and the summed gradients are those of scoring every
    /// pair on its own, whatever the rows' order and lengths.
    #[test]
    fn rows_sharing_a_prompt_score_and_differentiate_like_each_pair_alone() {
        let mut model = tiny_model(true, 15);
        model.attach_adapter(tiny_adapter(true), 2).unwrap();
        perturb(&model, 16);
        let (shared, other): (&[u32], &[u32]) = (&[1, 2, 3, 4], &[5, 6]);
        let pairs: [(&[u32], &[u32]); 5] =
            [(shared, &[7, 8, 9]), (other, &[10, 11]), (shared, &[12]), (shared, &[13, 14, 15, 16]), (other, &[])];
        for adapter in [true, false] {
            let logprobs: Vec<Vec<f32>> = model.logprobs(&pairs, adapter).unwrap().logprobs.to_vec2().unwrap();
            for (row, (prompt, completion)) in pairs.iter().enumerate() {
                let expected = reference_logprobs(&model, prompt, completion, adapter);
                for (k, value) in logprobs[row].iter().enumerate() {
                    let want = expected.get(k).copied().unwrap_or(0.0);
                    assert!((value - want).abs() < 1e-4, "adapter {adapter} row {row} token {k}: {value} vs {want}");
                }
            }
        }
        let together = model.logprobs(&pairs, true).unwrap().logprobs.sum_all().unwrap().backward().unwrap();
        let alone: Vec<_> = pairs[..4]
            .iter()
            .map(|(prompt, completion)| reference_logprob_tensor(&model, prompt, completion, true).sum_all().unwrap().backward().unwrap())
            .collect();
        for (name, var) in model.trainable() {
            let expected = alone.iter().map(|g| g.get(var.as_tensor()).unwrap().clone()).reduce(|a, b| (a + b).unwrap()).unwrap();
            let got = together.get(var.as_tensor()).unwrap();
            let scale = expected.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            let error = (got - &expected).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(error <= 1e-4 * (1.0 + scale), "{name}: gradients differ by {error} (scale {scale})");
        }
    }

    /// With the adapter switched off the model is the base: the same
    /// log-probabilities as a model that never had one.
    #[test]
    fn the_adapter_switched_off_is_the_base_model() {
        let base = tiny_model(false, 9);
        let mut adapted = tiny_model(false, 9);
        adapted.attach_adapter(tiny_adapter(true), 2).unwrap();
        perturb(&adapted, 10);
        let pair: [(&[u32], &[u32]); 1] = [(&[1, 2, 3], &[4, 5, 6])];
        let off: Vec<f32> = adapted.logprobs(&pair, false).unwrap().logprobs.flatten_all().unwrap().to_vec1().unwrap();
        let on: Vec<f32> = adapted.logprobs(&pair, true).unwrap().logprobs.flatten_all().unwrap().to_vec1().unwrap();
        let reference: Vec<f32> = base.logprobs(&pair, true).unwrap().logprobs.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(off, reference);
        assert_ne!(on, reference);
    }

    /// The loss reaches every adapter var, down to the first layer's q_proj:
    /// no operation on the way cuts the graph.
    #[test]
    fn gradients_reach_every_adapter_var() {
        for use_dora in [true, false] {
            let mut model = tiny_model(true, 11);
            model.attach_adapter(tiny_adapter(use_dora), 2).unwrap();
            perturb(&model, 12);
            let pair: [(&[u32], &[u32]); 2] = [(&[1, 2, 3], &[4, 5, 6]), (&[7], &[8, 9])];
            let scored = model.logprobs(&pair, true).unwrap();
            let grads = scored.logprobs.sum_all().unwrap().backward().unwrap();
            let trainable = model.trainable();
            assert_eq!(trainable.len(), 2 * 7 * if use_dora { 3 } else { 2 });
            assert_eq!(trainable[0].0, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
            for (name, var) in &trainable {
                let grad = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient for {name}"));
                let size = grad.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(size > 0.0, "{name}: zero gradient");
            }
        }
    }

    #[test]
    fn a_saved_adapter_loads_in_place_and_into_a_fresh_model() {
        let dir = tempfile::tempdir().unwrap();
        let mut model = tiny_model(false, 13);
        model.attach_adapter(tiny_adapter(true), 2).unwrap();
        perturb(&model, 14);
        model.save_adapter(dir.path()).unwrap();
        let pair: [(&[u32], &[u32]); 1] = [(&[1, 2, 3], &[4, 5, 6])];
        let expected: Vec<f32> = model.logprobs(&pair, true).unwrap().logprobs.flatten_all().unwrap().to_vec1().unwrap();

        let mut fresh = tiny_model(false, 13);
        fresh.load_adapter(dir.path()).unwrap();
        let mut resumed = tiny_model(false, 13);
        resumed.attach_adapter(tiny_adapter(true), 99).unwrap();
        let held: Vec<Var> = resumed.trainable().into_iter().map(|(_, v)| v).collect();
        resumed.load_adapter(dir.path()).unwrap();
        for loaded in [&fresh, &resumed] {
            let got: Vec<f32> = loaded.logprobs(&pair, true).unwrap().logprobs.flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(got, expected);
        }
        // The vars an optimiser would hold are the ones that were loaded.
        for (var, (_, now)) in held.iter().zip(resumed.trainable()) {
            assert_eq!(var.as_tensor().id(), now.as_tensor().id());
        }
    }

    /// A half-precision model (bf16 on GPUs; candle's CPU matmul has no
    /// bf16, so f16 stands in for the same casts here) computes the f32
    /// function up to rounding: log-probabilities within 0.05 nats on a
    /// two-layer model; gradients still reach the f32 adapter vars.
    #[test]
    fn a_half_precision_model_agrees_with_f32() {
        let config = testing::tiny_config(true);
        let weights = decoder::random_weights(&config, 15, &Device::Cpu).unwrap();
        let mut models: Vec<LocalModel> = [DType::F32, DType::F16]
            .into_iter()
            .map(|dtype| LocalModel::new(Decoder::new(config.clone(), &weights, dtype).unwrap(), testing::tiny_tokenizer(), vec![49]))
            .collect();
        for model in &mut models {
            model.attach_adapter(tiny_adapter(true), 2).unwrap();
            perturb(model, 16);
        }
        let pair: [(&[u32], &[u32]); 2] = [(&[1, 2, 3], &[4, 5, 6]), (&[7], &[8, 9])];
        let scored: Vec<Vec<f32>> = models.iter().map(|m| m.logprobs(&pair, true).unwrap().logprobs.flatten_all().unwrap().to_vec1().unwrap()).collect();
        for (a, b) in scored[0].iter().zip(&scored[1]) {
            assert!((a - b).abs() < 0.05, "{a} vs {b}");
        }
        let half = models[1].logprobs(&pair, true).unwrap().logprobs.sum_all().unwrap();
        let grads = half.backward().unwrap();
        for (name, var) in models[1].trainable() {
            assert_eq!(var.dtype(), DType::F32);
            assert!(grads.get(var.as_tensor()).is_some(), "{name}");
        }
        let samples = models[1].sample(&[PROMPT], 2, &params(1.0, 5), &mut Pcg64::seed_from_u64(0)).unwrap().remove(0);
        assert_eq!(samples.len(), 2);
    }

    #[test]
    fn encodes_and_decodes_without_end_tokens() {
        let model = tiny_model(false, 1);
        let tokens = model.encode("abc<|im_end|>").unwrap();
        assert_eq!(tokens, [0, 1, 2, 49]);
        assert_eq!(model.decode(&tokens).unwrap().replace(' ', ""), "abc");
    }
}

/// The real default model, SmolLM2-135M-Instruct Q4_1, fetched by
/// `recode model fetch` (CI fetches it; these tests fail without it).
#[cfg(test)]
mod smollm2_tests {
    use super::*;
    use std::path::PathBuf;

    fn fixture(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("fixtures").join(path)
    }

    fn smollm2() -> LocalModel {
        let path = recode::model::fetch::default_model_path()
            .unwrap_or_else(|e| panic!("the default model is needed for this test; run `recode model fetch` first ({e})"));
        LocalModel::load(&path, DType::F32, &Device::Cpu).unwrap()
    }

    /// `fixtures/trainer/smollm2-greedy.txt` is what the server's mistralrs
    /// backend wrote for the same GGUF (see fixtures/trainer/README.md).
    /// mistralrs multiplies the Q4_1 blocks directly while this decoder
    /// dequantises them to f32 first, so the logits differ by rounding and a
    /// near-tie could flip a late token: the first 8 tokens must agree.
    #[test]
    fn greedy_decoding_of_the_gguf_matches_the_server() {
        let model = smollm2();
        let prompt = std::fs::read_to_string(fixture("model/prompt.chatml")).unwrap();
        let expected = std::fs::read_to_string(fixture("trainer/smollm2-greedy.txt")).unwrap();
        let prompt_tokens = model.encode(&prompt).unwrap();
        assert_eq!(prompt_tokens.len(), 37, "the server counted 37 prompt tokens");
        let params = SampleParams { temperature: 0.0, top_p: 1.0, max_new_tokens: 24 };
        let sampled = model.sample(&[&prompt_tokens], 1, &params, &mut Pcg64::seed_from_u64(0)).unwrap().remove(0);
        let tokens = &sampled[0].tokens;
        let text = model.decode(tokens).unwrap();
        let first_eight = model.decode(&tokens[..8]).unwrap();
        assert!(expected.starts_with(&first_eight), "ours: {text:?}\nserver: {expected:?}");
    }
}
