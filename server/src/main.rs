use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = recode::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RECODE_LOG").unwrap_or_else(|_| "warn".into()),
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
