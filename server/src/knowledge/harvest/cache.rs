//! The harvest cache: one JSON file per (site-packages, `only` set), holding
//! the key of the environment it was made from. A different key (a
//! distribution installed, removed or upgraded) means a fresh harvest, which
//! replaces the file atomically (temporary file + rename).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;
use serde::{Deserialize, Serialize};

use crate::knowledge::catalog::{Entry, EntryKind, EntrySource, LibraryInfo, SymbolPattern};

use super::{harvest, Harvest, HarvestError, HarvestOptions};

/// Bumped whenever what harvesting extracts changes, so old caches are
/// re-harvested.
const FORMAT: u32 = 1;

/// The directory harvest cache files go to: `options.cache_dir`, else
/// `$RECODE_CACHE_DIR/harvest`, else the platform cache directory of recode
/// (`~/.cache/recode/harvest` on Linux).
pub fn cache_dir(options: &HarvestOptions) -> Option<PathBuf> {
    if let Some(dir) = &options.cache_dir {
        return Some(dir.clone());
    }
    if let Some(dir) = std::env::var_os("RECODE_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("harvest"));
    }
    directories::ProjectDirs::from("", "", "recode").map(|d| d.cache_dir().join("harvest"))
}

/// The cache file for these options (whether or not it exists).
pub fn cache_file(options: &HarvestOptions) -> Option<PathBuf> {
    let dir = cache_dir(options)?;
    let mut h = Fnv::new();
    h.write(canonical(&options.site_packages).as_bytes());
    h.write(b"\0");
    write_only(&mut h, options);
    Some(dir.join(format!("{}.json", h.hex())))
}

fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

fn write_only(h: &mut Fnv, options: &HarvestOptions) {
    match &options.only {
        None => h.write(b"*all*"),
        Some(only) => {
            for m in only {
                h.write(m.as_bytes());
                h.write(b",");
            }
        }
    }
}

/// The key of the environment: format, recode version, the site-packages,
/// every metadata directory's name with its `METADATA` time and size, and
/// the `only` set.
fn environment_key(options: &HarvestOptions) -> Result<String, HarvestError> {
    let site = &options.site_packages;
    let dirs = super::dist::metadata_dirs(site).map_err(|source| HarvestError::Io { path: site.clone(), source })?;
    let mut h = Fnv::new();
    h.write(&FORMAT.to_le_bytes());
    h.write(env!("CARGO_PKG_VERSION").as_bytes());
    h.write(canonical(site).as_bytes());
    for dir in dirs {
        h.write(b"\n");
        h.write(dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default().as_bytes());
        let meta = std::fs::metadata(dir.join("METADATA")).or_else(|_| std::fs::metadata(dir.join("PKG-INFO")));
        if let Ok(meta) = meta {
            h.write(&meta.len().to_le_bytes());
            if let Ok(modified) = meta.modified() {
                let nanos = modified.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
                h.write(&nanos.to_le_bytes());
            }
        }
    }
    h.write(b"\0");
    write_only(&mut h, options);
    Ok(h.hex())
}

pub(super) fn harvest_cached(options: &HarvestOptions) -> Result<Harvest, HarvestError> {
    if !options.site_packages.is_dir() {
        return Err(HarvestError::NotADirectory { path: options.site_packages.clone() });
    }
    let key = environment_key(options)?;
    let Some(file) = cache_file(options) else {
        return harvest(options);
    };
    if let Some(cached) = read(&file, &key) {
        return Ok(cached);
    }
    let fresh = harvest(options)?;
    if let Err(err) = write(&file, &key, options, &fresh) {
        tracing::warn!("harvest cache {}: {err}", file.display());
    }
    Ok(fresh)
}

#[derive(Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    key: String,
    site_packages: String,
    files_scanned: usize,
    skipped: usize,
    problems: Vec<String>,
    libraries: Vec<CachedLibrary>,
    entries: Vec<CachedEntry>,
}

#[derive(Serialize, Deserialize)]
struct CachedLibrary {
    name: String,
    modules: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct CachedEntry {
    library: String,
    symbol: String,
    keyword: Option<String>,
    kind: EntryKind,
    deprecated_in: Option<String>,
    removed_in: Option<String>,
    replacement: Option<String>,
    note: String,
    link: String,
    origin: String,
    /// The installed version the entry was harvested from.
    version: String,
}

fn read(file: &Path, key: &str) -> Option<Harvest> {
    let text = std::fs::read_to_string(file).ok()?;
    let cached: CacheFile = match serde_json::from_str(&text) {
        Ok(c) => c,
        Err(err) => {
            tracing::warn!("harvest cache {} unreadable, re-harvesting: {err}", file.display());
            return None;
        }
    };
    if cached.format != FORMAT || cached.key != key {
        return None;
    }
    let version = |v: &Option<String>| v.as_deref().and_then(|v| Version::from_str(v).ok());
    let mut entries = Vec::with_capacity(cached.entries.len());
    for e in cached.entries {
        let installed = Version::from_str(&e.version).ok()?;
        entries.push(Entry {
            library: e.library,
            symbol: SymbolPattern { path: e.symbol, keyword: e.keyword },
            kind: e.kind,
            deprecated_in: version(&e.deprecated_in),
            removed_in: version(&e.removed_in),
            replacement: e.replacement,
            replacement_since: None,
            argument: None,
            unless_keyword: None,
            severity_cap: None,
            note: e.note,
            link: e.link,
            origin: e.origin,
            source: EntrySource::Harvested { version: installed },
        });
    }
    Some(Harvest {
        entries,
        libraries: cached
            .libraries
            .into_iter()
            .map(|l| LibraryInfo { name: l.name, modules: l.modules, release_notes: None })
            .collect(),
        problems: cached.problems,
        files_scanned: 0,
        skipped: cached.skipped,
        from_cache: true,
    })
}

fn write(file: &Path, key: &str, options: &HarvestOptions, harvest: &Harvest) -> std::io::Result<()> {
    let cached = CacheFile {
        format: FORMAT,
        key: key.to_string(),
        site_packages: canonical(&options.site_packages),
        files_scanned: harvest.files_scanned,
        skipped: harvest.skipped,
        problems: harvest.problems.clone(),
        libraries: harvest
            .libraries
            .iter()
            .map(|l| CachedLibrary { name: l.name.clone(), modules: l.modules.clone() })
            .collect(),
        entries: harvest
            .entries
            .iter()
            .map(|e| CachedEntry {
                library: e.library.clone(),
                symbol: e.symbol.path.clone(),
                keyword: e.symbol.keyword.clone(),
                kind: e.kind,
                deprecated_in: e.deprecated_in.as_ref().map(|v| v.to_string()),
                removed_in: e.removed_in.as_ref().map(|v| v.to_string()),
                replacement: e.replacement.clone(),
                note: e.note.clone(),
                link: e.link.clone(),
                origin: e.origin.clone(),
                version: match &e.source {
                    EntrySource::Harvested { version } => version.to_string(),
                    EntrySource::Catalog => String::new(),
                },
            })
            .collect(),
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec(&cached).map_err(std::io::Error::other)?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let tmp = dir.join(format!(
        ".{}.{}.{nanos}.tmp",
        file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// FNV-1a, 128 bits as two 64-bit lanes: stable across runs and builds
/// (unlike `DefaultHasher`), and plenty for a cache key.
struct Fnv(u64, u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325, 0x6c62_272e_07bb_0142)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3);
            self.1 = (self.1 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(5);
        }
    }

    fn hex(&self) -> String {
        format!("{:016x}{:016x}", self.0, self.1)
    }
}
