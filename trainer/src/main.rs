//! `recode-train`: trains and evaluates recode's local migration model.
//!
//! Prompts, answers and rewards come from `recode::vocab`, the same functions
//! the server uses, so what the model learns here is what it is asked there.

mod data;
mod model;
mod policy;
mod rl;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candle_core::DType;
use clap::{Parser, Subcommand};
use recode::vocab::{PromptConfig, RewardKind, Scorer};

use data::{Dataset, Report};
use model::adapter::AdapterConfig;
use model::LocalModel;
use policy::Policy;
use rl::config::TrainConfig;
use rl::reward::{MigrationReward, TrainPrompt};
use rl::trainer::Trainer;

#[derive(Parser)]
#[command(name = "recode-train", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score one completion against a reference and print the reward parts as JSON.
    Reward {
        /// The model's completion: the text it generated after the prompt's
        /// prefill "Let me solve this step by step.\n<think>".
        #[arg(long)]
        completion: PathBuf,
        /// The reference migration: plain Python code.
        #[arg(long)]
        reference: PathBuf,
        /// Correctness reward: es-star, es, em-star or em.
        #[arg(long, default_value = "es-star")]
        kind: RewardKind,
    },
    /// Print the prompt the model is given for one row of a training file,
    /// rendered by the server's own prompt code (what training and serving
    /// both send).
    Prompt {
        #[arg(long)]
        file: PathBuf,
        /// The row's 1-based line in the file (default: the first kept row).
        #[arg(long)]
        line: Option<usize>,
        /// Worked examples before the task.
        #[arg(long, default_value_t = 1)]
        k_examples: usize,
    },
    /// Load a training file (ReCode's train.jsonl schema) and print, as JSON,
    /// what was kept and dropped and why, per library, and the split.
    Data {
        #[arg(long)]
        file: PathBuf,
        /// Seed of the train/validation split.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Share of each library's rows held out for validation.
        #[arg(long, default_value_t = 0.1)]
        val_fraction: f64,
        /// Worked examples per prompt, for the prompt-length figures.
        #[arg(long, default_value_t = 1)]
        k_examples: usize,
    },
    /// Fine-tune the model with GRPO or DAPO on a DoRA/LoRA adapter, as the
    /// TOML config says; writes metrics.jsonl, checkpoint.safetensors and
    /// the adapter in PEFT's format (RUN_DIR/adapter) at every checkpoint.
    Train {
        #[arg(long)]
        config: PathBuf,
        /// The run directory; runs/<config name> by default.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Continue the run in RUN_DIR from its checkpoint.
        #[arg(long)]
        resume: bool,
    },
    /// Score the model on the held-out rows of the config's split: one
    /// greedy completion each (up to rollout.max_new_tokens), with the run's
    /// reward; prints the mean reward and its parts as JSON.
    Eval {
        #[arg(long)]
        config: PathBuf,
        /// A PEFT adapter directory (a run's RUN_DIR/adapter); without it, the base model.
        #[arg(long)]
        adapter: Option<PathBuf>,
        /// Score only the first N held-out rows.
        #[arg(long)]
        rows: Option<usize>,
        /// Prompts decoded together: more use the cores better and take more
        /// memory; the scores do not depend on it.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
        batch: u64,
    },
    /// Draw a run's curves (reward and its parts, loss, KL, clipping,
    /// lengths) from RUN_DIR/metrics.jsonl to a PNG.
    Plot {
        run_dir: PathBuf,
        /// The PNG to write; RUN_DIR/curves.png by default.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fold a PEFT DoRA/LoRA adapter into its base model and write a plain
    /// Hugging Face model directory (`recode model run --model DIR` serves it).
    Merge {
        /// The base model: a .gguf file or a Hugging Face model directory.
        #[arg(long)]
        base: PathBuf,
        /// The adapter directory (adapter_config.json, adapter_model.safetensors).
        #[arg(long)]
        adapter: PathBuf,
        /// Where to write the merged model.
        #[arg(long)]
        out: PathBuf,
        /// Weights dtype: f32 or bf16.
        #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
        dtype: String,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Reward { completion, reference, kind } => {
            let parts = Scorer::new().reward(&read(&completion)?, &read(&reference)?, kind);
            println!("{}", serde_json::to_string_pretty(&parts)?);
        }
        Command::Data { file, seed, val_fraction, k_examples } => {
            let dataset = Dataset::load(&file)?;
            let split = dataset.split(seed, val_fraction)?;
            let report = Report::new(&file, &dataset, &split, seed, val_fraction, &PromptConfig::new(k_examples));
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Command::Prompt { file, line, k_examples } => {
            let dataset = Dataset::load(&file)?;
            let example = match line {
                None => dataset.examples.first().with_context(|| format!("{}: no row is kept", file.display()))?,
                Some(line) => match dataset.examples.iter().find(|e| e.line == line) {
                    Some(example) => example,
                    None => match dataset.dropped.iter().find(|d| d.line == line) {
                        Some(dropped) => bail!("{}:{line}: the row is dropped ({:?}: {})", file.display(), dropped.reason, dropped.detail),
                        None => bail!("{}:{line}: no such row", file.display()),
                    },
                },
            };
            print!("{}", recode::vocab::render_prompt(&example.task, &PromptConfig::new(k_examples)));
        }
        Command::Train { config, out, resume } => train(&config, out, resume)?,
        Command::Eval { config, adapter, rows, batch } => eval(&config, adapter.as_deref(), rows, batch as usize)?,
        Command::Plot { run_dir, out } => {
            let rows = rl::metrics::read(&run_dir.join(rl::trainer::METRICS_FILE))?;
            let out = out.unwrap_or_else(|| run_dir.join("curves.png"));
            rl::plot::draw(&rows, &out)?;
            eprintln!("wrote {}", out.display());
        }
        Command::Merge { base, adapter, out, dtype } => {
            let dtype = if dtype == "bf16" { DType::BF16 } else { DType::F32 };
            model::merge::merge(&base, &adapter, &out, dtype)?;
            eprintln!("wrote {}", out.display());
        }
    }
    Ok(())
}

fn train(config_path: &Path, out: Option<PathBuf>, resume: bool) -> anyhow::Result<()> {
    let config = TrainConfig::load(config_path)?;
    let run_dir = out.unwrap_or_else(|| {
        let name = config_path.file_stem().map_or("run".into(), |stem| stem.to_string_lossy().into_owned());
        PathBuf::from("runs").join(name)
    });
    let checkpoint = run_dir.join(rl::trainer::CHECKPOINT_FILE);
    if !resume && checkpoint.exists() {
        bail!("{} holds a run already: pass --resume to continue it, or --out another directory", run_dir.display());
    }
    if resume {
        same_config_as_run(&config, &run_dir)?;
    }

    let mut model = load_model(&config)?;
    let targets: Vec<&str> = config.adapter.targets.iter().map(String::as_str).collect();
    let base_model = config.model.path.display().to_string();
    let adapter =
        AdapterConfig::new(&base_model, config.adapter.r, config.adapter.alpha, config.adapter.dora, &targets);
    model.attach_adapter(adapter, config.run.seed)?;

    let dataset = Dataset::load(&config.data.file)?;
    let split = dataset.split(config.run.seed, config.data.val_fraction)?;
    let (prompts, k_examples) = render_prompts(&config, &model, &dataset, &split.train)?;
    eprintln!(
        "{} training prompts ({} held out), {k_examples} worked example(s) a prompt; run directory {}",
        prompts.len(),
        split.validation.len(),
        run_dir.display()
    );

    let reward = MigrationReward::new(config.data.reward);
    let steps = config.optimizer.steps;
    let mut trainer = Trainer::new(config.clone(), &model, reward, prompts, &run_dir)?;
    if resume {
        trainer.resume()?;
        eprintln!("resumed after step {}", trainer.step());
    } else {
        rl::checkpoint::write_atomically(&run_dir.join("config.toml"), toml::to_string(&config)?.as_bytes())?;
    }
    trainer.run_until(steps, true)?;
    eprintln!("the adapter is in {}", run_dir.join(rl::trainer::ADAPTER_DIR).display());
    Ok(())
}

fn eval(config_path: &Path, adapter: Option<&Path>, rows: Option<usize>, batch: usize) -> anyhow::Result<()> {
    let config = TrainConfig::load(config_path)?;
    let mut model = load_model(&config)?;
    if let Some(adapter) = adapter {
        model.load_adapter(adapter).with_context(|| format!("loading the adapter {}", adapter.display()))?;
    }
    let dataset = Dataset::load(&config.data.file)?;
    let split = dataset.split(config.run.seed, config.data.val_fraction)?;
    let held_out = &split.validation[..rows.unwrap_or(usize::MAX).min(split.validation.len())];
    let (prompts, _) = render_prompts(&config, &model, &dataset, held_out)?;
    let progress = indicatif::ProgressBar::new(prompts.len() as u64);
    let mut reward = MigrationReward::new(config.data.reward);
    let report = rl::eval::evaluate(&model, &mut reward, &prompts, config.rollout.max_new_tokens, batch, &progress)?;
    progress.finish_and_clear();
    let adapter = adapter.map(|a| a.display().to_string());
    println!("{}", serde_json::to_string_pretty(&serde_json::json!({"adapter": adapter, "report": report}))?);
    Ok(())
}

fn load_model(config: &TrainConfig) -> anyhow::Result<LocalModel> {
    let device = rl::trainer::device(&config.model.device)?;
    let dtype = if config.model.dtype == "bf16" { DType::BF16 } else { DType::F32 };
    LocalModel::load(&config.model.path, dtype, &device).with_context(|| format!("loading the model {}", config.model.path.display()))
}

/// The prompts of the rows at `indices`, rendered as the server renders
/// them, without those over `data.max_prompt_tokens` (the count is
/// printed); and the worked examples in each.
fn render_prompts(config: &TrainConfig, model: &LocalModel, dataset: &Dataset, indices: &[usize]) -> anyhow::Result<(Vec<TrainPrompt>, usize)> {
    let prompt_config = match config.data.k_examples {
        Some(k) => PromptConfig::new(k),
        None => PromptConfig::for_model(parameter_count(model.decoder().config())),
    };
    let mut prompts = Vec::with_capacity(indices.len());
    for &index in indices {
        let example = &dataset.examples[index];
        let text = example.prompt(&prompt_config);
        if let Some(limit) = config.data.max_prompt_tokens {
            if model.encode(&text)?.len() > limit {
                continue;
            }
        }
        prompts.push(TrainPrompt { text, reference: example.reference.clone() });
    }
    if let Some(limit) = config.data.max_prompt_tokens {
        let left_out = indices.len() - prompts.len();
        eprintln!("left out {left_out} of {} prompts longer than {limit} tokens (data.max_prompt_tokens)", indices.len());
    }
    Ok((prompts, prompt_config.k_examples))
}

/// A resumed run continues exactly only under the configuration it started
/// with; a changed key is named rather than silently mixed in.
fn same_config_as_run(config: &TrainConfig, run_dir: &Path) -> anyhow::Result<()> {
    let saved_path = run_dir.join("config.toml");
    let saved = TrainConfig::parse(&read(&saved_path)?).with_context(|| format!("in {}", saved_path.display()))?;
    let saved: toml::Table = toml::from_str(&toml::to_string(&saved)?)?;
    let current: toml::Table = toml::from_str(&toml::to_string(config)?)?;
    let mut changed = Vec::new();
    for (section, value) in &current {
        match (value, saved.get(section)) {
            (toml::Value::Table(keys), Some(toml::Value::Table(saved_keys))) => changed.extend(
                keys.iter()
                    .filter(|(key, v)| saved_keys.get(*key) != Some(v))
                    .map(|(key, _)| format!("{section}.{key}")),
            ),
            (value, saved_value) if saved_value != Some(value) => changed.push(section.clone()),
            _ => {}
        }
    }
    if !changed.is_empty() {
        bail!(
            "the config differs from the run's {} in {}: resume with the run's config",
            saved_path.display(),
            changed.join(", ")
        );
    }
    Ok(())
}

/// The base model's parameters, from its shape: what decides the default
/// number of worked examples, as in serving.
fn parameter_count(config: &model::config::Config) -> u64 {
    let (hidden, kv) = (config.hidden_size as u64, (config.num_key_value_heads * config.head_dim()) as u64);
    let attention = 2 * hidden * hidden + 2 * hidden * kv;
    let mlp = 3 * hidden * config.intermediate_size as u64;
    let embeddings = config.vocab_size as u64 * hidden * if config.tie_word_embeddings { 1 } else { 2 };
    embeddings + config.num_hidden_layers as u64 * (attention + mlp + 2 * hidden) + hidden
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smollm2_135m_counts_its_published_parameters() {
        let config = model::config::Config {
            vocab_size: 49_152,
            hidden_size: 576,
            intermediate_size: 1536,
            num_hidden_layers: 30,
            num_attention_heads: 9,
            num_key_value_heads: 3,
            rms_norm_eps: 1e-5,
            rope_theta: 100_000.0,
            max_position_embeddings: 8192,
            tie_word_embeddings: true,
            attention_bias: false,
        };
        // 49,152·576 tied embeddings + 30 layers of (2·576² + 2·576·192
        // attention, 3·576·1536 MLP, two norms) + the final norm.
        assert_eq!(parameter_count(&config), 134_515_008);
        assert_eq!(PromptConfig::for_model(parameter_count(&config)).k_examples, 1);
    }
}
