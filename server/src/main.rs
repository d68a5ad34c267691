use std::process::ExitCode;

use clap::Parser;

/// Warnings from recode; mistralrs warns on every CPU load that it turns
/// PagedAttention off, which is its business, not the user's.
const DEFAULT_LOG_FILTER: &str = "warn,mistralrs_core=error";

fn main() -> ExitCode {
    let cli = recode::cli::Cli::parse();
    let log = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RECODE_LOG").unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .without_time();
    match log_file(&cli) {
        Some(path) => match std::fs::OpenOptions::new().create(true).append(true).open(path) {
            Ok(file) => log.with_ansi(false).with_writer(std::sync::Mutex::new(file)).init(),
            Err(error) => {
                eprintln!("error: cannot open the log file {}: {error}", path.display());
                return ExitCode::from(2);
            }
        },
        None => log.with_writer(std::io::stderr).init(),
    }
    match recode::cli::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Where the log goes instead of stderr, when the command says.
fn log_file(cli: &recode::cli::Cli) -> Option<&std::path::Path> {
    match &cli.command {
        #[cfg(feature = "lsp")]
        recode::cli::Command::Lsp(args) => args.log_file.as_deref(),
        _ => None,
    }
}
