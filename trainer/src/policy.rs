//! What the RL loop needs from a model: sample completions, score tokens,
//! and expose the trainable adapter. The Llama-family decoder with DoRA/LoRA
//! adapters (`crate::model`) implements it; the loop (`crate::rl`) only
//! sees this trait, so losses and run state are tested apart from the model.

use std::path::Path;

use candle_core::{Tensor, Var};
use rand_pcg::Pcg64;

/// How completions are sampled during rollouts.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleParams {
    /// `<= 0.0` is greedy.
    pub temperature: f64,
    /// Nucleus sampling; 1.0 keeps every token.
    pub top_p: f64,
    /// Most new tokens per completion.
    pub max_new_tokens: usize,
}

/// One sampled completion of a prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct Sampled {
    /// Completion tokens, including the end token when the model wrote one.
    pub tokens: Vec<u32>,
    /// The model wrote an end token (EOS or `<|im_end|>`) before `max_new_tokens`.
    pub finished: bool,
}

/// Per-token log-probabilities of completions, right-padded.
pub struct TokenLogprobs {
    /// `[batch, max_completion_len]`, f32; padding positions hold 0.
    pub logprobs: Tensor,
    /// `[batch, max_completion_len]`, f32 1.0 on completion tokens, 0.0 on padding.
    pub mask: Tensor,
}

pub trait Policy {
    /// Token ids of a rendered prompt (ChatML text, see `recode::vocab::render_prompt`).
    fn encode(&self, text: &str) -> anyhow::Result<Vec<u32>>;
    /// Text of completion tokens, end tokens left out.
    fn decode(&self, tokens: &[u32]) -> anyhow::Result<String>;
    /// `n` completions of each prompt (`[prompt][sample]`), with the adapter
    /// on, all decoded in one batch with a KV cache.
    fn sample(&self, prompts: &[&[u32]], n: usize, params: &SampleParams, rng: &mut Pcg64) -> anyhow::Result<Vec<Vec<Sampled>>>;
    /// `log π(completion_t | prompt, completion_<t)` for each pair, with the
    /// adapter on (`adapter = true`, differentiable in the adapter's vars) or
    /// off (the frozen base: the reference policy).
    fn logprobs(&self, batch: &[(&[u32], &[u32])], adapter: bool) -> anyhow::Result<TokenLogprobs>;
    /// The trainable adapter parameters, named as PEFT names them in
    /// `adapter_model.safetensors`, in a stable order.
    fn trainable(&self) -> Vec<(String, Var)>;
    /// Writes the adapter in PEFT's on-disk format into `dir`.
    fn save_adapter(&self, dir: &Path) -> anyhow::Result<()>;
}
