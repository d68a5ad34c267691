//! Release notes: fetch a library's release-notes page for a version, split it into
//! entries by section, cache them on disk, and pick the entries that mention a symbol.
//!
//! * Sources are data (`server/release-notes.toml`, bundled): a base URL that the
//!   configuration or `RECODE_NOTES_BASE` replaces, a path template, the format and
//!   how the version is spelled.
//! * Fetching is bounded: HTTPS only (plain HTTP to loopback hosts only), connect and
//!   total time limits, a size cap enforced while reading, at most a few redirects,
//!   GET only, no cookies or credentials ([`fetch`]).
//! * Pages are reStructuredText (NumPy, SciPy, pandas, matplotlib, scikit-learn) or
//!   Markdown (the GitHub release JSON of PyTorch); both become [`NoteEntry`]s.
//! * The cache holds one JSON file per (library, version); writes are atomic and a
//!   failed fetch never touches what is cached ([`cache`]).
//! * [`ReleaseNotes::retrieve`] never fails: problems become `warnings`.
//!
//! The blocking HTTP client must not be driven from inside an async runtime's worker
//! thread: async callers use `spawn_blocking`.

mod cache;
mod doc;
pub mod fetch;
mod markdown;
mod rank;
mod rst;
pub mod source;

#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use crate::knowledge::catalog::{normalize_name, Entry};

pub use cache::NotesCache;
pub use fetch::{check_url, FetchLimits, Fetcher};
pub use rank::{apply_budget, rank_entries, Relevance};
pub use source::{NotesFormat, NotesSource, NotesSources, VersionSpelling};

/// Environment variable: an origin (or origin plus prefix) that replaces every
/// source's default base, e.g. a mirror or a test's loopback server.
pub const ENV_NOTES_BASE: &str = "RECODE_NOTES_BASE";
/// Environment variable: recode's cache root; release notes go to `$RECODE_CACHE_DIR/notes`.
pub const ENV_CACHE_DIR: &str = "RECODE_CACHE_DIR";
/// Environment variable: `1`/`true` reads release notes from the cache only.
pub const ENV_OFFLINE: &str = "RECODE_OFFLINE";

/// Default character budget for the notes put into one prompt.
pub const DEFAULT_BUDGET_CHARS: usize = 2_000;

/// Errors of the release-notes machinery. [`ReleaseNotes::retrieve`] and
/// [`ReleaseNotes::page`] turn them into warnings; the lower-level functions return them.
#[derive(Debug, thiserror::Error)]
pub enum NotesError {
    #[error("no release-notes source is known for library `{0}`")]
    UnknownLibrary(String),
    #[error("refusing to fetch {url}: {reason}")]
    Refused { url: String, reason: String },
    #[error("could not fetch {url}: timed out after {seconds:.1} s")]
    Timeout { url: String, seconds: f64 },
    #[error("could not fetch {url}: HTTP {status}")]
    Status { url: String, status: String },
    #[error("could not fetch {url}: the page is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error("could not fetch {url}: more than {limit} redirects")]
    TooManyRedirects { url: String, limit: usize },
    #[error("could not fetch {url}: {message}")]
    Http { url: String, message: String },
    #[error("could not parse {url}: {message}")]
    Parse { url: String, message: String },
    #[error("could not parse {url}: no release-note entries found in the {format} page")]
    NoEntries { url: String, format: &'static str },
    #[error("release-notes cache {}: {message}", path.display())]
    Cache { path: PathBuf, message: String },
    #[error("{0}")]
    Config(String),
}

/// The section of the release notes an entry sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Section {
    Removals,
    ExpiredDeprecations,
    Deprecations,
    ApiChanges,
    BehaviourChanges,
    Other,
}

impl Section {
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Removals => "removals",
            Section::ExpiredDeprecations => "expired-deprecations",
            Section::Deprecations => "deprecations",
            Section::ApiChanges => "api-changes",
            Section::BehaviourChanges => "behaviour-changes",
            Section::Other => "other",
        }
    }

    /// Human title, e.g. "Expired deprecations".
    pub fn title(self) -> &'static str {
        match self {
            Section::Removals => "Removals",
            Section::ExpiredDeprecations => "Expired deprecations",
            Section::Deprecations => "Deprecations",
            Section::ApiChanges => "API changes",
            Section::BehaviourChanges => "Behaviour changes",
            Section::Other => "Other",
        }
    }

    /// Removals, expired deprecations and deprecations: what a finding is about.
    pub fn is_deprecation_related(self) -> bool {
        matches!(self, Section::Removals | Section::ExpiredDeprecations | Section::Deprecations)
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a release-notes page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteEntry {
    /// PEP 503 library name.
    pub library: String,
    /// The version the entry belongs to, as the source spells it (`2.0.0`; for a
    /// scikit-learn page the patch section's version, e.g. `1.2.1`, else `1.2`).
    pub version: String,
    pub section: Section,
    /// The change's own heading, where the page gives one (NumPy, pandas, torch),
    /// or the module heading it sits under (scikit-learn).
    pub title: Option<String>,
    /// Readable text: markup stripped, code in single backticks, literal blocks
    /// indented by four spaces.
    pub text: String,
    /// The page the entry was read from.
    pub source_url: String,
}

impl NoteEntry {
    /// Title (if any) and text, as put into a prompt.
    pub fn render(&self) -> String {
        match &self.title {
            Some(t) => format!("{t}\n{}", self.text),
            None => self.text.clone(),
        }
    }
}

/// A page of release notes, as cached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotesPage {
    pub library: String,
    /// The version as spelled in the source URL.
    pub version: String,
    pub source_url: String,
    /// Seconds since the Unix epoch.
    pub fetched_at: u64,
    pub entries: Vec<NoteEntry>,
}

impl NotesPage {
    /// Age at `now`.
    pub fn age(&self, now: SystemTime) -> Duration {
        let now = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Duration::from_secs(now.saturating_sub(self.fetched_at))
    }
}

/// Where a looked-up page came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageOrigin {
    /// Fetched now (and written to the cache).
    Fetched,
    /// Read from the cache; `stale` when older than the configured maximum age.
    Cache { stale: bool },
    /// Nothing: see the warnings.
    Unavailable,
}

/// The result of [`ReleaseNotes::page`].
#[derive(Debug, Clone)]
pub struct PageLookup {
    pub page: Option<NotesPage>,
    pub origin: PageOrigin,
    pub warnings: Vec<String>,
}

/// What to look up: a symbol of a library, at some versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteQuery {
    /// Library (PEP 503 name, normalised on use).
    pub library: String,
    /// Qualified dotted name, e.g. `numpy.float_`, `pandas.DataFrame.append`.
    pub symbol: String,
    /// For keyword changes: the keyword argument (`normalize` in
    /// `sklearn.linear_model.LinearRegression(normalize=)`).
    pub keyword: Option<String>,
    /// Versions whose notes to read, most relevant first (duplicates and versions
    /// that map to the same page are read once).
    pub versions: Vec<Version>,
    /// Character budget for the rendered entries ([`NoteEntry::render`]).
    pub budget_chars: usize,
}

impl NoteQuery {
    /// A query for `symbol`, which may carry a keyword as the catalog spells it:
    /// `sklearn.linear_model.LinearRegression(normalize=)`.
    pub fn new(library: &str, symbol: &str, versions: Vec<Version>, budget_chars: usize) -> NoteQuery {
        let (path, keyword) = split_symbol(symbol);
        NoteQuery { library: normalize_name(library), symbol: path, keyword, versions, budget_chars }
    }

    /// The query for a catalog entry: the versions it was removed and deprecated
    /// in, then the installed version.
    pub fn for_entry(entry: &Entry, installed: Option<&Version>, budget_chars: usize) -> NoteQuery {
        let versions = [entry.removed_in.as_ref(), entry.deprecated_in.as_ref(), installed]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        NoteQuery {
            library: normalize_name(&entry.library),
            symbol: entry.symbol.path.clone(),
            keyword: entry.symbol.keyword.clone(),
            versions,
            budget_chars,
        }
    }
}

fn split_symbol(symbol: &str) -> (String, Option<String>) {
    let symbol = symbol.trim();
    match symbol.split_once('(') {
        Some((path, rest)) => {
            let kw = rest.trim_end_matches(')').trim().trim_end_matches('=').trim();
            (path.trim().to_string(), (!kw.is_empty()).then(|| kw.to_string()))
        }
        None => (symbol.to_string(), None),
    }
}

/// One retrieved entry and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundNote {
    #[serde(flatten)]
    pub entry: NoteEntry,
    pub relevance: Relevance,
    /// The keyword of a keyword query is mentioned too.
    pub mentions_keyword: bool,
    /// The text was cut to fit the budget (it ends with `…`).
    pub truncated: bool,
}

/// The result of [`ReleaseNotes::retrieve`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Retrieved {
    /// Best first, within the budget.
    pub entries: Vec<FoundNote>,
    /// Matching entries left out for the budget.
    pub omitted: usize,
    /// Fetch, parse and cache problems; never fatal.
    pub warnings: Vec<String>,
}

impl Retrieved {
    /// The rendered entries joined by blank lines.
    pub fn text(&self) -> String {
        self.entries.iter().map(|f| f.entry.render()).collect::<Vec<_>>().join("\n\n")
    }
}

/// Anything that answers note queries: [`ReleaseNotes`], or a stub in a test.
pub trait NotesProvider: Send + Sync {
    fn retrieve(&self, query: &NoteQuery) -> Retrieved;
}

/// How release notes are fetched and cached.
#[derive(Debug, Clone)]
pub struct NotesConfig {
    /// Replaces every source's default base (`RECODE_NOTES_BASE`).
    pub global_base: Option<String>,
    /// library (PEP 503) → base, winning over `global_base`.
    pub base_overrides: HashMap<String, String>,
    /// Where pages are cached; `None`: no disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Read the cache only.
    pub offline: bool,
    /// A cached page younger than this is used without fetching.
    pub max_age: Duration,
    pub limits: FetchLimits,
}

impl Default for NotesConfig {
    fn default() -> Self {
        NotesConfig {
            global_base: None,
            base_overrides: HashMap::new(),
            cache_dir: default_cache_dir(),
            offline: false,
            max_age: Duration::from_secs(30 * 24 * 60 * 60),
            limits: FetchLimits::default(),
        }
    }
}

impl NotesConfig {
    /// Defaults, then `RECODE_NOTES_BASE`, `RECODE_CACHE_DIR` and `RECODE_OFFLINE`.
    pub fn from_env() -> NotesConfig {
        NotesConfig::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`NotesConfig::from_env`], reading variables through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> NotesConfig {
        let mut config = NotesConfig::default();
        if let Some(base) = var(ENV_NOTES_BASE).filter(|b| !b.trim().is_empty()) {
            config.global_base = Some(base.trim().to_string());
        }
        if let Some(dir) = var(ENV_CACHE_DIR).filter(|d| !d.trim().is_empty()) {
            config.cache_dir = Some(PathBuf::from(dir.trim()).join("notes"));
        }
        if let Some(off) = var(ENV_OFFLINE) {
            config.offline = matches!(off.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on");
        }
        config
    }

    /// A configuration for tests and mirrors: every source under `base`, cache in `cache_dir`.
    pub fn with_base(base: &str, cache_dir: Option<PathBuf>) -> NotesConfig {
        NotesConfig { global_base: Some(base.to_string()), cache_dir, ..NotesConfig::default() }
    }
}

/// `<user cache dir>/recode/notes` (e.g. `~/.cache/recode/notes`), if the platform has one.
pub fn default_cache_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "recode").map(|d| d.cache_dir().join("notes"))
}

/// Release-notes retrieval: sources, fetcher, disk cache, and an in-memory memo of
/// the pages looked up by this instance (so a long-running server reads a page
/// once, and retries a failed one only after a few minutes).
pub struct ReleaseNotes {
    config: NotesConfig,
    sources: NotesSources,
    cache: Option<NotesCache>,
    fetcher: OnceLock<Result<Fetcher, String>>,
    memo: Mutex<HashMap<(String, String), (Instant, PageLookup)>>,
}

/// How long a lookup that failed (or fell back to a stale cache) is remembered
/// before the page is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(10 * 60);

impl ReleaseNotes {
    /// With the bundled sources.
    pub fn new(config: NotesConfig) -> ReleaseNotes {
        ReleaseNotes::with_sources(config, NotesSources::bundled())
    }

    pub fn with_sources(config: NotesConfig, sources: NotesSources) -> ReleaseNotes {
        let cache = config.cache_dir.clone().map(NotesCache::new);
        ReleaseNotes { config, sources, cache, fetcher: OnceLock::new(), memo: Mutex::new(HashMap::new()) }
    }

    pub fn config(&self) -> &NotesConfig {
        &self.config
    }

    pub fn sources(&self) -> &NotesSources {
        &self.sources
    }

    fn base_for(&self, library: &str, source: &NotesSource) -> String {
        self.config
            .base_overrides
            .iter()
            .find(|(lib, _)| normalize_name(lib) == library)
            .map(|(_, b)| b.clone())
            .or_else(|| self.config.global_base.clone())
            .unwrap_or_else(|| source.base.clone())
    }

    /// The machine-readable page URL for `library` at `version`, and the version as spelled.
    pub fn page_url(&self, library: &str, version: &Version) -> Result<(String, String), NotesError> {
        let library = normalize_name(library);
        let source = self.sources.get(&library).ok_or_else(|| NotesError::UnknownLibrary(library.clone()))?;
        let spelled = source.spelling.spell(version);
        Ok((source.url(&self.base_for(&library, source), &spelled), spelled))
    }

    fn fetcher(&self) -> Result<&Fetcher, NotesError> {
        self.fetcher
            .get_or_init(|| Fetcher::new(self.config.limits.clone()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| NotesError::Config(e.clone()))
    }

    /// The page of `library` at `version`: from a fresh cache, else fetched (and
    /// cached), else from a stale cache; what went wrong is in `warnings`.
    pub fn page(&self, library: &str, version: &Version) -> PageLookup {
        let library = normalize_name(library);
        let Some(source) = self.sources.get(&library) else {
            return PageLookup {
                page: None,
                origin: PageOrigin::Unavailable,
                warnings: vec![NotesError::UnknownLibrary(library).to_string()],
            };
        };
        let spelled = source.spelling.spell(version);
        let key = (library.clone(), spelled.clone());
        if let Some((at, found)) = self.memo.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            let settled = matches!(found.origin, PageOrigin::Fetched | PageOrigin::Cache { stale: false });
            if settled || at.elapsed() < RETRY_AFTER {
                return found.clone();
            }
        }
        let lookup = self.look_up(&library, &spelled, source);
        self.memo.lock().unwrap_or_else(|e| e.into_inner()).insert(key, (Instant::now(), lookup.clone()));
        lookup
    }

    fn look_up(&self, library: &str, spelled: &str, source: &NotesSource) -> PageLookup {
        let what = format!("release notes of {library} {spelled}");
        let mut warnings = Vec::new();
        let now = SystemTime::now();
        let cached = match &self.cache {
            Some(cache) => match cache.load(library, spelled) {
                Ok(page) => page,
                Err(e) => {
                    tracing::debug!("{e}");
                    warnings.push(format!("{what}: {e}; ignoring the cached copy"));
                    None
                }
            },
            None => None,
        };
        if let Some(page) = &cached {
            if page.age(now) < self.config.max_age {
                tracing::debug!(library, version = spelled, "release notes from the cache");
                return PageLookup { page: cached, origin: PageOrigin::Cache { stale: false }, warnings };
            }
        }
        if self.config.offline {
            return match cached {
                Some(page) => PageLookup { page: Some(page), origin: PageOrigin::Cache { stale: true }, warnings },
                None => {
                    warnings.push(format!("{what}: offline, and nothing is cached"));
                    PageLookup { page: None, origin: PageOrigin::Unavailable, warnings }
                }
            };
        }
        let base = self.base_for(library, source);
        let url = source.url(&base, spelled);
        let fetched = self.fetcher().and_then(|f| fetch_page(f, source, &base, &url, library, spelled, &mut warnings));
        match fetched {
            Ok(entries) => {
                let page = NotesPage {
                    library: library.to_string(),
                    version: spelled.to_string(),
                    source_url: url,
                    fetched_at: now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
                    entries,
                };
                if let Some(cache) = &self.cache {
                    if let Err(e) = cache.store(&page) {
                        tracing::debug!("{e}");
                        warnings.push(format!("{what}: {e}"));
                    }
                }
                tracing::debug!(library, version = spelled, entries = page.entries.len(), "release notes fetched");
                PageLookup { page: Some(page), origin: PageOrigin::Fetched, warnings }
            }
            Err(e) => {
                tracing::debug!("{what}: {e}");
                match cached {
                    Some(page) => {
                        let days = page.age(now).as_secs() / 86_400;
                        warnings.push(format!(
                            "{what}: {e}; using the cached copy fetched {days} day{} ago",
                            if days == 1 { "" } else { "s" }
                        ));
                        PageLookup { page: Some(page), origin: PageOrigin::Cache { stale: true }, warnings }
                    }
                    None => {
                        warnings.push(format!("{what}: {e}; nothing is cached"));
                        PageLookup { page: None, origin: PageOrigin::Unavailable, warnings }
                    }
                }
            }
        }
    }

    /// The entries of the notes of `query.versions` that mention `query.symbol`,
    /// best first, within the budget. Never fails: problems are in `warnings`.
    pub fn retrieve(&self, query: &NoteQuery) -> Retrieved {
        let library = normalize_name(&query.library);
        let mut warnings = Vec::new();
        let Some(source) = self.sources.get(&library) else {
            return Retrieved {
                warnings: vec![NotesError::UnknownLibrary(library).to_string()],
                ..Retrieved::default()
            };
        };
        if query.versions.is_empty() {
            warnings.push(format!("release notes of {library}: no version to read them for"));
        }
        let mut seen = Vec::new();
        let mut entries = Vec::new();
        for version in &query.versions {
            let spelled = source.spelling.spell(version);
            if seen.contains(&spelled) {
                continue;
            }
            seen.push(spelled);
            let lookup = self.page(&library, version);
            for w in lookup.warnings {
                if !warnings.contains(&w) {
                    warnings.push(w);
                }
            }
            if let Some(page) = lookup.page {
                entries.extend(page.entries);
            }
        }
        let ranked = rank_entries(&entries, query, &source.module_aliases);
        let (entries, omitted) = apply_budget(ranked, query.budget_chars);
        Retrieved { entries, omitted, warnings }
    }
}

impl NotesProvider for ReleaseNotes {
    fn retrieve(&self, query: &NoteQuery) -> Retrieved {
        ReleaseNotes::retrieve(self, query)
    }
}

/// Largest number of `.. include::` files followed in one page.
const MAX_INCLUDES: usize = 16;

/// Fetches and parses one page (following its includes where the source says so).
fn fetch_page(
    fetcher: &Fetcher,
    source: &NotesSource,
    base: &str,
    url: &str,
    library: &str,
    version: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<NoteEntry>, NotesError> {
    let accept = match source.format {
        NotesFormat::GithubRelease => "application/vnd.github+json",
        NotesFormat::Rst | NotesFormat::Markdown => "text/plain, */*;q=0.5",
    };
    let mut text = fetcher.get_text(url, accept)?;
    if source.format == NotesFormat::Rst {
        if let Some(root) = &source.include_root {
            text = splice_includes(fetcher, &text, base, root, url, warnings);
        }
    }
    parse_page(source.format, &text, library, version, url)
}

/// Replaces `.. include:: PATH` lines by the included files' text (one level).
fn splice_includes(
    fetcher: &Fetcher,
    text: &str,
    base: &str,
    root: &str,
    page_url: &str,
    warnings: &mut Vec<String>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut followed = 0;
    let mut total = text.len() as u64;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let target = trimmed.strip_prefix(".. include::").map(str::trim).filter(|t| !t.is_empty());
        match target {
            Some(target) if followed < MAX_INCLUDES && total <= fetcher.limits().max_bytes => {
                followed += 1;
                let url = if target.starts_with('/') {
                    source::join_url(base, &source::join_url(root, target))
                } else {
                    match reqwest::Url::parse(page_url).and_then(|u| u.join(target)) {
                        Ok(u) => u.to_string(),
                        Err(e) => {
                            warnings.push(format!("{page_url}: include `{target}`: {e}"));
                            continue;
                        }
                    }
                };
                match fetcher.get_text(&url, "text/plain, */*;q=0.5") {
                    Ok(included) => {
                        total += included.len() as u64;
                        out.push_str(&included);
                        out.push_str("\n\n");
                    }
                    Err(e) => warnings.push(format!("{page_url}: include `{target}`: {e}")),
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Parses a page's text into entries. A page without any entry is an error.
pub fn parse_page(
    format: NotesFormat,
    text: &str,
    library: &str,
    version: &str,
    source_url: &str,
) -> Result<Vec<NoteEntry>, NotesError> {
    let head = text.trim_start().chars().take(64).collect::<String>().to_ascii_lowercase();
    if format != NotesFormat::GithubRelease && (head.starts_with("<!doctype html") || head.starts_with("<html")) {
        return Err(NotesError::Parse {
            url: source_url.to_string(),
            message: "got an HTML page, not the source text of the release notes".to_string(),
        });
    }
    let (blocks, format_name) = match format {
        NotesFormat::Rst => (rst::parse(text), "reStructuredText"),
        NotesFormat::Markdown => (markdown::parse(text), "Markdown"),
        NotesFormat::GithubRelease => {
            let value: serde_json::Value = serde_json::from_str(text).map_err(|e| NotesError::Parse {
                url: source_url.to_string(),
                message: format!("not a GitHub release JSON document: {e}"),
            })?;
            let body = value.get("body").and_then(|b| b.as_str()).ok_or_else(|| NotesError::Parse {
                url: source_url.to_string(),
                message: "the GitHub release JSON has no `body` text".to_string(),
            })?;
            (markdown::parse(body), "GitHub release")
        }
    };
    let entries = doc::build_entries(&blocks, library, version, source_url);
    if entries.is_empty() {
        return Err(NotesError::NoEntries { url: source_url.to_string(), format: format_name });
    }
    Ok(entries)
}

/// Module aliases of a library's source (`numpy` → `np`), for [`rank_entries`].
pub fn module_aliases<'a>(sources: &'a NotesSources, library: &str) -> Option<&'a BTreeMap<String, String>> {
    sources.get(library).map(|s| &s.module_aliases)
}
