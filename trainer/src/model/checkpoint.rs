//! Base model checkpoints: a Hugging Face model directory (`config.json`,
//! `*.safetensors`, `tokenizer.json`) or a GGUF file, read into f32 tensors
//! under Hugging Face names.
//!
//! GGUF files are dequantised (Q4_1 and the like become f32, so training
//! sees exactly the weights the quantised file holds), their tensors renamed
//! (`blk.N.attn_q` → `model.layers.N.self_attn.q_proj`), and, for Llama,
//! the rows of the q/k projections un-permuted: llama.cpp's converter
//! interleaves the two halves of each head for its rotary layout, and this
//! decoder uses Hugging Face's half-split one.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, Tensor};
use tokenizers::Tokenizer;

use super::config::{Architecture, Config};
use super::decoder::Weights;

/// The end-of-turn token of ChatML, where a completion stops besides EOS.
pub const CHATML_END: &str = "<|im_end|>";

pub struct Checkpoint {
    pub config: Config,
    /// f32, Hugging Face names.
    pub weights: Weights,
    pub tokenizer: Tokenizer,
    pub bos_id: Option<u32>,
    /// EOS and `<|im_end|>`, where sampling stops.
    pub end_ids: Vec<u32>,
    pub chat_template: Option<String>,
}

impl Checkpoint {
    /// A `.gguf` file or a Hugging Face model directory.
    pub fn load(path: &Path, device: &Device) -> anyhow::Result<Checkpoint> {
        if path.is_dir() {
            Checkpoint::from_hf_dir(path, device)
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
            Checkpoint::from_gguf(path, device)
        } else {
            bail!("{}: not a .gguf file nor a model directory", path.display())
        }
    }

    pub fn from_gguf(path: &Path, device: &Device) -> anyhow::Result<Checkpoint> {
        let mut file = BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
        let content = Content::read(&mut file).with_context(|| format!("{}: not a GGUF file", path.display()))?;
        let config = Config::from_gguf(&content).with_context(|| path.display().to_string())?;
        let mut weights = Weights::new();
        for name in content.tensor_infos.keys() {
            let hf_name = hf_name_of_gguf(name).with_context(|| format!("{}: tensor {name}", path.display()))?;
            let mut tensor = content.tensor(&mut file, name, device)?.dequantize(device)?;
            if config.architecture() == Architecture::Llama {
                if hf_name.ends_with("q_proj.weight") {
                    tensor = unpermute_rotary_rows(&tensor, config.num_attention_heads)?;
                } else if hf_name.ends_with("k_proj.weight") {
                    tensor = unpermute_rotary_rows(&tensor, config.num_key_value_heads)?;
                }
            }
            weights.insert(hf_name, tensor);
        }
        let gguf_tokenizer = recode::model::gguf::tokenizer_from_gguf(path)?;
        let chat_template = match content.metadata.get("tokenizer.chat_template") {
            Some(Value::String(template)) => Some(template.clone()),
            _ => None,
        };
        let end_ids = end_ids(&gguf_tokenizer.tokenizer, gguf_tokenizer.eos_id.into_iter().collect());
        Ok(Checkpoint {
            config,
            weights,
            tokenizer: gguf_tokenizer.tokenizer,
            bos_id: gguf_tokenizer.bos_id,
            end_ids,
            chat_template,
        })
    }

    pub fn from_hf_dir(dir: &Path, device: &Device) -> anyhow::Result<Checkpoint> {
        let read_json = |name: &str| -> anyhow::Result<Option<serde_json::Value>> {
            let path = dir.join(name);
            if !path.is_file() {
                return Ok(None);
            }
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            Ok(Some(serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?))
        };
        let config_path = dir.join("config.json");
        let config_text = std::fs::read_to_string(&config_path).with_context(|| format!("reading {}", config_path.display()))?;
        let config = Config::from_hf_json(&config_text).with_context(|| config_path.display().to_string())?;

        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("{}: no *.safetensors files", dir.display());
        }
        let mut weights = Weights::new();
        for file in &files {
            let tensors = candle_core::safetensors::load(file, device).with_context(|| format!("reading {}", file.display()))?;
            for (name, tensor) in tensors {
                weights.insert(name, tensor.to_dtype(candle_core::DType::F32)?);
            }
        }

        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&tokenizer_path).map_err(|e| anyhow::anyhow!("reading {}: {e}", tokenizer_path.display()))?;
        let generation = read_json("generation_config.json")?;
        let hf_config: serde_json::Value = serde_json::from_str(&config_text)?;
        let token_ids = |key: &str| -> Vec<u32> {
            let ids = |value: &serde_json::Value| -> Vec<u32> {
                match value.get(key) {
                    Some(serde_json::Value::Array(ids)) => ids.iter().filter_map(|v| v.as_u64()).map(|v| v as u32).collect(),
                    Some(id) => id.as_u64().map(|v| v as u32).into_iter().collect(),
                    None => Vec::new(),
                }
            };
            let mut all = ids(&hf_config);
            all.extend(generation.as_ref().map(ids).unwrap_or_default());
            all
        };
        let chat_template = read_json("tokenizer_config.json")?
            .and_then(|c| c.get("chat_template").and_then(|t| t.as_str()).map(str::to_string));
        Ok(Checkpoint {
            end_ids: end_ids(&tokenizer, token_ids("eos_token_id")),
            bos_id: token_ids("bos_token_id").first().copied(),
            config,
            weights,
            tokenizer,
            chat_template,
        })
    }
}

/// `eos` plus `<|im_end|>` when the vocabulary has it, without repeats.
fn end_ids(tokenizer: &Tokenizer, mut ids: Vec<u32>) -> Vec<u32> {
    ids.extend(tokenizer.token_to_id(CHATML_END));
    let mut unique = Vec::new();
    for id in ids {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    unique
}

/// llama.cpp's tensor names to Hugging Face's.
fn hf_name_of_gguf(name: &str) -> anyhow::Result<String> {
    let top = match name {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(top) = top {
        return Ok(top.to_string());
    }
    let rest = name.strip_prefix("blk.").context("not a known GGUF tensor")?;
    let (layer, rest) = rest.split_once('.').context("not a known GGUF tensor")?;
    let layer: usize = layer.parse().context("not a known GGUF tensor")?;
    let (module, kind) = rest.rsplit_once('.').context("not a known GGUF tensor")?;
    let hf_module = match module {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => bail!("not a known GGUF tensor (llama3 rope scaling and other extras are not supported)"),
    };
    Ok(format!("model.layers.{layer}.{hf_module}.{kind}"))
}

/// The inverse of llama.cpp's `convert_hf_to_gguf.py` `permute`, which
/// writes `W.reshape(heads, 2, head_dim/2, in).swapaxes(1, 2)`: read the
/// rows as `[heads, head_dim/2, 2, in]` and swap the middle axes back.
fn unpermute_rotary_rows(weight: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (out, input) = weight.dims2()?;
    weight.reshape((heads, out / heads / 2, 2, input))?.transpose(1, 2)?.contiguous()?.reshape((out, input))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `convert_hf_to_gguf.py` does to q/k rows.
    fn permute(weight: &Tensor, heads: usize) -> Tensor {
        let (out, input) = weight.dims2().unwrap();
        weight.reshape((heads, 2, out / heads / 2, input)).unwrap().transpose(1, 2).unwrap().contiguous().unwrap().reshape((out, input)).unwrap()
    }

    #[test]
    fn unpermuting_undoes_llama_cpp_permute() {
        let weight = Tensor::arange(0f32, 24.0 * 3.0, &Device::Cpu).unwrap().reshape((24, 3)).unwrap();
        let round_trip = unpermute_rotary_rows(&permute(&weight, 3), 3).unwrap();
        assert_eq!(round_trip.to_vec2::<f32>().unwrap(), weight.to_vec2::<f32>().unwrap());
        // Row 1 of head 0 (the second of the first half) goes to row 2 in llama.cpp's interleaved order.
        assert_eq!(permute(&weight, 3).get(2).unwrap().to_vec1::<f32>().unwrap(), weight.get(1).unwrap().to_vec1::<f32>().unwrap());
    }

    #[test]
    fn renames_gguf_tensors() {
        assert_eq!(hf_name_of_gguf("blk.12.attn_q.bias").unwrap(), "model.layers.12.self_attn.q_proj.bias");
        assert_eq!(hf_name_of_gguf("blk.0.ffn_norm.weight").unwrap(), "model.layers.0.post_attention_layernorm.weight");
        assert_eq!(hf_name_of_gguf("token_embd.weight").unwrap(), "model.embed_tokens.weight");
        assert!(hf_name_of_gguf("rope_freqs.weight").is_err());
    }
}
