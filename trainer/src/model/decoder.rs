//! The Llama-family decoder (Llama, SmolLM2, Qwen2): token embeddings,
//! pre-norm blocks of grouped-query attention with rotary positions and a
//! SwiGLU MLP, a final RMSNorm and an output head, tied or not.
//!
//! Every operation is built from differentiable tensor ops: candle's fused
//! `rms_norm`, `rope` and `softmax_last_dim` have no backward pass and would
//! silently cut the gradient to every adapter below them.
//!
//! Positions and the attention mask are inputs, per sequence, so one forward
//! pass serves right-padded batches (scoring), left-padded ones, and
//! incremental decoding with a [`KvCache`].

use std::collections::HashMap;

use anyhow::Context;
use candle_core::{DType, Device, Tensor, D};

use super::adapter::{frozen_matmul, Linear};
use super::config::Config;

/// Tensors by their Hugging Face names (`model.layers.0.self_attn.q_proj.weight`).
pub type Weights = HashMap<String, Tensor>;

fn take(weights: &Weights, name: &str, dtype: DType) -> anyhow::Result<Tensor> {
    let tensor = weights.get(name).with_context(|| format!("the checkpoint has no tensor {name}"))?;
    Ok(tensor.to_dtype(dtype)?)
}

fn linear(weights: &Weights, name: &str, with_bias: bool, dtype: DType) -> anyhow::Result<Linear> {
    let weight = take(weights, &format!("{name}.weight"), dtype)?;
    let bias = if with_bias { Some(take(weights, &format!("{name}.bias"), dtype)?) } else { None };
    Ok(Linear::new(name.to_string(), weight, bias))
}

struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn new(weights: &Weights, name: &str, eps: f64, dtype: DType) -> anyhow::Result<RmsNorm> {
        Ok(RmsNorm { weight: take(weights, &format!("{name}.weight"), dtype)?, eps })
    }

    /// Normalised in f32 whatever the dtype, as Hugging Face's Llama does.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let dtype = x.dtype();
        let x = x.to_dtype(DType::F32)?;
        let rms = (x.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?.sqrt()?;
        x.broadcast_div(&rms)?.to_dtype(dtype)?.broadcast_mul(&self.weight)
    }
}

/// Rotary embeddings at given positions (Hugging Face's half-split layout:
/// the first half of each head's dimensions pairs with the second).
struct Rope {
    /// `[batch, 1, seq, head_dim]`.
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    /// `positions [batch, seq]` (u32).
    fn new(positions: &Tensor, head_dim: usize, theta: f64, dtype: DType) -> candle_core::Result<Rope> {
        let inv_freq: Vec<f32> = (0..head_dim / 2).map(|i| (1.0 / theta.powf(2.0 * i as f64 / head_dim as f64)) as f32).collect();
        let inv_freq = Tensor::from_vec(inv_freq, (1, 1, head_dim / 2), positions.device())?;
        let angles = positions.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?.broadcast_mul(&inv_freq)?;
        let angles = Tensor::cat(&[&angles, &angles], D::Minus1)?.unsqueeze(1)?;
        Ok(Rope { cos: angles.cos()?.to_dtype(dtype)?, sin: angles.sin()?.to_dtype(dtype)? })
    }

    /// `x [batch, heads, seq, head_dim]`.
    fn apply(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let half = x.dim(D::Minus1)? / 2;
        let rotated = Tensor::cat(&[&x.narrow(D::Minus1, half, half)?.neg()?, &x.narrow(D::Minus1, 0, half)?], D::Minus1)?;
        x.broadcast_mul(&self.cos)? + rotated.broadcast_mul(&self.sin)?
    }
}

/// Keys and values of the tokens seen so far, per layer:
/// `[batch, kv_heads, seen, head_dim]`.
#[derive(Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    /// Whether the cached keys and values keep their gradient graph.
    differentiable: bool,
}

impl KvCache {
    /// A cache for decoding: it holds no gradient graph, since with the
    /// adapter's vars in the graph every cached step would otherwise keep
    /// all of its activations alive.
    pub fn new(config: &Config) -> KvCache {
        KvCache { layers: vec![None; config.num_hidden_layers], differentiable: false }
    }

    /// A cache for scoring a shared prompt once and its completions after
    /// it: gradients flow from the completions back through the cached
    /// keys and values into the prompt's pass.
    pub fn differentiable(config: &Config) -> KvCache {
        KvCache { differentiable: true, ..KvCache::new(config) }
    }

    fn store(&mut self, layer: usize, k: &Tensor, v: &Tensor) {
        self.layers[layer] =
            Some(if self.differentiable { (k.clone(), v.clone()) } else { (k.detach(), v.detach()) });
    }

    /// Tokens cached per sequence (padding included).
    #[cfg(test)]
    pub fn seen(&self) -> usize {
        self.layers.first().and_then(|l| l.as_ref()).map_or(0, |(k, _)| k.dim(2).unwrap_or(0))
    }

    /// A cache of the given rows, in that order: `[0; n]` repeats a
    /// one-sequence prompt cache for `n` samples; dropping finished rows
    /// keeps decoding to the sequences still running.
    pub fn select_rows(&self, rows: &[u32]) -> candle_core::Result<KvCache> {
        let Some(Some((first, _))) = self.layers.first() else { return Ok(self.clone()) };
        let index = Tensor::new(rows, first.device())?;
        let layers = self
            .layers
            .iter()
            .map(|layer| match layer {
                Some((k, v)) => Ok(Some((k.index_select(&index, 0)?, v.index_select(&index, 0)?))),
                None => Ok(None),
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(KvCache { layers, differentiable: self.differentiable })
    }
}

/// The additive attention mask `[batch, 1, queries, keys]` for `queries`
/// new tokens after `keys - queries` cached ones: query `i` sees key `j` if
/// `j` is not after it and `key_valid[b][j]` (not padding). A query always
/// sees itself, so a padding query's row is never empty (it would be NaN).
pub fn attention_mask(key_valid: &[Vec<bool>], queries: usize, dtype: DType, device: &Device) -> candle_core::Result<Tensor> {
    let keys = key_valid.first().map_or(0, Vec::len);
    let past = keys - queries;
    let mut values = Vec::with_capacity(key_valid.len() * queries * keys);
    for valid in key_valid {
        assert_eq!(valid.len(), keys, "every row of key_valid covers the same keys");
        for i in 0..queries {
            let query = past + i;
            values.extend((0..keys).map(|j| if j == query || (j < query && valid[j]) { 0.0 } else { f32::NEG_INFINITY }));
        }
    }
    Tensor::from_vec(values, (key_valid.len(), 1, queries, keys), device)?.to_dtype(dtype)
}

struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
}

impl Attention {
    fn new(weights: &Weights, prefix: &str, config: &Config, dtype: DType) -> anyhow::Result<Attention> {
        let bias = config.attention_bias;
        Ok(Attention {
            q_proj: linear(weights, &format!("{prefix}.q_proj"), bias, dtype)?,
            k_proj: linear(weights, &format!("{prefix}.k_proj"), bias, dtype)?,
            v_proj: linear(weights, &format!("{prefix}.v_proj"), bias, dtype)?,
            o_proj: linear(weights, &format!("{prefix}.o_proj"), false, dtype)?,
            num_heads: config.num_attention_heads,
            num_kv_heads: config.num_key_value_heads,
            head_dim: config.head_dim(),
        })
    }

    /// The attention output and the keys and values of every position so
    /// far (`past`'s and `x`'s), for the cache.
    fn forward(
        &self,
        x: &Tensor,
        rope: &Rope,
        mask: &Tensor,
        past: Option<&(Tensor, Tensor)>,
        adapter: LayerAdapter,
    ) -> candle_core::Result<(Tensor, (Tensor, Tensor))> {
        let (batch, seq, _) = x.dims3()?;
        let heads = |t: Tensor, n: usize| t.reshape((batch, seq, n, self.head_dim))?.transpose(1, 2)?.contiguous();
        let q = rope.apply(&heads(adapter.project(&self.q_proj, 0, x)?, self.num_heads)?)?;
        let mut k = rope.apply(&heads(adapter.project(&self.k_proj, 1, x)?, self.num_kv_heads)?)?;
        let mut v = heads(adapter.project(&self.v_proj, 2, x)?, self.num_kv_heads)?;
        if let Some((past_k, past_v)) = past {
            k = Tensor::cat(&[past_k, &k], 2)?;
            v = Tensor::cat(&[past_v, &v], 2)?;
        }
        let (keys, values) = (self.repeat_kv(k.clone())?, self.repeat_kv(v.clone())?);
        // Scaling q rather than the scores keeps one fewer [heads, seq, seq] tensor in the graph.
        let scores = (&q / (self.head_dim as f64).sqrt())?.matmul(&keys.t()?)?.broadcast_add(mask)?;
        let weights = candle_nn::ops::softmax(&scores.to_dtype(DType::F32)?, D::Minus1)?.to_dtype(q.dtype())?;
        let out = weights.matmul(&values)?.transpose(1, 2)?.reshape((batch, seq, self.num_heads * self.head_dim))?;
        Ok((adapter.project(&self.o_proj, 3, &out)?, (k, v)))
    }

    /// Grouped-query attention: each key/value head serves `heads / kv_heads` query heads.
    fn repeat_kv(&self, x: Tensor) -> candle_core::Result<Tensor> {
        let repeats = self.num_heads / self.num_kv_heads;
        if repeats == 1 {
            return Ok(x);
        }
        let (batch, kv_heads, seq, dim) = x.dims4()?;
        x.unsqueeze(2)?.expand((batch, kv_heads, repeats, seq, dim))?.reshape((batch, kv_heads * repeats, seq, dim))
    }
}

struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    fn new(weights: &Weights, prefix: &str, dtype: DType) -> anyhow::Result<Mlp> {
        Ok(Mlp {
            gate_proj: linear(weights, &format!("{prefix}.gate_proj"), false, dtype)?,
            up_proj: linear(weights, &format!("{prefix}.up_proj"), false, dtype)?,
            down_proj: linear(weights, &format!("{prefix}.down_proj"), false, dtype)?,
        })
    }

    fn forward(&self, x: &Tensor, adapter: LayerAdapter) -> candle_core::Result<Tensor> {
        let gate = adapter.project(&self.gate_proj, 4, x)?.silu()?;
        adapter.project(&self.down_proj, 6, &(gate * adapter.project(&self.up_proj, 5, x)?)?)
    }
}

struct DecoderLayer {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

impl DecoderLayer {
    fn new(weights: &Weights, index: usize, config: &Config, dtype: DType) -> anyhow::Result<DecoderLayer> {
        let prefix = format!("model.layers.{index}");
        let eps = config.rms_norm_eps;
        Ok(DecoderLayer {
            input_layernorm: RmsNorm::new(weights, &format!("{prefix}.input_layernorm"), eps, dtype)?,
            self_attn: Attention::new(weights, &format!("{prefix}.self_attn"), config, dtype)?,
            post_attention_layernorm: RmsNorm::new(weights, &format!("{prefix}.post_attention_layernorm"), eps, dtype)?,
            mlp: Mlp::new(weights, &format!("{prefix}.mlp"), dtype)?,
        })
    }

    /// The layer's output and its attention's keys and values (see [`Attention::forward`]).
    fn forward(
        &self,
        x: &Tensor,
        rope: &Rope,
        mask: &Tensor,
        past: Option<&(Tensor, Tensor)>,
        adapter: LayerAdapter,
    ) -> candle_core::Result<(Tensor, (Tensor, Tensor))> {
        let (attention, kv) = self.self_attn.forward(&self.input_layernorm.forward(x)?, rope, mask, past, adapter)?;
        let x = (x + attention)?;
        Ok(((&x + self.mlp.forward(&self.post_attention_layernorm.forward(&x)?, adapter)?)?, kv))
    }
}

/// Which weights the projections use in a forward pass.
#[derive(Clone, Copy)]
pub enum Adapter<'a> {
    /// The frozen base (the reference policy).
    Off,
    /// Base plus adapter, differentiable in the adapter's vars.
    On,
    /// The same function as `On` from weights folded beforehand
    /// ([`Decoder::fold_adapters`]); no gradient.
    Folded(&'a FoldedAdapters),
}

/// See [`Decoder::fold_adapters`].
pub struct FoldedAdapters {
    /// One per projection in [`Decoder::linears`] order; `None`: not adapted.
    weights: Vec<Option<Tensor>>,
}

const PROJECTIONS_PER_LAYER: usize = 7;

/// [`Adapter`] for one layer: `Folded` holds that layer's seven weights.
#[derive(Clone, Copy)]
enum LayerAdapter<'a> {
    Off,
    On,
    Folded(&'a [Option<Tensor>]),
}

impl LayerAdapter<'_> {
    /// `x` through `linear`, the `index`-th projection of the layer (q, k, v, o, gate, up, down).
    fn project(self, linear: &Linear, index: usize, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            LayerAdapter::Off => linear.forward(x, false),
            LayerAdapter::On => linear.forward(x, true),
            LayerAdapter::Folded(weights) => match &weights[index] {
                Some(weight) => linear.forward_with_weight(x, weight),
                None => linear.forward(x, false),
            },
        }
    }
}

pub struct Decoder {
    config: Config,
    embed_tokens: Tensor,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    /// `None`: tied to `embed_tokens`.
    lm_head: Option<Tensor>,
}

impl Decoder {
    /// Builds the decoder from Hugging Face-named weights, cast to `dtype`.
    pub fn new(config: Config, weights: &Weights, dtype: DType) -> anyhow::Result<Decoder> {
        let layers = (0..config.num_hidden_layers).map(|i| DecoderLayer::new(weights, i, &config, dtype)).collect::<anyhow::Result<_>>()?;
        let lm_head = if config.tie_word_embeddings { None } else { Some(take(weights, "lm_head.weight", dtype)?) };
        Ok(Decoder {
            embed_tokens: take(weights, "model.embed_tokens.weight", dtype)?,
            norm: RmsNorm::new(weights, "model.norm", config.rms_norm_eps, dtype)?,
            layers,
            lm_head,
            config,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn device(&self) -> &Device {
        self.embed_tokens.device()
    }

    pub fn dtype(&self) -> DType {
        self.embed_tokens.dtype()
    }

    /// Final hidden states `[batch, seq, hidden]` of `tokens [batch, seq]`
    /// (u32) at `positions [batch, seq]` (u32), under `mask` (see
    /// [`attention_mask`]), after what `cache` holds; the new keys and values
    /// are appended to it.
    pub fn forward(
        &self,
        tokens: &Tensor,
        positions: &Tensor,
        mask: &Tensor,
        mut cache: Option<&mut KvCache>,
        adapter: Adapter,
    ) -> candle_core::Result<Tensor> {
        let (batch, seq) = tokens.dims2()?;
        let rope = Rope::new(positions, self.config.head_dim(), self.config.rope_theta, self.dtype())?;
        let mut x = self.embed_tokens.index_select(&tokens.flatten_all()?, 0)?.reshape((batch, seq, self.config.hidden_size))?;
        for (i, layer) in self.layers.iter().enumerate() {
            let past = cache.as_deref().and_then(|c| c.layers[i].as_ref());
            let layer_adapter = match adapter {
                Adapter::Off => LayerAdapter::Off,
                Adapter::On => LayerAdapter::On,
                Adapter::Folded(folded) => LayerAdapter::Folded(&folded.weights[i * PROJECTIONS_PER_LAYER..(i + 1) * PROJECTIONS_PER_LAYER]),
            };
            let (out, (k, v)) = layer.forward(&x, &rope, mask, past, layer_adapter)?;
            if let Some(cache) = cache.as_deref_mut() {
                cache.store(i, &k, &v);
            }
            x = out;
        }
        self.norm.forward(&x)
    }

    /// Logits `[.., vocab]` in f32 of final hidden states `[.., hidden]`.
    pub fn logits(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        let head = self.lm_head.as_ref().unwrap_or(&self.embed_tokens);
        let mut shape = hidden.dims().to_vec();
        *shape.last_mut().expect("hidden states have a feature dimension") = self.config.vocab_size;
        frozen_matmul(&hidden.reshape(((), self.config.hidden_size))?, head)?.to_dtype(DType::F32)?.reshape(shape)
    }

    /// The adapters' effect folded into copies of the adapted weights
    /// (detached, in the decoder's dtype), for decoding many steps with
    /// fixed adapter values: one `W' = (m/n)·(W + s·B·A)` per projection
    /// instead of recomputing DoRA's norm at every step, which costs more
    /// than the step itself at small batch sizes.
    pub fn fold_adapters(&self) -> candle_core::Result<FoldedAdapters> {
        let weights = self
            .linears()
            .map(|l| match l.adapter {
                Some(_) => Ok(Some(l.merged_weight()?.detach().to_dtype(self.dtype())?)),
                None => Ok(None),
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(FoldedAdapters { weights })
    }

    /// Every projection, in layer order (q, k, v, o, gate, up, down).
    pub fn linears(&self) -> impl Iterator<Item = &Linear> {
        self.layers.iter().flat_map(|l| {
            let (a, m) = (&l.self_attn, &l.mlp);
            [&a.q_proj, &a.k_proj, &a.v_proj, &a.o_proj, &m.gate_proj, &m.up_proj, &m.down_proj]
        })
    }

    pub fn linears_mut(&mut self) -> impl Iterator<Item = &mut Linear> {
        self.layers.iter_mut().flat_map(|l| {
            let (a, m) = (&mut l.self_attn, &mut l.mlp);
            [&mut a.q_proj, &mut a.k_proj, &mut a.v_proj, &mut a.o_proj, &mut m.gate_proj, &mut m.up_proj, &mut m.down_proj]
        })
    }
}

/// Random weights for `config`, for tests of code that needs a model but
/// not a trained one (the Qwen2 path, the RL loop): uniform in ±1/√fan-in
/// like PyTorch's default initialisation, norms near 1.
#[cfg(test)]
pub fn random_weights(config: &Config, seed: u64, device: &Device) -> candle_core::Result<Weights> {
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    let mut rng = Pcg64::seed_from_u64(seed);
    let mut uniform = |shape: &[usize], bound: f64| -> candle_core::Result<Tensor> {
        let values: Vec<f32> = (0..shape.iter().product()).map(|_| rng.random_range(-bound..bound) as f32).collect();
        Tensor::from_vec(values, shape, device)
    };
    let (hidden, inner, head_dim) = (config.hidden_size, config.intermediate_size, config.head_dim());
    let kv = config.num_key_value_heads * head_dim;
    let mut weights = Weights::new();
    weights.insert("model.embed_tokens.weight".into(), uniform(&[config.vocab_size, hidden], 1.0)?);
    for i in 0..config.num_hidden_layers {
        let p = format!("model.layers.{i}");
        let projections = [
            ("self_attn.q_proj", hidden, hidden),
            ("self_attn.k_proj", kv, hidden),
            ("self_attn.v_proj", kv, hidden),
            ("self_attn.o_proj", hidden, hidden),
            ("mlp.gate_proj", inner, hidden),
            ("mlp.up_proj", inner, hidden),
            ("mlp.down_proj", hidden, inner),
        ];
        for (name, out, input) in projections {
            let bound = 1.0 / (input as f64).sqrt();
            weights.insert(format!("{p}.{name}.weight"), uniform(&[out, input], bound)?);
            if config.attention_bias && ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"].contains(&name) {
                weights.insert(format!("{p}.{name}.bias"), uniform(&[out], bound)?);
            }
        }
        for norm in ["input_layernorm", "post_attention_layernorm"] {
            weights.insert(format!("{p}.{norm}.weight"), (uniform(&[hidden], 0.2)? + 1.0)?);
        }
    }
    weights.insert("model.norm.weight".into(), (uniform(&[hidden], 0.2)? + 1.0)?);
    if !config.tie_word_embeddings {
        weights.insert("lm_head.weight".into(), uniform(&[config.vocab_size, hidden], 1.0 / (hidden as f64).sqrt())?);
    }
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_pcg::Pcg64;

    use super::*;

    fn tiny_decoder(qwen2: bool) -> Decoder {
        let config = crate::model::testing::tiny_config(qwen2);
        let weights = random_weights(&config, 7, &Device::Cpu).unwrap();
        Decoder::new(config, &weights, DType::F32).unwrap()
    }

    /// Logits `[seq, vocab]` of one sequence run alone.
    fn alone(decoder: &Decoder, tokens: &[u32]) -> Vec<Vec<f32>> {
        let n = tokens.len();
        let input = Tensor::new(tokens, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let positions = Tensor::arange(0u32, n as u32, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let mask = attention_mask(&[vec![true; n]], n, DType::F32, &Device::Cpu).unwrap();
        let hidden = decoder.forward(&input, &positions, &mask, None, Adapter::On).unwrap();
        decoder.logits(&hidden).unwrap().squeeze(0).unwrap().to_vec2().unwrap()
    }

    fn assert_close(a: &[f32], b: &[f32], what: &str) {
        // f32 with sums in a different order (other matrix shapes): a few ulps
        // of logits of order 1–10.
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{what}: {x} vs {y}");
        }
    }

    const SEQUENCES: [&[u32]; 3] = [&[3, 14, 15, 9, 26, 5, 35], &[8, 9, 7], &[1, 4, 42, 13, 5]];

    #[test]
    fn a_right_padded_batch_equals_each_sequence_alone() {
        for qwen2 in [false, true] {
            let decoder = tiny_decoder(qwen2);
            let width = SEQUENCES.iter().map(|s| s.len()).max().unwrap();
            let padded: Vec<u32> = SEQUENCES.iter().flat_map(|s| s.iter().copied().chain(std::iter::repeat(0)).take(width)).collect();
            let tokens = Tensor::from_vec(padded, (3, width), &Device::Cpu).unwrap();
            let positions = Tensor::arange(0u32, width as u32, &Device::Cpu).unwrap().unsqueeze(0).unwrap().repeat((3, 1)).unwrap();
            let key_valid: Vec<Vec<bool>> = SEQUENCES.iter().map(|s| (0..width).map(|j| j < s.len()).collect()).collect();
            let mask = attention_mask(&key_valid, width, DType::F32, &Device::Cpu).unwrap();
            let hidden = decoder.forward(&tokens, &positions, &mask, None, Adapter::On).unwrap();
            let logits: Vec<Vec<Vec<f32>>> = decoder.logits(&hidden).unwrap().to_vec3().unwrap();
            for (row, sequence) in SEQUENCES.iter().enumerate() {
                let expected = alone(&decoder, sequence);
                for t in 0..sequence.len() {
                    assert_close(&logits[row][t], &expected[t], &format!("qwen2 {qwen2} row {row} token {t}"));
                }
            }
        }
    }

    /// Left-padded prompts of different lengths, prefilled in one pass and
    /// then decoded a token at a time through the cache, give the logits of
    /// each whole sequence run alone.
    #[test]
    fn cached_decoding_of_a_left_padded_batch_equals_the_full_forward() {
        for qwen2 in [false, true] {
            let decoder = tiny_decoder(qwen2);
            let prompt_lengths = [4, 1, 3];
            let width = *prompt_lengths.iter().max().unwrap();
            let mut key_valid: Vec<Vec<bool>> = Vec::new();
            let mut tokens = Vec::new();
            let mut positions = Vec::new();
            for (sequence, &len) in SEQUENCES.iter().zip(&prompt_lengths) {
                let pad = width - len;
                key_valid.push((0..width).map(|j| j >= pad).collect());
                tokens.extend(std::iter::repeat(0).take(pad).chain(sequence[..len].iter().copied()));
                positions.extend((0..width).map(|j| j.saturating_sub(pad) as u32));
            }
            let mut cache = KvCache::new(decoder.config());
            let tensor = |values: Vec<u32>, seq: usize| Tensor::from_vec(values, (3, seq), &Device::Cpu).unwrap();
            let mask = attention_mask(&key_valid, width, DType::F32, &Device::Cpu).unwrap();
            let hidden = decoder.forward(&tensor(tokens, width), &tensor(positions, width), &mask, Some(&mut cache), Adapter::On).unwrap();
            let mut last: Vec<Vec<f32>> = decoder.logits(&hidden.narrow(1, width - 1, 1).unwrap()).unwrap().squeeze(1).unwrap().to_vec2().unwrap();
            let expected: Vec<Vec<Vec<f32>>> = SEQUENCES.iter().zip(&prompt_lengths).map(|(s, &len)| alone(&decoder, &s[..len + 2])).collect();
            for step in 0..2 {
                for (row, &len) in prompt_lengths.iter().enumerate() {
                    assert_close(&last[row], &expected[row][len - 1 + step], &format!("qwen2 {qwen2} row {row} step {step}"));
                }
                let next: Vec<u32> = SEQUENCES.iter().zip(&prompt_lengths).map(|(s, &len)| s[len + step]).collect();
                let next_positions: Vec<u32> = prompt_lengths.iter().map(|&len| (len + step) as u32).collect();
                key_valid.iter_mut().for_each(|v| v.push(true));
                let mask = attention_mask(&key_valid, 1, DType::F32, &Device::Cpu).unwrap();
                let hidden = decoder.forward(&tensor(next, 1), &tensor(next_positions, 1), &mask, Some(&mut cache), Adapter::On).unwrap();
                last = decoder.logits(&hidden).unwrap().squeeze(1).unwrap().to_vec2().unwrap();
            }
            assert_eq!(cache.seen(), width + 2);
        }
    }

    /// With the adapter on, the outputs carry the gradient graph but the
    /// cached keys and values do not (they would keep every decoded step's
    /// activations alive).
    #[test]
    fn the_cache_holds_no_gradient_graph() {
        let mut decoder = tiny_decoder(true);
        let config = crate::model::testing::tiny_adapter(true);
        let mut rng = <Pcg64 as SeedableRng>::seed_from_u64(1);
        for linear in decoder.linears_mut() {
            linear.adapter = Some(crate::model::adapter::LowRankAdapter::init(&linear.weight, &config, &mut rng).unwrap());
        }
        let mut cache = KvCache::new(decoder.config());
        let tokens = Tensor::new(&[[1u32, 2, 3]], &Device::Cpu).unwrap();
        let positions = Tensor::new(&[[0u32, 1, 2]], &Device::Cpu).unwrap();
        let mask = attention_mask(&[vec![true; 3]], 3, DType::F32, &Device::Cpu).unwrap();
        let hidden = decoder.forward(&tokens, &positions, &mask, Some(&mut cache), Adapter::On).unwrap();
        assert!(hidden.track_op());
        for (k, v) in cache.layers.iter().flatten() {
            assert!(!k.track_op() && !v.track_op());
        }
    }

    #[test]
    fn selected_cache_rows_continue_like_the_originals() {
        let decoder = tiny_decoder(false);
        let prompt = SEQUENCES[0];
        let (n, device) = (prompt.len(), &Device::Cpu);
        let mut cache = KvCache::new(decoder.config());
        let input = Tensor::new(&prompt[..n - 1], device).unwrap().unsqueeze(0).unwrap();
        let positions = Tensor::arange(0u32, (n - 1) as u32, device).unwrap().unsqueeze(0).unwrap();
        let mask = attention_mask(&[vec![true; n - 1]], n - 1, DType::F32, device).unwrap();
        decoder.forward(&input, &positions, &mask, Some(&mut cache), Adapter::Off).unwrap();
        let mut repeated = cache.select_rows(&[0, 0]).unwrap();
        let last = Tensor::new(&[[prompt[n - 1]], [prompt[n - 1]]], device).unwrap();
        let position = Tensor::new(&[[(n - 1) as u32], [(n - 1) as u32]], device).unwrap();
        let mask = attention_mask(&[vec![true; n], vec![true; n]], 1, DType::F32, device).unwrap();
        let hidden = decoder.forward(&last, &position, &mask, Some(&mut repeated), Adapter::Off).unwrap();
        let logits: Vec<Vec<f32>> = decoder.logits(&hidden).unwrap().squeeze(1).unwrap().to_vec2().unwrap();
        let expected = alone(&decoder, prompt);
        assert_close(&logits[0], &expected[n - 1], "row 0");
        assert_close(&logits[1], &expected[n - 1], "row 1");
    }
}
