//! The API-update catalog: one TOML file per library under `server/catalog/`,
//! bundled into the binary, plus any extra catalog directories a project names.
//!
//! A catalog file is data in the style of Ruff's rule tables:
//!
//! ```toml
//! [library]
//! name = "numpy"                 # distribution name (PEP 503 normalised on load)
//! modules = ["numpy"]            # top-level import names
//! release_notes = "https://numpy.org/doc/stable/release/{version}-notes.html"
//!
//! [aliases]                      # re-exports: a prefix and the canonical prefix
//! "numpy.core" = "numpy._core"
//!
//! [[types]]                      # evident types: calls that return an instance
//! name = "pandas.DataFrame"
//! made_by = ["pandas.read_csv"]
//!
//! [[entry]]
//! symbol = "numpy.float_"        # or "pandas.read_csv(squeeze=)" for a keyword
//! kind = "removed"
//! deprecated_in = "1.99"         # optional
//! removed_in = "2.0"             # optional (at least one of the two)
//! replacement = "numpy.float64"  # optional
//! replacement_since = "1.0"      # optional: the first version that has the replacement
//! argument = "seaborn"           # optional: only when the first argument is this string
//! unless_keyword = "weights_only"# optional: only when the call lacks this keyword
//! severity = "info"              # optional: caps the severity (legacy, not scheduled)
//! note = "..."
//! link = "https://..."
//! ```
//!
//! A malformed file is an error naming the file and line; nothing is skipped.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

/// The catalog files compiled into the binary, as (file name, contents).
const BUNDLED: &[(&str, &str)] = &[
    ("numpy.toml", include_str!("../../catalog/numpy.toml")),
    ("pandas.toml", include_str!("../../catalog/pandas.toml")),
    ("matplotlib.toml", include_str!("../../catalog/matplotlib.toml")),
    ("scipy.toml", include_str!("../../catalog/scipy.toml")),
    ("scikit-learn.toml", include_str!("../../catalog/scikit-learn.toml")),
    ("torch.toml", include_str!("../../catalog/torch.toml")),
];

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{file}:{line}:{column}: {message}")]
    Malformed { file: PathBuf, line: usize, column: usize, message: String },
    #[error("{file}: {source}")]
    Io { file: PathBuf, source: std::io::Error },
}

/// What kind of change an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    Removed,
    Deprecated,
    Renamed,
    Moved,
    KeywordRemoved,
    KeywordRenamed,
    BehaviourChanged,
}

impl EntryKind {
    /// The rule code reported with a finding of this kind.
    pub fn rule(self) -> &'static str {
        match self {
            EntryKind::Removed => "RC001",
            EntryKind::Deprecated => "RC002",
            EntryKind::Renamed => "RC003",
            EntryKind::Moved => "RC004",
            EntryKind::KeywordRemoved => "RC005",
            EntryKind::KeywordRenamed => "RC006",
            EntryKind::BehaviourChanged => "RC007",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Removed => "removed",
            EntryKind::Deprecated => "deprecated",
            EntryKind::Renamed => "renamed",
            EntryKind::Moved => "moved",
            EntryKind::KeywordRemoved => "keyword-removed",
            EntryKind::KeywordRenamed => "keyword-renamed",
            EntryKind::BehaviourChanged => "behaviour-changed",
        }
    }

    fn is_keyword(self) -> bool {
        matches!(self, EntryKind::KeywordRemoved | EntryKind::KeywordRenamed)
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cap on the severity of an entry's findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityCap {
    Info,
    Warning,
}

/// The `symbol` field split into the qualified name and an optional keyword.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SymbolPattern {
    /// Fully qualified dotted name, canonical (aliases applied).
    pub path: String,
    /// For keyword entries: the keyword argument of calls of `path`.
    pub keyword: Option<String>,
}

impl fmt::Display for SymbolPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.keyword {
            Some(k) => write!(f, "{}({}=)", self.path, k),
            None => f.write_str(&self.path),
        }
    }
}

/// Where an entry's knowledge comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntrySource {
    /// A catalog file (bundled, or an extra catalog directory).
    Catalog,
    /// Read out of an installed package's code at this version.
    Harvested { version: Version },
}

/// One API change.
#[derive(Debug, Clone)]
pub struct Entry {
    pub library: String,
    pub symbol: SymbolPattern,
    pub kind: EntryKind,
    pub deprecated_in: Option<Version>,
    pub removed_in: Option<Version>,
    pub replacement: Option<String>,
    pub replacement_since: Option<Version>,
    pub argument: Option<String>,
    pub unless_keyword: Option<String>,
    pub severity_cap: Option<SeverityCap>,
    pub note: String,
    pub link: String,
    /// Where the entry was read: catalog file and line, or the harvested
    /// source file and line.
    pub origin: String,
    pub source: EntrySource,
}

impl Entry {
    pub fn rule(&self) -> &'static str {
        self.kind.rule()
    }
}

/// Header of a catalog file.
#[derive(Debug, Clone)]
pub struct LibraryInfo {
    /// PEP 503 normalised distribution name.
    pub name: String,
    pub modules: Vec<String>,
    pub release_notes: Option<String>,
}

/// The whole catalog, indexed for the analysis.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    libraries: Vec<LibraryInfo>,
    entries: Vec<Entry>,
    by_path: HashMap<String, Vec<usize>>,
    /// prefix → canonical prefix, longest match wins.
    aliases: BTreeMap<String, String>,
    /// callable (canonical) → type it returns.
    returns: HashMap<String, String>,
    /// top-level module name → library name.
    module_library: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    library: RawLibrary,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    types: Vec<RawType>,
    #[serde(default)]
    entry: Vec<toml::Spanned<RawEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLibrary {
    name: String,
    modules: Vec<String>,
    release_notes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawType {
    name: String,
    #[serde(default)]
    made_by: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    symbol: String,
    kind: EntryKind,
    deprecated_in: Option<String>,
    removed_in: Option<String>,
    replacement: Option<String>,
    replacement_since: Option<String>,
    argument: Option<String>,
    unless_keyword: Option<String>,
    severity: Option<SeverityCap>,
    note: String,
    link: String,
}

/// PEP 503 name normalisation: lower case, runs of `-_.` become `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_sep = false;
        }
    }
    out
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let column = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, column)
}

impl Catalog {
    /// The catalog bundled with this build.
    pub fn bundled() -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for (name, text) in BUNDLED {
            catalog.add_file(Path::new("server/catalog").join(name), text)?;
        }
        Ok(catalog)
    }

    /// Adds every `*.toml` file of a directory, in name order.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), CatalogError> {
        let io = |source| CatalogError::Io { file: dir.to_path_buf(), source };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|source| CatalogError::Io { file: file.clone(), source })?;
            self.add_file(file, &text)?;
        }
        Ok(())
    }

    /// Parses one catalog file and adds its contents.
    pub fn add_file(&mut self, file: PathBuf, text: &str) -> Result<(), CatalogError> {
        let malformed = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            CatalogError::Malformed { file: file.clone(), line, column, message }
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            malformed(offset, e.message().to_string())
        })?;
        let library = normalize_name(&raw.library.name);
        if raw.library.modules.is_empty() {
            return Err(malformed(0, "[library] modules must name at least one module".into()));
        }
        for module in &raw.library.modules {
            self.module_library.insert(module.clone(), library.clone());
        }
        self.aliases.extend(raw.aliases);
        for ty in raw.types {
            for callable in ty.made_by {
                self.returns.insert(callable, ty.name.clone());
            }
            // Calling the class itself makes an instance.
            self.returns.insert(ty.name.clone(), ty.name.clone());
        }
        for spanned in raw.entry {
            let offset = spanned.span().start;
            let raw = spanned.into_inner();
            let (line, _) = line_col(text, offset);
            let origin = format!("{}:{}", file.display(), line);
            let entry = self
                .build_entry(&library, raw, origin)
                .map_err(|message| malformed(offset, message))?;
            self.push_entry(entry);
        }
        self.libraries.push(LibraryInfo {
            name: library,
            modules: raw.library.modules,
            release_notes: raw.library.release_notes,
        });
        Ok(())
    }

    fn build_entry(&self, library: &str, raw: RawEntry, origin: String) -> Result<Entry, String> {
        let version = |field: &str, value: &Option<String>| -> Result<Option<Version>, String> {
            value
                .as_deref()
                .map(|v| Version::from_str(v).map_err(|e| format!("{field} = {v:?}: {e}")))
                .transpose()
        };
        let symbol = parse_symbol(&raw.symbol)?;
        if raw.kind.is_keyword() != symbol.keyword.is_some() {
            return Err(format!(
                "symbol {:?}: kind {} {} a keyword in the form `callable(name=)`",
                raw.symbol,
                raw.kind,
                if raw.kind.is_keyword() { "needs" } else { "must not have" }
            ));
        }
        let top = symbol.path.split('.').next().unwrap_or_default();
        if self.module_library.get(top).map(String::as_str) != Some(library) {
            return Err(format!(
                "symbol {:?} is not under a module of library {library}",
                raw.symbol
            ));
        }
        let deprecated_in = version("deprecated_in", &raw.deprecated_in)?;
        let removed_in = version("removed_in", &raw.removed_in)?;
        if deprecated_in.is_none() && removed_in.is_none() {
            return Err(format!("symbol {:?}: needs deprecated_in or removed_in", raw.symbol));
        }
        if let (Some(d), Some(r)) = (&deprecated_in, &removed_in) {
            if d > r {
                return Err(format!("symbol {:?}: deprecated_in {d} is after removed_in {r}", raw.symbol));
            }
        }
        let needs_replacement = matches!(raw.kind, EntryKind::KeywordRenamed | EntryKind::Renamed | EntryKind::Moved);
        if needs_replacement && raw.replacement.is_none() {
            return Err(format!("symbol {:?}: kind {} needs a replacement", raw.symbol, raw.kind));
        }
        if raw.note.trim().is_empty() || raw.link.trim().is_empty() {
            return Err(format!("symbol {:?}: note and link must not be empty", raw.symbol));
        }
        Ok(Entry {
            library: library.to_string(),
            symbol: SymbolPattern { path: self.canonical(&symbol.path), keyword: symbol.keyword },
            kind: raw.kind,
            deprecated_in,
            removed_in,
            replacement_since: version("replacement_since", &raw.replacement_since)?,
            replacement: raw.replacement,
            argument: raw.argument,
            unless_keyword: raw.unless_keyword,
            severity_cap: raw.severity,
            note: raw.note,
            link: raw.link,
            origin,
            source: EntrySource::Catalog,
        })
    }

    /// Adds an entry built elsewhere (harvesting). Its symbol path must be
    /// canonical and its library one whose modules the catalog knows, or
    /// `library_of_module` will not route imports to it.
    pub fn push_entry(&mut self, entry: Entry) {
        let index = self.entries.len();
        self.by_path.entry(entry.symbol.path.clone()).or_default().push(index);
        self.entries.push(entry);
    }

    /// Registers a library (for harvested knowledge of libraries without a
    /// bundled catalog file). Known modules keep their library.
    pub fn add_library(&mut self, info: LibraryInfo) {
        for module in &info.modules {
            self.module_library.entry(module.clone()).or_insert_with(|| info.name.clone());
        }
        if !self.libraries.iter().any(|l| l.name == info.name) {
            self.libraries.push(info);
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn libraries(&self) -> &[LibraryInfo] {
        &self.libraries
    }

    /// The entries recorded for a canonical qualified name.
    pub fn lookup(&self, path: &str) -> impl Iterator<Item = &Entry> {
        self.entry_ids(path).iter().map(|&i| &self.entries[i])
    }

    /// Indices into [`Catalog::entries`] of the entries recorded for a
    /// canonical qualified name.
    pub fn entry_ids(&self, path: &str) -> &[usize] {
        self.by_path.get(path).map_or(&[], Vec::as_slice)
    }

    /// Whether any entry is recorded for `path` or a name below it.
    pub fn has_symbol(&self, path: &str) -> bool {
        self.by_path.contains_key(path)
    }

    /// The library whose top-level module is `module`, if the catalog knows it.
    pub fn library_of_module(&self, module: &str) -> Option<&str> {
        self.module_library.get(module).map(String::as_str)
    }

    /// Top-level module names of every library in the catalog.
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.module_library.keys().map(String::as_str)
    }

    /// Applies the longest matching alias prefix (on dot boundaries).
    pub fn canonical(&self, path: &str) -> String {
        let best = self
            .aliases
            .iter()
            .filter(|(from, _)| {
                path.starts_with(from.as_str())
                    && (path.len() == from.len() || path.as_bytes()[from.len()] == b'.')
            })
            .max_by_key(|(from, _)| from.len());
        match best {
            Some((from, to)) => format!("{to}{}", &path[from.len()..]),
            None => path.to_string(),
        }
    }

    /// The prefixes that `[aliases]` rewrite.
    pub fn alias_sources(&self) -> impl Iterator<Item = &String> {
        self.aliases.keys()
    }

    /// The type an instance made by calling `callable` evidently has.
    pub fn return_type(&self, callable: &str) -> Option<&str> {
        self.returns.get(callable).map(String::as_str)
    }
}

fn parse_symbol(symbol: &str) -> Result<SymbolPattern, String> {
    let valid_path = |p: &str| {
        !p.is_empty()
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part.chars().all(|c| c.is_alphanumeric() || c == '_')
                    && !part.starts_with(|c: char| c.is_ascii_digit())
            })
    };
    let (path, keyword) = match symbol.split_once('(') {
        Some((path, rest)) => {
            let keyword = rest
                .strip_suffix("=)")
                .filter(|k| valid_path(k) && !k.contains('.'))
                .ok_or_else(|| format!("symbol {symbol:?}: a keyword is written `callable(name=)`"))?;
            (path, Some(keyword.to_string()))
        }
        None => (symbol, None),
    };
    if !valid_path(path) {
        return Err(format!("symbol {symbol:?} is not a dotted Python name"));
    }
    Ok(SymbolPattern { path: path.to_string(), keyword })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "[library]\nname = \"NumPy\"\nmodules = [\"numpy\"]\n";

    fn load(text: &str) -> Result<Catalog, CatalogError> {
        let mut c = Catalog::default();
        c.add_file(PathBuf::from("t.toml"), text)?;
        Ok(c)
    }

    #[test]
    fn bundled_catalog_loads_and_is_large() {
        let catalog = Catalog::bundled().expect("bundled catalog must load");
        assert!(catalog.entries().len() >= 300, "{} entries", catalog.entries().len());
        for lib in ["numpy", "pandas", "matplotlib", "scipy", "scikit-learn", "torch"] {
            assert!(catalog.libraries().iter().any(|l| l.name == lib), "{lib} missing");
        }
    }

    #[test]
    fn entry_parses_with_keyword_and_versions() {
        let text = format!(
            "{HEADER}[[entry]]\nsymbol = \"numpy.histogram(normed=)\"\nkind = \"keyword-removed\"\n\
             deprecated_in = \"1.6\"\nremoved_in = \"1.24\"\nnote = \"n\"\nlink = \"l\"\n"
        );
        let c = load(&text).unwrap();
        let e = c.lookup("numpy.histogram").next().unwrap();
        assert_eq!(e.library, "numpy");
        assert_eq!(e.symbol.keyword.as_deref(), Some("normed"));
        assert_eq!(e.removed_in, Some(Version::from_str("1.24").unwrap()));
        assert_eq!(e.origin, "t.toml:4");
        assert_eq!(e.rule(), "RC005");
    }

    #[test]
    fn malformed_file_names_file_and_line() {
        let text = format!("{HEADER}[[entry]]\nsymbol = \"numpy.x\"\nkind = \"vanished\"\n");
        let err = load(&text).unwrap_err().to_string();
        assert!(err.starts_with("t.toml:6:"), "{err}");
        assert!(err.contains("vanished"), "{err}");
    }

    #[test]
    fn bad_version_names_the_entry_line() {
        let text = format!(
            "{HEADER}\n[[entry]]\nsymbol = \"numpy.x\"\nkind = \"removed\"\nremoved_in = \"two\"\nnote = \"n\"\nlink = \"l\"\n"
        );
        let err = load(&text).unwrap_err().to_string();
        assert!(err.starts_with("t.toml:5:"), "{err}");
        assert!(err.contains("removed_in"), "{err}");
    }

    #[test]
    fn symbol_outside_library_is_rejected() {
        let text = format!(
            "{HEADER}[[entry]]\nsymbol = \"pandas.x\"\nkind = \"removed\"\nremoved_in = \"2\"\nnote = \"n\"\nlink = \"l\"\n"
        );
        assert!(load(&text).unwrap_err().to_string().contains("not under a module"));
    }

    #[test]
    fn keyword_kind_needs_keyword_symbol() {
        let text = format!(
            "{HEADER}[[entry]]\nsymbol = \"numpy.x\"\nkind = \"keyword-removed\"\nremoved_in = \"2\"\nnote = \"n\"\nlink = \"l\"\n"
        );
        assert!(load(&text).unwrap_err().to_string().contains("needs a keyword"));
    }

    #[test]
    fn aliases_use_longest_prefix_on_dot_boundaries() {
        let text = format!("{HEADER}[aliases]\n\"numpy.core\" = \"numpy._core\"\n\"numpy.core.multiarray\" = \"numpy.ma2\"\n");
        let c = load(&text).unwrap();
        assert_eq!(c.canonical("numpy.core.umath"), "numpy._core.umath");
        assert_eq!(c.canonical("numpy.core.multiarray.x"), "numpy.ma2.x");
        assert_eq!(c.canonical("numpy.core_ext"), "numpy.core_ext");
        assert_eq!(c.canonical("numpy.linalg"), "numpy.linalg");
    }

    #[test]
    fn pep503_normalisation() {
        assert_eq!(normalize_name("Scikit_Learn"), "scikit-learn");
        assert_eq!(normalize_name("zope.interface"), "zope-interface");
        assert_eq!(normalize_name("a--_b"), "a-b");
    }
}
