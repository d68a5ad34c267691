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
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;

pub use crate::knowledge::catalog::normalize_name;

mod declared;
mod installed;
mod locks;
mod settings;
mod text;

pub use installed::find_site_packages;
pub use settings::ProjectSettings;

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

/// The process environment variables that name an environment, read once so
/// that tests (and the LSP, which gets them from the editor) can inject them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessEnv {
    /// `$VIRTUAL_ENV`
    pub virtual_env: Option<PathBuf>,
    /// `$CONDA_PREFIX`
    pub conda_prefix: Option<PathBuf>,
}

impl ProcessEnv {
    /// Reads `$VIRTUAL_ENV` and `$CONDA_PREFIX`; unset or empty is `None`.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        ProcessEnv { virtual_env: var("VIRTUAL_ENV"), conda_prefix: var("CONDA_PREFIX") }
    }
}

/// What the caller (command line or LSP settings) adds to the project's own
/// files.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// `--env PATH`: a virtual environment / conda prefix, or a site-packages
    /// directory itself. Overrides `[tool.recode] env` and every guess.
    pub env: Option<PathBuf>,
    /// `--pin LIB==VER`, strongest of all (a later pin of the same library wins).
    pub pins: Vec<(String, Version)>,
    /// `$VIRTUAL_ENV` / `$CONDA_PREFIX`.
    pub process: ProcessEnv,
}

/// A file recode could not fully read. Resolution goes on without the bad part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based, where the format allows.
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn new(file: impl Into<PathBuf>, line: Option<usize>, message: impl Into<String>) -> Self {
        Problem { file: file.into(), line, message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Everything [`resolve`] found out about a project.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub root: PathBuf,
    pub versions: Versions,
    /// The site-packages directory that was read, if any.
    pub environment: Option<PathBuf>,
    pub settings: ProjectSettings,
    pub problems: Vec<Problem>,
}

/// Resolves the version of every library the project uses. Never fails: what
/// cannot be read becomes a [`Problem`] and everything else still resolves.
///
/// Precedence, strongest first: `--pin` > `[tool.recode.pins]` > the
/// installed environment > lock files > declarations.
pub fn resolve(root: &Path, options: &ResolveOptions) -> Resolution {
    let mut problems = Vec::new();
    if !root.is_dir() {
        problems.push(Problem::new(root, None, "the project root is not a directory"));
    }

    let pyproject_path = root.join("pyproject.toml");
    let pyproject_text = if pyproject_path.is_file() { text::read_text(&pyproject_path, &mut problems) } else { None };
    let pyproject_doc = pyproject_text.as_deref().and_then(|t| text::parse_toml(&pyproject_path, t, &mut problems));
    let settings = match (&pyproject_text, &pyproject_doc) {
        (Some(t), Some(doc)) => settings::read(root, &pyproject_path, t, doc, &mut problems),
        _ => ProjectSettings::default(),
    };

    let mut versions = Versions::default();
    for (library, version) in &options.pins {
        versions.insert(library, ResolvedVersion { version: version.clone(), source: VersionSource::Pin });
    }
    for (library, version) in &settings.pins {
        let source = VersionSource::ProjectPin { file: pyproject_path.clone() };
        versions.insert_if_absent(library, ResolvedVersion { version: version.clone(), source });
    }

    let environment = installed::locate(root, options, &settings, &mut problems);
    if let Some(site) = &environment {
        for (library, resolved) in installed::read(site, &mut problems) {
            versions.insert_if_absent(&library, resolved);
        }
    }
    for (library, resolved) in locks::read(root, &mut problems) {
        versions.insert_if_absent(&library, resolved);
    }
    let pyproject = match (&pyproject_text, &pyproject_doc) {
        (Some(t), Some(doc)) => Some((pyproject_path.as_path(), t.as_str(), doc)),
        _ => None,
    };
    for (library, resolved) in declared::read(root, pyproject, &mut problems) {
        versions.insert_if_absent(&library, resolved);
    }

    // Callers report problems to the user; the log only records them.
    for problem in &problems {
        tracing::debug!("{problem}");
    }
    Resolution { root: root.to_path_buf(), versions, environment, settings, problems }
}

/// Files that mark the root of a Python project.
pub const PROJECT_MARKERS: &[&str] = &[
    "pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", "uv.lock", "poetry.lock",
    "pylock.toml", "Pipfile.lock", "pdm.lock", "environment.yml", ".git",
];

/// The nearest ancestor of the directory `start` (itself included) holding a
/// project marker.
pub fn nearest_project_root(start: &Path) -> Option<&Path> {
    start.ancestors().find(|dir| PROJECT_MARKERS.iter().any(|m| dir.join(m).exists()))
}

/// Parses `LIB==VER` as given to `--pin`; the error text names what is wrong.
pub fn parse_pin(text: &str) -> Result<(String, Version), String> {
    use pep508_rs::{Requirement, VerbatimUrl, VersionOrUrl};

    const EXPECTED: &str = "expected LIB==VERSION, e.g. numpy==1.26.4";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("empty --pin; {EXPECTED}"));
    }
    let requirement = Requirement::<VerbatimUrl>::from_str(text).map_err(|e| {
        let hint = if text.contains('=') && !text.contains("==") { " (use `==`, not `=`)" } else { "" };
        format!("--pin `{text}`: {}{hint}; {EXPECTED}", text::one_line(&e.message))
    })?;
    if !requirement.extras.is_empty() {
        return Err(format!("--pin `{text}`: extras are not allowed; {EXPECTED}"));
    }
    if !requirement.marker.is_true() {
        return Err(format!("--pin `{text}`: environment markers are not allowed; {EXPECTED}"));
    }
    let name = normalize_name(requirement.name.as_ref());
    match requirement.version_or_url {
        None => Err(format!("--pin `{text}` names no version; expected {name}==VERSION")),
        Some(VersionOrUrl::Url(_)) => Err(format!("--pin `{text}`: a URL is not a version; {EXPECTED}")),
        Some(VersionOrUrl::VersionSpecifier(specifiers)) => match &specifiers[..] {
            [only] if *only.operator() == pep440_rs::Operator::Equal => Ok((name, only.version().clone())),
            _ => Err(format!("--pin `{text}`: a pin must be one exact version ({name}==VERSION), not `{specifiers}`")),
        },
    }
}

#[cfg(test)]
mod tests;
