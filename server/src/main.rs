use std::process::ExitCode;

use clap::Parser;

/// Warnings from recode; mistralrs warns on every CPU load that it turns
/// PagedAttention off, which is its business, not the user's.
const DEFAULT_LOG_FILTER: &str = "warn,mistralrs_core=error";

fn main() -> ExitCode {
    let cli = recode::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RECODE_LOG").unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .without_time()
        .init();
    match recode::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
