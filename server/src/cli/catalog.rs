//! `recode catalog`: what the bundled catalog knows.

use std::process::ExitCode;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use pep440_rs::Version;

use super::{CatalogCommand, Format};
use crate::analysis::imported_modules;
use crate::env::{self, normalize_name, ProcessEnv, ResolveOptions};
use crate::knowledge::harvest::{self, HarvestOptions};
use crate::knowledge::notes::{NoteQuery, NotesConfig, PageOrigin, ReleaseNotes, DEFAULT_BUDGET_CHARS};
use crate::knowledge::{Catalog, Entry};

pub fn run(command: CatalogCommand) -> Result<ExitCode> {
    let catalog = Catalog::bundled().context("loading the bundled catalog")?;
    match command {
        CatalogCommand::List { library } => {
            let library = library.as_deref().map(normalize_name);
            for entry in catalog.entries().iter().filter(|e| library.as_ref().is_none_or(|l| &e.library == l)) {
                println!("{}\t{}\t{}\t{}", entry.rule(), entry.symbol, entry.kind, versions(entry));
            }
            Ok(ExitCode::SUCCESS)
        }
        CatalogCommand::Changelog { library, version, offline } => changelog(&library, &version, offline),
        CatalogCommand::Harvest { env, all, format } => harvest_command(env, all, format, &catalog),
        CatalogCommand::Show { symbol, offline } => {
            let path = catalog.canonical(&expand_common_alias(&symbol));
            let (path, keyword) = match path.split_once('(') {
                Some((p, k)) => (p.to_string(), Some(k.trim_end_matches(')').trim_end_matches('=').to_string())),
                None => (path, None),
            };
            let entries: Vec<&Entry> =
                catalog.lookup(&path).filter(|e| keyword.is_none() || e.symbol.keyword == keyword).collect();
            if entries.is_empty() {
                eprintln!("{symbol}: not in the catalog");
                return Ok(ExitCode::from(1));
            }
            let notes = ReleaseNotes::new(notes_config(offline));
            let project = env::resolve(Path::new("."), &ResolveOptions { process: ProcessEnv::from_process(), ..Default::default() }).versions;
            for entry in entries {
                println!("{} ({}, {})", entry.symbol, entry.kind, entry.rule());
                println!("  library:     {}", entry.library);
                println!("  versions:    {}", versions(entry));
                if let Some(argument) = &entry.argument {
                    println!("  argument:    {argument:?}");
                }
                if let Some(keyword) = &entry.unless_keyword {
                    println!("  applies:     when called without {keyword}=");
                }
                if let Some(replacement) = &entry.replacement {
                    let since = entry.replacement_since.as_ref().map(|v| format!(" (since {v})")).unwrap_or_default();
                    println!("  replacement: {replacement}{since}");
                }
                println!("  note:        {}", entry.note);
                println!("  link:        {}", entry.link);
                println!("  defined at:  {}", entry.origin);
                let installed = project.get(&entry.library).map(|v| &v.version);
                if let Some(v) = installed {
                    println!("  installed:   {v} (in the current project)");
                }
                let retrieved = notes.retrieve(&NoteQuery::for_entry(entry, installed, DEFAULT_BUDGET_CHARS));
                super::report_note_warnings(&retrieved.warnings.iter().cloned().collect());
                if retrieved.entries.is_empty() {
                    println!("  release notes: nothing retrieved (the note above is what recode knows)");
                }
                for found in &retrieved.entries {
                    println!("\n  [{} {} — {}] {}", found.entry.library, found.entry.version, found.entry.section.title(), found.entry.source_url);
                    for line in found.entry.render().lines() {
                        println!("    {line}");
                    }
                }
                println!();
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn notes_config(offline: bool) -> NotesConfig {
    let mut config = NotesConfig::from_env();
    config.offline |= offline;
    config
}

fn changelog(library: &str, version: &str, offline: bool) -> Result<ExitCode> {
    let version = Version::from_str(version).map_err(|e| anyhow::anyhow!("version {version:?}: {e}"))?;
    let notes = ReleaseNotes::new(notes_config(offline));
    let library = normalize_name(library);
    if notes.sources().get(&library).is_none() {
        bail!("no release-note source for {library}; known: {}", notes.sources().libraries().join(", "));
    }
    let lookup = notes.page(&library, &version);
    for warning in &lookup.warnings {
        eprintln!("warning: {warning}");
    }
    let Some(page) = lookup.page else {
        bail!("the release notes of {library} {version} are not available");
    };
    let origin = match lookup.origin {
        PageOrigin::Fetched => "fetched",
        PageOrigin::Cache { stale: false } => "from the cache",
        PageOrigin::Cache { stale: true } => "from the cache (stale)",
        PageOrigin::Unavailable => "unavailable",
    };
    println!("{} {} — {} ({origin})", page.library, page.version, page.source_url);
    let mut section = None;
    for entry in &page.entries {
        if section != Some(entry.section) {
            section = Some(entry.section);
            println!("\n## {}", entry.section.title());
        }
        println!();
        for line in entry.render().lines() {
            println!("  {line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn harvest_command(env_path: Option<PathBuf>, all: bool, format: Format, catalog: &Catalog) -> Result<ExitCode> {
    let root = Path::new(".");
    let site_packages = match &env_path {
        Some(path) => env::find_site_packages(path)
            .with_context(|| format!("{}: no site-packages found in it", path.display()))?,
        None => {
            let options = ResolveOptions { process: ProcessEnv::from_process(), ..Default::default() };
            env::resolve(root, &options)
                .environment
                .context("no Python environment found for the current project (give one with --env)")?
        }
    };
    let only = (!all).then(|| {
        let walker = ignore::WalkBuilder::new(root).build();
        let mut modules = std::collections::BTreeSet::new();
        for entry in walker.flatten() {
            if entry.path().extension().is_some_and(|e| e == "py") {
                if let Ok(source) = std::fs::read_to_string(entry.path()) {
                    modules.extend(imported_modules(&source).into_iter().map(str::to_string));
                }
            }
        }
        modules
    });
    let options = HarvestOptions { site_packages, only, cache_dir: None };
    let harvest = harvest::harvest_cached(&options)?;
    for problem in &harvest.problems {
        eprintln!("warning: {problem}");
    }
    let missing = harvest.missing_from(catalog);
    match format {
        Format::Json | Format::Sarif => {
            let entries: Vec<serde_json::Value> = harvest
                .entries
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "library": e.library,
                        "symbol": e.symbol.to_string(),
                        "kind": e.kind,
                        "deprecated_in": e.deprecated_in.as_ref().map(ToString::to_string),
                        "removed_in": e.removed_in.as_ref().map(ToString::to_string),
                        "replacement": e.replacement,
                        "message": e.note,
                        "origin": e.origin,
                        "in_bundled_catalog": !missing.iter().any(|m| std::ptr::eq(*m, e)),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&entries)?);
        }
        Format::Text => {
            for e in &harvest.entries {
                println!("{}\t{}\t{}\t{}", e.symbol, e.kind, versions(e), e.origin);
            }
        }
    }
    let counts: Vec<String> = harvest.counts().into_iter().map(|(lib, n)| format!("{lib} {n}")).collect();
    eprintln!(
        "harvested {} entries from {} ({}){}; {} not in the bundled catalog; {} files scanned{}",
        harvest.entries.len(),
        options.site_packages.display(),
        counts.join(", "),
        if all { "" } else { " for the modules the project imports" },
        missing.len(),
        harvest.files_scanned,
        if harvest.from_cache { " (from the cache)" } else { "" },
    );
    Ok(ExitCode::SUCCESS)
}

fn versions(entry: &Entry) -> String {
    let part = |label: &str, v: &Option<pep440_rs::Version>| v.as_ref().map(|v| format!("{label} {v}"));
    [part("deprecated in", &entry.deprecated_in), part("removed in", &entry.removed_in)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
}

/// Users type `np.float_` / `pd.DataFrame.append`: accept the usual aliases.
fn expand_common_alias(symbol: &str) -> String {
    const ALIASES: &[(&str, &str)] = &[("np.", "numpy."), ("pd.", "pandas."), ("plt.", "matplotlib.pyplot."), ("mpl.", "matplotlib.")];
    ALIASES
        .iter()
        .find_map(|(short, long)| symbol.strip_prefix(short).map(|rest| format!("{long}{rest}")))
        .unwrap_or_else(|| symbol.to_string())
}
