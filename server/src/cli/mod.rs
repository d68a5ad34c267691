//! The `recode` command line: a thin shell over the engine.

mod catalog;
mod check;
mod model;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "recode", version, about = "Keeps Python code in step with the library versions a project really uses")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Report uses of APIs deprecated or removed at the project's library versions.
    Check(CheckArgs),
    /// Inspect the API-update catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Fetch, list and locate local models.
    #[command(subcommand)]
    Model(model::ModelCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Files or directories to check (default: the current directory).
    pub paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// The Python environment to read installed versions from (a venv or conda
    /// prefix, or a site-packages directory).
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,
    /// Override a library's version: `--pin numpy==1.26.4` (repeatable).
    #[arg(long, value_name = "LIB==VER")]
    pub pin: Vec<String>,
    /// Don't print the summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Don't add deprecations harvested from the installed packages.
    #[arg(long)]
    pub no_harvest: bool,
    /// Don't attach release-note entries to JSON findings.
    #[arg(long)]
    pub no_notes: bool,
    /// Read release notes from the cache only (also `RECODE_OFFLINE=1`).
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List catalog entries.
    List {
        /// Only this library's entries.
        #[arg(long)]
        library: Option<String>,
    },
    /// Show the catalog entries of a symbol (`numpy.float_`, `np.float_`)
    /// with the release-note entries that mention it.
    Show {
        symbol: String,
        /// Read release notes from the cache only.
        #[arg(long)]
        offline: bool,
    },
    /// Print the entries parsed from a library version's release notes.
    Changelog {
        library: String,
        version: String,
        /// Read from the cache only.
        #[arg(long)]
        offline: bool,
    },
    /// Read deprecations out of the installed packages of an environment.
    Harvest {
        /// The environment (venv or conda prefix, or site-packages); default:
        /// the current project's.
        #[arg(long, value_name = "PATH")]
        env: Option<PathBuf>,
        /// Every installed package, not only those the project imports.
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// Release-note problems never stop a command; a few of them are enough to
/// say what is wrong.
fn report_note_warnings(warnings: &std::collections::BTreeSet<String>) {
    const SHOWN: usize = 3;
    for warning in warnings.iter().take(SHOWN) {
        eprintln!("warning: release notes: {warning}");
    }
    if warnings.len() > SHOWN {
        eprintln!(
            "warning: release notes: {} more problems (RECODE_LOG=debug shows them; --offline uses the cache only, --no-notes skips notes)",
            warnings.len() - SHOWN
        );
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Catalog(command) => catalog::run(command),
        Command::Model(command) => model::run(command),
    }
}
