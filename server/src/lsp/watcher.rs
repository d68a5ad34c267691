//! Watches what a project's versions are read from: the files at its root
//! (`pyproject.toml`, lock files, requirements, `environment.yml`, a new
//! `.venv`) and its environment's `site-packages` (a package installed or
//! removed changes its `*.dist-info`). Watches are not recursive, so a big
//! tree costs one watch per project and one per environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc::UnboundedSender;

/// Whether a change to `path` can change a project's resolved versions or
/// settings (`site_packages` entries always can).
pub fn affects_versions(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    matches!(
        name,
        "pyproject.toml" | "uv.lock" | "poetry.lock" | "pylock.toml" | "Pipfile.lock" | "pdm.lock" | "environment.yml"
            | "environment.yaml" | "setup.cfg" | ".venv" | "venv"
    ) || (name.starts_with("requirements") && name.ends_with(".txt"))
        || name.ends_with(".dist-info")
        || name.ends_with(".egg-info")
}

pub struct Watcher {
    inner: Mutex<RecommendedWatcher>,
    /// Watched directory → the project roots it belongs to.
    watched: std::sync::Arc<Mutex<HashMap<PathBuf, Vec<PathBuf>>>>,
}

impl Watcher {
    /// Sends the root of each project whose version sources changed.
    pub fn new(changed: UnboundedSender<PathBuf>) -> notify::Result<Watcher> {
        let watched: std::sync::Arc<Mutex<HashMap<PathBuf, Vec<PathBuf>>>> = Default::default();
        let lookup = watched.clone();
        let inner = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if event.kind.is_access() {
                return;
            }
            let watched = lookup.lock().unwrap_or_else(|p| p.into_inner());
            for path in &event.paths {
                let Some(dir) = path.parent() else { continue };
                let Some(roots) = watched.get(dir) else { continue };
                let in_environment = roots.iter().all(|root| root != dir);
                if in_environment || affects_versions(path) {
                    for root in roots {
                        let _ = changed.send(root.clone());
                    }
                }
            }
        })?;
        Ok(Watcher { inner: Mutex::new(inner), watched })
    }

    /// Watches `root` and, when the project has one, its site-packages.
    pub fn watch_project(&self, root: &Path, site_packages: Option<&Path>) {
        for dir in std::iter::once(root).chain(site_packages) {
            let mut watched = self.watched.lock().unwrap_or_else(|p| p.into_inner());
            let roots = watched.entry(dir.to_path_buf()).or_default();
            if roots.iter().any(|r| r == root) {
                continue;
            }
            let first = roots.is_empty();
            roots.push(root.to_path_buf());
            drop(watched);
            if first {
                if let Err(error) = self.inner.lock().unwrap_or_else(|p| p.into_inner()).watch(dir, RecursiveMode::NonRecursive) {
                    tracing::warn!("cannot watch {}: {error}", dir.display());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn version_sources_are_recognised() {
        for name in ["pyproject.toml", "uv.lock", "requirements-dev.txt", "numpy-2.0.0.dist-info", ".venv"] {
            assert!(affects_versions(Path::new("/p").join(name).as_path()), "{name}");
        }
        for name in ["app.py", "README.md", "notes.txt"] {
            assert!(!affects_versions(Path::new("/p").join(name).as_path()), "{name}");
        }
    }

    #[tokio::test]
    async fn a_changed_lock_file_or_installed_package_names_its_project() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let site = root.join(".venv/lib/python3.12/site-packages");
        std::fs::create_dir_all(&site).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let watcher = Watcher::new(tx).unwrap();
        watcher.watch_project(&root, Some(&site));
        std::fs::write(root.join("app.py"), "x = 1\n").unwrap();
        std::fs::write(root.join("uv.lock"), "version = 1\n").unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!(got, root);
        while tokio::time::timeout(Duration::from_millis(200), rx.recv()).await.is_ok() {}
        std::fs::create_dir(site.join("numpy-2.0.0.dist-info")).unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.unwrap().unwrap();
        assert_eq!(got, root);
    }
}
