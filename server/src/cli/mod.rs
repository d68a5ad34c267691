//! The `recode` command line: a thin shell over the engine.

mod catalog;
pub(crate) mod check;
mod migrate;
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
    /// Fix what `check` finds: a unified diff by default, `--write` to apply.
    #[command(after_help = "Exit codes: 0 nothing left to do (no findings, or with --write every finding fixed \
        and written); 1 findings remain (a dry run with findings, or findings with no safe fix); 2 an error \
        (bad arguments, --model, an unreadable file, a file outside the given paths, uncommitted changes \
        under --write (nothing is written), a failed write or report).")]
    Migrate(MigrateArgs),
    /// Inspect the API-update catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Fetch, list and locate local models.
    #[command(subcommand)]
    Model(model::ModelCommand),
    /// The language server, over stdio (diagnostics, hover, fixes).
    #[cfg(feature = "lsp")]
    #[command(version)]
    Lsp(LspArgs),
}

#[cfg(feature = "lsp")]
#[derive(Debug, clap::Args)]
pub struct LspArgs {
    /// Append the log to FILE instead of stderr (`RECODE_LOG` sets the level).
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
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

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Files or directories to migrate (default: the current directory).
    pub paths: Vec<PathBuf>,
    /// Apply the edits, each file replaced atomically (default: print a
    /// unified diff and change nothing).
    #[arg(long)]
    pub write: bool,
    /// The Python environment to read installed versions from.
    #[arg(long, value_name = "PATH")]
    pub env: Option<PathBuf>,
    /// Override a library's version: `--pin numpy==1.26.4` (repeatable).
    #[arg(long, value_name = "LIB==VER")]
    pub pin: Vec<String>,
    /// Worker threads (default: one per core).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Write every finding's outcome as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write files even when git has uncommitted changes to them.
    #[arg(long)]
    pub allow_dirty: bool,
    /// The model for findings with no deterministic fix: `default` (the
    /// embedded SmolLM2, after `recode model fetch`), a .gguf file, a model
    /// directory, or an OpenAI-compatible endpoint URL
    /// (`http://127.0.0.1:11434/v1#qwen2.5-coder`). Default: `default`, when
    /// it is fetched.
    #[arg(long, value_name = "SPEC", conflicts_with = "no_model")]
    pub model: Option<String>,
    /// Only deterministic fixes; findings that need the model are reported
    /// as having no safe fix.
    #[arg(long)]
    pub no_model: bool,
    /// Model samples per finding before it is reported as having no safe
    /// fix (the first is greedy, the others sampled).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub samples: usize,
    /// Sampling temperature of the samples after the first.
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Most tokens the model writes per sample.
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_tokens: usize,
    /// Seed for the sampled retries (default: a fresh one per run).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Give up on one generation after this many seconds (default 600).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Worked examples in the prompt (default: 1 for local models, which are
    /// small; 0 for endpoints).
    #[arg(long, value_name = "K")]
    pub k_examples: Option<usize>,
    /// Read release notes for the model's prompt from the cache only.
    #[arg(long)]
    pub offline: bool,
    /// Don't add deprecations harvested from the installed packages.
    #[arg(long)]
    pub no_harvest: bool,
    /// No progress bar, list of findings left, or summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
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

/// `--pin LIB==VER` values; a bad one names itself.
fn parse_pins(pins: &[String]) -> anyhow::Result<Vec<(String, pep440_rs::Version)>> {
    pins.iter()
        .map(|p| crate::env::parse_pin(p).map_err(|e| anyhow::anyhow!("--pin {p}: {e}")))
        .collect()
}

/// The paths a command was given, or the current directory.
fn paths_or_current_dir(paths: &[PathBuf]) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    }
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
        Command::Migrate(args) => migrate::run(args),
        Command::Catalog(command) => catalog::run(command),
        Command::Model(command) => model::run(command),
        #[cfg(feature = "lsp")]
        Command::Lsp(_) => crate::lsp::serve_stdio().map(|()| ExitCode::SUCCESS),
    }
}
