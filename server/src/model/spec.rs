//! `--model SPEC`: which model to use.

use std::fmt;
use std::path::{Path, PathBuf};

/// What `--model` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// The embedded default, SmolLM2-135M-Instruct, from the user cache
    /// (`recode model fetch`).
    Default,
    /// A GGUF file.
    Gguf(PathBuf),
    /// A Hugging Face model directory: `config.json`, `*.safetensors` and
    /// `tokenizer.json` (e.g. what `recode-train merge` writes).
    Dir(PathBuf),
    /// An OpenAI-compatible endpoint: `base` is the API root that
    /// `/completions` and `/chat/completions` hang from (e.g.
    /// `http://127.0.0.1:8080/v1`), `model` the name sent in requests.
    Endpoint { base: String, model: Option<String> },
}

/// Why a spec cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("--model {0}: no such file or directory")]
    Missing(String),
    #[error("--model {0}: not a .gguf file (give a GGUF file, a model directory, `default` or an http(s):// endpoint URL)")]
    NotGguf(String),
    #[error(
        "--model {path}: a DoRA adapter (adapter_config.json has use_dora: true); mistralrs would drop the DoRA magnitude vector; merge it with `recode-train merge --base BASE --adapter {path} --out DIR` and serve the merged directory"
    )]
    DoraAdapter { path: String },
    #[error(
        "--model {path}: a LoRA adapter (adapter_config.json), not a model; mistralrs reads adapters only from a hub-cache layout: merge it with `recode-train merge --base BASE --adapter {path} --out DIR` and serve the merged directory"
    )]
    LoraAdapter { path: String },
    #[error("--model {path}: {message}")]
    BadAdapterConfig { path: String, message: String },
    #[error("--model {path}: not a model directory: {missing} (a model directory holds config.json, *.safetensors and tokenizer.json, or a single .gguf file)")]
    NotModelDir { path: String, missing: String },
    #[error("--model {path}: holds several .gguf files ({files}); name one of them")]
    SeveralGguf { path: String, files: String },
    #[error("--model {0}: not a valid endpoint URL (expected http(s)://HOST[:PORT][/PATH][#MODEL])")]
    BadUrl(String),
}

impl ModelSpec {
    /// Reads a spec: `default`, an `http(s)://…` URL (with an optional
    /// `#model-name`), a `.gguf` file, or a directory (a model directory, or
    /// one holding a single `.gguf` file). A PEFT adapter directory is
    /// refused: serve the directory `recode-train merge` writes instead.
    pub fn parse(text: &str) -> Result<ModelSpec, SpecError> {
        let text = text.trim();
        if text == "default" {
            return Ok(ModelSpec::Default);
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return parse_endpoint(text);
        }
        let path = Path::new(text);
        if path.is_file() {
            return if has_gguf_extension(path) {
                Ok(ModelSpec::Gguf(path.to_path_buf()))
            } else if path.file_name().is_some_and(|n| n == "adapter_config.json") {
                Err(refuse_adapter(path.parent().unwrap_or(Path::new(".")))?)
            } else {
                Err(SpecError::NotGguf(text.to_string()))
            };
        }
        if path.is_dir() {
            return parse_dir(path);
        }
        Err(SpecError::Missing(text.to_string()))
    }

    /// A key naming the same model for [`super::shared`].
    pub(crate) fn cache_key(&self) -> String {
        match self {
            ModelSpec::Gguf(p) | ModelSpec::Dir(p) => {
                let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                format!("path:{}", p.display())
            }
            other => other.to_string(),
        }
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Default => f.write_str("default"),
            ModelSpec::Gguf(p) | ModelSpec::Dir(p) => write!(f, "{}", p.display()),
            ModelSpec::Endpoint { base, model: Some(model) } => write!(f, "{base}#{model}"),
            ModelSpec::Endpoint { base, model: None } => f.write_str(base),
        }
    }
}

impl std::str::FromStr for ModelSpec {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelSpec::parse(s)
    }
}

fn has_gguf_extension(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

fn parse_endpoint(text: &str) -> Result<ModelSpec, SpecError> {
    let (url, model) = match text.split_once('#') {
        Some((url, model)) => (url, Some(model.trim()).filter(|m| !m.is_empty()).map(str::to_string)),
        None => (text, None),
    };
    let scheme_end = url.find("://").ok_or_else(|| SpecError::BadUrl(text.to_string()))? + 3;
    let rest = &url[scheme_end..];
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains(char::is_whitespace) || url.contains('?') {
        return Err(SpecError::BadUrl(text.to_string()));
    }
    let path = path.trim_end_matches('/');
    // A bare server address means its OpenAI-compatible root, `/v1`.
    let path = if path.is_empty() { "/v1" } else { path };
    Ok(ModelSpec::Endpoint { base: format!("{}{authority}{path}", &url[..scheme_end].to_ascii_lowercase()), model })
}

fn parse_dir(dir: &Path) -> Result<ModelSpec, SpecError> {
    if dir.join("adapter_config.json").is_file() {
        return Err(refuse_adapter(dir)?);
    }
    let names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|_| SpecError::Missing(dir.display().to_string()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .collect();
    let has = |name: &str| names.iter().any(|n| n == name);
    let safetensors = names.iter().any(|n| n.ends_with(".safetensors"));
    if has("config.json") && safetensors && has("tokenizer.json") {
        return Ok(ModelSpec::Dir(dir.to_path_buf()));
    }
    let mut ggufs: Vec<&String> = names.iter().filter(|n| has_gguf_extension(Path::new(n))).collect();
    ggufs.sort();
    match ggufs.len() {
        1 => return Ok(ModelSpec::Gguf(dir.join(ggufs[0]))),
        0 => {}
        _ => {
            return Err(SpecError::SeveralGguf {
                path: dir.display().to_string(),
                files: ggufs.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
            })
        }
    }
    let mut missing = Vec::new();
    if !has("config.json") {
        missing.push("no config.json");
    }
    if !safetensors {
        missing.push("no *.safetensors");
    }
    if !has("tokenizer.json") {
        missing.push("no tokenizer.json");
    }
    Err(SpecError::NotModelDir { path: dir.display().to_string(), missing: missing.join(", ") })
}

/// The error for a PEFT adapter directory: DoRA or plain LoRA.
fn refuse_adapter(dir: &Path) -> Result<SpecError, SpecError> {
    let path = dir.display().to_string();
    let config = dir.join("adapter_config.json");
    let text = std::fs::read_to_string(&config)
        .map_err(|e| SpecError::BadAdapterConfig { path: path.clone(), message: format!("cannot read adapter_config.json: {e}") })?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| SpecError::BadAdapterConfig { path: path.clone(), message: format!("adapter_config.json is not JSON: {e}") })?;
    if value.get("use_dora").and_then(|v| v.as_bool()) == Some(true) {
        Ok(SpecError::DoraAdapter { path })
    } else {
        Ok(SpecError::LoraAdapter { path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        dir
    }

    #[test]
    fn default_and_endpoints() {
        assert_eq!(ModelSpec::parse("default").unwrap(), ModelSpec::Default);
        assert_eq!(
            ModelSpec::parse("http://127.0.0.1:8080/v1#qwen2.5-coder").unwrap(),
            ModelSpec::Endpoint { base: "http://127.0.0.1:8080/v1".into(), model: Some("qwen2.5-coder".into()) }
        );
        assert_eq!(
            ModelSpec::parse("HTTPS://example.org/api/v1/").unwrap(),
            ModelSpec::Endpoint { base: "https://example.org/api/v1".into(), model: None }
        );
        assert_eq!(
            ModelSpec::parse("http://localhost:11434").unwrap(),
            ModelSpec::Endpoint { base: "http://localhost:11434/v1".into(), model: None },
            "a bare server address means its /v1 root"
        );
        assert!(matches!(ModelSpec::parse("http://"), Err(SpecError::BadUrl(_))));
        assert!(matches!(ModelSpec::parse("http://host/v1?x=1"), Err(SpecError::BadUrl(_))));
        let spec = ModelSpec::parse("http://h:1/v1#m").unwrap();
        assert_eq!(spec.to_string(), "http://h:1/v1#m");
    }

    #[test]
    fn gguf_files_and_directories() {
        let dir = dir_with(&[("model.Q4_1.GGUF", "x"), ("notes.txt", "y")]);
        let file = dir.path().join("model.Q4_1.GGUF");
        assert_eq!(ModelSpec::parse(file.to_str().unwrap()).unwrap(), ModelSpec::Gguf(file.clone()));
        assert_eq!(ModelSpec::parse(dir.path().to_str().unwrap()).unwrap(), ModelSpec::Gguf(file), "a directory with one GGUF");
        let txt = dir.path().join("notes.txt");
        assert!(matches!(ModelSpec::parse(txt.to_str().unwrap()), Err(SpecError::NotGguf(_))));
        let missing = dir.path().join("nope.gguf");
        let err = ModelSpec::parse(missing.to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("no such file"), "{err}");

        let two = dir_with(&[("a.gguf", ""), ("b.gguf", "")]);
        let err = ModelSpec::parse(two.path().to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("a.gguf, b.gguf"), "{err}");
    }

    #[test]
    fn model_directories_need_config_weights_and_tokenizer() {
        let dir = dir_with(&[("config.json", "{}"), ("model.safetensors", ""), ("tokenizer.json", "{}")]);
        assert_eq!(ModelSpec::parse(dir.path().to_str().unwrap()).unwrap(), ModelSpec::Dir(dir.path().to_path_buf()));
        let partial = dir_with(&[("config.json", "{}")]);
        let err = ModelSpec::parse(partial.path().to_str().unwrap()).unwrap_err().to_string();
        assert!(err.contains("no *.safetensors, no tokenizer.json"), "{err}");
    }

    #[test]
    fn dora_adapters_are_refused_with_the_reason() {
        let dir = dir_with(&[
            ("adapter_config.json", r#"{"peft_type": "LORA", "use_dora": true, "r": 64}"#),
            ("adapter_model.safetensors", ""),
        ]);
        let err = ModelSpec::parse(dir.path().to_str().unwrap()).unwrap_err();
        assert!(matches!(err, SpecError::DoraAdapter { .. }));
        let message = err.to_string();
        assert!(message.contains("mistralrs would drop the DoRA magnitude vector"), "{message}");
        assert!(message.contains("recode-train merge"), "{message}");
        assert!(message.contains("serve the merged directory"), "{message}");
        // Naming the config file itself is the same.
        let file = dir.path().join("adapter_config.json");
        assert!(matches!(ModelSpec::parse(file.to_str().unwrap()), Err(SpecError::DoraAdapter { .. })));
    }

    #[test]
    fn lora_adapters_are_refused_too() {
        let dir = dir_with(&[
            ("adapter_config.json", r#"{"peft_type": "LORA", "use_dora": false}"#),
            ("adapter_model.safetensors", ""),
            // Even next to a full model, the adapter wins: it is not what we serve.
            ("config.json", "{}"),
            ("tokenizer.json", "{}"),
        ]);
        let err = ModelSpec::parse(dir.path().to_str().unwrap()).unwrap_err();
        assert!(matches!(err, SpecError::LoraAdapter { .. }), "{err}");
        assert!(err.to_string().contains("serve the merged directory"));
        let broken = dir_with(&[("adapter_config.json", "{not json")]);
        let err = ModelSpec::parse(broken.path().to_str().unwrap()).unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
    }
}
