//! The installed environment: which one, its site-packages, and the versions
//! its `*.dist-info` / `*.egg-info` metadata records.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;

use super::text::{one_line, parse_version};
use super::{normalize_name, Problem, ProjectSettings, ResolveOptions, ResolvedVersion, VersionSource};

/// The site-packages directory of an environment.
///
/// `dir` may be a virtual environment or conda prefix (`lib/python3.*/site-packages`,
/// `lib64/python3.*/site-packages`, `Lib/site-packages` on Windows; the highest
/// Python wins when there are several) or a site-packages directory itself
/// (named `site-packages`, or holding `*.dist-info` / `*.egg-info` entries).
/// Debian's `dist-packages` is deliberately not read.
pub fn find_site_packages(dir: &Path) -> Option<PathBuf> {
    if !dir.is_dir() {
        return None;
    }
    if dir.file_name().is_some_and(|n| n == "site-packages") || holds_metadata(dir) {
        return Some(dir.to_path_buf());
    }
    for lib in ["lib", "lib64"] {
        let Ok(entries) = fs::read_dir(dir.join(lib)) else { continue };
        let mut pythons: Vec<(Option<Version>, PathBuf)> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let number = name.strip_prefix("python").or_else(|| name.strip_prefix("pypy"))?;
                let site = entry.path().join("site-packages");
                site.is_dir().then(|| (Version::from_str(number).ok(), site))
            })
            .collect();
        // Highest Python first; unparseable names last, by path for stability.
        pythons.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        if let Some((_, site)) = pythons.into_iter().next() {
            return Some(site);
        }
    }
    let windows = dir.join("Lib").join("site-packages");
    windows.is_dir().then_some(windows)
}

fn holds_metadata(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".dist-info") || name.ends_with(".egg-info")
        })
    })
}

/// Chooses the environment: an explicit one (`--env`, then `[tool.recode] env`)
/// or the first of `$VIRTUAL_ENV`, `<root>/.venv`, `<root>/venv`, `$CONDA_PREFIX`
/// that has a site-packages directory.
pub(crate) fn locate(
    root: &Path,
    options: &ResolveOptions,
    settings: &ProjectSettings,
    problems: &mut Vec<Problem>,
) -> Option<PathBuf> {
    let explicit =
        options.env.as_ref().map(|p| (p, "--env")).or_else(|| settings.env.as_ref().map(|p| (p, "[tool.recode] env")));
    if let Some((dir, what)) = explicit {
        // An explicit choice is never silently replaced by a guess.
        if !dir.exists() {
            problems.push(Problem::new(dir, None, format!("{what}: no such directory")));
            return None;
        }
        let found = find_site_packages(dir);
        if found.is_none() {
            problems.push(Problem::new(dir, None, format!("{what}: {}", NO_SITE_PACKAGES)));
        }
        return found;
    }
    let candidates = [
        (options.process.virtual_env.clone(), "$VIRTUAL_ENV", true),
        (Some(root.join(".venv")), ".venv", false),
        (Some(root.join("venv")), "venv", false),
        (options.process.conda_prefix.clone(), "$CONDA_PREFIX", true),
    ];
    for (dir, what, from_variable) in candidates {
        let Some(dir) = dir else { continue };
        if !dir.exists() {
            if from_variable {
                problems.push(Problem::new(
                    &dir,
                    None,
                    format!("{what} names a directory that does not exist (ignored)"),
                ));
            }
            continue;
        }
        match find_site_packages(&dir) {
            Some(site) => {
                tracing::debug!(environment = %site.display(), source = what, "found the installed environment");
                return Some(site);
            }
            None => problems.push(Problem::new(&dir, None, format!("{what}: {} (ignored)", NO_SITE_PACKAGES))),
        }
    }
    None
}

const NO_SITE_PACKAGES: &str =
    "no site-packages found (looked for lib/python3.*/site-packages, lib64/python3.*/site-packages, Lib/site-packages)";

/// Reads every distribution's name and version from a site-packages
/// directory. When two metadata directories claim one project, the higher
/// version is kept and the clash is a problem.
pub(crate) fn read(site: &Path, problems: &mut Vec<Problem>) -> Vec<(String, ResolvedVersion)> {
    let mut entries: Vec<(String, PathBuf)> = match fs::read_dir(site) {
        Ok(entries) => entries.flatten().filter_map(|e| Some((e.file_name().into_string().ok()?, e.path()))).collect(),
        Err(e) => {
            problems.push(Problem::new(site, None, format!("cannot list the directory: {e}")));
            return Vec::new();
        }
    };
    entries.sort();
    let mut found: BTreeMap<String, (String, ResolvedVersion)> = BTreeMap::new();
    for (file_name, path) in entries {
        let (stem, metadata_file) = if let Some(stem) = file_name.strip_suffix(".dist-info") {
            if !path.is_dir() {
                continue;
            }
            (stem, path.join("METADATA"))
        } else if let Some(stem) = file_name.strip_suffix(".egg-info") {
            // A directory with PKG-INFO, or a single PKG-INFO-format file.
            let file = if path.is_dir() { path.join("PKG-INFO") } else { path.clone() };
            (stem, file)
        } else {
            continue;
        };
        let Some((name, version)) = read_one(stem, &path, &metadata_file, problems) else { continue };
        let key = normalize_name(&name);
        let resolved = ResolvedVersion { version, source: VersionSource::Installed { metadata: path.clone() } };
        match found.get(&key) {
            None => {
                found.insert(key, (name, resolved));
            }
            Some((_, existing)) => {
                let (kept, dropped) = if resolved.version > existing.version {
                    (resolved.clone(), existing.clone())
                } else {
                    (existing.clone(), resolved.clone())
                };
                problems.push(Problem::new(
                    metadata_dir(&dropped),
                    None,
                    format!(
                        "{key} {} is also installed as {} by {}; using the higher version {}",
                        dropped.version,
                        kept.version,
                        metadata_dir(&kept).display(),
                        kept.version
                    ),
                ));
                found.insert(key, (name, kept));
            }
        }
    }
    found.into_values().collect()
}

fn metadata_dir(resolved: &ResolvedVersion) -> PathBuf {
    match &resolved.source {
        VersionSource::Installed { metadata } => metadata.clone(),
        _ => PathBuf::new(),
    }
}

/// Name and version from a metadata file's headers, falling back to the
/// `name-version[-pyX.Y]` directory name for whatever the headers lack.
fn read_one(stem: &str, entry: &Path, metadata_file: &Path, problems: &mut Vec<Problem>) -> Option<(String, Version)> {
    let headers = fs::read(metadata_file).ok().map(|bytes| headers(&String::from_utf8_lossy(&bytes)));
    let (header_name, header_version) = headers.unwrap_or_default();
    let mut parts = stem.splitn(3, '-');
    let stem_name = parts.next().filter(|n| !n.is_empty());
    let stem_version = parts.next().filter(|v| !v.is_empty());

    let name = header_name.map(|(n, _)| n).or_else(|| stem_name.map(str::to_string));
    let Some(name) = name else {
        problems.push(Problem::new(entry, None, "no project name in the metadata or the directory name"));
        return None;
    };
    let (version_text, line) = match (header_version, stem_version) {
        (Some((v, line)), _) => (v, Some(line)),
        (None, Some(v)) => (v.to_string(), None),
        (None, None) => {
            problems.push(Problem::new(
                entry,
                None,
                format!("no version for {name} in the metadata or the directory name"),
            ));
            return None;
        }
    };
    match parse_version(&version_text) {
        Ok(version) => Some((name, version)),
        Err(e) => {
            let file = if line.is_some() { metadata_file } else { entry };
            problems.push(Problem::new(file, line, one_line(e)));
            None
        }
    }
}

type Header = Option<(String, usize)>;

/// The `Name:` and `Version:` headers (with their 1-based lines) of a
/// `METADATA` / `PKG-INFO` file: RFC 822 style, up to the first blank line.
fn headers(text: &str) -> (Header, Header) {
    let (mut name, mut version) = (None, None);
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue; // a folded continuation of the previous header
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim().to_string();
        if key.trim().eq_ignore_ascii_case("name") && name.is_none() {
            name = Some((value, index + 1));
        } else if key.trim().eq_ignore_ascii_case("version") && version.is_none() {
            version = Some((value, index + 1));
        }
    }
    (name, version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_stop_at_the_body() {
        let text = "Metadata-Version: 2.1\nName: numpy\nSummary: arrays\n  folded\nVersion: 1.26.4\n\nVersion: 9\n";
        let (name, version) = headers(text);
        assert_eq!(name, Some(("numpy".to_string(), 2)));
        assert_eq!(version, Some(("1.26.4".to_string(), 5)));
    }
}
