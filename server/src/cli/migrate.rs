//! `recode migrate`: fix what `recode check` finds.
//!
//! A dry run (the default) prints a unified diff on stdout and changes
//! nothing; `--write` replaces each changed file atomically (a temporary
//! file in the same directory, fsync, rename; the file's permissions kept),
//! only inside the paths given, and not over uncommitted git changes
//! unless `--allow-dirty`. Summaries, the findings left and errors go to
//! stderr. `--report FILE` writes one JSON object per finding (`path`,
//! 1-based `line`/`column`/`end_line`/`end_column`, `library`, `symbol`,
//! `rule`, `kind`, `replacement`, `outcome`: `fixed-deterministic`,
//! `fixed-by-model` or `no-safe-fix`, and `reason`); in a dry run the
//! outcome is the one `--write` would give.
//!
//! Findings with no mechanical replacement go to the model (`--model`,
//! default: the embedded SmolLM2 when it is fetched; `--no-model`: none),
//! loaded once, on the first finding that needs it. Its prompt carries the
//! finding, the catalog note and the release-note entries retrieved for it
//! (`--offline`: from the cache only), and every answer is validated like a
//! deterministic fix before it is kept.
//!
//! Exit codes:
//! * 0: nothing left to do: no findings, or (with `--write`) every finding
//!   fixed and written;
//! * 1: findings remain: a dry run with findings (a change to make, or a
//!   finding with no safe fix), or `--write` leaving findings with no safe fix;
//! * 2: an error: bad arguments, a missing path, a `--model` that cannot be
//!   used (not fetched, not a model, fails to load), a file that cannot be
//!   read or decoded (named; the
//!   others are still migrated), a file that resolves outside the given paths
//!   (named, not written), files with uncommitted changes under `--write`
//!   (listed; nothing is written), a failed write, or a failed report.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use super::check::{self, Project};
use super::MigrateArgs;
use crate::analysis::{decode_python_source, new_parser, Analyzer, Finding, LineIndex};
use crate::env::{ProcessEnv, ResolveOptions, Versions};
use crate::knowledge::notes::{NoteQuery, NotesConfig, ReleaseNotes, DEFAULT_BUDGET_CHARS};
use crate::knowledge::Catalog;
use crate::migrate::{migrate_source, CandidateSource, FileMigration, MigrateOptions, ModelCandidates, ModelTask, Outcome};
use crate::model::{self, fetch, CancelToken, Generator, LoadOptions, ModelSpec, SamplingParams};
use crate::vocab::PromptConfig;

/// How a file's bytes became text, so the edited text goes back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Utf8 { bom: bool },
    Latin1,
}

impl Encoding {
    fn of(bytes: &[u8]) -> Encoding {
        match std::str::from_utf8(bytes) {
            Ok(_) => Encoding::Utf8 { bom: bytes.starts_with(b"\xef\xbb\xbf") },
            Err(_) => Encoding::Latin1,
        }
    }

    fn encode(self, text: &str) -> Result<Vec<u8>, String> {
        match self {
            Encoding::Utf8 { bom } => {
                let mut out = Vec::with_capacity(text.len() + 3);
                if bom {
                    out.extend_from_slice(b"\xef\xbb\xbf");
                }
                out.extend_from_slice(text.as_bytes());
                Ok(out)
            }
            Encoding::Latin1 => text
                .chars()
                .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("{c:?} cannot be written in Latin-1")))
                .collect(),
        }
    }
}

/// One file migrated in memory.
struct Migrated {
    path: PathBuf,
    bytes: Vec<u8>,
    source: String,
    encoding: Encoding,
    migration: FileMigration,
    /// Why the edits were not applied, when they were not.
    not_written: Option<String>,
}

impl Migrated {
    fn changed(&self) -> bool {
        self.migration.migrated != self.source
    }
}

/// One finding in `--report`.
#[derive(Serialize)]
struct ReportEntry<'a> {
    path: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    library: &'a str,
    symbol: &'a str,
    rule: &'a str,
    kind: &'a str,
    replacement: Option<&'a str>,
    outcome: &'static str,
    reason: Option<&'a str>,
}

fn display_path(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

pub fn run(args: MigrateArgs) -> Result<ExitCode> {
    if args.jobs == Some(0) {
        bail!("--jobs must be at least 1");
    }
    if args.samples == 0 {
        bail!("--samples must be at least 1");
    }
    let pins = super::parse_pins(&args.pin)?;
    let paths = super::paths_or_current_dir(&args.paths);
    let mut roots = Vec::new();
    for path in &paths {
        if !path.exists() {
            bail!("{}: no such file or directory", path.display());
        }
        roots.push(write_root(path)?);
    }
    let options = ResolveOptions { env: args.env.clone(), pins, process: ProcessEnv::from_process() };
    let bundled = Catalog::bundled().context("loading the bundled catalog")?;
    let mut projects = check::projects(&paths, &options, &bundled)?;
    if !args.no_harvest {
        for project in &mut projects {
            check::add_harvest(project);
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("starting the worker threads")?;

    let total: usize = projects.iter().map(|p| p.files.len()).sum();
    let progress = progress_bar(total as u64, args.quiet, "migrating");
    let model = choose_model(&args, &progress)?;
    let mut notes_config = NotesConfig::from_env();
    notes_config.offline |= args.offline;
    let notes = ReleaseNotes::new(notes_config);
    let note_warnings = Mutex::new(BTreeSet::new());
    let mut errors = 0usize;
    let mut files: Vec<Migrated> = Vec::new();
    for project in &projects {
        for problem in &project.resolution.problems {
            eprintln!("warning: {problem}");
        }
        let project_model = match &model {
            Ok(model) => Ok(ProjectModel {
                model,
                project,
                notes: &notes,
                memo: Mutex::default(),
                warnings: &note_warnings,
            }),
            Err(why) => Err(why.as_str()),
        };
        let results = pool.install(|| migrate_project(project, &project_model, args.samples, &progress));
        for result in results {
            match result {
                Ok(file) => files.push(file),
                Err(message) => {
                    errors += 1;
                    progress.suspend(|| eprintln!("error: {message}"));
                }
            }
        }
    }
    progress.finish_and_clear();
    super::report_note_warnings(&note_warnings.into_inner().unwrap_or_else(|p| p.into_inner()));
    if let Ok(ModelChoice { loaded, .. }) = &model {
        if let Some(Err(e)) = loaded.get() {
            errors += 1;
            eprintln!("error: {e}");
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);

    let changed: Vec<usize> = (0..files.len()).filter(|&i| files[i].changed()).collect();
    if args.write && !changed.is_empty() {
        // Where each file really is; nothing outside the given paths is written.
        let mut targets: BTreeMap<usize, PathBuf> = BTreeMap::new();
        for &i in &changed {
            let file = &mut files[i];
            match std::fs::canonicalize(&file.path) {
                Ok(target) if roots.iter().any(|root| target.starts_with(root)) => {
                    targets.insert(i, target);
                }
                Ok(target) => {
                    errors += 1;
                    eprintln!(
                        "error: {}: resolves to {}, outside the paths given; not written",
                        file.path.display(),
                        target.display()
                    );
                    file.not_written = Some(format!("not written: the file resolves to {}, outside the paths given", target.display()));
                }
                Err(e) => {
                    errors += 1;
                    eprintln!("error: {}: {e}; not written", file.path.display());
                    file.not_written = Some(format!("not written: {e}"));
                }
            }
        }
        if !args.allow_dirty {
            let dirty = uncommitted(targets.values());
            if !dirty.is_empty() {
                eprintln!("error: refusing to write files with uncommitted changes (commit or stash them, or pass --allow-dirty):");
                for (&i, target) in &targets {
                    if dirty.contains(target) {
                        eprintln!("  {}", display_path(&files[i].path));
                    }
                }
                eprintln!("nothing was written");
                return Ok(ExitCode::from(2));
            }
        }
        let writing = progress_bar(targets.len() as u64, args.quiet, "writing");
        let written: Vec<(usize, Result<(), String>)> = pool.install(|| {
            targets
                .par_iter()
                .map(|(&i, target)| {
                    let file = &files[i];
                    let result = file
                        .encoding
                        .encode(&file.migration.migrated)
                        .and_then(|bytes| write_atomic(target, &file.bytes, &bytes));
                    writing.inc(1);
                    (i, result)
                })
                .collect()
        });
        writing.finish_and_clear();
        for (i, result) in written {
            if let Err(e) = result {
                errors += 1;
                eprintln!("error: {}: {e}", files[i].path.display());
                files[i].not_written = Some(format!("not written: {e}"));
            }
        }
    } else if !args.write {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for &i in &changed {
            write_diff(&mut out, &files[i])?;
        }
        out.flush()?;
    }

    // Outcomes as they stand on disk.
    let outcome = |file: &Migrated, o: &crate::migrate::FindingOutcome| -> (Outcome, Option<String>) {
        match (&file.not_written, o.outcome) {
            (Some(why), Outcome::FixedDeterministic | Outcome::FixedByModel) if args.write => (Outcome::NoSafeFix, Some(why.clone())),
            _ => (o.outcome, o.reason.clone()),
        }
    };
    if let Some(report) = &args.report {
        if let Err(e) = write_report(report, &files, &outcome) {
            errors += 1;
            eprintln!("error: --report {}: {e:#}", report.display());
        }
    }

    let mut counts: BTreeMap<Outcome, usize> = BTreeMap::new();
    let mut with_findings = 0usize;
    for file in &files {
        if !file.migration.outcomes.is_empty() {
            with_findings += 1;
        }
        let index = LineIndex::new(&file.source);
        for o in &file.migration.outcomes {
            let (kind, reason) = outcome(file, o);
            *counts.entry(kind).or_default() += 1;
            if kind == Outcome::NoSafeFix && !args.quiet {
                let at = index.position(&file.source, o.finding.start_byte);
                eprintln!(
                    "{}:{}:{}: {} no safe fix for `{}`: {}",
                    display_path(&file.path),
                    at.line + 1,
                    at.column + 1,
                    o.finding.rule,
                    o.finding.symbol,
                    reason.as_deref().unwrap_or("no fix was found")
                );
            }
        }
    }
    let count = |o: Outcome| counts.get(&o).copied().unwrap_or(0);
    let (deterministic, by_model, none) = (count(Outcome::FixedDeterministic), count(Outcome::FixedByModel), count(Outcome::NoSafeFix));
    if !args.quiet {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let model = if by_model > 0 { format!(", {by_model} fixed by the model") } else { String::new() };
        eprintln!(
            "{deterministic} fixed deterministically{model}, {none} no safe fix in {with_findings} file{}",
            plural(with_findings)
        );
        let applied = changed.iter().filter(|&&i| files[i].not_written.is_none()).count();
        match (args.write, changed.len()) {
            (_, 0) => eprintln!("nothing to change"),
            (false, n) => eprintln!("{n} file{} would change; --write applies the edits", plural(n)),
            (true, _) => eprintln!("{applied} file{} written", plural(applied)),
        }
    }
    let code = if errors > 0 {
        2
    } else if none > 0 || (!args.write && deterministic + by_model > 0) {
        1
    } else {
        0
    };
    Ok(ExitCode::from(code))
}

/// The directory under which writes are allowed for a path given on the
/// command line: the directory itself, or a file's directory.
fn write_root(path: &Path) -> Result<PathBuf> {
    let dir = if path.is_dir() {
        path
    } else {
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    };
    std::fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))
}

fn progress_bar(len: u64, quiet: bool, message: &'static str) -> ProgressBar {
    let target = if quiet || !std::io::stderr().is_terminal() { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    bar.set_style(
        ProgressStyle::with_template("{msg:>9} [{bar:30}] {pos}/{len} files ({eta})")
            .expect("a valid progress template")
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// The model for the findings that need one, loaded on first use; or why
/// there is none.
struct ModelChoice {
    spec: ModelSpec,
    options: LoadOptions,
    prompt: PromptConfig,
    sampling: SamplingParams,
    loaded: OnceLock<Result<Arc<dyn Generator>, String>>,
}

impl ModelChoice {
    fn generator(&self) -> Result<&dyn Generator, String> {
        // Loaded on a thread of its own: the embedded backend's waits run
        // other rayon jobs on a rayon worker, and one of those would come
        // back here and wait on this very initialisation.
        let load = || {
            std::thread::scope(|scope| {
                scope
                    .spawn(|| model::shared(&self.spec, &self.options).map_err(|e| e.to_string()))
                    .join()
                    .unwrap_or_else(|_| Err("loading the model panicked".into()))
            })
        };
        match self.loaded.get_or_init(load) {
            Ok(generator) => Ok(generator.as_ref()),
            Err(e) => Err(e.clone()),
        }
    }
}

/// The model `--model`/`--no-model` ask for. An explicit `--model` that
/// cannot be used is an error; the implicit default that is not fetched
/// only means there is no model.
fn choose_model(args: &MigrateArgs, progress: &ProgressBar) -> Result<Result<ModelChoice, String>> {
    if args.no_model {
        return Ok(Err("--no-model".into()));
    }
    let spec = match &args.model {
        Some(text) => {
            let spec = ModelSpec::parse(text)?;
            if spec == ModelSpec::Default {
                fetch::default_model_path()?;
            }
            spec
        }
        None => match fetch::default_model_path() {
            Ok(_) => ModelSpec::Default,
            Err(fetch::FetchError::NotFetched(_)) => {
                return Ok(Err("the default model is not fetched: run `recode model fetch`, or pass --model".into()))
            }
            Err(e) => return Ok(Err(format!("{e}; or pass --model"))),
        },
    };
    let mut options = LoadOptions::default();
    if let Some(seconds) = args.timeout {
        if !(seconds > 0.0 && seconds.is_finite()) {
            bail!("--timeout must be a positive number of seconds");
        }
        options.timeout = Some(Duration::from_secs_f64(seconds));
    }
    let bar = progress.clone();
    let quiet = args.quiet;
    options.progress = Arc::new(move |line: &str| {
        if !quiet {
            bar.suspend(|| eprintln!("{line}"));
        }
    });
    let is_endpoint = matches!(spec, ModelSpec::Endpoint { .. });
    let prompt = PromptConfig::new(args.k_examples.unwrap_or(usize::from(!is_endpoint)));
    let sampling = SamplingParams {
        temperature: args.temperature,
        top_p: args.top_p,
        max_tokens: args.max_tokens,
        seed: Some(args.seed.unwrap_or_else(rand_seed)),
        ..SamplingParams::default()
    };
    Ok(Ok(ModelChoice { spec, options, prompt, sampling, loaded: OnceLock::new() }))
}

/// A seed from the clock, for runs without `--seed`.
fn rand_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// The model as one project's findings see it: the project's catalog finds
/// the release notes for the prompt.
/// (entry, installed version): what the rendered release-note entries of a
/// finding depend on.
type NotesKey = (usize, Option<String>);

struct ProjectModel<'a> {
    model: &'a ModelChoice,
    project: &'a Project,
    notes: &'a ReleaseNotes,
    memo: Mutex<HashMap<NotesKey, Option<String>>>,
    warnings: &'a Mutex<BTreeSet<String>>,
}

impl ProjectModel<'_> {
    fn release_notes(&self, finding: &Finding) -> Option<String> {
        let entry = self.project.catalog.entries().get(finding.entry)?;
        self.notes.sources().get(&entry.library)?;
        let installed = finding.installed.as_ref().map(|i| &i.version);
        let key = (finding.entry, installed.map(ToString::to_string));
        if let Some(text) = self.memo.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return text.clone();
        }
        let retrieved = self.notes.retrieve(&NoteQuery::for_entry(entry, installed, DEFAULT_BUDGET_CHARS));
        self.warnings.lock().unwrap_or_else(|p| p.into_inner()).extend(retrieved.warnings.iter().cloned());
        let text = Some(retrieved.text()).filter(|t| !t.is_empty());
        self.memo.lock().unwrap_or_else(|p| p.into_inner()).insert(key, text.clone());
        text
    }
}

impl CandidateSource for ProjectModel<'_> {
    fn candidate(&self, task: &ModelTask, sample: usize) -> Result<String, String> {
        let generator = self.model.generator()?;
        let notes = |finding: &Finding| self.release_notes(finding);
        let candidates = ModelCandidates {
            generator,
            prompt: self.model.prompt.clone(),
            sampling: self.model.sampling.clone(),
            notes: &notes,
            cancel: CancelToken::new(),
        };
        candidates.candidate(task, sample)
    }
}

fn migrate_project(
    project: &Project,
    model: &Result<ProjectModel, &str>,
    samples: usize,
    progress: &ProgressBar,
) -> Vec<Result<Migrated, String>> {
    let analyzer = Analyzer::new(&project.catalog);
    let options = match model {
        Ok(model) => MigrateOptions { model: Some(model), samples, ..MigrateOptions::default() },
        Err(why) => MigrateOptions { model: None, samples, why_no_model: why, ..MigrateOptions::default() },
    };
    project
        .files
        .par_iter()
        .map_init(new_parser, |parser, path| {
            let result = migrate_file(&analyzer, parser, path, &project.resolution.versions, &options);
            progress.inc(1);
            result
        })
        .collect()
}

fn migrate_file(
    analyzer: &Analyzer,
    parser: &mut tree_sitter::Parser,
    path: &Path,
    versions: &Versions,
    options: &MigrateOptions,
) -> Result<Migrated, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let encoding = Encoding::of(&bytes);
    let source = decode_python_source(bytes.clone())
        .map_err(|e| format!("{}:{e}; the file was not migrated", path.display()))?;
    let migration = migrate_source(analyzer, parser, &source, versions, options);
    Ok(Migrated { path: path.to_path_buf(), bytes, source, encoding, migration, not_written: None })
}

fn write_diff(out: &mut impl Write, file: &Migrated) -> std::io::Result<()> {
    let shown = display_path(&file.path);
    let (a, b) = if file.path.is_absolute() { (shown.clone(), shown) } else { (format!("a/{shown}"), format!("b/{shown}")) };
    let diff = similar::TextDiff::from_lines(&file.source, &file.migration.migrated);
    diff.unified_diff().context_radius(3).header(&a, &b).to_writer(&mut *out)
}

/// Replaces `path` with `contents` atomically: a temporary file beside it,
/// flushed to disk, renamed over it, with the old file's permissions. The
/// file must still hold `expected`.
fn write_atomic(path: &Path, expected: &[u8], contents: &[u8]) -> Result<(), String> {
    let dir = path.parent().ok_or("the file has no directory")?;
    let permissions = std::fs::metadata(path).map_err(|e| e.to_string())?.permissions();
    let now = std::fs::read(path).map_err(|e| e.to_string())?;
    if now != expected {
        return Err("the file changed while recode was migrating it; not written".into());
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".recode-tmp")
        .tempfile_in(dir)
        .map_err(|e| format!("creating a temporary file in {}: {e}", dir.display()))?;
    temp.write_all(contents).map_err(|e| e.to_string())?;
    temp.as_file().set_permissions(permissions).map_err(|e| e.to_string())?;
    temp.as_file().sync_all().map_err(|e| e.to_string())?;
    temp.persist(path).map_err(|e| e.error.to_string())?;
    // The rename reaches the disk with its directory.
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Of `targets` (canonical paths), those git reports as modified, staged or
/// untracked in the work tree holding them. Files outside a work tree are
/// never dirty.
fn uncommitted<'p>(targets: impl Iterator<Item = &'p PathBuf>) -> BTreeSet<PathBuf> {
    let mut by_top: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    let mut tops: BTreeMap<PathBuf, Option<PathBuf>> = BTreeMap::new();
    let mut warned = false;
    for target in targets {
        let Some(dir) = target.parent() else { continue };
        let top = tops.entry(dir.to_path_buf()).or_insert_with(|| {
            match Command::new("git").arg("-C").arg(dir).args(["rev-parse", "--show-toplevel"]).output() {
                Ok(out) if out.status.success() => {
                    let top = String::from_utf8_lossy(&out.stdout).trim_end_matches(['\n', '\r']).to_string();
                    std::fs::canonicalize(top).ok()
                }
                Ok(_) => None,
                Err(e) => {
                    if !warned {
                        eprintln!("warning: cannot run git ({e}); uncommitted changes are not checked");
                        warned = true;
                    }
                    None
                }
            }
        });
        if let Some(top) = top.clone() {
            by_top.entry(top).or_default().push(target.clone());
        }
    }
    let mut dirty = BTreeSet::new();
    for (top, files) in by_top {
        let relative: Vec<&Path> = files.iter().filter_map(|f| f.strip_prefix(&top).ok()).collect();
        let out = Command::new("git")
            .arg("-C")
            .arg(&top)
            .args(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--"])
            .args(&relative)
            .output();
        let Some(out) = out.ok().filter(|o| o.status.success()) else {
            // Not knowing is not clean.
            dirty.extend(files);
            continue;
        };
        let mut entries = out.stdout.split(|&b| b == 0);
        while let Some(entry) = entries.next() {
            if entry.len() < 4 {
                continue;
            }
            let status = &entry[..2];
            let path = top.join(String::from_utf8_lossy(&entry[3..]).as_ref());
            if status[0] == b'R' || status[0] == b'C' {
                entries.next(); // the original path
            }
            dirty.insert(path);
        }
    }
    dirty
}

/// A finding's outcome as it stands on disk (a fix that was not written is none).
type OutcomeOnDisk<'a> = dyn Fn(&Migrated, &crate::migrate::FindingOutcome) -> (Outcome, Option<String>) + 'a;

fn write_report(
    report: &Path,
    files: &[Migrated],
    outcome: &OutcomeOnDisk,
) -> Result<()> {
    let mut reasons: Vec<(Outcome, Option<String>)> = Vec::new();
    for file in files {
        for o in &file.migration.outcomes {
            reasons.push(outcome(file, o));
        }
    }
    let mut entries = Vec::with_capacity(reasons.len());
    let mut k = 0;
    for file in files {
        let index = LineIndex::new(&file.source);
        for o in &file.migration.outcomes {
            let f = &o.finding;
            let (start, end) = (index.position(&file.source, f.start_byte), index.position(&file.source, f.end_byte));
            let (kind, reason) = &reasons[k];
            k += 1;
            entries.push(ReportEntry {
                path: display_path(&file.path),
                line: start.line + 1,
                column: start.column + 1,
                end_line: end.line + 1,
                end_column: end.column + 1,
                library: &f.library,
                symbol: &f.symbol,
                rule: f.rule,
                kind: f.kind.as_str(),
                replacement: f.replacement.as_deref(),
                outcome: kind.as_str(),
                reason: reason.as_deref(),
            });
        }
    }
    let mut text = serde_json::to_string_pretty(&entries)?;
    text.push('\n');
    let dir = match report.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a file in {}", dir.display()))?;
    temp.write_all(text.as_bytes())?;
    temp.as_file().sync_all()?;
    temp.persist(report)?;
    Ok(())
}
