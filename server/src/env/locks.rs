//! Lock files: `uv.lock`, `poetry.lock`, `pylock.toml` (PEP 751),
//! `Pipfile.lock`, `pdm.lock`, read in that order; the first lock file that
//! names a package wins.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use pep440_rs::{Operator, VersionSpecifier};

use super::text::{line_at, one_line, parse_toml, parse_version, read_text};
use super::{normalize_name, Problem, ResolvedVersion, VersionSource};

/// The lock files recode reads, in order of preference.
pub(crate) const LOCK_FILES: [&str; 5] = ["uv.lock", "poetry.lock", "pylock.toml", "Pipfile.lock", "pdm.lock"];

/// Every locked version under `root`, first lock file first.
pub(crate) fn read(root: &Path, problems: &mut Vec<Problem>) -> Vec<(String, ResolvedVersion)> {
    let mut out = Vec::new();
    for name in LOCK_FILES {
        let path = root.join(name);
        if !path.is_file() {
            continue;
        }
        let Some(text) = read_text(&path, problems) else { continue };
        let mut versions = match name {
            "Pipfile.lock" => pipfile(&path, &text, problems),
            "pylock.toml" => toml_packages(&path, &text, "packages", problems),
            _ => toml_packages(&path, &text, "package", problems),
        };
        tracing::debug!(file = %path.display(), packages = versions.len(), "read lock file");
        out.append(&mut versions);
    }
    out
}

/// `[[package]]` / `[[packages]]` tables with `name` and `version` (uv, Poetry,
/// PDM, PEP 751). Entries without a version (a dynamic workspace member) are
/// skipped; within one file the first entry for a name wins.
fn toml_packages(path: &Path, text: &str, key: &str, problems: &mut Vec<Problem>) -> Vec<(String, ResolvedVersion)> {
    let Some(doc) = parse_toml(path, text, problems) else { return Vec::new() };
    let Some(packages) = doc.get(key) else { return Vec::new() };
    let Some(packages) = packages.get_ref().as_array() else {
        let line = line_at(text, packages.span().start);
        problems.push(Problem::new(path, Some(line), format!("`{key}` must be an array of tables ([[{key}]])")));
        return Vec::new();
    };
    let mut seen = BTreeMap::new();
    for package in packages.iter() {
        let line = line_at(text, package.span().start);
        let Some(table) = package.get_ref().as_table() else {
            problems.push(Problem::new(path, Some(line), format!("a `{key}` entry must be a table")));
            continue;
        };
        let Some(name) = table.get("name").and_then(|n| n.get_ref().as_str()) else {
            problems.push(Problem::new(path, Some(line), format!("a [[{key}]] entry has no `name`")));
            continue;
        };
        let Some(version) = table.get("version") else { continue };
        let line = line_at(text, version.span().start);
        let Some(version_text) = version.get_ref().as_str() else {
            problems.push(Problem::new(path, Some(line), format!("the version of {name} must be a string")));
            continue;
        };
        match parse_version(version_text) {
            Ok(version) => {
                seen.entry(normalize_name(name))
                    .or_insert(ResolvedVersion { version, source: VersionSource::Locked { file: path.to_path_buf() } });
            }
            Err(e) => problems.push(Problem::new(path, Some(line), format!("{name}: {e}"))),
        }
    }
    seen.into_iter().collect()
}

/// `Pipfile.lock`: JSON with `default` and `develop` maps of
/// `name: {"version": "==1.2.3", ...}`; `default` wins over `develop`.
fn pipfile(path: &Path, text: &str, problems: &mut Vec<Problem>) -> Vec<(String, ResolvedVersion)> {
    let doc: serde_json::Value = match serde_json::from_str(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = (e.line() > 0).then_some(e.line());
            problems.push(Problem::new(path, line, format!("invalid JSON: {}", one_line(e))));
            return Vec::new();
        }
    };
    let mut seen = BTreeMap::new();
    for section in ["default", "develop"] {
        let Some(packages) = doc.get(section).and_then(|s| s.as_object()) else { continue };
        for (name, entry) in packages {
            // JSON positions are not kept; the line of the entry's key is close enough.
            let line = text.find(&format!("\"{name}\"")).map(|offset| line_at(text, offset));
            let Some(version) = entry.get("version") else { continue }; // git / path / editable
            let Some(spec) = version.as_str() else {
                problems.push(Problem::new(path, line, format!("the version of {name} must be a string")));
                continue;
            };
            let parsed = VersionSpecifier::from_str(spec)
                .map_err(|e| format!("{name}: `{spec}` is not a version pin: {}", one_line(e)))
                .and_then(|s| match s.operator() {
                    Operator::Equal | Operator::ExactEqual => Ok(s.version().clone()),
                    _ => Err(format!("{name}: `{spec}` is not an exact `==` pin")),
                });
            match parsed {
                Ok(version) => {
                    seen.entry(normalize_name(name)).or_insert(ResolvedVersion {
                        version,
                        source: VersionSource::Locked { file: path.to_path_buf() },
                    });
                }
                Err(e) => problems.push(Problem::new(path, line, e)),
            }
        }
    }
    seen.into_iter().collect()
}
