//! `recode catalog`: what the bundled catalog knows.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::CatalogCommand;
use crate::env::normalize_name;
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
        CatalogCommand::Show { symbol } => {
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
            }
            Ok(ExitCode::SUCCESS)
        }
    }
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
