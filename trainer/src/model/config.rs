//! The shape of a Llama-family decoder, read from a Hugging Face
//! `config.json` or from GGUF metadata.

use anyhow::{bail, Context};
use candle_core::quantized::gguf_file::{Content, Value};
use serde::{Deserialize, Serialize};

/// Llama, SmolLM2 and Qwen2/Qwen2.5 share this decoder; Qwen2 adds biases to
/// the q/k/v projections (`attention_bias`), and either may tie the output
/// head to the token embeddings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    /// Biases on q/k/v (Qwen2); Llama has none.
    pub attention_bias: bool,
}

/// The subset of `config.json` this decoder reads; the rest is ignored.
#[derive(Deserialize)]
struct HfConfig {
    #[serde(default)]
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    #[serde(default = "default_rms_norm_eps")]
    rms_norm_eps: f64,
    #[serde(default = "default_rope_theta")]
    rope_theta: f64,
    #[serde(default = "default_max_position_embeddings")]
    max_position_embeddings: usize,
    #[serde(default)]
    tie_word_embeddings: bool,
    attention_bias: Option<bool>,
    #[serde(default)]
    head_dim: Option<usize>,
}

fn default_rms_norm_eps() -> f64 {
    1e-6
}

fn default_rope_theta() -> f64 {
    10_000.0
}

fn default_max_position_embeddings() -> usize {
    2048
}

/// The architectures whose checkpoints this decoder reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Qwen2,
}

impl Architecture {
    /// `model_type` in `config.json`, `general.architecture` in GGUF.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
        }
    }

    fn from_name(name: &str) -> anyhow::Result<Architecture> {
        match name {
            "llama" => Ok(Architecture::Llama),
            "qwen2" => Ok(Architecture::Qwen2),
            other => bail!("architecture `{other}` is not supported (llama and qwen2 are)"),
        }
    }

    /// `architectures` in `config.json`.
    pub fn hf_class(self) -> &'static str {
        match self {
            Architecture::Llama => "LlamaForCausalLM",
            Architecture::Qwen2 => "Qwen2ForCausalLM",
        }
    }
}

impl Config {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Qwen2 checkpoints are recognised by their q/k/v biases.
    pub fn architecture(&self) -> Architecture {
        if self.attention_bias {
            Architecture::Qwen2
        } else {
            Architecture::Llama
        }
    }

    /// Reads a Hugging Face `config.json`.
    pub fn from_hf_json(text: &str) -> anyhow::Result<Config> {
        let hf: HfConfig = serde_json::from_str(text).context("config.json")?;
        let architecture = Architecture::from_name(hf.model_type.as_deref().unwrap_or("llama"))?;
        if let Some(head_dim) = hf.head_dim {
            if head_dim * hf.num_attention_heads != hf.hidden_size {
                bail!("head_dim {head_dim} × {} heads ≠ hidden_size {}", hf.num_attention_heads, hf.hidden_size);
            }
        }
        Ok(Config {
            vocab_size: hf.vocab_size,
            hidden_size: hf.hidden_size,
            intermediate_size: hf.intermediate_size,
            num_hidden_layers: hf.num_hidden_layers,
            num_attention_heads: hf.num_attention_heads,
            num_key_value_heads: hf.num_key_value_heads.unwrap_or(hf.num_attention_heads),
            rms_norm_eps: hf.rms_norm_eps,
            rope_theta: hf.rope_theta,
            max_position_embeddings: hf.max_position_embeddings,
            tie_word_embeddings: hf.tie_word_embeddings,
            attention_bias: hf.attention_bias.unwrap_or(architecture == Architecture::Qwen2),
        })
    }

    /// Reads `{arch}.*` GGUF metadata. The vocabulary size and whether the
    /// head is tied come from the tensors (`token_embd`, `output`), since
    /// not every converter writes `{arch}.vocab_size`.
    pub fn from_gguf(content: &Content) -> anyhow::Result<Config> {
        let arch_name = match content.metadata.get("general.architecture") {
            Some(Value::String(name)) => name.clone(),
            _ => bail!("no general.architecture in the GGUF metadata"),
        };
        let architecture = Architecture::from_name(&arch_name)?;
        let integer = |key: &str| -> anyhow::Result<usize> {
            let key = format!("{arch_name}.{key}");
            let value = content.metadata.get(&key).with_context(|| format!("no {key} in the GGUF metadata"))?;
            gguf_integer(value).with_context(|| format!("{key} is not an integer"))
        };
        let float = |key: &str| -> Option<f64> {
            match content.metadata.get(&format!("{arch_name}.{key}"))? {
                // Through its decimal form, so 1e-5 stays 1e-5 rather than 9.9999997e-6.
                Value::F32(v) => v.to_string().parse().ok(),
                Value::F64(v) => Some(*v),
                _ => None,
            }
        };
        let embeddings = content.tensor_infos.get("token_embd.weight").context("no token_embd.weight in the GGUF file")?;
        let num_attention_heads = integer("attention.head_count")?;
        Ok(Config {
            vocab_size: embeddings.shape.dims()[0],
            hidden_size: integer("embedding_length")?,
            intermediate_size: integer("feed_forward_length")?,
            num_hidden_layers: integer("block_count")?,
            num_attention_heads,
            num_key_value_heads: integer("attention.head_count_kv").unwrap_or(num_attention_heads),
            rms_norm_eps: float("attention.layer_norm_rms_epsilon").unwrap_or_else(default_rms_norm_eps),
            rope_theta: float("rope.freq_base").unwrap_or_else(default_rope_theta),
            max_position_embeddings: integer("context_length").unwrap_or_else(|_| default_max_position_embeddings()),
            tie_word_embeddings: !content.tensor_infos.contains_key("output.weight"),
            attention_bias: architecture == Architecture::Qwen2,
        })
    }

    /// A Hugging Face `config.json` for this decoder, as `merge` writes it.
    pub fn to_hf_json(&self, torch_dtype: &str, bos_token_id: Option<u32>, eos_token_id: Option<u32>) -> serde_json::Value {
        let architecture = self.architecture();
        serde_json::json!({
            "architectures": [architecture.hf_class()],
            "model_type": architecture.name(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim(),
            "hidden_act": "silu",
            "rms_norm_eps": self.rms_norm_eps,
            "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_position_embeddings,
            "tie_word_embeddings": self.tie_word_embeddings,
            "attention_bias": self.attention_bias,
            "bos_token_id": bos_token_id,
            "eos_token_id": eos_token_id,
            "torch_dtype": torch_dtype,
            "use_cache": true,
        })
    }
}

fn gguf_integer(value: &Value) -> Option<usize> {
    match value {
        Value::U8(v) => Some(usize::from(*v)),
        Value::U16(v) => Some(usize::from(*v)),
        Value::U32(v) => Some(*v as usize),
        Value::U64(v) => usize::try_from(*v).ok(),
        Value::I32(v) => usize::try_from(*v).ok(),
        Value::I64(v) => usize::try_from(*v).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_qwen2_config_with_biases_and_tied_embeddings() {
        let text = r#"{"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896, "intermediate_size": 4864,
            "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0, "max_position_embeddings": 32768, "tie_word_embeddings": true}"#;
        let config = Config::from_hf_json(text).unwrap();
        assert!(config.attention_bias);
        assert!(config.tie_word_embeddings);
        assert_eq!(config.head_dim(), 64);
        assert_eq!(config.architecture(), Architecture::Qwen2);
        let round_trip = Config::from_hf_json(&config.to_hf_json("float32", None, Some(2)).to_string()).unwrap();
        assert_eq!(round_trip, config);
    }

    #[test]
    fn refuses_other_architectures() {
        let text = r#"{"model_type": "mistral", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
            "num_hidden_layers": 1, "num_attention_heads": 2}"#;
        assert!(Config::from_hf_json(text).unwrap_err().to_string().contains("mistral"));
    }
}
