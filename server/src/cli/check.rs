//! `recode check`: find every outdated API use under the given paths.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rayon::prelude::*;

use super::output::{self, CheckedFile};
use super::CheckArgs;
use crate::analysis::{decode_python_source, imported_modules, new_parser, Analyzer, Finding, LineIndex};
use crate::env::{self, ProcessEnv, ResolveOptions, Resolution};
use crate::knowledge::harvest::{self, HarvestOptions};
use crate::knowledge::notes::{FoundNote, NoteQuery, NotesConfig, ReleaseNotes, DEFAULT_BUDGET_CHARS};
use crate::knowledge::Catalog;

/// Directory names never descended into (as Ruff's defaults), unless a path
/// names them directly.
const DEFAULT_EXCLUDES: &[&str] = &[
    ".bzr", ".direnv", ".eggs", ".git", ".hg", ".mypy_cache", ".nox", ".pants.d", ".pytype",
    ".ruff_cache", ".svn", ".tox", ".venv", "__pypackages__", "__pycache__", "_build", "buck-out",
    "dist", "node_modules", "site-packages", "venv",
];

/// A project root with its resolved versions, catalog, and files to check.
pub(crate) struct Project {
    pub(crate) root: PathBuf,
    pub(crate) resolution: Resolution,
    pub(crate) catalog: Catalog,
    pub(crate) files: Vec<PathBuf>,
}

pub fn run(args: CheckArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let pins = super::parse_pins(&args.pin)?;
    let paths = super::paths_or_current_dir(&args.paths);
    for path in &paths {
        if !path.exists() {
            bail!("{}: no such file or directory", path.display());
        }
    }
    let options = ResolveOptions { env: args.env.clone(), pins, process: ProcessEnv::from_process() };
    let bundled = Catalog::bundled().context("loading the bundled catalog")?;

    let mut projects = projects(&paths, &options, &bundled)?;

    if !args.no_harvest {
        for project in &mut projects {
            add_harvest(project);
        }
    }

    let mut checked: Vec<CheckedFile> = Vec::new();
    let mut unreadable = 0usize;
    for (index, project) in projects.iter().enumerate() {
        for problem in &project.resolution.problems {
            eprintln!("warning: {problem}");
        }
        let analyzer = Analyzer::new(&project.catalog);
        let results: Vec<Result<CheckedFile, String>> = project
            .files
            .par_iter()
            .map_init(new_parser, |parser, file| check_file(&analyzer, parser, file, &project.resolution, index))
            .collect();
        for result in results {
            match result {
                Ok(file) => checked.push(file),
                Err(message) => {
                    unreadable += 1;
                    eprintln!("error: {message}");
                }
            }
        }
    }
    checked.sort_by(|a, b| a.path.cmp(&b.path));
    if args.format == super::Format::Json && !args.no_notes {
        attach_notes(&mut checked, &projects, args.offline);
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        super::Format::Text => output::text(&mut out, &checked)?,
        super::Format::Json => output::json(&mut out, &checked)?,
        super::Format::Sarif => output::sarif(&mut out, &checked)?,
    }

    let total: usize = checked.iter().map(|f| f.findings.len()).sum();
    if !args.quiet {
        let lines: usize = checked.iter().map(|f| f.lines).sum();
        let elapsed = started.elapsed().as_secs_f64();
        eprintln!(
            "{total} finding{} in {} file{} checked ({lines} lines, {elapsed:.2}s)",
            if total == 1 { "" } else { "s" },
            checked.len(),
            if checked.len() == 1 { "" } else { "s" },
        );
        for project in &projects {
            let known: Vec<String> = project
                .catalog
                .libraries()
                .iter()
                .filter_map(|lib| project.resolution.versions.get(&lib.name).map(|v| format!("{} {}", lib.name, v.version)))
                .collect();
            if !known.is_empty() {
                eprintln!("versions for {}: {}", project.root.display(), known.join(", "));
            }
        }
    }
    Ok(ExitCode::from(match (unreadable, total) {
        (0, 0) => 0,
        (0, _) => 1,
        _ => 2,
    }))
}

/// The paths grouped by project root, each project resolved once, with the
/// Python files under its paths.
pub(crate) fn projects(paths: &[PathBuf], options: &ResolveOptions, bundled: &Catalog) -> Result<Vec<Project>> {
    let mut projects: Vec<Project> = Vec::new();
    for path in paths {
        let root = project_root(path);
        let index = match projects.iter().position(|p| p.root == root) {
            Some(index) => index,
            None => {
                projects.push(open_project(root, options, bundled)?);
                projects.len() - 1
            }
        };
        let project = &mut projects[index];
        let excludes = excludes(&project.root, &project.resolution.settings.exclude)?;
        project.files.extend(python_files(path, &excludes));
    }
    // Overlapping paths (`src src/a.py`) name some files twice.
    for project in &mut projects {
        project.files.sort();
        project.files.dedup();
    }
    Ok(projects)
}

/// Adds what the project's environment's own code says is deprecated, for
/// the libraries the checked files import; cached per environment.
pub(crate) fn add_harvest(project: &mut Project) {
    let Some(site_packages) = project.resolution.environment.clone() else { return };
    let imports: std::collections::BTreeSet<String> = project
        .files
        .par_iter()
        .map(|file| {
            let source = std::fs::read_to_string(file).unwrap_or_default();
            imported_modules(&source).into_iter().map(str::to_string).collect::<Vec<_>>()
        })
        .flatten()
        .collect();
    let options = HarvestOptions { site_packages, only: Some(imports), cache_dir: None };
    match harvest::harvest_cached(&options) {
        Ok(harvest) => {
            for problem in &harvest.problems {
                tracing::debug!("harvest: {problem}");
            }
            harvest.extend_catalog(&mut project.catalog);
        }
        Err(error) => eprintln!("warning: harvesting {}: {error}", options.site_packages.display()),
    }
}

/// Attaches the release-note entries that mention each finding's symbol.
fn attach_notes(files: &mut [CheckedFile], projects: &[Project], offline: bool) {
    let mut config = NotesConfig::from_env();
    config.offline |= offline;
    let notes = ReleaseNotes::new(config);
    let mut memo: std::collections::HashMap<(usize, usize, Option<String>), Vec<FoundNote>> = Default::default();
    let mut warnings: std::collections::BTreeSet<String> = Default::default();
    for file in files.iter_mut() {
        let catalog = &projects[file.project].catalog;
        file.notes = file
            .findings
            .iter()
            .map(|finding| {
                let entry = &catalog.entries()[finding.entry];
                if notes.sources().get(&entry.library).is_none() {
                    return Vec::new();
                }
                let installed = finding.installed.as_ref().map(|i| &i.version);
                let key = (file.project, finding.entry, installed.map(ToString::to_string));
                memo.entry(key)
                    .or_insert_with(|| {
                        let retrieved = notes.retrieve(&NoteQuery::for_entry(entry, installed, DEFAULT_BUDGET_CHARS));
                        warnings.extend(retrieved.warnings);
                        retrieved.entries
                    })
                    .clone()
            })
            .collect();
    }
    super::report_note_warnings(&warnings);
}

fn open_project(root: PathBuf, options: &ResolveOptions, bundled: &Catalog) -> Result<Project> {
    let resolution = env::resolve(&root, options);
    let mut catalog = bundled.clone();
    for dir in &resolution.settings.catalog {
        let dir = root.join(dir);
        catalog.add_dir(&dir).with_context(|| format!("loading the catalog directory named in {}", root.join("pyproject.toml").display()))?;
    }
    Ok(Project { root, resolution, catalog, files: Vec::new() })
}

/// The nearest ancestor of `path` (itself included) that holds a project
/// marker, else the directory of `path`; relative to the current directory
/// when it lies below it, so reported sources read `./.venv/...`.
fn project_root(path: &Path) -> PathBuf {
    let start = if path.is_dir() { path } else { path.parent().unwrap_or(Path::new(".")) };
    let start = if start.as_os_str().is_empty() { Path::new(".") } else { start };
    let Ok(absolute) = std::fs::canonicalize(start) else { return start.to_path_buf() };
    let root = env::nearest_project_root(&absolute).unwrap_or(&absolute);
    let cwd = std::env::current_dir().and_then(std::fs::canonicalize).unwrap_or_default();
    match root.strip_prefix(&cwd) {
        Ok(relative) if relative.as_os_str().is_empty() => PathBuf::from("."),
        Ok(relative) => Path::new(".").join(relative),
        Err(_) => root.to_path_buf(),
    }
}

fn excludes(root: &Path, patterns: &[String]) -> Result<Gitignore> {
    let mut builder = GitignoreBuilder::new(root);
    for pattern in patterns {
        builder
            .add_line(None, pattern)
            .with_context(|| format!("[tool.recode] exclude pattern {pattern:?}"))?;
    }
    Ok(builder.build()?)
}

/// Python files under `path`: `.gitignore` and the default and project
/// excludes apply to what is discovered, never to a path named directly.
fn python_files(path: &Path, excludes: &Gitignore) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![clean(path)];
    }
    let excludes = excludes.clone();
    let walker = ignore::WalkBuilder::new(path)
        .hidden(false)
        .require_git(false)
        .filter_entry(move |entry| {
            let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
            if entry.depth() == 0 {
                return true;
            }
            if is_dir && entry.file_name().to_str().is_some_and(|n| DEFAULT_EXCLUDES.contains(&n)) {
                return false;
            }
            !excludes.matched(entry.path(), is_dir).is_ignore()
        })
        .build();
    let mut files: Vec<PathBuf> = walker
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "py" || e == "pyi"))
        .map(|p| clean(&p))
        .collect();
    files.sort();
    files
}

/// `./a/b.py` → `a/b.py`, for stable output.
fn clean(path: &Path) -> PathBuf {
    path.strip_prefix(".").map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}

fn check_file(
    analyzer: &Analyzer,
    parser: &mut tree_sitter::Parser,
    path: &Path,
    resolution: &Resolution,
    project: usize,
) -> Result<CheckedFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let source = decode_python_source(bytes).map_err(|e| format!("{}:{e}; the file was not checked", path.display()))?;
    let findings: Vec<Finding> = analyzer.analyze(parser, &source, &resolution.versions);
    let lines = memchr::memchr_iter(b'\n', source.as_bytes()).count();
    let positions = if findings.is_empty() {
        Vec::new()
    } else {
        let index = LineIndex::new(&source);
        findings
            .iter()
            .map(|f| (index.position(&source, f.start_byte), index.position(&source, f.end_byte)))
            .collect()
    };
    Ok(CheckedFile { path: path.to_path_buf(), project, findings, positions, notes: Vec::new(), lines })
}
