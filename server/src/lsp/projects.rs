//! Per-project state, loaded once and kept until the project's files or
//! environment change: resolved versions and the catalog with the harvest
//! of the project's environment (what `recode check` computes per project).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::config::Settings;
use crate::cli::check;
use crate::env::{self, ProcessEnv, ResolveOptions, Resolution};
use crate::analysis::{Analyzer, Prefilter};
use crate::knowledge::Catalog;

pub struct Project {
    pub resolution: Resolution,
    pub catalog: Catalog,
    /// The analysis prefilter of `catalog`, built once per load rather than
    /// on every change (see [`Project::analyzer`]).
    prefilter: Option<Arc<Prefilter>>,
    /// Counts loads across all projects; a later load of a root counts
    /// higher, so results from an older load can be told apart.
    pub generation: u64,
    /// What the user should hear about (unreadable project files, a bad
    /// catalog directory).
    pub problems: Vec<String>,
}

impl Project {
    /// An analyzer for the project's catalog.
    pub fn analyzer(&self) -> Analyzer<'_> {
        Analyzer::with_prefilter(&self.catalog, self.prefilter.clone())
    }
}

/// The project root of a file: the nearest ancestor with a project marker
/// (as `recode check` decides), else the innermost workspace folder holding
/// the file, else its directory.
pub fn root_of(file: &Path, folders: &[PathBuf]) -> PathBuf {
    let dir = file.parent().unwrap_or(file);
    if let Some(root) = env::nearest_project_root(dir) {
        return root.to_path_buf();
    }
    folders
        .iter()
        .filter(|folder| file.starts_with(folder))
        .max_by_key(|folder| folder.as_os_str().len())
        .cloned()
        .unwrap_or_else(|| dir.to_path_buf())
}

/// Resolves and loads one project; blocks (reads the environment, may
/// harvest it).
pub fn load(root: &Path, settings: &Settings, bundled: &Catalog, generation: u64) -> Project {
    let options = ResolveOptions {
        env: settings.env.as_ref().map(|e| root.join(e)),
        pins: settings.pins.clone(),
        process: ProcessEnv::from_process(),
    };
    let mut problems = Vec::new();
    let (resolution, catalog) = match check::projects(&[root.to_path_buf()], &options, bundled) {
        Ok(mut projects) if !projects.is_empty() => {
            let mut project = projects.swap_remove(0);
            check::add_harvest(&mut project);
            (project.resolution, project.catalog)
        }
        Ok(_) => (env::resolve(root, &options), bundled.clone()),
        Err(error) => {
            problems.push(format!("{error:#}; using the bundled catalog only"));
            (env::resolve(root, &options), bundled.clone())
        }
    };
    problems.extend(resolution.problems.iter().map(ToString::to_string));
    let prefilter = Analyzer::new(&catalog).prefilter();
    Project { resolution, catalog, prefilter, generation, problems }
}

/// The loaded projects by root. Each root loads once, however many
/// documents ask at the same time.
#[derive(Default)]
pub struct Projects {
    slots: Mutex<HashMap<PathBuf, Arc<OnceCell<Arc<Project>>>>>,
    generation: AtomicU64,
}

impl Projects {
    /// The project at `root`, loaded on a blocking thread if need be; the
    /// second value says whether this call loaded it.
    pub async fn get(&self, root: &Path, settings: Arc<Settings>, bundled: Arc<Catalog>) -> Result<(Arc<Project>, bool), String> {
        let slot = self.slots.lock().unwrap_or_else(|p| p.into_inner()).entry(root.to_path_buf()).or_default().clone();
        let mut loaded_now = false;
        let project = slot
            .get_or_try_init(|| async {
                let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
                let root = root.to_path_buf();
                loaded_now = true;
                tokio::task::spawn_blocking(move || Arc::new(load(&root, &settings, &bundled, generation)))
                    .await
                    .map_err(|e| format!("loading the project failed: {e}"))
            })
            .await?;
        Ok((project.clone(), loaded_now))
    }

    /// Drops the project at `root`; the next use loads it again.
    pub fn forget(&self, root: &Path) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).remove(root);
    }

    pub fn forget_all(&self) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// The roots loaded (or loading) now.
    pub fn roots(&self) -> Vec<PathBuf> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_belongs_to_the_nearest_marked_ancestor_else_its_workspace_folder() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(dir.join("ws/app/pkg")).unwrap();
        std::fs::create_dir_all(dir.join("ws/loose/deep")).unwrap();
        std::fs::write(dir.join("ws/app/pyproject.toml"), "[project]\nname = \"app\"\n").unwrap();
        let folders = [dir.join("ws")];
        assert_eq!(root_of(&dir.join("ws/app/pkg/mod.py"), &folders), dir.join("ws/app"));
        assert_eq!(root_of(&dir.join("ws/loose/deep/x.py"), &folders), dir.join("ws"));
        assert_eq!(root_of(&dir.join("x.py"), &folders), dir);
    }

    #[test]
    fn settings_pins_win_over_the_projects_own() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), "[tool.recode.pins]\nnumpy = \"1.20\"\npandas = \"2.0\"\n").unwrap();
        let settings = Settings::from_json(&serde_json::json!({"pins": {"numpy": "2.0"}})).unwrap();
        let bundled = Catalog::bundled().unwrap();
        let project = load(dir.path(), &settings, &bundled, 7);
        let version = |lib: &str| project.resolution.versions.get(lib).unwrap().version.to_string();
        assert_eq!((version("numpy").as_str(), version("pandas").as_str()), ("2.0", "2.0"));
        assert_eq!(project.generation, 7);
        assert!(project.problems.is_empty(), "{:?}", project.problems);
    }
}
