//! Installed distributions: `*.dist-info` (and legacy `*.egg-info`)
//! directories of a site-packages, and the import packages each provides.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::knowledge::catalog::normalize_name;

use super::text::is_identifier;

/// One installed distribution.
#[derive(Debug, Clone)]
pub(crate) struct Distribution {
    /// PEP 503 normalised name.
    pub name: String,
    /// The version as written in its metadata.
    pub version: String,
    /// Top-level import names (packages or single-file modules).
    pub top_levels: Vec<String>,
    /// Paths of its `RECORD`, relative to site-packages (empty if none).
    pub record: BTreeSet<String>,
}

/// The metadata directories of a site-packages, sorted by name.
pub(crate) fn metadata_dirs(site_packages: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(site_packages)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".dist-info") || n.ends_with(".egg-info"))
                && p.is_dir()
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// Reads one metadata directory; `None` when it names no distribution.
pub(crate) fn read_distribution(dir: &Path) -> Option<Distribution> {
    let dir_name = dir.file_name()?.to_str()?;
    let stem = dir_name.strip_suffix(".dist-info").or_else(|| dir_name.strip_suffix(".egg-info"))?;
    let metadata = std::fs::read(dir.join("METADATA"))
        .or_else(|_| std::fs::read(dir.join("PKG-INFO")))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let (mut name, mut version) = (None, None);
    for line in metadata.lines() {
        if line.trim().is_empty() {
            break; // the headers end at the first blank line
        }
        if let Some(v) = line.strip_prefix("Name:") {
            name.get_or_insert_with(|| v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("Version:") {
            version.get_or_insert_with(|| v.trim().to_string());
        }
    }
    // Fall back on the directory name `name-version.dist-info`.
    let (dir_dist, dir_version) = match stem.split_once('-') {
        Some((n, v)) => (n.to_string(), Some(v.split('-').next().unwrap_or(v).to_string())),
        None => (stem.to_string(), None),
    };
    let name = name.filter(|n| !n.is_empty()).unwrap_or(dir_dist);
    let version = version.filter(|v| !v.is_empty()).or(dir_version)?;

    let record: BTreeSet<String> = std::fs::read_to_string(dir.join("RECORD"))
        .or_else(|_| std::fs::read_to_string(dir.join("installed-files.txt")))
        .unwrap_or_default()
        .lines()
        .filter_map(record_path)
        .collect();

    let mut top_levels: Vec<String> = std::fs::read_to_string(dir.join("top_level.txt"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().replace('/', "."))
        .filter(|l| !l.is_empty() && l.split('.').all(is_identifier))
        .collect();
    if top_levels.is_empty() {
        let mut from_record = BTreeSet::new();
        for path in &record {
            let mut parts = path.split('/');
            let Some(first) = parts.next() else { continue };
            let module = if parts.next().is_some() {
                first
            } else if let Some(m) = first.strip_suffix(".py") {
                m
            } else {
                continue;
            };
            if is_identifier(module) && module != "__pycache__" {
                from_record.insert(module.to_string());
            }
        }
        top_levels = from_record.into_iter().collect();
    }
    if top_levels.is_empty() {
        top_levels.push(normalize_name(&name).replace('-', "_"));
    }
    top_levels.sort();
    top_levels.dedup();
    Some(Distribution { name: normalize_name(&name), version, top_levels, record })
}

/// The path column of a `RECORD` row (CSV, possibly quoted), normalised to
/// forward slashes; rows outside site-packages (`../../bin/x`) are dropped.
fn record_path(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let path = if let Some(rest) = line.strip_prefix('"') {
        rest.split_once('"').map(|(p, _)| p.replace("\"\"", "\""))?
    } else {
        line.split(',').next()?.to_string()
    };
    let path = path.replace('\\', "/");
    let path = path.trim_start_matches("./").to_string();
    if path.starts_with("..") || path.starts_with('/') {
        return None;
    }
    Some(path)
}
