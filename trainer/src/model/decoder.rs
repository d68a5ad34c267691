//! The Llama-family decoder (Llama, SmolLM2, Qwen2): token embeddings,
//! pre-norm blocks of grouped-query attention with rotary positions and a
//! SwiGLU MLP, a final RMSNorm and an output head, tied or not.
//!
//! Every operation is differentiable: candle's fused `rms_norm`, `rope` and
//! `softmax_last_dim` have no backward pass and would silently cut the
//! gradient to every adapter below them, so those are built from tensor ops,
//! except the attention softmax, a fused op of its own with its backward.
//!
//! Positions and the attention mask are inputs, per sequence, so one forward
//! pass serves right-padded batches (scoring), left-padded ones, and
//! incremental decoding with a [`KvCache`].

use std::collections::HashMap;

use anyhow::Context;
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Shape, Storage, Tensor, D};
use rayon::prelude::*;

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

/// Keys and values of the tokens seen so far, per layer. Not `Clone`: a
/// decoding cache writes new positions into its buffers in place, and a
/// clone would share those buffers; [`KvCache::select_rows`] copies.
pub struct KvCache {
    layers: Vec<LayerCache>,
}

/// Positions a decoding buffer has room for beyond what it must hold now:
/// a sampling run of up to this many new tokens never reallocates.
const DECODE_HEADROOM: usize = 256;

/// One layer's keys and values, `[batch, kv_heads, capacity, head_dim]` of
/// which the first `seen` positions are filled.
struct LayerCache {
    keys_values: Option<(Tensor, Tensor)>,
    seen: usize,
    /// Scoring: the tensors keep their gradient graph and a new block is
    /// concatenated (capacity = seen). Decoding: detached buffers with
    /// headroom that new positions are written into in place, so a step
    /// costs its own tokens rather than a copy of everything before it.
    differentiable: bool,
}

impl LayerCache {
    /// Adds the keys and values of new positions; returns those of every
    /// position so far.
    fn append(&mut self, k: &Tensor, v: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let new = k.dim(2)?;
        if self.differentiable {
            let (k, v) = match &self.keys_values {
                Some((keys, values)) => (Tensor::cat(&[keys, k], 2)?, Tensor::cat(&[values, v], 2)?),
                None => (k.clone(), v.clone()),
            };
            self.keys_values = Some((k.clone(), v.clone()));
            self.seen += new;
            return Ok((k, v));
        }
        let capacity = self.keys_values.as_ref().map_or(0, |(keys, _)| keys.dim(2).unwrap_or(0));
        if self.seen + new > capacity {
            let (batch, heads, _, dim) = k.dims4()?;
            let shape = (batch, heads, self.seen + new + DECODE_HEADROOM, dim);
            let keys = Tensor::zeros(shape, k.dtype(), k.device())?;
            let values = Tensor::zeros(shape, v.dtype(), v.device())?;
            if let Some((old_keys, old_values)) = &self.keys_values {
                keys.slice_set(&old_keys.narrow(2, 0, self.seen)?.contiguous()?, 2, 0)?;
                values.slice_set(&old_values.narrow(2, 0, self.seen)?.contiguous()?, 2, 0)?;
            }
            self.keys_values = Some((keys, values));
        }
        let (keys, values) = self.keys_values.as_ref().expect("the buffers were just made");
        keys.slice_set(&k.detach().contiguous()?, 2, self.seen)?;
        values.slice_set(&v.detach().contiguous()?, 2, self.seen)?;
        self.seen += new;
        Ok((keys.narrow(2, 0, self.seen)?, values.narrow(2, 0, self.seen)?))
    }
}

impl KvCache {
    /// A cache for decoding: it holds no gradient graph, since with the
    /// adapter's vars in the graph every cached step would otherwise keep
    /// all of its activations alive.
    pub fn new(config: &Config) -> KvCache {
        KvCache::with(config, false)
    }

    /// A cache for scoring a shared prompt once and its completions after
    /// it: gradients flow from the completions back through the cached
    /// keys and values into the prompt's pass.
    pub fn differentiable(config: &Config) -> KvCache {
        KvCache::with(config, true)
    }

    fn with(config: &Config, differentiable: bool) -> KvCache {
        let layers = (0..config.num_hidden_layers).map(|_| LayerCache { keys_values: None, seen: 0, differentiable }).collect();
        KvCache { layers }
    }

    /// Tokens cached per sequence (padding included).
    #[cfg(test)]
    pub fn seen(&self) -> usize {
        self.layers.first().map_or(0, |layer| layer.seen)
    }

    /// Decoding caches of one sequence each as one cache, every row
    /// left-padded with zeros to the longest so that the next position of
    /// every row lands in the same column. The caller masks the padding.
    pub fn stack_left_padded(caches: &[KvCache]) -> candle_core::Result<KvCache> {
        let Some(first) = caches.first() else { candle_core::bail!("no caches to stack") };
        let layers = (0..first.layers.len())
            .map(|index| {
                let width = caches.iter().map(|cache| cache.layers[index].seen).max().unwrap_or(0);
                let mut keys = Vec::with_capacity(caches.len());
                let mut values = Vec::with_capacity(caches.len());
                for cache in caches {
                    let layer = &cache.layers[index];
                    let (Some((k, v)), false) = (&layer.keys_values, layer.differentiable) else {
                        candle_core::bail!("only filled decoding caches stack")
                    };
                    let (rows, heads, _, dim) = k.dims4()?;
                    if rows != 1 {
                        candle_core::bail!("a cache to stack holds one sequence, not {rows}");
                    }
                    let padding = Tensor::zeros((1, heads, width - layer.seen, dim), k.dtype(), k.device())?;
                    keys.push(Tensor::cat(&[&padding, &k.narrow(2, 0, layer.seen)?], 2)?);
                    values.push(Tensor::cat(&[&padding, &v.narrow(2, 0, layer.seen)?], 2)?);
                }
                // Appended to an empty decoding layer: its buffers, headroom included.
                let mut stacked = LayerCache { keys_values: None, seen: 0, differentiable: false };
                stacked.append(&Tensor::cat(&keys, 0)?, &Tensor::cat(&values, 0)?)?;
                Ok(stacked)
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(KvCache { layers })
    }

    /// A cache of the given rows, in that order: `[0; n]` repeats a
    /// one-sequence prompt cache for `n` samples; dropping finished rows
    /// keeps decoding to the sequences still running.
    pub fn select_rows(&self, rows: &[u32]) -> candle_core::Result<KvCache> {
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                let keys_values = match &layer.keys_values {
                    Some((k, v)) => {
                        let index = Tensor::new(rows, k.device())?;
                        Some((k.index_select(&index, 0)?, v.index_select(&index, 0)?))
                    }
                    None => None,
                };
                Ok(LayerCache { keys_values, ..*layer })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(KvCache { layers })
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

/// `softmax(q kᵀ + mask) v` for `q [batch, heads, queries, dim]`, `k` and
/// `v [batch, heads, keys, dim]` and a mask `[batch or 1, 1, queries, keys]`,
/// differentiable in `q`, `k` and `v`. Composed of candle's ops, attention
/// keeps five `[queries, keys]`-sized tensors per head and layer alive for
/// the backward pass (scores, masked, shifted, exponentiated, weights); with
/// long prompts those are most of the training memory.
/// This op keeps none: its backward recomputes the weights from `q` and `k`,
/// one matmul more. CPU and f32 only; elsewhere the composed ops.
fn attention(q: &Tensor, k: &Tensor, v: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let all_f32 = [q, k, v, mask].iter().all(|t| t.dtype() == DType::F32);
    if q.device().is_cpu() && all_f32 {
        q.apply_op3(k, v, Attend { mask: mask.contiguous()? })
    } else {
        let scores = q.matmul(&k.t()?)?.broadcast_add(mask)?;
        candle_nn::ops::softmax(&scores.to_dtype(DType::F32)?, D::Minus1)?.to_dtype(v.dtype())?.matmul(v)
    }
}

/// Turns scores `[batch, heads, queries, keys]`, contiguous, into attention
/// weights in place: the mask added, then the softmax of each row.
fn mask_and_softmax(scores: &mut [f32], shape: (usize, usize, usize, usize), mask: &Tensor) -> candle_core::Result<()> {
    let (batch, heads, queries, keys) = shape;
    let mask_batch = match mask.dims4()? {
        (mask_batch, 1, q, k) if q == queries && k == keys && (mask_batch == 1 || mask_batch == batch) => mask_batch,
        other => candle_core::bail!("attention: a mask {other:?} for scores {shape:?}"),
    };
    let (storage, layout) = mask.storage_and_layout();
    let (Storage::Cpu(CpuStorage::F32(mask)), Some((start, end))) = (&*storage, layout.contiguous_offsets()) else {
        candle_core::bail!("attention: the mask is not a contiguous f32 tensor on the CPU")
    };
    let mask = &mask[start..end];
    // Row r is query r % queries of sequence r / (heads * queries).
    scores.par_chunks_mut(keys.max(1)).enumerate().for_each(|(r, row)| {
        let sequence = if mask_batch == 1 { 0 } else { r / (heads * queries) };
        let mask_row = &mask[(sequence * queries + r % queries) * keys..][..keys];
        let mut max = f32::NEG_INFINITY;
        for (value, masked) in row.iter_mut().zip(mask_row) {
            *value += masked;
            max = max.max(*value);
        }
        let mut total = 0.0;
        for value in row.iter_mut() {
            *value = (*value - max).exp();
            total += *value;
        }
        row.iter_mut().for_each(|value| *value /= total);
    });
    Ok(())
}

struct Attend {
    mask: Tensor,
}

impl Attend {
    /// The attention weights `[batch, heads, queries, keys]`, contiguous:
    /// what the forward pass multiplies `v` by and the backward pass
    /// recomputes.
    fn weights(&self, q: &CpuStorage, q_layout: &Layout, k: &CpuStorage, k_layout: &Layout) -> candle_core::Result<Vec<f32>> {
        let (batch, heads, queries, dim) = q_layout.shape().dims4()?;
        let keys = k_layout.shape().dims4()?.2;
        let scores = q.matmul(k, (batch * heads, queries, keys, dim), q_layout, &k_layout.transpose(2, 3)?)?;
        let CpuStorage::F32(mut weights) = scores else { candle_core::bail!("attention: f32 expected") };
        mask_and_softmax(&mut weights, (batch, heads, queries, keys), &self.mask)?;
        Ok(weights)
    }

    /// [`Attend::weights`] of tensors on the CPU, as a tensor without a graph.
    fn weights_of(&self, q: &Tensor, k: &Tensor) -> candle_core::Result<Tensor> {
        let shape = (q.dim(0)?, q.dim(1)?, q.dim(2)?, k.dim(2)?);
        let (q_storage, q_layout) = q.storage_and_layout();
        let (k_storage, k_layout) = k.storage_and_layout();
        let (Storage::Cpu(q_storage), Storage::Cpu(k_storage)) = (&*q_storage, &*k_storage) else {
            candle_core::bail!("attention: q and k are not on the CPU")
        };
        Tensor::from_vec(self.weights(q_storage, q_layout, k_storage, k_layout)?, shape, q.device())
    }
}

impl CustomOp3 for Attend {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        q_layout: &Layout,
        k: &CpuStorage,
        k_layout: &Layout,
        v: &CpuStorage,
        v_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (batch, heads, queries, dim) = q_layout.shape().dims4()?;
        let keys = k_layout.shape().dims4()?.2;
        let weights = CpuStorage::F32(self.weights(q, q_layout, k, k_layout)?);
        let weights_layout = Layout::contiguous((batch, heads, queries, keys));
        let out = weights.matmul(v, (batch * heads, queries, dim, keys), &weights_layout, v_layout)?;
        Ok((out, Shape::from((batch, heads, queries, dim))))
    }

    /// With weights `W`, output `O = W v` and its gradient `G`:
    /// `∂v = Wᵀ G`, `∂S = W ⊙ (G vᵀ − rowsum(G ⊙ O))`, `∂q = ∂S k`, `∂k = ∂Sᵀ q`.
    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (q, k, v) = (q.detach(), k.detach(), v.detach());
        let weights = self.weights_of(&q, &k)?;
        let grad_v = weights.t()?.matmul(grad)?;
        let expected = (grad * out.detach())?.sum_keepdim(D::Minus1)?;
        let grad_scores = weights.mul(&grad.matmul(&v.t()?)?.broadcast_sub(&expected)?)?;
        let grad_q = grad_scores.matmul(&k)?;
        let grad_k = grad_scores.t()?.matmul(&q)?;
        Ok((Some(grad_q), Some(grad_k), Some(grad_v)))
    }
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

    fn forward(
        &self,
        x: &Tensor,
        rope: &Rope,
        mask: &Tensor,
        cache: Option<&mut LayerCache>,
        adapter: LayerAdapter,
    ) -> candle_core::Result<Tensor> {
        let (batch, seq, _) = x.dims3()?;
        let heads = |t: Tensor, n: usize| t.reshape((batch, seq, n, self.head_dim))?.transpose(1, 2)?.contiguous();
        let q = rope.apply(&heads(adapter.project(&self.q_proj, 0, x)?, self.num_heads)?)?;
        let k = rope.apply(&heads(adapter.project(&self.k_proj, 1, x)?, self.num_kv_heads)?)?;
        let v = heads(adapter.project(&self.v_proj, 2, x)?, self.num_kv_heads)?;
        let (k, v) = match cache {
            Some(cache) => cache.append(&k, &v)?,
            None => (k, v),
        };
        // Grouped-query attention without copying each key/value head for
        // its query heads: query head h reads key/value head h / groups, so
        // the query heads of one key/value head stack into its rows.
        let groups = self.num_heads / self.num_kv_heads;
        let keys = k.dim(2)?;
        let q = q.reshape((batch, self.num_kv_heads, groups * seq, self.head_dim))?;
        let mask = if groups == 1 {
            mask.clone()
        } else {
            let mask_batch = mask.dim(0)?;
            mask.unsqueeze(2)?.broadcast_as((mask_batch, 1, groups, seq, keys))?.reshape((mask_batch, 1, groups * seq, keys))?
        };
        // Scaling q rather than the scores: a [heads, seq, dim] tensor, not [heads, seq, seq].
        let out = attention(&(q / (self.head_dim as f64).sqrt())?, &k, &v, &mask)?
            .reshape((batch, self.num_heads, seq, self.head_dim))?
            .transpose(1, 2)?
            .reshape((batch, seq, self.num_heads * self.head_dim))?;
        adapter.project(&self.o_proj, 3, &out)
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

    fn forward(
        &self,
        x: &Tensor,
        rope: &Rope,
        mask: &Tensor,
        cache: Option<&mut LayerCache>,
        adapter: LayerAdapter,
    ) -> candle_core::Result<Tensor> {
        let x = (x + self.self_attn.forward(&self.input_layernorm.forward(x)?, rope, mask, cache, adapter)?)?;
        &x + self.mlp.forward(&self.post_attention_layernorm.forward(&x)?, adapter)?
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
            let layer_cache = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            let layer_adapter = match adapter {
                Adapter::Off => LayerAdapter::Off,
                Adapter::On => LayerAdapter::On,
                Adapter::Folded(folded) => LayerAdapter::Folded(&folded.weights[i * PROJECTIONS_PER_LAYER..(i + 1) * PROJECTIONS_PER_LAYER]),
            };
            x = layer.forward(&x, &rope, mask, layer_cache, layer_adapter)?;
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

    /// The fused attention equals candle's composed ops in value and in the
    /// gradients of q, k and v: for a mask per sequence and one shared, with
    /// keys and values that are views into larger buffers (as a cache's are).
    #[test]
    fn fused_attention_is_attention_with_its_gradients() {
        let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let random = |shape: (usize, usize, usize, usize)| Tensor::randn(0f32, 1.0, shape, &Device::Cpu).unwrap();
        let q = candle_core::Var::from_tensor(&random((2, 3, 4, 6))).unwrap();
        let (k_buffer, v_buffer) = (random((2, 3, 9, 6)), random((2, 3, 9, 6)));
        let k = candle_core::Var::from_tensor(&k_buffer).unwrap();
        let v = candle_core::Var::from_tensor(&v_buffer).unwrap();
        let (k_view, v_view) = (k.narrow(2, 0, 5).unwrap(), v.narrow(2, 0, 5).unwrap());
        assert!(!k_view.is_contiguous());
        let downstream = random((2, 3, 4, 6));
        let gradients = |out: &Tensor| {
            let grads = (out * &downstream).unwrap().sum_all().unwrap().backward().unwrap();
            [q.as_tensor(), k.as_tensor(), v.as_tensor()].map(|t| values(grads.get(t).unwrap()))
        };
        let per_sequence = attention_mask(&[vec![true, true, false, true, true], vec![false, true, true, true, true]], 4, DType::F32, &Device::Cpu).unwrap();
        let shared = attention_mask(&[vec![true, false, true, true, true]], 4, DType::F32, &Device::Cpu).unwrap();
        for mask in [per_sequence, shared] {
            let fused = attention(q.as_tensor(), &k_view, &v_view, &mask).unwrap();
            let weights = candle_nn::ops::softmax(&q.matmul(&k_view.t().unwrap()).unwrap().broadcast_add(&mask).unwrap(), D::Minus1).unwrap();
            let composed = weights.matmul(&v_view).unwrap();
            assert_close(&values(&fused), &values(&composed), "outputs");
            for (name, (got, want)) in ["q", "k", "v"].iter().zip(gradients(&fused).iter().zip(&gradients(&composed))) {
                assert_close(got, want, name);
            }
            // A masked key's value has no say: its value gradient is zero where no query sees it.
            let masked = values(&mask.broadcast_as((2, 3, 4, 5)).unwrap());
            assert!(values(&Attend { mask: mask.clone() }.weights_of(q.as_tensor(), &k_view).unwrap()).iter().zip(&masked).all(|(&w, &m)| m == 0.0 || w == 0.0));
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
                tokens.extend(std::iter::repeat_n(0, pad).chain(sequence[..len].iter().copied()));
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

    /// Decoding past a buffer's headroom grows it without losing a
    /// position: the last step's logits are those of the whole sequence.
    #[test]
    fn a_decoding_cache_grows_past_its_headroom() {
        let decoder = tiny_decoder(true);
        let device = &Device::Cpu;
        let sequence: Vec<u32> = (0..DECODE_HEADROOM as u32 + 40).map(|i| (i * 7 + 3) % 50).collect();
        let prompt = 3;
        let mut cache = KvCache::new(decoder.config());
        let input = Tensor::new(&sequence[..prompt], device).unwrap().unsqueeze(0).unwrap();
        let positions = Tensor::arange(0u32, prompt as u32, device).unwrap().unsqueeze(0).unwrap();
        let mask = attention_mask(&[vec![true; prompt]], prompt, DType::F32, device).unwrap();
        decoder.forward(&input, &positions, &mask, Some(&mut cache), Adapter::Off).unwrap();
        let mut last = Vec::new();
        for (position, &token) in sequence.iter().enumerate().skip(prompt) {
            let mask = attention_mask(&[vec![true; position + 1]], 1, DType::F32, device).unwrap();
            let input = Tensor::new(&[[token]], device).unwrap();
            let at = Tensor::new(&[[position as u32]], device).unwrap();
            let hidden = decoder.forward(&input, &at, &mask, Some(&mut cache), Adapter::Off).unwrap();
            last = decoder.logits(&hidden).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        }
        assert_eq!(cache.seen(), sequence.len());
        let expected = alone(&decoder, &sequence);
        assert_close(&last, &expected[sequence.len() - 1], "the last step");
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
        for (k, v) in cache.layers.iter().filter_map(|layer| layer.keys_values.as_ref()) {
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
