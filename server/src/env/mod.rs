//! Which library versions the project really uses.
//!
//! Sources, strongest first: explicit pins (`--pin`, then `[tool.recode.pins]`),
//! the installed environment (`--env`, `[tool.recode] env`, `$VIRTUAL_ENV`,
//! `.venv/`, `venv/`, `$CONDA_PREFIX`), lock files (`uv.lock`, `poetry.lock`,
//! `pylock.toml`, `Pipfile.lock`, `pdm.lock`), then declarations
//! (`pyproject.toml`, `requirements*.txt`, `environment.yml`). Every resolved
//! version remembers its source. Names are PEP 503 normalised.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use pep440_rs::Version;

pub use crate::knowledge::catalog::normalize_name;

/// Where a resolved version came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSource {
    /// `--pin LIB==VER` on the command line (or the LSP's settings).
    Pin,
    /// `[tool.recode.pins]` in the given `pyproject.toml`.
    ProjectPin { file: PathBuf },
    /// An installed distribution's metadata directory (`*.dist-info` / `*.egg-info`).
    Installed { metadata: PathBuf },
    /// A lock file.
    Locked { file: PathBuf },
    /// A declared requirement; `lower_bound` when the version is the lower
    /// bound of a range rather than an exact pin.
    Declared { file: PathBuf, line: usize, requirement: String, lower_bound: bool },
}

impl fmt::Display for VersionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSource::Pin => f.write_str("--pin"),
            VersionSource::ProjectPin { file } => write!(f, "[tool.recode.pins] in {}", file.display()),
            VersionSource::Installed { metadata } => write!(f, "installed: {}", metadata.display()),
            VersionSource::Locked { file } => write!(f, "locked: {}", file.display()),
            VersionSource::Declared { file, line, requirement, lower_bound } => {
                write!(f, "declared: {}:{line} `{requirement}`", file.display())?;
                if *lower_bound {
                    f.write_str(" (lower bound of the range)")?;
                }
                Ok(())
            }
        }
    }
}

/// A library version and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedVersion {
    pub version: Version,
    pub source: VersionSource,
}

/// The versions of every library recode could find, keyed by normalised name.
#[derive(Debug, Clone, Default)]
pub struct Versions {
    map: BTreeMap<String, ResolvedVersion>,
}

impl Versions {
    /// The version of a library by any spelling of its name.
    pub fn get(&self, library: &str) -> Option<&ResolvedVersion> {
        self.map.get(&normalize_name(library))
    }

    /// Records a version unless a stronger source already gave one.
    pub fn insert_if_absent(&mut self, library: &str, resolved: ResolvedVersion) {
        self.map.entry(normalize_name(library)).or_insert(resolved);
    }

    /// Records a version over any earlier one.
    pub fn insert(&mut self, library: &str, resolved: ResolvedVersion) {
        self.map.insert(normalize_name(library), resolved);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &ResolvedVersion)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
