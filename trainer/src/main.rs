//! `recode-train`: trains and evaluates recode's local migration model.
//!
//! Prompts, answers and rewards come from `recode::vocab`, the same functions
//! the server uses, so what the model learns here is what it is asked there.

mod data;
mod model;
mod policy;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Parser, Subcommand};
use recode::vocab::{PromptConfig, RewardKind, Scorer};

use data::{Dataset, Report};

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
        Command::Merge { base, adapter, out, dtype } => {
            let dtype = if dtype == "bf16" { candle_core::DType::BF16 } else { candle_core::DType::F32 };
            model::merge::merge(&base, &adapter, &out, dtype)?;
            eprintln!("wrote {}", out.display());
        }
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
