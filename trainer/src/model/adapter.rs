//! DoRA and LoRA adapters on frozen linear layers, with PEFT's semantics
//! and on-disk format (DESIGN §5).
//!
//! For a frozen `W [out, in]`: `A [r, in]` (Kaiming-uniform, a = √5, as PEFT
//! initialises it), `B [out, r]` (zeros), `s = α / r`. LoRA adds `s·B·A x`;
//! DoRA also learns a magnitude `m [out]`, initialised to the row norms of
//! `W`, and rescales each output row by `m / n` with `n = ‖W + s·B·A‖`
//! computed per row and detached from the graph (the DoRA paper's §4.3,
//! as PEFT does it). Dropout is left out: GRPO's samples already vary, and
//! PEFT's default for DoRA fine-tuning recipes here is 0.
//!
//! The base weights are plain tensors, never `Var`s, so the adapter switched
//! off is the frozen base: the reference policy needs no second copy.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Storage, Tensor, Var, D};
use rand::Rng;
use rand_pcg::Pcg64;
use serde::{Deserialize, Serialize};

/// File names of a PEFT adapter directory.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// The projections PEFT adapts by default here: all attention and MLP ones.
pub const DEFAULT_TARGET_MODULES: [&str; 7] = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// PEFT's `adapter_config.json` for a LoRA/DoRA adapter of a causal LM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    pub peft_type: String,
    pub task_type: String,
    pub base_model_name_or_path: String,
    pub r: usize,
    pub lora_alpha: f64,
    pub lora_dropout: f64,
    pub use_dora: bool,
    pub bias: String,
    pub target_modules: Vec<String>,
    #[serde(default)]
    pub fan_in_fan_out: bool,
    #[serde(default)]
    pub use_rslora: bool,
    #[serde(default = "default_init_lora_weights")]
    pub init_lora_weights: bool,
}

fn default_init_lora_weights() -> bool {
    true
}

impl AdapterConfig {
    /// A DoRA (`use_dora`) or LoRA adapter of rank `r` on `target_modules`.
    pub fn new(base_model: &str, r: usize, lora_alpha: f64, use_dora: bool, target_modules: &[&str]) -> AdapterConfig {
        AdapterConfig {
            peft_type: "LORA".into(),
            task_type: "CAUSAL_LM".into(),
            base_model_name_or_path: base_model.into(),
            r,
            lora_alpha,
            lora_dropout: 0.0,
            use_dora,
            bias: "none".into(),
            target_modules: target_modules.iter().map(|m| m.to_string()).collect(),
            fan_in_fan_out: false,
            use_rslora: false,
            init_lora_weights: true,
        }
    }

    /// `s = α / r`.
    pub fn scale(&self) -> f64 {
        self.lora_alpha / self.r as f64
    }

    pub fn targets(&self, module: &str) -> bool {
        self.target_modules.iter().any(|m| m == module)
    }

    pub fn read(dir: &Path) -> anyhow::Result<AdapterConfig> {
        let path = dir.join(ADAPTER_CONFIG_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let config: AdapterConfig = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if config.peft_type != "LORA" {
            bail!("{}: peft_type `{}` is not LORA", path.display(), config.peft_type);
        }
        if config.use_rslora || config.fan_in_fan_out || config.bias != "none" {
            bail!("{}: use_rslora, fan_in_fan_out and adapter biases are not supported", path.display());
        }
        Ok(config)
    }

    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(ADAPTER_CONFIG_FILE);
        std::fs::write(&path, serde_json::to_string_pretty(self)? + "\n").with_context(|| format!("writing {}", path.display()))
    }
}

/// The trainable part of one adapted layer. Kept in f32 whatever the base
/// dtype, so optimiser updates are not lost to bf16 rounding.
pub struct LowRankAdapter {
    pub lora_a: Var,
    pub lora_b: Var,
    /// DoRA only.
    pub magnitude: Option<Var>,
    pub scale: f64,
}

impl LowRankAdapter {
    /// A fresh adapter for `weight [out, in]`: `B = 0`, so it changes nothing yet.
    pub fn init(weight: &Tensor, config: &AdapterConfig, rng: &mut Pcg64) -> anyhow::Result<LowRankAdapter> {
        let (out_features, in_features) = weight.dims2()?;
        let device = weight.device();
        // Kaiming-uniform with a = √5 on fan-in `in`: gain √(2/(1+5)), bound gain·√(3/in) = 1/√in.
        let bound = 1.0 / (in_features as f64).sqrt();
        let values: Vec<f32> = (0..config.r * in_features).map(|_| rng.random_range(-bound..bound) as f32).collect();
        let lora_a = Tensor::from_vec(values, (config.r, in_features), device)?;
        let lora_b = Tensor::zeros((out_features, config.r), DType::F32, device)?;
        let magnitude = if config.use_dora { Some(Var::from_tensor(&row_norms(&weight.to_dtype(DType::F32)?)?)?) } else { None };
        Ok(LowRankAdapter { lora_a: Var::from_tensor(&lora_a)?, lora_b: Var::from_tensor(&lora_b)?, magnitude, scale: config.scale() })
    }

    /// `s·B·A`, `[out, in]`, f32.
    fn delta(&self) -> candle_core::Result<Tensor> {
        self.lora_b.as_tensor().matmul(self.lora_a.as_tensor())? * self.scale
    }

    /// DoRA's per-row factor `m / ‖W + s·B·A‖`, with the norm detached.
    /// The norm is computed from detached A and B, so the graph keeps none
    /// of its `[out, in]` intermediates (they would dominate the memory of
    /// a backward pass through every layer).
    fn dora_factor(&self, weight: &Tensor, magnitude: &Var) -> candle_core::Result<Tensor> {
        let delta = (self.lora_b.as_tensor().detach().matmul(&self.lora_a.as_tensor().detach())? * self.scale)?;
        let norm = row_norms(&(weight.to_dtype(self.lora_a.dtype())? + delta)?)?;
        magnitude.as_tensor().div(&norm)
    }
}

fn row_norms(weight: &Tensor) -> candle_core::Result<Tensor> {
    weight.sqr()?.sum(D::Minus1)?.sqrt()
}

/// `x Wᵀ` for `x [rows, in]` and a frozen `W [out, in]`, differentiable in
/// `x` only. candle's matmul backward also computes a gradient for the
/// weight, frozen or not, and keeps it to the end of the pass: a
/// forward-sized matmul and a weight-sized tensor per projection, wasted.
/// CPU only; elsewhere (no CUDA kernel here) the plain matmul.
pub fn frozen_matmul(x: &Tensor, weight: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && weight.device().is_cpu() {
        x.apply_op1(FrozenMatmul { weight: weight.clone() })
    } else {
        x.matmul(&weight.t()?)
    }
}

struct FrozenMatmul {
    weight: Tensor,
}

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, x: &CpuStorage, x_layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, inner) = x_layout.shape().dims2()?;
        let (storage, layout) = self.weight.storage_and_layout();
        let Storage::Cpu(weight) = &*storage else { candle_core::bail!("frozen-matmul: the weight is not on the CPU") };
        let (out, weight_inner) = layout.shape().dims2()?;
        if weight_inner != inner {
            candle_core::bail!("frozen-matmul: x [{rows}, {inner}] against a weight [{out}, {weight_inner}]");
        }
        let product = x.matmul(weight, (1, rows, out, inner), x_layout, &layout.transpose(0, 1)?)?;
        Ok((product, Shape::from((rows, out))))
    }

    fn bwd(&self, _x: &Tensor, _product: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.weight)?))
    }
}

/// A linear layer `x Wᵀ + b` with a frozen weight and an optional adapter.
pub struct Linear {
    /// The Hugging Face module path, `model.layers.3.self_attn.q_proj`.
    pub name: String,
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub adapter: Option<LowRankAdapter>,
}

impl Linear {
    pub fn new(name: String, weight: Tensor, bias: Option<Tensor>) -> Linear {
        Linear { name, weight, bias, adapter: None }
    }

    /// The projection's own name (`q_proj`), as `target_modules` lists it.
    pub fn module(&self) -> &str {
        self.name.rsplit('.').next().unwrap_or(&self.name)
    }

    /// `x [.., in] → [.., out]`; `use_adapter = false` is the frozen base.
    pub fn forward(&self, x: &Tensor, use_adapter: bool) -> candle_core::Result<Tensor> {
        self.project(x, &self.weight, use_adapter)
    }

    /// `x Wᵀ + b` with another weight of the same shape in place of the
    /// frozen one (a folded adapter, see [`Linear::merged_weight`]).
    pub fn forward_with_weight(&self, x: &Tensor, weight: &Tensor) -> candle_core::Result<Tensor> {
        self.project(x, weight, false)
    }

    fn project(&self, x: &Tensor, weight: &Tensor, use_adapter: bool) -> candle_core::Result<Tensor> {
        let (out_features, in_features) = weight.dims2()?;
        let mut out_shape = x.dims().to_vec();
        *out_shape.last_mut().expect("a linear layer's input has a feature dimension") = out_features;
        let rows = x.reshape(((), in_features))?;
        let mut out = frozen_matmul(&rows, weight)?;
        if let (true, Some(adapter)) = (use_adapter, &self.adapter) {
            let dtype = self.weight.dtype();
            let low_rank = rows.matmul(&adapter.lora_a.as_tensor().to_dtype(dtype)?.t()?)?;
            // Scaling B [out, r] rather than the product keeps one fewer
            // [tokens, out] tensor in the graph.
            let scaled_b = (adapter.lora_b.as_tensor().to_dtype(dtype)? * adapter.scale)?;
            let update = low_rank.matmul(&scaled_b.t()?)?;
            out = (out + update)?;
            if let Some(magnitude) = &adapter.magnitude {
                out = out.broadcast_mul(&adapter.dora_factor(&self.weight, magnitude)?.to_dtype(dtype)?)?;
            }
        }
        if let Some(bias) = &self.bias {
            out = out.broadcast_add(bias)?;
        }
        out.reshape(out_shape)
    }

    /// The weight with the adapter folded in, in the adapter's dtype (f32):
    /// `W + s·B·A` (LoRA) or `(m / n)·(W + s·B·A)` (DoRA); the frozen weight
    /// in f32 without an adapter.
    pub fn merged_weight(&self) -> candle_core::Result<Tensor> {
        let Some(adapter) = &self.adapter else { return self.weight.to_dtype(DType::F32) };
        let updated = (self.weight.to_dtype(adapter.lora_a.dtype())? + adapter.delta()?)?;
        match &adapter.magnitude {
            Some(magnitude) => updated.broadcast_mul(&adapter.dora_factor(&self.weight, magnitude)?.unsqueeze(1)?),
            None => Ok(updated),
        }
    }

    /// `(PEFT name, var)` of the adapter's parameters: `lora_A.weight`,
    /// `lora_B.weight`, `lora_magnitude_vector`, under
    /// `base_model.model.{module path}`.
    pub fn adapter_vars(&self) -> Vec<(String, Var)> {
        let Some(adapter) = &self.adapter else { return Vec::new() };
        let prefix = format!("base_model.model.{}", self.name);
        let mut vars = vec![
            (format!("{prefix}.lora_A.weight"), adapter.lora_a.clone()),
            (format!("{prefix}.lora_B.weight"), adapter.lora_b.clone()),
        ];
        if let Some(magnitude) = &adapter.magnitude {
            vars.push((format!("{prefix}.lora_magnitude_vector"), magnitude.clone()));
        }
        vars
    }

    /// Puts the adapter stored under this layer's PEFT names in `tensors` on it.
    pub fn set_adapter(&mut self, tensors: &BTreeMap<String, Tensor>, config: &AdapterConfig) -> anyhow::Result<()> {
        let prefix = format!("base_model.model.{}", self.name);
        let take = |suffix: &str| -> anyhow::Result<Var> {
            let name = format!("{prefix}.{suffix}");
            let tensor = tensors.get(&name).with_context(|| format!("the adapter has no {name}"))?;
            Ok(Var::from_tensor(&tensor.to_dtype(DType::F32)?)?)
        };
        let (lora_a, lora_b) = (take("lora_A.weight")?, take("lora_B.weight")?);
        let (out_features, in_features) = self.weight.dims2()?;
        if lora_a.dims() != [config.r, in_features] || lora_b.dims() != [out_features, config.r] {
            bail!("{prefix}: lora_A {:?} / lora_B {:?} do not fit a [{out_features}, {in_features}] weight at rank {}", lora_a.dims(), lora_b.dims(), config.r);
        }
        let magnitude = if config.use_dora { Some(take("lora_magnitude_vector")?) } else { None };
        self.adapter = Some(LowRankAdapter { lora_a, lora_b, magnitude, scale: config.scale() });
        Ok(())
    }
}

/// Writes `adapter_config.json` and `adapter_model.safetensors` (f32).
pub fn save_adapter(dir: &Path, config: &AdapterConfig, vars: &[(String, Var)]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    config.write(dir)?;
    let tensors: std::collections::HashMap<&str, Tensor> = vars.iter().map(|(name, var)| (name.as_str(), var.as_tensor().clone())).collect();
    let path = dir.join(ADAPTER_WEIGHTS_FILE);
    candle_core::safetensors::save(&tensors, &path).with_context(|| format!("writing {}", path.display()))
}

/// Reads an adapter directory: its config and its tensors by PEFT name.
pub fn read_adapter(dir: &Path, device: &Device) -> anyhow::Result<(AdapterConfig, BTreeMap<String, Tensor>)> {
    let config = AdapterConfig::read(dir)?;
    let path = dir.join(ADAPTER_WEIGHTS_FILE);
    let tensors = candle_core::safetensors::load(&path, device).with_context(|| format!("reading {}", path.display()))?;
    Ok((config, tensors.into_iter().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn random(shape: (usize, usize), seed: u64, dtype: DType) -> Tensor {
        let mut rng = Pcg64::seed_from_u64(seed);
        let values: Vec<f64> = (0..shape.0 * shape.1).map(|_| rng.random_range(-1.0..1.0)).collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap().to_dtype(dtype).unwrap()
    }

    fn layer(use_dora: bool, dtype: DType) -> Linear {
        let weight = random((5, 7), 1, dtype);
        let bias = random((1, 5), 2, dtype).squeeze(0).unwrap();
        let mut linear = Linear::new("model.layers.0.self_attn.q_proj".into(), weight, Some(bias));
        let config = AdapterConfig::new("test", 3, 6.0, use_dora, &DEFAULT_TARGET_MODULES);
        let mut adapter = LowRankAdapter::init(&linear.weight, &config, &mut Pcg64::seed_from_u64(3)).unwrap();
        if dtype == DType::F64 {
            // The finite-difference test runs the whole layer in f64.
            adapter.lora_a = Var::from_tensor(&adapter.lora_a.to_dtype(dtype).unwrap()).unwrap();
            adapter.lora_b = Var::from_tensor(&adapter.lora_b.to_dtype(dtype).unwrap()).unwrap();
            adapter.magnitude = adapter.magnitude.map(|m| Var::from_tensor(&m.to_dtype(dtype).unwrap()).unwrap());
        }
        linear.adapter = Some(adapter);
        linear
    }

    /// Moves every adapter parameter away from its initial value, so B ≠ 0
    /// and m ≠ ‖W‖.
    fn perturb(linear: &Linear, seed: u64) {
        for (i, (_, var)) in linear.adapter_vars().iter().enumerate() {
            let (rows, cols) = match var.dims() {
                [rows, cols] => (*rows, *cols),
                [rows] => (*rows, 1),
                _ => unreachable!(),
            };
            let noise = (random((rows, cols), seed + i as u64, var.dtype()).reshape(var.shape()).unwrap() * 0.3).unwrap();
            var.set(&(var.as_tensor() + noise).unwrap()).unwrap();
        }
    }

    #[test]
    fn frozen_matmul_is_matmul_with_the_input_gradient_only() {
        let weight = random((5, 7), 1, DType::F64);
        let x = Var::from_tensor(&random((4, 7), 2, DType::F64)).unwrap();
        let frozen = frozen_matmul(x.as_tensor(), &weight).unwrap();
        let plain = x.as_tensor().matmul(&weight.t().unwrap()).unwrap();
        assert_eq!(frozen.to_vec2::<f64>().unwrap(), plain.to_vec2::<f64>().unwrap());
        let weights_of_outputs = random((4, 5), 3, DType::F64);
        let frozen_grads = (frozen * &weights_of_outputs).unwrap().sum_all().unwrap().backward().unwrap();
        let plain_grads = (plain * &weights_of_outputs).unwrap().sum_all().unwrap().backward().unwrap();
        let grad = |grads: &candle_core::backprop::GradStore| grads.get(x.as_tensor()).unwrap().to_vec2::<f64>().unwrap();
        assert_eq!(grad(&frozen_grads), grad(&plain_grads));
        assert!(frozen_grads.get(&weight).is_none());
    }

    #[test]
    fn a_fresh_adapter_changes_nothing() {
        for use_dora in [true, false] {
            let linear = layer(use_dora, DType::F32);
            let x = random((4, 7), 9, DType::F32);
            let with = linear.forward(&x, true).unwrap().to_vec2::<f32>().unwrap();
            let without = linear.forward(&x, false).unwrap().to_vec2::<f32>().unwrap();
            // B = 0 makes the update exactly 0, and DoRA's m / n is ‖W‖/‖W‖
            // from the same computation on the same values: exactly 1.
            assert_eq!(with, without, "dora {use_dora}");
        }
    }

    #[test]
    fn merged_weights_give_the_adapters_outputs() {
        for use_dora in [true, false] {
            let linear = layer(use_dora, DType::F32);
            perturb(&linear, 20);
            let merged = Linear::new(linear.name.clone(), linear.merged_weight().unwrap(), linear.bias.clone());
            let x = random((4, 7), 9, DType::F32);
            let adapted = linear.forward(&x, true).unwrap().to_vec2::<f32>().unwrap();
            let folded = merged.forward(&x, false).unwrap().to_vec2::<f32>().unwrap();
            // Same maths in a different order in f32: a few ulps of the
            // largest term, so 1e-5 of the output's scale.
            for (a, b) in adapted.iter().flatten().zip(folded.iter().flatten()) {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b} (dora {use_dora})");
            }
        }
    }

    /// The analytic gradient of `Σ forward(x)²` in A, B and m against central
    /// differences, in f64. The norm `n` is detached in the forward pass, so
    /// the finite differences hold `n` at its value for the unperturbed
    /// parameters, as the detached graph does.
    #[test]
    fn gradients_match_finite_differences() {
        let linear = layer(true, DType::F64);
        perturb(&linear, 30);
        let x = random((4, 7), 9, DType::F64);
        let adapter = linear.adapter.as_ref().unwrap();
        let weight = linear.weight.clone();
        let frozen_norm = row_norms(&(&weight + adapter.delta().unwrap()).unwrap()).unwrap();
        let bias = linear.bias.clone().unwrap();
        let loss_at = |a: &Tensor, b: &Tensor, m: &Tensor| -> f64 {
            let update = (x.matmul(&a.t().unwrap()).unwrap().matmul(&b.t().unwrap()).unwrap() * adapter.scale).unwrap();
            let out = (x.matmul(&weight.t().unwrap()).unwrap() + update).unwrap();
            let out = out.broadcast_mul(&m.div(&frozen_norm).unwrap()).unwrap().broadcast_add(&bias).unwrap();
            out.sqr().unwrap().sum_all().unwrap().to_scalar::<f64>().unwrap()
        };
        let loss = linear.forward(&x, true).unwrap().sqr().unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let params = [&adapter.lora_a, &adapter.lora_b, adapter.magnitude.as_ref().unwrap()];
        for (which, var) in params.iter().enumerate() {
            let analytic = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let base = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
            let eps = 1e-6;
            for i in 0..base.len() {
                let shifted = |delta: f64| {
                    let mut values = base.clone();
                    values[i] += delta;
                    let mut current: Vec<Tensor> = params.iter().map(|p| p.as_tensor().clone()).collect();
                    current[which] = Tensor::from_vec(values, var.shape(), &Device::Cpu).unwrap();
                    loss_at(&current[0], &current[1], &current[2])
                };
                let numeric = (shifted(eps) - shifted(-eps)) / (2.0 * eps);
                // f64 central differences: truncation O(eps²) and rounding
                // O(1e-16 / eps) leave ~1e-7 of the gradient's scale.
                assert!((numeric - analytic[i]).abs() <= 1e-6 * (1.0 + numeric.abs()), "param {which}[{i}]: {numeric} vs {}", analytic[i]);
            }
        }
    }

    #[test]
    fn a_saved_adapter_reloads_bit_identically() {
        let dir = tempfile::tempdir().unwrap();
        let linear = layer(true, DType::F32);
        perturb(&linear, 40);
        let config = AdapterConfig::new("test", 3, 6.0, true, &DEFAULT_TARGET_MODULES);
        save_adapter(dir.path(), &config, &linear.adapter_vars()).unwrap();
        let (read_config, tensors) = read_adapter(dir.path(), &Device::Cpu).unwrap();
        assert_eq!(read_config, config);
        let names: Vec<&str> = tensors.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
                "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector",
            ]
        );
        let mut reloaded = Linear::new(linear.name.clone(), linear.weight.clone(), linear.bias.clone());
        reloaded.set_adapter(&tensors, &read_config).unwrap();
        for ((name, saved), (_, loaded)) in linear.adapter_vars().iter().zip(reloaded.adapter_vars()) {
            let bits = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(saved.as_tensor()), bits(loaded.as_tensor()), "{name}");
        }
    }
}
