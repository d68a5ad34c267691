//! Where each library's release notes live: `server/release-notes.toml`, bundled.

use std::collections::{BTreeMap, HashMap};

use pep440_rs::Version;
use serde::Deserialize;

use super::NotesError;
use crate::knowledge::catalog::normalize_name;

const BUNDLED: &str = include_str!("../../../release-notes.toml");

/// How a release-notes page is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotesFormat {
    /// reStructuredText (Sphinx).
    Rst,
    /// Markdown (CommonMark / GitHub flavoured).
    Markdown,
    /// The GitHub release API's JSON; its `body` is Markdown.
    GithubRelease,
}

/// How a version is spelled in a source's URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum VersionSpelling {
    /// `2.0` → `2.0.0`, `2.1.3` → `2.1.3`.
    #[serde(rename = "major.minor.patch")]
    MajorMinorPatch,
    /// `3.8.2` → `3.8.0`.
    #[serde(rename = "major.minor.0")]
    MajorMinorZero,
    /// `1.2.1` → `1.2`.
    #[serde(rename = "major.minor")]
    MajorMinor,
}

impl VersionSpelling {
    /// Spell `version` (its release segment only: pre-, post- and dev-release
    /// markers are dropped, as release-notes pages are per final release).
    pub fn spell(self, version: &Version) -> String {
        let release = version.release();
        let part = |i: usize| release.get(i).copied().unwrap_or(0);
        match self {
            VersionSpelling::MajorMinorPatch => format!("{}.{}.{}", part(0), part(1), part(2)),
            VersionSpelling::MajorMinorZero => format!("{}.{}.0", part(0), part(1)),
            VersionSpelling::MajorMinor => format!("{}.{}", part(0), part(1)),
        }
    }
}

/// One library's release-notes source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotesSource {
    /// Default origin, e.g. `https://raw.githubusercontent.com`.
    pub base: String,
    /// Path under the base, with `{version}`.
    pub path: String,
    pub format: NotesFormat,
    #[serde(rename = "version")]
    pub spelling: VersionSpelling,
    /// Root that absolute `.. include::` paths resolve against; `None`: includes
    /// are not followed.
    #[serde(default)]
    pub include_root: Option<String>,
    /// module → abbreviation used in the notes (`numpy` → `np`).
    #[serde(default)]
    pub module_aliases: BTreeMap<String, String>,
}

impl NotesSource {
    /// The URL of the page for `version` (already spelled) under `base`.
    pub fn url(&self, base: &str, spelled_version: &str) -> String {
        join_url(base, &self.path.replace("{version}", spelled_version))
    }
}

/// Joins an origin (or origin plus prefix) and an absolute path.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

/// All sources, by PEP 503 library name.
#[derive(Debug, Clone)]
pub struct NotesSources {
    by_library: HashMap<String, NotesSource>,
}

impl NotesSources {
    /// The sources bundled in `server/release-notes.toml`.
    pub fn bundled() -> NotesSources {
        // The bundled file is checked by a unit test, so this cannot fail at run time.
        NotesSources::parse(BUNDLED).expect("bundled release-notes.toml is valid")
    }

    /// Reads a `release-notes.toml`-style text.
    pub fn parse(text: &str) -> Result<NotesSources, NotesError> {
        let raw: BTreeMap<String, NotesSource> =
            toml::from_str(text).map_err(|e| NotesError::Config(format!("release-notes sources: {e}")))?;
        let mut by_library = HashMap::new();
        for (name, source) in raw {
            if !source.path.contains("{version}") {
                return Err(NotesError::Config(format!(
                    "release-notes source `{name}`: path `{}` lacks {{version}}",
                    source.path
                )));
            }
            by_library.insert(normalize_name(&name), source);
        }
        Ok(NotesSources { by_library })
    }

    pub fn get(&self, library: &str) -> Option<&NotesSource> {
        self.by_library.get(&normalize_name(library))
    }

    /// Library names, sorted.
    pub fn libraries(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_library.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Adds or replaces one library's source.
    pub fn insert(&mut self, library: &str, source: NotesSource) {
        self.by_library.insert(normalize_name(library), source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn bundled_sources_cover_the_catalog_libraries() {
        let sources = NotesSources::bundled();
        assert_eq!(sources.libraries(), ["matplotlib", "numpy", "pandas", "scikit-learn", "scipy", "torch"]);
        let numpy = sources.get("NumPy").unwrap();
        let v = Version::from_str("2.0").unwrap();
        assert_eq!(
            numpy.url(&numpy.base, &numpy.spelling.spell(&v)),
            "https://raw.githubusercontent.com/numpy/numpy/main/doc/source/release/2.0.0-notes.rst"
        );
        let torch = sources.get("torch").unwrap();
        assert_eq!(torch.format, NotesFormat::GithubRelease);
        assert_eq!(
            torch.url("http://127.0.0.1:9/", "2.1.0"),
            "http://127.0.0.1:9/repos/pytorch/pytorch/releases/tags/v2.1.0"
        );
        let sklearn = sources.get("scikit_learn").unwrap();
        assert_eq!(sklearn.spelling.spell(&Version::from_str("1.2.1").unwrap()), "1.2");
        let mpl = sources.get("matplotlib").unwrap();
        assert_eq!(mpl.spelling.spell(&Version::from_str("3.8.2").unwrap()), "3.8.0");
        assert_eq!(numpy.spelling.spell(&Version::from_str("2.1.0rc1").unwrap()), "2.1.0");
    }

    #[test]
    fn a_path_without_version_is_refused() {
        let err = NotesSources::parse(
            "[x]\nbase = \"https://a\"\npath = \"/notes.rst\"\nformat = \"rst\"\nversion = \"major.minor\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("lacks {version}"), "{err}");
    }
}
