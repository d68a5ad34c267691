//! `recode-train merge`: folds an adapter into its base model and writes a
//! plain Hugging Face model directory any engine serves (mistralrs ignores
//! DoRA's magnitude vector, so serving an unmerged DoRA adapter would be
//! silently wrong).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context};
use candle_core::{DType, Device, Tensor};
use serde_json::json;

use super::checkpoint::Checkpoint;
use super::decoder::Decoder;
use super::LocalModel;

/// Writes `out/` with `config.json`, `model.safetensors` (`dtype`: f32 or
/// bf16) holding `W' = (m/n)·(W + s·B·A)` (DoRA) or `W + s·B·A` (LoRA) for
/// every adapted projection, `tokenizer.json`, `tokenizer_config.json` and
/// `generation_config.json`. A GGUF base's tokenizer is the one built from
/// its metadata, serialised.
pub fn merge(base: &Path, adapter_dir: &Path, out: &Path, dtype: DType) -> anyhow::Result<()> {
    if !matches!(dtype, DType::F32 | DType::BF16) {
        bail!("merge writes f32 or bf16, not {dtype:?}");
    }
    let device = Device::Cpu;
    let checkpoint = Checkpoint::load(base, &device)?;
    let decoder = Decoder::new(checkpoint.config.clone(), &checkpoint.weights, DType::F32)?;
    let mut model = LocalModel::new(decoder, checkpoint.tokenizer.clone(), checkpoint.end_ids.clone());
    model.load_adapter(adapter_dir)?;

    let mut weights: HashMap<String, Tensor> = checkpoint.weights.clone();
    for linear in model.decoder().linears().filter(|l| l.adapter.is_some()) {
        weights.insert(format!("{}.weight", linear.name), linear.merged_weight()?);
    }
    let weights = weights.into_iter().map(|(name, t)| Ok((name, t.to_dtype(dtype)?))).collect::<candle_core::Result<HashMap<_, _>>>()?;

    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let torch_dtype = if dtype == DType::BF16 { "bfloat16" } else { "float32" };
    let write_json = |name: &str, value: &serde_json::Value| -> anyhow::Result<()> {
        let path = out.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(value)? + "\n").with_context(|| format!("writing {}", path.display()))
    };
    let eos_id = checkpoint.end_ids.first().copied();
    let token = |id: Option<u32>| id.and_then(|id| checkpoint.tokenizer.id_to_token(id));

    if base.is_dir() {
        // Keep everything the base's own files say; only the dtype changes.
        let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(base.join("config.json"))?)?;
        config["torch_dtype"] = json!(torch_dtype);
        write_json("config.json", &config)?;
        for name in ["tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json"] {
            if base.join(name).is_file() {
                std::fs::copy(base.join(name), out.join(name)).with_context(|| format!("copying {name}"))?;
            }
        }
    } else {
        write_json("config.json", &checkpoint.config.to_hf_json(torch_dtype, checkpoint.bos_id, eos_id))?;
        let tokenizer_path = out.join("tokenizer.json");
        checkpoint.tokenizer.save(&tokenizer_path, false).map_err(|e| anyhow::anyhow!("writing {}: {e}", tokenizer_path.display()))?;
        write_json(
            "tokenizer_config.json",
            &json!({
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": token(checkpoint.bos_id),
                "eos_token": token(eos_id),
                "chat_template": checkpoint.chat_template,
                "model_max_length": checkpoint.config.max_position_embeddings,
                "clean_up_tokenization_spaces": false,
            }),
        )?;
        write_json("generation_config.json", &json!({ "bos_token_id": checkpoint.bos_id, "eos_token_id": checkpoint.end_ids }))?;
    }
    let weights_path = out.join("model.safetensors");
    candle_core::safetensors::save(&weights, &weights_path).with_context(|| format!("writing {}", weights_path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::decoder::random_weights;
    use crate::model::testing::{tiny_adapter, tiny_config, tiny_tokenizer};
    use crate::policy::Policy;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    /// A tiny random model written as a Hugging Face directory.
    fn write_base(dir: &Path, qwen2: bool) {
        let config = tiny_config(qwen2);
        let weights = random_weights(&config, 21, &Device::Cpu).unwrap();
        candle_core::safetensors::save(&weights, dir.join("model.safetensors")).unwrap();
        std::fs::write(dir.join("config.json"), config.to_hf_json("float32", None, Some(49)).to_string()).unwrap();
        tiny_tokenizer().save(dir.join("tokenizer.json"), false).unwrap();
    }

    /// A merged model scores like the base with its adapter on, after the
    /// adapter moved off its initial values.
    #[test]
    fn the_merged_model_equals_the_base_with_its_adapter() {
        for (qwen2, use_dora) in [(false, true), (true, true), (false, false)] {
            let dir = tempfile::tempdir().unwrap();
            let (base, adapter_dir, out) = (dir.path().join("base"), dir.path().join("adapter"), dir.path().join("merged"));
            std::fs::create_dir_all(&base).unwrap();
            write_base(&base, qwen2);
            let mut adapted = LocalModel::load(&base, DType::F32, &Device::Cpu).unwrap();
            adapted.attach_adapter(tiny_adapter(use_dora), 3).unwrap();
            let mut rng = Pcg64::seed_from_u64(4);
            for (_, var) in adapted.trainable() {
                let noise: Vec<f32> = (0..var.elem_count()).map(|_| rng.random_range(-0.2..0.2)).collect();
                var.set(&(var.as_tensor() + Tensor::from_vec(noise, var.shape(), &Device::Cpu).unwrap()).unwrap()).unwrap();
            }
            adapted.save_adapter(&adapter_dir).unwrap();
            merge(&base, &adapter_dir, &out, DType::F32).unwrap();

            let merged = LocalModel::load(&out, DType::F32, &Device::Cpu).unwrap();
            assert_eq!(merged.end_ids(), [49]);
            let pairs: [(&[u32], &[u32]); 2] = [(&[1, 2, 3], &[4, 5, 6, 7]), (&[8, 9], &[10, 11])];
            let expected: Vec<f32> = adapted.logprobs(&pairs, true).unwrap().logprobs.flatten_all().unwrap().to_vec1().unwrap();
            let got: Vec<f32> = merged.logprobs(&pairs, false).unwrap().logprobs.flatten_all().unwrap().to_vec1().unwrap();
            let base_only: Vec<f32> = adapted.logprobs(&pairs, false).unwrap().logprobs.flatten_all().unwrap().to_vec1().unwrap();
            // f32, the same products summed in another order through two
            // layers: log-probabilities of order 1–5 agree to ~1e-5; the
            // adapter itself moves them by far more (checked below).
            for (a, b) in got.iter().zip(&expected) {
                assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "qwen2 {qwen2} dora {use_dora}: {a} vs {b}");
            }
            assert!(expected.iter().zip(&base_only).any(|(a, b)| (a - b).abs() > 1e-2));
        }
    }

    #[test]
    fn a_bf16_merge_halves_the_weights() {
        let dir = tempfile::tempdir().unwrap();
        let (base, adapter_dir, out) = (dir.path().join("base"), dir.path().join("adapter"), dir.path().join("merged"));
        std::fs::create_dir_all(&base).unwrap();
        write_base(&base, false);
        let mut adapted = LocalModel::load(&base, DType::F32, &Device::Cpu).unwrap();
        adapted.attach_adapter(tiny_adapter(true), 3).unwrap();
        adapted.save_adapter(&adapter_dir).unwrap();
        merge(&base, &adapter_dir, &out, DType::BF16).unwrap();
        let tensors = candle_core::safetensors::load(out.join("model.safetensors"), &Device::Cpu).unwrap();
        assert!(tensors.values().all(|t| t.dtype() == DType::BF16));
        let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["torch_dtype"], "bfloat16");
    }
}
