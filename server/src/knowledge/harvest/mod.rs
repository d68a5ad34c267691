//! Harvesting: deprecations read out of the *installed* packages of the
//! project's environment, so the catalog is never older than the code.
//!
//! [`harvest`] maps every `*.dist-info` of a site-packages to its import
//! packages, parses their `.py` and `.pyi` files with tree-sitter-python (in
//! parallel), and turns what it finds into catalog [`Entry`]s:
//!
//! - `warnings.warn(msg, DeprecationWarning | PendingDeprecationWarning |
//!   FutureWarning)` (also `category=`, `from warnings import warn`,
//!   `warn_explicit`, matplotlib's `_api.warn_external` / `warn_deprecated`,
//!   NumPy's `VisibleDeprecationWarning`, and any `DeprecationWarning` /
//!   `FutureWarning` subclass the scanned packages define) → the function,
//!   method or class (`__init__`) it sits in. A warning under a guard that
//!   tests whether an argument was passed (`x is not None`, `x is not
//!   lib.no_default`, `"x" in kwargs`, `self.x != "deprecated"`) is about that
//!   keyword (`func(x=)`); a warning under another guard is a behaviour change
//!   of the function, not a deprecation of it. In a module `__getattr__` the
//!   guarded names (`name == "x"`, `name in {...}`) are the symbols.
//! - `@deprecated` decorators (PEP 702 in `.py` and `.pyi`, scikit-learn,
//!   SciPy), matplotlib `@_api.deprecated("3.8", alternative=, removal=)`,
//!   pandas `@deprecate(...)`, and the keyword helpers pandas
//!   `@deprecate_kwarg`, matplotlib `@_api.rename_parameter` /
//!   `@_api.delete_parameter`, SciPy `@_rename_parameter(..., dep_version)`.
//! - NumPy's `__expired_attributes__`, `__former_attrs__` and
//!   `__deprecated_attrs__` tables, and `raise AttributeError` under a name
//!   guard in a module `__getattr__` (removed names).
//! - Deprecated namespaces: a module `__getattr__(name)` that hands the name
//!   to a deprecation helper (SciPy's `_sub_module_deprecation`) deprecates
//!   the module and every name of its literal `__all__`.
//! - matplotlib's pyplot wrappers (`@_copy_docstring_and_deprecators(Axes.x)`)
//!   take the keyword deprecations of the method they wrap.
//!
//! Versions: `deprecated_in` / `removed_in` come from decorator arguments,
//! then the message ("deprecated since 1.5", "will be removed in 3.0"), then
//! a versioned category (`Pandas4Warning` → removed in 4.0); otherwise
//! `deprecated_in` is the installed version (deprecated at or before it) and,
//! for removals, `removed_in` is. A stated removal at or before the installed
//! version of something that is still there is dropped.
//!
//! Not harvested: tests and vendored copies (`tests/`, `_vendor/`,
//! `externals/`, …), private or nested functions, helpers whose message is a
//! parameter, positional-argument deprecations, property setters; these are
//! counted in [`Harvest::skipped`]. Editable installs (sources outside
//! site-packages) and `*-stubs` distributions are not followed.
//!
//! Symbols are public paths: a definition is named by the shortest public
//! dotted path that re-exports it (`numpy.lib._function_base_impl.trapz` →
//! `numpy.trapz`); methods inherited by public subclasses in the same
//! distribution are recorded for those too (`NDFrame.x` → `DataFrame.x`).
//!
//! [`harvest_cached`] keeps the result per environment on disk.

mod cache;
mod dist;
mod names;
mod scan;
mod text;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;
use rayon::prelude::*;

use super::catalog::{Catalog, Entry, EntryKind, EntrySource, LibraryInfo, SymbolPattern};

use dist::Distribution;
use names::Names;
use scan::{FileFacts, FileInput, Site, SiteKind, Target};
use text::{
    category_version, clean, is_dotted_name, is_identifier, mentions_deprecation, stated_replacement, stated_versions,
};

pub use cache::{cache_dir, cache_file};

/// What to harvest.
#[derive(Debug, Clone, Default)]
pub struct HarvestOptions {
    /// The environment's `site-packages` (or any directory of installed
    /// distributions with their `*.dist-info`).
    pub site_packages: PathBuf,
    /// Top-level module names the project imports; only their packages are
    /// scanned. `None` scans every installed distribution.
    pub only: Option<BTreeSet<String>>,
    /// Where [`harvest_cached`] keeps its files; `None` is `$RECODE_CACHE_DIR/harvest`,
    /// else the platform cache directory of recode + `harvest/`.
    pub cache_dir: Option<PathBuf>,
}

/// What harvesting found.
#[derive(Debug, Clone, Default)]
pub struct Harvest {
    /// One entry per symbol (and keyword), sorted by library and symbol.
    pub entries: Vec<Entry>,
    /// Every scanned library, with its top-level modules (`release_notes: None`),
    /// so that a [`Catalog`] can route imports to the entries.
    pub libraries: Vec<LibraryInfo>,
    /// Files that could not be read, decoded or parsed (named, with the reason).
    pub problems: Vec<String>,
    /// Python files parsed (0 when the result came from the cache).
    pub files_scanned: usize,
    /// Deprecation sites seen but not turned into entries: private or nested
    /// functions, warning helpers whose message is a parameter, positional-
    /// argument deprecations, `__getattr__` warnings with no recoverable name.
    pub skipped: usize,
    /// Whether this came from the cache.
    pub from_cache: bool,
}

impl Harvest {
    /// Adds the libraries and entries to a catalog (symbol paths through the
    /// catalog's aliases).
    pub fn extend_catalog(&self, catalog: &mut Catalog) {
        for library in &self.libraries {
            catalog.add_library(library.clone());
        }
        // The curated entry wins where both know a symbol: one finding per use.
        let missing: Vec<Entry> = self.missing_from(catalog).into_iter().cloned().collect();
        for mut entry in missing {
            entry.symbol.path = catalog.canonical(&entry.symbol.path);
            catalog.push_entry(entry);
        }
    }

    /// The entries whose symbol (and keyword) `catalog` has no entry for.
    pub fn missing_from<'a>(&'a self, catalog: &Catalog) -> Vec<&'a Entry> {
        self.entries
            .iter()
            .filter(|e| {
                let path = catalog.canonical(&e.symbol.path);
                !catalog.lookup(&path).any(|c| c.symbol.keyword == e.symbol.keyword)
            })
            .collect()
    }

    /// Entry counts per library, sorted by library.
    pub fn counts(&self) -> Vec<(String, usize)> {
        let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for e in &self.entries {
            *counts.entry(e.library.clone()).or_default() += 1;
        }
        counts.into_iter().collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HarvestError {
    #[error("{path}: not a directory of installed packages")]
    NotADirectory { path: PathBuf },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Directories never scanned: tests and vendored copies of other projects.
const SKIPPED_DIRS: &[&str] = &[
    "tests",
    "test",
    "__pycache__",
    "_vendor",
    "_vendored",
    "vendor",
    "vendored",
    "externals",
    // copies of other projects inside scipy / scikit-learn
    "array_api_compat",
    "array_api_extra",
    "_array_api_compat_vendor",
    "cobyqa",
    "pyprima",
    "_uarray",
];

/// Reads the deprecations out of the installed packages of `options.site_packages`.
pub fn harvest(options: &HarvestOptions) -> Result<Harvest, HarvestError> {
    let site = &options.site_packages;
    if !site.is_dir() {
        return Err(HarvestError::NotADirectory { path: site.clone() });
    }
    let dirs = dist::metadata_dirs(site).map_err(|source| HarvestError::Io { path: site.clone(), source })?;
    let mut problems = Vec::new();
    let mut dists: Vec<(Distribution, Version)> = Vec::new();
    let mut seen = HashSet::new();
    let mut all_modules: HashSet<String> = HashSet::new();
    for dir in &dirs {
        let Some(d) = dist::read_distribution(dir) else {
            problems.push(format!("{}: no distribution name/version", dir.display()));
            continue;
        };
        all_modules.extend(d.top_levels.iter().cloned());
        let Ok(version) = Version::from_str(&d.version) else {
            problems.push(format!("{}: version {:?} is not PEP 440", dir.display(), d.version));
            continue;
        };
        if seen.insert(d.name.clone()) {
            dists.push((d, version));
        }
    }

    // Which distribution scans which top-level module.
    let mut claims: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (d, _)) in dists.iter().enumerate() {
        for top in &d.top_levels {
            let wanted = options.only.as_ref().is_none_or(|only| only.contains(top));
            if wanted {
                claims.entry(top.clone()).or_default().push(i);
            }
        }
    }
    let mut tops: Vec<(&String, &Vec<usize>)> = claims.iter().collect();
    tops.sort();
    let mut files: Vec<FileInput> = Vec::new();
    for (top, owners) in tops {
        for (path, rel) in python_files(site, top) {
            let dist = if owners.len() == 1 {
                owners[0]
            } else {
                *owners.iter().find(|&&o| dists[o].0.record.contains(&rel)).unwrap_or(&owners[0])
            };
            if let Some((module, is_init)) = module_of(&rel) {
                files.push(FileInput { path, rel, module, is_init, dist });
            }
        }
    }

    let started = std::time::Instant::now();
    let scanned: Vec<(usize, Result<FileFacts, String>)> = files
        .par_iter()
        .enumerate()
        .map_init(crate::analysis::new_parser, |parser, (i, input)| {
            let result = std::fs::read(&input.path)
                .map_err(|e| format!("cannot read: {e}"))
                .and_then(|bytes| crate::analysis::decode_python_source(bytes).map_err(|e| e.to_string()))
                .and_then(|text| scan::scan_source(parser, input, &text));
            (i, result)
        })
        .collect();
    let files_scanned = scanned.len();
    let scan_time = started.elapsed();
    let mut facts: Vec<(&FileInput, FileFacts)> = Vec::new();
    for (i, result) in scanned {
        match result {
            Ok(f) => facts.push((&files[i], f)),
            Err(problem) => problems.push(format!("{}: {problem}", files[i].path.display())),
        }
    }
    problems.sort();

    let mut used: BTreeSet<usize> = BTreeSet::new();
    for (input, _) in &facts {
        used.insert(input.dist);
    }
    for f in &files {
        used.insert(f.dist);
    }
    let libraries: Vec<LibraryInfo> = used
        .iter()
        .map(|&i| LibraryInfo {
            name: dists[i].0.name.clone(),
            modules: dists[i].0.top_levels.clone(),
            release_notes: None,
        })
        .collect();

    let context = Context::new(site, &dists, &facts, all_modules);
    let names_time = started.elapsed() - scan_time;
    let mut harvest = Harvest {
        entries: Vec::new(),
        libraries,
        problems,
        files_scanned,
        skipped: facts.iter().map(|(_, f)| f.skipped).sum(),
        from_cache: false,
    };
    let (entries, skipped) = context.entries();
    harvest.entries = entries;
    harvest.skipped += skipped;
    tracing::debug!(
        "harvested {} entries from {files_scanned} files: parse and read {scan_time:.2?}, names {names_time:.2?}, total {:.2?}",
        harvest.entries.len(),
        started.elapsed()
    );
    Ok(harvest)
}

/// [`harvest`], kept on disk per environment: the key covers the sorted
/// `*.dist-info` names with their `METADATA` modification times and sizes and
/// the `only` set, so installing, removing or upgrading anything re-harvests.
/// Cache trouble is logged and never fails the harvest.
pub fn harvest_cached(options: &HarvestOptions) -> Result<Harvest, HarvestError> {
    cache::harvest_cached(options)
}

/// `.py` / `.pyi` files of a top-level module (package directory or single
/// file), as (absolute path, path relative to site-packages), sorted.
fn python_files(site: &Path, top: &str) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for ext in ["py", "pyi"] {
        let single = site.join(format!("{top}.{ext}"));
        if single.is_file() {
            out.push((single, format!("{top}.{ext}")));
        }
    }
    let dir = site.join(top);
    if !dir.is_dir() {
        return out;
    }
    let mut stack = vec![(dir, top.to_string())];
    while let Some((dir, rel)) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else { continue };
        for entry in read.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            let Ok(file_type) = entry.file_type() else { continue };
            let path = entry.path();
            let child_rel = format!("{rel}/{name}");
            if file_type.is_dir() {
                if !SKIPPED_DIRS.contains(&name.as_str()) && !name.starts_with('.') {
                    stack.push((path, child_rel));
                }
            } else if (name.ends_with(".py") || name.ends_with(".pyi")) && name != "conftest.py" {
                out.push((path, child_rel));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// `pkg/sub/mod.py` → (`pkg.sub.mod`, false); `pkg/__init__.pyi` → (`pkg`, true).
fn module_of(rel: &str) -> Option<(String, bool)> {
    let stem = rel.strip_suffix(".pyi").or_else(|| rel.strip_suffix(".py"))?;
    let mut parts: Vec<&str> = stem.split('/').collect();
    let is_init = parts.last() == Some(&"__init__");
    if is_init {
        parts.pop();
    }
    if parts.is_empty() || !parts.iter().all(|p| is_identifier(p)) {
        return None;
    }
    Some((parts.join("."), is_init))
}

/// Everything the cross-file steps need.
struct Context<'a> {
    site: &'a Path,
    dists: &'a [(Distribution, Version)],
    facts: &'a [(&'a FileInput, FileFacts)],
    names: Names,
    deprecation_categories: HashSet<String>,
    future_categories: HashSet<String>,
    /// Top-level modules of every installed distribution (replacements).
    env_modules: HashSet<String>,
    /// Every module-level class: (module, qual) → (facts, distribution).
    classes: HashMap<(String, Vec<String>), (&'a scan::ClassFact, usize)>,
}

/// Modules a replacement may name outside the library itself.
const STDLIB: &[&str] = &[
    "abc",
    "ast",
    "builtins",
    "collections",
    "contextlib",
    "copy",
    "dataclasses",
    "datetime",
    "decimal",
    "enum",
    "fractions",
    "functools",
    "importlib",
    "inspect",
    "io",
    "itertools",
    "json",
    "logging",
    "math",
    "numbers",
    "operator",
    "os",
    "pathlib",
    "pickle",
    "random",
    "re",
    "shutil",
    "statistics",
    "string",
    "subprocess",
    "sys",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "types",
    "typing",
    "unittest",
    "warnings",
    "zoneinfo",
];

const BUILTINS: &[&str] = &[
    "bool",
    "bytes",
    "complex",
    "dict",
    "float",
    "int",
    "list",
    "object",
    "set",
    "str",
    "tuple",
    "frozenset",
    "range",
    "round",
    "abs",
    "min",
    "max",
    "sum",
    "len",
    "isinstance",
    "issubclass",
    "type",
    "print",
    "open",
    "zip",
    "map",
    "filter",
    "sorted",
    "reversed",
    "any",
    "all",
    "callable",
    "getattr",
    "hasattr",
    "setattr",
    "iter",
    "next",
    "enumerate",
    "divmod",
    "pow",
    "hash",
    "id",
    "repr",
    "format",
    "vars",
    "dir",
    "bytearray",
    "memoryview",
    "slice",
    "property",
    "staticmethod",
    "classmethod",
    "super",
    "locals",
    "globals",
];

/// A class: its module and qualified name there.
type ClassKey = (String, Vec<String>);

/// A site turned into an entry, before deduplication.
struct Candidate {
    entry: Entry,
    /// Where the site's definition is (module, qual), for inheritance.
    def: Option<(String, Vec<String>)>,
}

impl<'a> Context<'a> {
    fn new(
        site: &'a Path,
        dists: &'a [(Distribution, Version)],
        facts: &'a [(&'a FileInput, FileFacts)],
        env_modules: HashSet<String>,
    ) -> Self {
        let names = Names::new(facts.iter().map(|(input, f)| (input.module.as_str(), input.is_init, f)));
        let mut deprecation: HashSet<String> =
            ["DeprecationWarning", "PendingDeprecationWarning", "VisibleDeprecationWarning"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let mut future: HashSet<String> = ["FutureWarning"].iter().map(|s| s.to_string()).collect();
        // Subclasses (and aliases) of the categories, to a fixpoint.
        let mut edges: Vec<(String, Vec<String>)> = Vec::new();
        for (_, f) in facts {
            for class in &f.classes {
                let bases = class.bases.iter().map(|b| b.rsplit('.').next().unwrap_or(b).to_string()).collect();
                edges.push((class.qual.last().cloned().unwrap_or_default(), bases));
            }
            for (alias, target) in &f.warning_aliases {
                edges.push((alias.clone(), vec![target.clone()]));
            }
        }
        loop {
            let mut changed = false;
            for (name, bases) in &edges {
                if !deprecation.contains(name) && bases.iter().any(|b| deprecation.contains(b)) {
                    deprecation.insert(name.clone());
                    future.remove(name);
                    changed = true;
                } else if !deprecation.contains(name)
                    && !future.contains(name)
                    && bases.iter().any(|b| future.contains(b))
                {
                    future.insert(name.clone());
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut classes = HashMap::new();
        for (input, f) in facts {
            for class in &f.classes {
                classes.entry((input.module.clone(), class.qual.clone())).or_insert((class, input.dist));
            }
        }
        Context {
            site,
            dists,
            facts,
            names,
            deprecation_categories: deprecation,
            future_categories: future,
            env_modules,
            classes,
        }
    }

    fn entries(&self) -> (Vec<Entry>, usize) {
        let mut skipped = 0;
        let mut candidates: Vec<Candidate> = Vec::new();
        // Table messages from `raise AttributeError(f"... {TABLE[name]}")`.
        let mut templates: HashMap<(String, String), (String, String)> = HashMap::new();
        for (input, f) in self.facts {
            let package = package_root(&input.module);
            for t in &f.templates {
                templates.insert((package.clone(), t.table.clone()), (t.param.clone(), t.message.clone()));
            }
        }
        for (input, f) in self.facts {
            for site in &f.sites {
                match self.candidate(input, f, site, &templates) {
                    Some(c) => candidates.push(c),
                    None => skipped += 1,
                }
            }
        }
        for (input, f) in self.facts {
            candidates.extend(self.namespace_entries(input, f));
        }
        candidates.extend(self.inherited(&candidates));
        candidates.extend(self.copied(&candidates));

        // Deduplicate per (symbol, keyword): keep the most telling.
        let mut by_symbol: HashMap<(String, Option<String>), Vec<Entry>> = HashMap::new();
        for c in candidates {
            // Definitions inside private classes or functions are only kept
            // when inherited by public subclasses (added above).
            let private_part = c.def.as_ref().is_some_and(|(_, qual)| {
                qual.iter().any(|q| q.starts_with('_') && !(q.starts_with("__") && q.ends_with("__")))
            });
            if private_part || !symbol_is_valid(&c.entry.symbol.path) {
                skipped += 1;
                continue;
            }
            by_symbol.entry((c.entry.symbol.path.clone(), c.entry.symbol.keyword.clone())).or_default().push(c.entry);
        }
        let mut entries: Vec<Entry> = by_symbol
            .into_values()
            .map(|mut group| {
                group.sort_by_key(rank_entry);
                let mut best = group.remove(0);
                for other in &group {
                    if other.kind == best.kind {
                        if best.replacement.is_none() {
                            best.replacement = other.replacement.clone();
                        }
                        if best.removed_in.is_none() && other.removed_in.is_some() {
                            let ok = match (&best.deprecated_in, &other.removed_in) {
                                (Some(d), Some(r)) => d <= r,
                                _ => true,
                            };
                            if ok {
                                best.removed_in = other.removed_in.clone();
                            }
                        }
                    }
                }
                best
            })
            .collect();
        entries.sort_by(|a, b| {
            (&a.library, &a.symbol.path, &a.symbol.keyword).cmp(&(&b.library, &b.symbol.path, &b.symbol.keyword))
        });
        (entries, skipped)
    }

    fn category_class(&self, category: &str) -> Option<bool> {
        if self.deprecation_categories.contains(category) {
            Some(true)
        } else if self.future_categories.contains(category) {
            Some(false)
        } else {
            None
        }
    }

    fn candidate(
        &self,
        input: &FileInput,
        facts: &FileFacts,
        site: &Site,
        templates: &HashMap<(String, String), (String, String)>,
    ) -> Option<Candidate> {
        let (dist, installed) = &self.dists[input.dist];
        let mut message = site.message.clone();
        let mut def = None;
        let path = match &site.target {
            Target::Def(qual) => {
                def = Some((input.module.clone(), qual.clone()));
                self.names.public_path(&input.module, qual)
            }
            Target::Module => input.module.clone(),
            Target::Attr { module, name } => match &site.table {
                Some(table) => {
                    let owner = self.table_owner(input, table);
                    let package = package_root(&input.module);
                    if let Some((param, template)) = templates.get(&(package, table.clone())) {
                        let value = message.clone();
                        message = template
                            .replace(&format!("{{{table}[{param}]}}"), &value)
                            .replace(&format!("{{{param}}}"), name)
                            .replace(&format!("{{{param}!r}}"), &format!("'{name}'"));
                    }
                    format!("{owner}.{name}")
                }
                None => format!("{module}.{name}"),
            },
        };
        let mut keyword = site.keyword.clone();
        let mut category_removal = None;
        let kind = match &site.kind {
            SiteKind::Fixed(kind) => *kind,
            SiteKind::Warn { category, conditional } => {
                let is_deprecation = self.category_class(category)?;
                category_removal = category_version(category);
                let says_deprecated = mentions_deprecation(&message);
                if keyword.is_some() {
                    if !is_deprecation && !says_deprecated {
                        keyword = None;
                        EntryKind::BehaviourChanged
                    } else if site.replacement.as_deref().is_some_and(is_identifier) {
                        EntryKind::KeywordRenamed
                    } else {
                        EntryKind::KeywordRemoved
                    }
                } else if *conditional {
                    EntryKind::BehaviourChanged
                } else if is_deprecation || says_deprecated {
                    EntryKind::Deprecated
                } else {
                    EntryKind::BehaviourChanged
                }
            }
        };
        if keyword.is_some() && !matches!(kind, EntryKind::KeywordRemoved | EntryKind::KeywordRenamed) {
            return None;
        }
        if message.is_empty() {
            message = format!("`{path}` is {}.", if kind == EntryKind::Removed { "removed" } else { "deprecated" });
        }

        // Versions: arguments, then the message, then the category's name,
        // then (for the side the message leaves open) the installed version.
        let stated = stated_versions(&message);
        let mut stated_removed = site.removed_in.clone().or(stated.removed);
        if site.table.is_some() && stated_removed.is_none() {
            // A table's docstring ("expired ... since 2.0") or its module name
            // (`_expired_attrs_2_0`) dates it.
            stated_removed = facts
                .docstring
                .as_deref()
                .and_then(|d| stated_versions(&d.replace("discontinued", "removed")).removed)
                .or_else(|| version_in_module_name(&input.module));
        }
        let parse = |v: Option<String>| v.and_then(|v| Version::from_str(&v).ok());
        let mut deprecated_in = parse(site.deprecated_in.clone().or(stated.deprecated));
        let mut removed_in = parse(stated_removed).or_else(|| parse(category_removal));
        if kind == EntryKind::Removed {
            if removed_in.as_ref().is_none_or(|r| r > installed) {
                removed_in = Some(installed.clone());
            }
        } else {
            if deprecated_in.is_none() {
                deprecated_in = Some(installed.clone());
            }
            // Still here: a removal the message dates at or before the
            // installed version did not happen.
            if removed_in.as_ref().is_some_and(|r| r <= installed) {
                removed_in = None;
            }
        }
        if let (Some(d), Some(r)) = (&deprecated_in, &removed_in) {
            if d > r {
                if kind == EntryKind::Removed {
                    deprecated_in = None;
                } else {
                    removed_in = None;
                }
            }
        }

        let replacement = match kind {
            EntryKind::KeywordRenamed => site.replacement.clone(),
            EntryKind::KeywordRemoved | EntryKind::BehaviourChanged => None,
            _ => site
                .replacement
                .clone()
                .or_else(|| stated_replacement(&message))
                .and_then(|r| self.resolve_replacement(&r, &path, &dist.top_levels)),
        };

        let file = self.site.join(&input.rel);
        Some(Candidate {
            entry: Entry {
                library: dist.name.clone(),
                symbol: SymbolPattern { path, keyword },
                kind,
                deprecated_in,
                removed_in,
                replacement,
                replacement_since: None,
                argument: None,
                unless_keyword: None,
                severity_cap: None,
                note: message,
                link: file.display().to_string(),
                origin: format!("{}:{}", input.rel, site.line),
                source: EntrySource::Harvested { version: installed.clone() },
            },
            def,
        })
    }

    /// A deprecated namespace (SciPy's `scipy.linalg.basic`): the module
    /// itself, and each name of its literal `__all__`, with the same name in
    /// the parent package as the replacement when it exists there.
    fn namespace_entries(&self, input: &FileInput, facts: &FileFacts) -> Vec<Candidate> {
        let Some(line) = facts.deprecated_namespace else { return Vec::new() };
        let (dist, installed) = &self.dists[input.dist];
        let module = &input.module;
        let parent = module.rsplit_once('.').map(|(p, _)| p.to_string());
        let header = facts.header_comment.clone().unwrap_or_default();
        let removed_in =
            stated_versions(&header).removed.and_then(|r| Version::from_str(&r).ok()).filter(|r| r > installed);
        let make = |path: String, note: String, replacement: Option<String>| Candidate {
            entry: Entry {
                library: dist.name.clone(),
                symbol: SymbolPattern { path, keyword: None },
                kind: EntryKind::Deprecated,
                deprecated_in: Some(installed.clone()),
                removed_in: removed_in.clone(),
                replacement,
                replacement_since: None,
                argument: None,
                unless_keyword: None,
                severity_cap: None,
                note,
                link: self.site.join(&input.rel).display().to_string(),
                origin: format!("{}:{line}", input.rel),
                source: EntrySource::Harvested { version: installed.clone() },
            },
            def: None,
        };
        let mut out =
            vec![make(module.clone(), clean(&format!("The `{module}` namespace is deprecated. {header}")), None)];
        if let scan::AllNames::Literal(names) = &facts.all {
            for name in names.iter().filter(|n| is_identifier(n)) {
                let replacement = parent.as_ref().map(|p| format!("{p}.{name}")).filter(|r| self.exists(r));
                let advice = match &replacement {
                    Some(r) => format!(" Import `{name}` as `{r}` instead."),
                    None => String::new(),
                };
                out.push(make(
                    format!("{module}.{name}"),
                    clean(&format!("The `{module}` namespace is deprecated.{advice} {header}")),
                    replacement,
                ));
            }
        }
        out
    }

    /// The package a NumPy-style table belongs to: the package whose
    /// `__init__` imports it, else the module itself if it is a package,
    /// else its parent package.
    fn table_owner(&self, input: &FileInput, table: &str) -> String {
        if input.is_init {
            return input.module.clone();
        }
        let importers = self.names.importers(&input.module, table);
        let packages: Vec<&String> = importers.iter().filter(|m| self.is_package(m)).collect();
        if let Some(best) = packages.iter().min_by_key(|m| (m.split('.').count(), m.len())) {
            return (*best).clone();
        }
        input.module.rsplit_once('.').map(|(p, _)| p.to_string()).unwrap_or_else(|| input.module.clone())
    }

    fn is_package(&self, module: &str) -> bool {
        self.facts.iter().any(|(i, _)| i.is_init && i.module == module)
    }

    /// A replacement as written in a message, as a dotted path, or `None`
    /// when it is no clear name.
    fn resolve_replacement(&self, raw: &str, symbol: &str, library_modules: &[String]) -> Option<String> {
        let expanded = [("np.", "numpy."), ("pd.", "pandas."), ("mpl.", "matplotlib."), ("plt.", "matplotlib.pyplot.")]
            .iter()
            .find_map(|(short, long)| raw.strip_prefix(short).map(|rest| format!("{long}{rest}")))
            .unwrap_or_else(|| raw.to_string());
        if !is_dotted_name(&expanded) {
            return None;
        }
        let first = expanded.split('.').next().unwrap_or("");
        let resolved = if library_modules.iter().any(|m| m == first) {
            Some(expanded.clone())
        } else if !expanded.contains('.') {
            if BUILTINS.contains(&expanded.as_str()) {
                Some(expanded.clone())
            } else {
                // A sibling: `trapezoid` next to `numpy.trapz`.
                symbol.rsplit_once('.').map(|(parent, _)| format!("{parent}.{expanded}"))
            }
        } else {
            let parts: Vec<&str> = symbol.split('.').collect();
            if let Some(i) = parts.iter().position(|p| *p == first) {
                Some(format!("{}.{}", parts[..i].join("."), expanded))
            } else if STDLIB.contains(&first) || self.env_modules.contains(first) {
                Some(expanded.clone())
            } else {
                None
            }
        };
        let resolved = resolved.filter(|r| r != symbol)?;
        // A name inside the scanned code must exist there.
        let top = resolved.split('.').next().unwrap_or("");
        if self.names.has_module(top) && !self.exists(&resolved) {
            return None;
        }
        Some(resolved)
    }

    /// Whether a dotted path names something the scanned code defines: a
    /// module, a name in a module's namespace, or a class member (inherited
    /// members included).
    fn exists(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('.').collect();
        for i in (1..=parts.len()).rev() {
            let module = parts[..i].join(".");
            if !self.names.has_module(&module) {
                continue;
            }
            if i == parts.len() {
                return true;
            }
            let Some((def_module, qual)) = self.names.resolve(&module, &parts[i..].join(".")) else { return false };
            return qual.len() == 1 || self.has_member(&def_module, &qual[..qual.len() - 1], &qual[qual.len() - 1], 0);
        }
        false
    }

    fn has_member(&self, module: &str, class: &[String], member: &str, depth: u32) -> bool {
        if depth > 12 {
            return false;
        }
        let Some((fact, _)) = self.classes.get(&(module.to_string(), class.to_vec())) else { return false };
        if fact.members.iter().any(|m| m == member) {
            return true;
        }
        fact.bases.iter().any(|base| {
            self.names.resolve(module, base).is_some_and(|(m, q)| self.has_member(&m, &q, member, depth + 1))
        })
    }

    /// Members deprecated in a base class, recorded for its subclasses in the
    /// same distribution that do not override them, so that `DataFrame.x`
    /// finds what `NDFrame.x` says. To keep this to the names users write, a
    /// subclass gets the entry when it is public and the base is not (a
    /// private base, `_AxesBase` → `Axes`), or when a package re-exports the
    /// subclass but not the base (`NDFrame` → `DataFrame`); the walk stops at
    /// the first subclass that gets it. Constructor keywords go to subclasses
    /// that keep the base `__init__` or take the keyword too.
    fn inherited(&self, candidates: &[Candidate]) -> Vec<Candidate> {
        let mut children: HashMap<ClassKey, Vec<ClassKey>> = HashMap::new();
        for ((module, qual), (class, _)) in &self.classes {
            for base in &class.bases {
                if let Some(key) = self.names.resolve(module, base) {
                    children.entry(key).or_default().push((module.clone(), qual.clone()));
                }
            }
        }
        for list in children.values_mut() {
            list.sort();
        }
        let mut out = Vec::new();
        for c in candidates {
            let Some((module, qual)) = &c.def else { continue };
            let keyword = c.entry.symbol.keyword.clone();
            let (class_qual, member) = if keyword.is_some()
                && self.classes.contains_key(&(module.clone(), qual.clone()))
            {
                (qual.clone(), None)
            } else if qual.len() >= 2 && self.classes.contains_key(&(module.clone(), qual[..qual.len() - 1].to_vec())) {
                (qual[..qual.len() - 1].to_vec(), Some(qual[qual.len() - 1].clone()))
            } else {
                continue;
            };
            let Some((_, dist)) = self.classes.get(&(module.clone(), class_qual.clone())) else { continue };
            let base_public = names::is_public(&self.names.public_path(module, &class_qual));
            let base_exported = class_qual.len() == 1 && self.names.is_exported(module, &class_qual[0]);
            let mut queue = vec![(module.clone(), class_qual)];
            let mut seen = HashSet::new();
            while let Some(key) = queue.pop() {
                if !seen.insert(key.clone()) || seen.len() > 200 {
                    continue;
                }
                for (sub_module, sub_qual) in children.get(&key).into_iter().flatten() {
                    let Some((fact, sub_dist)) = self.classes.get(&(sub_module.clone(), sub_qual.clone())) else {
                        continue;
                    };
                    if sub_dist != dist {
                        continue;
                    }
                    let overrides = match &member {
                        Some(m) => fact.members.contains(m),
                        None => fact.init_params.as_ref().is_some_and(|params| {
                            let kw = keyword.as_deref().unwrap_or("");
                            !params.iter().any(|p| p == kw || p.starts_with("**"))
                        }),
                    };
                    if overrides {
                        continue;
                    }
                    let class_path = self.names.public_path(sub_module, sub_qual);
                    let sub_public = names::is_public(&class_path);
                    let sub_exported = sub_qual.len() == 1 && self.names.is_exported(sub_module, &sub_qual[0]);
                    if !sub_public {
                        queue.push((sub_module.clone(), sub_qual.clone()));
                        continue;
                    }
                    if !base_public || (sub_exported && !base_exported) {
                        let mut entry = c.entry.clone();
                        // A sibling replacement moves along (`NDBase.transpose` → `Frame.transpose`).
                        if let Some(r) = &entry.replacement {
                            let old_class = match &member {
                                Some(_) => {
                                    entry.symbol.path.rsplit_once('.').map(|(p, _)| p.to_string()).unwrap_or_default()
                                }
                                None => entry.symbol.path.clone(),
                            };
                            if let Some(rest) = r.strip_prefix(&format!("{old_class}.")) {
                                entry.replacement = Some(format!("{class_path}.{rest}"));
                            }
                        }
                        entry.symbol.path = match &member {
                            Some(m) => format!("{class_path}.{m}"),
                            None => class_path,
                        };
                        out.push(Candidate { entry, def: None });
                    }
                }
            }
        }
        out
    }

    /// matplotlib's pyplot wrappers: `@_copy_docstring_and_deprecators(Axes.plot)`
    /// gives the wrapper the keyword deprecations of the method.
    fn copied(&self, candidates: &[Candidate]) -> Vec<Candidate> {
        let mut out = Vec::new();
        for (input, f) in self.facts {
            for copy in &f.copies {
                let Some((module, qual)) = self.names.resolve(&input.module, &copy.source) else { continue };
                let target_path = self.names.public_path(&input.module, &copy.target);
                for c in candidates {
                    if c.entry.symbol.keyword.is_none() || c.def.as_ref() != Some(&(module.clone(), qual.clone())) {
                        continue;
                    }
                    let mut entry = c.entry.clone();
                    entry.symbol.path = target_path.clone();
                    out.push(Candidate { entry, def: None });
                }
            }
        }
        out
    }
}

fn package_root(module: &str) -> String {
    module.split('.').next().unwrap_or(module).to_string()
}

/// `numpy._expired_attrs_2_0` → 2.0.
fn version_in_module_name(module: &str) -> Option<String> {
    let last = module.rsplit('.').next()?;
    let parts: Vec<&str> = last.split('_').collect();
    let n = parts.len();
    if n >= 3 && [parts[n - 2], parts[n - 1]].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
        return Some(format!("{}.{}", parts[n - 2], parts[n - 1]));
    }
    None
}

/// A dotted Python name whose class and member parts are public (private
/// module parts are allowed: some definitions have no public path).
fn symbol_is_valid(path: &str) -> bool {
    is_dotted_name(path)
        && !path.rsplit('.').next().is_some_and(|last| last.starts_with('_') && !last.starts_with("__"))
}

fn rank_entry(e: &Entry) -> (u8, bool, std::cmp::Reverse<usize>, String) {
    let kind = match e.kind {
        EntryKind::Removed => 0,
        EntryKind::KeywordRemoved | EntryKind::KeywordRenamed => 1,
        EntryKind::Deprecated | EntryKind::Renamed | EntryKind::Moved => 2,
        EntryKind::BehaviourChanged => 3,
    };
    (kind, e.removed_in.is_none(), std::cmp::Reverse(e.note.len()), e.origin.clone())
}
