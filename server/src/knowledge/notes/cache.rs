//! The on-disk cache: `<dir>/<library>/<version>.json`, one [`NotesPage`] each.
//!
//! Writes go to a temporary file in the same directory, are flushed to disk and
//! renamed over the old file, so a crash or a failed fetch never leaves a partial
//! file or loses the previous copy.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{NotesError, NotesPage};

/// Version of the cache file layout; files of another version are ignored.
const SCHEMA: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
struct CacheFile {
    schema: u32,
    #[serde(flatten)]
    page: NotesPage,
}

/// A release-notes cache directory.
#[derive(Debug, Clone)]
pub struct NotesCache {
    dir: PathBuf,
}

/// Keeps a name safe as one path component.
fn component(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    match cleaned.trim_start_matches('.') {
        "" => "_".to_string(),
        s => s.to_string(),
    }
}

impl NotesCache {
    pub fn new(dir: PathBuf) -> NotesCache {
        NotesCache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file for a (library, version as spelled by its source).
    pub fn path(&self, library: &str, version: &str) -> PathBuf {
        self.dir.join(component(library)).join(format!("{}.json", component(version)))
    }

    /// The cached page, if any. An unreadable or malformed file is an error (the
    /// caller warns and treats it as absent; the file stays until a fetch replaces it).
    pub fn load(&self, library: &str, version: &str) -> Result<Option<NotesPage>, NotesError> {
        let path = self.path(library, version);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(NotesError::Cache { path, message: e.to_string() }),
        };
        let file: CacheFile = serde_json::from_str(&text)
            .map_err(|e| NotesError::Cache { path: path.clone(), message: format!("malformed cache file: {e}") })?;
        if file.schema != SCHEMA {
            return Err(NotesError::Cache {
                path,
                message: format!("cache file schema {} (expected {SCHEMA})", file.schema),
            });
        }
        Ok(Some(file.page))
    }

    /// Writes `page` atomically.
    pub fn store(&self, page: &NotesPage) -> Result<(), NotesError> {
        let path = self.path(&page.library, &page.version);
        let err = |message: String| NotesError::Cache { path: path.clone(), message };
        let dir = path.parent().expect("cache path has a parent");
        std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create the directory: {e}")))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".notes-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(|e| err(format!("cannot create a temporary file: {e}")))?;
        let file = CacheFile { schema: SCHEMA, page: page.clone() };
        serde_json::to_writer_pretty(tmp.as_file_mut(), &file).map_err(|e| err(format!("cannot write: {e}")))?;
        tmp.as_file_mut()
            .flush()
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| err(format!("cannot write: {e}")))?;
        tmp.persist(&path).map_err(|e| err(format!("cannot replace the file: {}", e.error)))?;
        Ok(())
    }
}
