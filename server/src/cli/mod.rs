//! The `recode` command line: a thin shell over the engine.

mod catalog;
mod check;
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
}

#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// List catalog entries.
    List {
        /// Only this library's entries.
        #[arg(long)]
        library: Option<String>,
    },
    /// Show the catalog entries of a symbol (`numpy.float_`, `np.float_`).
    Show { symbol: String },
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Catalog(command) => catalog::run(command),
    }
}
