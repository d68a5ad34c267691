//! GGUF metadata, and a `tokenizers` tokenizer built from it.
//!
//! A GGUF file carries its tokenizer as `tokenizer.ggml.*` metadata. For the
//! GPT-2-style byte-level BPE models (`tokenizer.ggml.model = "gpt2"`:
//! SmolLM2, Qwen2, Llama 3, …) this rebuilds the Hugging Face tokenizer: the
//! vocabulary and merges, every non-normal token (control, user-defined) as
//! a special token, and the pre-tokenizer the `tokenizer.ggml.pre` name
//! stands for (SmolLM2's `smollm` splits digits one by one before byte-level
//! BPE). mistralrs 0.8.1 has such a conversion but keeps it private; this one
//! uses the same `tokenizers` version (0.21) and candle's GGUF reader.
//!
//! Feature `gguf` (part of `embedded`).

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

use super::ModelError;

/// The pre-tokenizer regex of Qwen2 and Llama 3 style models.
const QWEN2_PATTERN: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// What recode needs from a GGUF file's metadata.
pub struct GgufMetadata {
    metadata: HashMap<String, Value>,
}

/// A tokenizer and the ids of its special tokens.
pub struct GgufTokenizer {
    pub tokenizer: Tokenizer,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
}

fn load_error(path: &Path, message: impl std::fmt::Display) -> ModelError {
    ModelError::Load { model: path.display().to_string(), message: message.to_string() }
}

impl GgufMetadata {
    /// Reads the metadata (not the tensors) of a GGUF file.
    pub fn read(path: &Path) -> Result<GgufMetadata, ModelError> {
        let file = File::open(path).map_err(|e| load_error(path, e))?;
        let content = Content::read(&mut BufReader::new(file)).map_err(|e| load_error(path, format!("not a GGUF file: {e}")))?;
        Ok(GgufMetadata { metadata: content.metadata })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    pub fn string(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| v.to_string().ok()).map(String::as_str)
    }

    fn integer(&self, key: &str) -> Option<u64> {
        let value = self.get(key)?;
        value
            .to_u64()
            .ok()
            .or_else(|| value.to_u32().ok().map(u64::from))
            .or_else(|| value.to_i32().ok().and_then(|v| u64::try_from(v).ok()))
            .or_else(|| value.to_i64().ok().and_then(|v| u64::try_from(v).ok()))
    }

    /// `general.architecture` (`llama`, `qwen2`, …).
    pub fn architecture(&self) -> Option<&str> {
        self.string("general.architecture")
    }

    /// `{architecture}.context_length`.
    pub fn context_length(&self) -> Option<usize> {
        let arch = self.architecture()?;
        self.integer(&format!("{arch}.context_length")).map(|n| n as usize)
    }

    /// Builds the tokenizer from `tokenizer.ggml.*`.
    pub fn tokenizer(&self) -> Result<GgufTokenizer, String> {
        let model = self.string("tokenizer.ggml.model").ok_or("no tokenizer.ggml.model in the GGUF metadata")?;
        if model != "gpt2" {
            return Err(format!("tokenizer.ggml.model `{model}` is not supported (only GPT-2-style BPE, `gpt2`)"));
        }
        let strings = |key: &str| -> Result<Vec<String>, String> {
            let values = self.get(key).ok_or(format!("no {key} in the GGUF metadata"))?.to_vec().map_err(|e| format!("{key}: {e}"))?;
            values.iter().map(|v| v.to_string().cloned().map_err(|e| format!("{key}: {e}"))).collect()
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?;
        let token_types: Vec<i32> = match self.get("tokenizer.ggml.token_type") {
            Some(v) => v
                .to_vec()
                .map_err(|e| e.to_string())?
                .iter()
                .map(|t| t.to_i32().map_err(|e| format!("tokenizer.ggml.token_type: {e}")))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let id = |key: &str| self.integer(key).map(|n| n as u32).filter(|&n| (n as usize) < tokens.len());
        let (bos_id, eos_id) = (id("tokenizer.ggml.bos_token_id"), id("tokenizer.ggml.eos_token_id"));

        let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let merges = merges
            .iter()
            .map(|m| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).ok_or(format!("merge `{m}` is not `A B`")))
            .collect::<Result<Vec<_>, _>>()?;
        let bpe = BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| e.to_string())?;
        let mut tokenizer = Tokenizer::new(bpe);

        let pre = self.string("tokenizer.ggml.pre").unwrap_or("default");
        let pre_tokenizer: PreTokenizerWrapper = match pre {
            // SmolLM2 / StarCoder: digits one by one, then GPT-2's byte-level split.
            "smollm" | "starcoder" | "refact" => Sequence::new(vec![
                Digits::new(true).into(),
                ByteLevel::new(false, true, true).into(),
            ])
            .into(),
            "gpt-2" | "gpt2" => ByteLevel::new(false, true, true).into(),
            // Qwen2, Llama 3 and the like.
            _ => Sequence::new(vec![
                Split::new(SplitPattern::Regex(QWEN2_PATTERN.into()), SplitDelimiterBehavior::Isolated, false)
                    .map_err(|e| e.to_string())?
                    .into(),
                ByteLevel::new(false, false, false).into(),
            ])
            .into(),
        };
        tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
        tokenizer.with_decoder(Some(ByteLevel::new(false, false, false)));
        tokenizer.with_post_processor(Some(ByteLevel::new(false, false, false)));

        // Control and user-defined tokens (type other than 1, "normal") match
        // as whole tokens, never through BPE.
        let mut specials: Vec<AddedToken> = Vec::new();
        if token_types.len() == tokens.len() {
            for (token, kind) in tokens.iter().zip(&token_types) {
                if *kind != 1 && *kind != 6 {
                    specials.push(AddedToken::from(token.clone(), true));
                }
            }
        }
        for id in [bos_id, eos_id].into_iter().flatten() {
            let token = &tokens[id as usize];
            if !specials.iter().any(|s| &s.content == token) {
                specials.push(AddedToken::from(token.clone(), true));
            }
        }
        tokenizer.add_special_tokens(&specials);
        Ok(GgufTokenizer { tokenizer, bos_id, eos_id })
    }
}

/// The tokenizer of a GGUF file.
pub fn tokenizer_from_gguf(path: &Path) -> Result<GgufTokenizer, ModelError> {
    GgufMetadata::read(path)?.tokenizer().map_err(|e| load_error(path, e))
}

/// The context length a Hugging Face `config.json` says
/// (`max_position_embeddings`, or `n_positions` / `max_sequence_length`).
pub fn context_length_from_config(config: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(config).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let value = value.get("text_config").filter(|v| v.is_object()).unwrap_or(&value);
    ["max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"]
        .iter()
        .find_map(|k| value.get(*k).and_then(|v| v.as_u64()))
        .map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::gguf_file;

    /// Writes a GGUF file with only metadata: a tiny byte-level BPE over
    /// a handful of tokens.
    fn tiny_gguf(dir: &Path, pre: &str) -> std::path::PathBuf {
        let tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a", "b", "ab", "Ġ", "Ġab", "1", "2", "\n", "Ċ"];
        let types = [3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        let merges = ["a b", "Ġ ab"];
        let metadata: Vec<(&str, Value)> = vec![
            ("general.architecture", Value::String("llama".into())),
            ("llama.context_length", Value::U32(2048)),
            ("tokenizer.ggml.model", Value::String("gpt2".into())),
            ("tokenizer.ggml.pre", Value::String(pre.into())),
            ("tokenizer.ggml.tokens", Value::Array(tokens.iter().map(|t| Value::String(t.to_string())).collect())),
            ("tokenizer.ggml.token_type", Value::Array(types.iter().map(|t| Value::I32(*t)).collect())),
            ("tokenizer.ggml.merges", Value::Array(merges.iter().map(|t| Value::String(t.to_string())).collect())),
            ("tokenizer.ggml.bos_token_id", Value::U32(1)),
            ("tokenizer.ggml.eos_token_id", Value::U32(2)),
        ];
        let path = dir.join("tiny.gguf");
        let mut file = File::create(&path).unwrap();
        let refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
        gguf_file::write(&mut file, &refs, &[]).unwrap();
        path
    }

    #[test]
    fn metadata_and_tokenizer_of_a_tiny_gguf() {
        let dir = tempfile::tempdir().unwrap();
        let path = tiny_gguf(dir.path(), "smollm");
        let metadata = GgufMetadata::read(&path).unwrap();
        assert_eq!(metadata.architecture(), Some("llama"));
        assert_eq!(metadata.context_length(), Some(2048));
        let GgufTokenizer { tokenizer, bos_id, eos_id } = metadata.tokenizer().unwrap();
        assert_eq!((bos_id, eos_id), (Some(1), Some(2)));
        let encoding = tokenizer.encode("<|im_start|>ab ab12<|im_end|>", false).unwrap();
        assert_eq!(encoding.get_tokens(), ["<|im_start|>", "ab", "Ġab", "1", "2", "<|im_end|>"]);
        let ids = encoding.get_ids().to_vec();
        assert_eq!(tokenizer.decode(&ids, false).unwrap(), "<|im_start|>ab ab12<|im_end|>");
        assert_eq!(tokenizer.decode(&ids, true).unwrap(), "ab ab12");
    }

    #[test]
    fn unsupported_tokenizers_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llama.gguf");
        let metadata = [("tokenizer.ggml.model", Value::String("llama".into()))];
        let refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
        gguf_file::write(&mut File::create(&path).unwrap(), &refs, &[]).unwrap();
        let err = GgufMetadata::read(&path).unwrap().tokenizer().err().unwrap();
        assert!(err.contains("`llama` is not supported"), "{err}");
        let not_gguf = dir.path().join("x.gguf");
        std::fs::write(&not_gguf, b"nope").unwrap();
        let err = GgufMetadata::read(&not_gguf).err().unwrap();
        assert!(err.to_string().contains("not a GGUF file"), "{err}");
    }

    /// The real SmolLM2 GGUF (fetched by `recode model fetch`; CI fetches it
    /// before the tests).
    fn smollm2() -> std::path::PathBuf {
        crate::model::fetch::default_model_path()
            .unwrap_or_else(|e| panic!("{e} (this test reads the real SmolLM2 tokenizer)"))
    }

    #[test]
    fn smollm2_tokenizer_round_trips_python_and_chatml() {
        let metadata = GgufMetadata::read(&smollm2()).unwrap();
        assert_eq!(metadata.architecture(), Some("llama"));
        assert_eq!(metadata.context_length(), Some(8192));
        let GgufTokenizer { tokenizer, bos_id, eos_id } = metadata.tokenizer().unwrap();
        assert_eq!(tokenizer.get_vocab_size(true), 49152);
        assert_eq!((bos_id, eos_id), (Some(1), Some(2)));

        let snippet = "import numpy as np\n\n\ndef area(r: float) -> np.float64:\n    \"\"\"Ünïcödé docstring\"\"\"\n    return np.float_(3.14159 * r ** 2)  # 2024\n\tpass\n";
        let encoding = tokenizer.encode(snippet, false).unwrap();
        assert_eq!(tokenizer.decode(encoding.get_ids(), false).unwrap(), snippet);
        // Digits are split one by one.
        let tokens = encoding.get_tokens();
        let digits: Vec<&String> = tokens.iter().filter(|t| t.chars().any(|c| c.is_ascii_digit())).collect();
        assert!(digits.iter().all(|t| t.chars().filter(|c| c.is_ascii_digit()).count() == 1), "{digits:?}");
        // Common words are single tokens, with GPT-2's space marker.
        assert!(tokens.contains(&"import".to_string()) && tokens.contains(&"Ġnumpy".to_string()), "{tokens:?}");

        let chatml = "<|im_start|>system\nYou write Python.<|im_end|>\n<|im_start|>user\nfix np.float_<|im_end|>\n<|im_start|>assistant\nLet me solve this step by step.\n<think>";
        let encoding = tokenizer.encode(chatml, false).unwrap();
        let ids = encoding.get_ids();
        assert_eq!(ids[0], 1, "<|im_start|> is one special token");
        assert_eq!(ids.iter().filter(|&&i| i == 1).count(), 3);
        assert_eq!(ids.iter().filter(|&&i| i == 2).count(), 2, "<|im_end|> twice");
        assert_eq!(tokenizer.decode(ids, false).unwrap(), chatml);
        assert!(!tokenizer.decode(ids, true).unwrap().contains("<|im_start|>"));
    }

    #[test]
    fn context_length_from_hf_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(&config, r#"{"model_type": "llama", "max_position_embeddings": 8192}"#).unwrap();
        assert_eq!(context_length_from_config(&config), Some(8192));
        std::fs::write(&config, r#"{"model_type": "x"}"#).unwrap();
        assert_eq!(context_length_from_config(&config), None);
    }
}
