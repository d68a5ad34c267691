//! `[tool.recode]` in the project's root `pyproject.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;
use pep508_rs::PackageName;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::text::{line_at, one_line, parse_version};
use super::{normalize_name, Problem};

/// Project settings from `[tool.recode]` in the root `pyproject.toml`.
///
/// ```toml
/// [tool.recode]
/// env = ".venv311"              # the environment to read (relative to the root)
/// exclude = ["build/**"]        # gitignore-style globs to skip when scanning
/// catalog = ["recode-catalog"]  # extra catalog directories (relative to the root)
///
/// [tool.recode.pins]
/// numpy = "1.26.4"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectSettings {
    /// The environment to read, already joined to the project root.
    pub env: Option<PathBuf>,
    /// Per-library overrides, keyed by normalised name.
    pub pins: BTreeMap<String, Version>,
    /// Gitignore-style globs to skip when scanning.
    pub exclude: Vec<String>,
    /// Extra catalog directories, already joined to the project root.
    pub catalog: Vec<PathBuf>,
}

/// Reads `[tool.recode]` from a parsed `pyproject.toml`; bad values become
/// problems and are left out.
pub(crate) fn read(
    root: &Path,
    file: &Path,
    text: &str,
    doc: &DeTable<'_>,
    problems: &mut Vec<Problem>,
) -> ProjectSettings {
    let mut settings = ProjectSettings::default();
    let Some(tool) = doc.get("tool") else { return settings };
    let Some(recode) = tool.get_ref().as_table().and_then(|t| t.get("recode")) else {
        return settings;
    };
    let mut problem = |value: &Spanned<DeValue<'_>>, message: String| {
        problems.push(Problem::new(file, Some(line_at(text, value.span().start)), message));
    };
    let Some(recode_table) = recode.get_ref().as_table() else {
        problem(recode, "[tool.recode] must be a table".into());
        return settings;
    };
    for (key, value) in recode_table {
        match key.get_ref().as_ref() {
            "env" => match value.get_ref().as_str() {
                Some(path) => settings.env = Some(root.join(path)),
                None => problem(value, "[tool.recode] `env` must be a string (a path)".into()),
            },
            "exclude" => match strings(value) {
                Some(globs) => settings.exclude = globs,
                None => problem(value, "[tool.recode] `exclude` must be a list of glob strings".into()),
            },
            "catalog" => match strings(value) {
                Some(dirs) => settings.catalog = dirs.iter().map(|d| root.join(d)).collect(),
                None => problem(value, "[tool.recode] `catalog` must be a list of directories".into()),
            },
            "pins" => match value.get_ref().as_table() {
                Some(pins) => {
                    for (library, pin) in pins {
                        let library = library.get_ref();
                        if let Err(e) = PackageName::from_str(library) {
                            problem(pin, format!("[tool.recode.pins] `{library}`: {}", one_line(e)));
                            continue;
                        }
                        let Some(text) = pin.get_ref().as_str() else {
                            problem(pin, format!("[tool.recode.pins] `{library}` must be a version string"));
                            continue;
                        };
                        let bare = text.trim().strip_prefix("==").unwrap_or(text);
                        match parse_version(bare) {
                            Ok(version) => {
                                settings.pins.insert(normalize_name(library), version);
                            }
                            Err(e) => problem(pin, format!("[tool.recode.pins] `{library}`: {e}")),
                        }
                    }
                }
                None => problem(value, "[tool.recode.pins] must be a table of `library = \"version\"`".into()),
            },
            other => problem(value, format!("unknown setting `{other}` in [tool.recode] (ignored)")),
        }
    }
    settings
}

/// A list of strings, or one string as a list of one.
fn strings(value: &Spanned<DeValue<'_>>) -> Option<Vec<String>> {
    match value.get_ref() {
        DeValue::String(s) => Some(vec![s.to_string()]),
        DeValue::Array(items) => items.iter().map(|i| i.get_ref().as_str().map(str::to_string)).collect(),
        _ => None,
    }
}
