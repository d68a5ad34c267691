//! The training configuration: one TOML file names everything a run does.
//!
//! Every key has the paper's default (DESIGN.md §5, ReCode: GRPO/DAPO on
//! DoRA r 64 α 64, lr 5e-5, 150 warm-up steps, 5,000 steps, G 8), so a file
//! only needs the model and the data. A key the trainer does not know is an
//! error naming it: a misspelt `lerning_rate` must not silently train with
//! the default.

use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context};
use recode::vocab::RewardKind;
use serde::{Deserialize, Serialize};

use crate::model::adapter::DEFAULT_TARGET_MODULES;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub model: ModelConfig,
    pub adapter: AdapterConfig,
    pub data: DataConfig,
    pub rollout: RolloutConfig,
    pub algorithm: Algorithm,
    pub grpo: GrpoConfig,
    pub dapo: DapoConfig,
    pub optimizer: OptimizerConfig,
    pub run: RunConfig,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// A GGUF file or a Hugging Face model directory (`config.json`,
    /// safetensors, `tokenizer.json`); relative to the config file.
    pub path: PathBuf,
    /// `f32` or `bf16`: the dtype the frozen weights are dequantised to.
    pub dtype: String,
    /// `cpu`, or `cuda` / `cuda:N` in a build with candle's CUDA backend.
    pub device: String,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig { path: PathBuf::new(), dtype: "f32".into(), device: "cpu".into() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdapterConfig {
    /// DoRA (PEFT's `use_dora`) rather than plain LoRA.
    pub dora: bool,
    pub r: usize,
    pub alpha: f64,
    /// Projection names as PEFT writes `target_modules`.
    pub targets: Vec<String>,
}

impl Default for AdapterConfig {
    fn default() -> Self {
        AdapterConfig { dora: true, r: 64, alpha: 64.0, targets: DEFAULT_TARGET_MODULES.map(String::from).to_vec() }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// ReCode's `train.jsonl` or a file of its schema; relative to the config file.
    pub file: PathBuf,
    /// Share of each library's rows held out (not trained on).
    pub val_fraction: f64,
    /// Worked examples in each prompt; unset, the model's size decides
    /// (`recode::vocab::default_k`: 1 under ~1B parameters, else 0), as in serving.
    pub k_examples: Option<usize>,
    pub reward: RewardKind,
    /// Prompts longer than this many tokens are left out (and counted):
    /// scoring memory grows with the square of the prompt's length. Unset: no limit.
    pub max_prompt_tokens: Option<usize>,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            file: PathBuf::new(),
            val_fraction: 0.1,
            k_examples: None,
            reward: RewardKind::EsStar,
            max_prompt_tokens: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutConfig {
    /// G: completions sampled per prompt.
    pub group_size: usize,
    /// Prompts per step. One prompt of G = 8 is the paper's batch of 8
    /// completions (TRL counts a batch in completions).
    pub prompts_per_step: usize,
    pub temperature: f64,
    pub top_p: f64,
    pub max_new_tokens: usize,
    /// Leave completions that hit `max_new_tokens` out of the loss: their
    /// reward judges an answer that was never finished.
    pub mask_truncated: bool,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        RolloutConfig {
            group_size: 8,
            prompts_per_step: 1,
            temperature: 1.0,
            top_p: 1.0,
            max_new_tokens: 512,
            mask_truncated: false,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    #[default]
    Grpo,
    Dapo,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpoConfig {
    /// The ratio is clipped to `[1 − epsilon, 1 + epsilon]`.
    pub epsilon: f64,
    /// Weight of the KL penalty against the base model (the adapter off).
    pub beta: f64,
}

impl Default for GrpoConfig {
    fn default() -> Self {
        GrpoConfig { epsilon: 0.2, beta: 0.04 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DapoConfig {
    pub epsilon_low: f64,
    /// Clip-higher: a larger upper bound leaves rare tokens room to grow.
    pub epsilon_high: f64,
    /// Dynamic sampling draws prompts until `prompts_per_step` groups with
    /// reward variance are found or this many prompts were drawn in the step.
    pub max_prompt_draws: usize,
    /// L_cache: completions longer than `max_new_tokens − overlong_buffer`
    /// lose up to `overlong_penalty` linearly; 0 turns the shaping off.
    pub overlong_buffer: usize,
    pub overlong_penalty: f64,
}

impl Default for DapoConfig {
    fn default() -> Self {
        DapoConfig {
            epsilon_low: 0.2,
            epsilon_high: 0.28,
            max_prompt_draws: 24,
            overlong_buffer: 0,
            overlong_penalty: 1.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    pub learning_rate: f64,
    pub warmup_steps: u64,
    /// Training steps (rollout batches); each makes `num_iterations` updates.
    pub steps: u64,
    /// μ: optimiser updates per rollout batch, with the rollout's log-probs as π_old.
    pub num_iterations: usize,
    /// Micro-batches the step's completions are split into for the backward
    /// pass; their gradients are summed before one update.
    pub grad_accumulation: usize,
    /// Global gradient norm bound; 0 turns clipping off.
    pub max_grad_norm: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig {
            learning_rate: 5e-5,
            warmup_steps: 150,
            steps: 5000,
            num_iterations: 1,
            grad_accumulation: 1,
            max_grad_norm: 1.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Seeds the split, the data order and the sampling.
    pub seed: u64,
    /// Steps between checkpoints; the last step is always saved.
    pub checkpoint_every: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { seed: 0, checkpoint_every: 50 }
    }
}

impl TrainConfig {
    /// Reads `path`; relative model and data paths become relative to its
    /// folder, and a leading `~/` the home folder. Both come out absolute,
    /// so a run's saved `config.toml` works from anywhere.
    pub fn load(path: &Path) -> anyhow::Result<TrainConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config = TrainConfig::parse(&text).with_context(|| format!("in {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new(""));
        config.model.path = resolve(base, &config.model.path);
        config.data.file = resolve(base, &config.data.file);
        Ok(config)
    }

    pub fn parse(text: &str) -> anyhow::Result<TrainConfig> {
        let config: TrainConfig = toml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Rejects values the loop cannot run with, naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        let rollout = &self.rollout;
        ensure!(rollout.group_size >= 2, "rollout.group_size must be at least 2: advantages compare a group's samples");
        ensure!(rollout.prompts_per_step >= 1, "rollout.prompts_per_step must be at least 1");
        ensure!(rollout.max_new_tokens >= 1, "rollout.max_new_tokens must be at least 1");
        ensure!(
            rollout.temperature > 0.0,
            "rollout.temperature must be above 0: greedy groups are all alike and have no advantage"
        );
        ensure!(rollout.top_p > 0.0 && rollout.top_p <= 1.0, "rollout.top_p must be in (0, 1]");
        let optimizer = &self.optimizer;
        ensure!(optimizer.learning_rate > 0.0, "optimizer.learning_rate must be above 0");
        ensure!(optimizer.steps >= 1, "optimizer.steps must be at least 1");
        ensure!(optimizer.num_iterations >= 1, "optimizer.num_iterations must be at least 1");
        ensure!(optimizer.grad_accumulation >= 1, "optimizer.grad_accumulation must be at least 1");
        ensure!(optimizer.max_grad_norm >= 0.0, "optimizer.max_grad_norm must not be negative");
        ensure!((0.0..1.0).contains(&optimizer.beta1), "optimizer.beta1 must be in [0, 1)");
        ensure!((0.0..1.0).contains(&optimizer.beta2), "optimizer.beta2 must be in [0, 1)");
        ensure!(self.run.checkpoint_every >= 1, "run.checkpoint_every must be at least 1");
        ensure!(self.grpo.epsilon > 0.0 && self.grpo.epsilon < 1.0, "grpo.epsilon must be in (0, 1)");
        ensure!(self.grpo.beta >= 0.0, "grpo.beta must not be negative");
        let dapo = &self.dapo;
        ensure!(dapo.epsilon_low > 0.0 && dapo.epsilon_low < 1.0, "dapo.epsilon_low must be in (0, 1)");
        ensure!(dapo.epsilon_high > 0.0, "dapo.epsilon_high must be above 0");
        ensure!(
            dapo.max_prompt_draws >= rollout.prompts_per_step,
            "dapo.max_prompt_draws must be at least rollout.prompts_per_step"
        );
        if dapo.overlong_buffer >= rollout.max_new_tokens {
            bail!("dapo.overlong_buffer must be below rollout.max_new_tokens");
        }
        ensure!(self.adapter.r >= 1, "adapter.r must be at least 1");
        ensure!(!self.adapter.targets.is_empty(), "adapter.targets must name at least one projection");
        ensure!(matches!(self.model.dtype.as_str(), "f32" | "bf16"), "model.dtype must be f32 or bf16");
        ensure!((0.0..1.0).contains(&self.data.val_fraction), "data.val_fraction must be in [0, 1)");
        Ok(())
    }
}

fn resolve(base: &Path, path: &Path) -> PathBuf {
    let joined = match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => base.join(path),
    };
    // A missing file is made absolute as spelled; reading it later names it.
    std::fs::canonicalize(&joined).or_else(|_| std::path::absolute(&joined)).unwrap_or(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_has_the_paper_defaults() {
        let config = TrainConfig::parse("").unwrap();
        assert_eq!(config.algorithm, Algorithm::Grpo);
        assert_eq!(config.optimizer.learning_rate, 5e-5);
        assert_eq!(config.optimizer.warmup_steps, 150);
        assert_eq!(config.optimizer.steps, 5000);
        assert_eq!(config.rollout.group_size, 8);
        assert_eq!((config.adapter.r, config.adapter.alpha, config.adapter.dora), (64, 64.0, true));
        assert_eq!((config.rollout.temperature, config.rollout.top_p), (1.0, 1.0));
        assert_eq!((config.grpo.epsilon, config.grpo.beta), (0.2, 0.04));
        assert_eq!((config.dapo.epsilon_low, config.dapo.epsilon_high), (0.2, 0.28));
        assert_eq!(config.optimizer.num_iterations, 1);
        assert_eq!(config.optimizer.max_grad_norm, 1.0);
        assert_eq!(config.data.reward, RewardKind::EsStar);
        assert_eq!(config.data.k_examples, None);
    }

    #[test]
    fn keys_override_their_defaults_only() {
        let config = TrainConfig::parse(
            r#"
            algorithm = "dapo"
            [data]
            file = "train.jsonl"
            reward = "em-star"
            k_examples = 0
            [rollout]
            group_size = 4
            [dapo]
            overlong_buffer = 64
            "#,
        )
        .unwrap();
        assert_eq!(config.algorithm, Algorithm::Dapo);
        assert_eq!(config.data.reward, RewardKind::EmStar);
        assert_eq!(config.data.k_examples, Some(0));
        assert_eq!(config.rollout.group_size, 4);
        assert_eq!(config.rollout.max_new_tokens, 512);
        assert_eq!(config.dapo.overlong_buffer, 64);
        assert_eq!(config.dapo.epsilon_high, 0.28);
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_it() {
        let error = TrainConfig::parse("[optimizer]\nlerning_rate = 1e-4\n").unwrap_err();
        assert!(format!("{error:#}").contains("lerning_rate"), "{error:#}");
        let error = TrainConfig::parse("[sampling]\ntemperature = 0.7\n").unwrap_err();
        assert!(format!("{error:#}").contains("sampling"), "{error:#}");
    }

    #[test]
    fn values_the_loop_cannot_use_are_errors_naming_the_key() {
        let error = TrainConfig::parse("[rollout]\ngroup_size = 1\n").unwrap_err();
        assert!(error.to_string().contains("rollout.group_size"), "{error}");
        let error = TrainConfig::parse("[rollout]\nmax_new_tokens = 32\n[dapo]\noverlong_buffer = 32\n").unwrap_err();
        assert!(error.to_string().contains("dapo.overlong_buffer"), "{error}");
    }

    #[test]
    fn relative_paths_are_read_from_the_config_folder() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("run.toml");
        std::fs::write(&path, "[model]\npath = \"~/models/m.gguf\"\n[data]\nfile = \"data/train.jsonl\"\n").unwrap();
        let config = TrainConfig::load(&path).unwrap();
        let home = PathBuf::from(std::env::var_os("HOME").unwrap());
        assert_eq!(config.model.path, home.join("models/m.gguf"));
        assert_eq!(config.data.file, folder.path().join("data/train.jsonl"));
    }

    #[test]
    fn the_example_config_states_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/smollm2-135m-grpo.toml");
        let config = TrainConfig::load(&path).unwrap();
        let defaults = TrainConfig { model: config.model.clone(), data: config.data.clone(), ..TrainConfig::default() };
        assert_eq!(config, defaults);
        assert!(config.model.path.ends_with(".cache/recode/models/SmolLM2-135M-Instruct.Q4_1.gguf"));
        assert!(config.data.file.ends_with("shared/data/recode-train/train.jsonl"));
    }

    #[test]
    fn the_cpu_smoke_config_is_valid() {
        // Loaded by a relative path (tests run in the crate's folder): the
        // data path comes out absolute, as a run's saved config needs.
        let config = TrainConfig::load(Path::new("configs/smollm2-135m-cpu-smoke.toml")).unwrap();
        assert_eq!((config.rollout.group_size, config.rollout.max_new_tokens, config.optimizer.steps), (4, 48, 3));
        assert!(config.data.file.is_absolute() && config.data.file.ends_with("shared/data/recode-train/train.jsonl"), "{}", config.data.file.display());
        assert!(config.data.file.exists());
    }
}
