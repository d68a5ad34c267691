//! The server's settings: `initializationOptions` at start, then
//! `workspace/didChangeConfiguration`. Both take the same object, either as
//! is or under a `"recode"` key (as editors nest per-server settings):
//!
//! ```json
//! {
//!   "env": ".venv",                         // the environment to read (relative to each project root)
//!   "pins": { "numpy": "1.26.4" },          // strongest version source, as --pin
//!   "libraries": ["numpy", "pandas"],       // only these libraries' findings (default: all)
//!   "severity": { "removed": "error", "deprecated": "warning", "unknownVersion": "information" },
//!   "model": "default",                     // model spec: default | a .gguf path | a model dir | an http(s) URL
//!   "modelFixes": true,                     // offer "Migrate with local model"
//!   "samples": 3,                           // model samples tried per finding
//!   "debounceMs": 80                        // quiet time after an edit before diagnostics run
//! }
//! ```
//!
//! Project settings (`[tool.recode]` in `pyproject.toml`) still apply; these
//! settings win over them as `--env` and `--pin` do.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use pep440_rs::Version;
use serde::Deserialize;

use crate::analysis::Severity;
use crate::knowledge::catalog::normalize_name;
use crate::model::ModelSpec;

/// How a finding of each recode severity is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Level {
    Error,
    Warning,
    Information,
    Hint,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SeverityLevels {
    /// Removed (or changed) at the project's version.
    pub removed: Level,
    /// Deprecated at the project's version.
    pub deprecated: Level,
    /// The library's version is unknown, or the entry is advisory.
    pub unknown_version: Level,
}

impl Default for SeverityLevels {
    fn default() -> Self {
        SeverityLevels { removed: Level::Error, deprecated: Level::Warning, unknown_version: Level::Information }
    }
}

impl SeverityLevels {
    pub fn of(&self, severity: Severity) -> Level {
        match severity {
            Severity::Error => self.removed,
            Severity::Warning => self.deprecated,
            Severity::Info => self.unknown_version,
        }
    }
}

/// The settings as the client writes them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct RawSettings {
    env: Option<PathBuf>,
    pins: BTreeMap<String, String>,
    libraries: Option<Vec<String>>,
    severity: SeverityLevels,
    model: String,
    model_fixes: bool,
    samples: usize,
    debounce_ms: u64,
}

impl Default for RawSettings {
    fn default() -> Self {
        RawSettings {
            env: None,
            pins: BTreeMap::new(),
            libraries: None,
            severity: SeverityLevels::default(),
            model: "default".into(),
            model_fixes: true,
            samples: 3,
            debounce_ms: 80,
        }
    }
}

/// Checked settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub env: Option<PathBuf>,
    pub pins: Vec<(String, Version)>,
    pub libraries: LibraryFilter,
    pub severity: SeverityLevels,
    pub model: ModelSpec,
    pub model_fixes: bool,
    pub samples: usize,
    pub debounce: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_json(&serde_json::Value::Null).expect("the defaults are valid")
    }
}

impl Settings {
    /// Reads settings; `null` (or an absent object) gives the defaults. The
    /// error names the bad setting.
    pub fn from_json(value: &serde_json::Value) -> Result<Settings, String> {
        let value = match value.get("recode") {
            Some(nested) => nested,
            None => value,
        };
        let raw: RawSettings = if value.is_null() {
            RawSettings::default()
        } else {
            RawSettings::deserialize(value).map_err(|e| format!("recode settings: {e}"))?
        };
        let pins = raw
            .pins
            .iter()
            .map(|(library, version)| crate::env::parse_pin(&format!("{library}=={version}")).map_err(|e| format!("recode settings: pins: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let model = ModelSpec::parse(&raw.model).map_err(|e| format!("recode settings: model: {e}"))?;
        if raw.samples == 0 {
            return Err("recode settings: samples must be at least 1".into());
        }
        Ok(Settings {
            env: raw.env,
            pins,
            libraries: LibraryFilter(raw.libraries.map(|names| names.iter().map(|n| normalize_name(n)).collect())),
            severity: raw.severity,
            model,
            model_fixes: raw.model_fixes,
            samples: raw.samples,
            debounce: Duration::from_millis(raw.debounce_ms),
        })
    }
}

/// The libraries whose findings are shown and fixed (the `libraries`
/// setting).
#[derive(Debug, Clone, Default)]
pub struct LibraryFilter(
    /// PEP 503 names; `None`: every library.
    Option<Vec<String>>,
);

impl LibraryFilter {
    pub fn shows(&self, library: &str) -> bool {
        self.0.as_ref().is_none_or(|names| names.iter().any(|n| *n == normalize_name(library)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn defaults_and_every_key() {
        let defaults = Settings::from_json(&json!(null)).unwrap();
        assert_eq!(defaults.debounce, Duration::from_millis(80));
        assert!(defaults.model_fixes && defaults.libraries.shows("numpy") && defaults.pins.is_empty());
        assert_eq!(defaults.model, ModelSpec::Default);

        let settings = Settings::from_json(&json!({"recode": {
            "env": ".venv311", "pins": {"NumPy": "1.26.4"}, "libraries": ["Scikit_Learn"],
            "severity": {"deprecated": "hint"}, "model": "http://127.0.0.1:9/v1", "modelFixes": false,
            "samples": 1, "debounceMs": 0
        }}))
        .unwrap();
        assert_eq!(settings.env, Some(PathBuf::from(".venv311")));
        assert_eq!(settings.pins, [("numpy".to_string(), "1.26.4".parse().unwrap())]);
        assert!(settings.libraries.shows("scikit-learn") && !settings.libraries.shows("numpy"));
        assert_eq!(settings.severity.of(Severity::Warning), Level::Hint);
        assert_eq!(settings.severity.of(Severity::Error), Level::Error);
        assert!(matches!(settings.model, ModelSpec::Endpoint { .. }));
        assert!(!settings.model_fixes);
        assert_eq!(settings.debounce, Duration::ZERO);
    }

    #[test]
    fn a_bad_setting_is_named() {
        let error = Settings::from_json(&json!({"pins": {"numpy": "two"}})).unwrap_err();
        assert!(error.contains("pins") && error.contains("numpy"), "{error}");
        let error = Settings::from_json(&json!({"debounce": 5})).unwrap_err();
        assert!(error.contains("unknown field `debounce`"), "{error}");
        let error = Settings::from_json(&json!({"severity": {"removed": "fatal"}})).unwrap_err();
        assert!(error.contains("fatal"), "{error}");
    }
}
