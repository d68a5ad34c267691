//! The loop end to end on the real decoder: a tiny random-initialised
//! Llama (two layers, a 16-token vocabulary) with a DoRA adapter learns a
//! toy task, resumes bit-identically, and stops cleanly on a NaN loss.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::Tokenizer;

use super::eval::evaluate;
use super::config::{Algorithm, OptimizerConfig, RolloutConfig, TrainConfig};
use super::metrics::{self, StepMetrics};
use super::reward::{RewardFunction, Scored, TrainPrompt};
use super::trainer::Trainer;
use crate::model::adapter::{AdapterConfig, DEFAULT_TARGET_MODULES};
use crate::model::config::Config;
use crate::model::decoder::{random_weights, Decoder};
use crate::model::LocalModel;
use crate::policy::Policy;

const VOCAB: u32 = 16;
/// Ends a completion.
const END: u32 = 0;
/// The token the toy task rewards.
const TARGET: u32 = 7;

fn tiny_model(seed: u64) -> LocalModel {
    let config = Config {
        vocab_size: VOCAB as usize,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        max_position_embeddings: 64,
        tie_word_embeddings: false,
        attention_bias: false,
    };
    let weights = random_weights(&config, seed, &Device::Cpu).unwrap();
    let decoder = Decoder::new(config, &weights, DType::F32).unwrap();
    let vocab: HashMap<String, u32> = (0..VOCAB).map(|id| (format!("t{id}"), id)).collect();
    let mut tokenizer =
        Tokenizer::new(WordLevel::builder().vocab(vocab.into_iter().collect()).unk_token("t1".into()).build().unwrap());
    tokenizer.with_pre_tokenizer(Some(Whitespace {}));
    let mut model = LocalModel::new(decoder, tokenizer, vec![END]);
    model.attach_adapter(AdapterConfig::new("tiny", 8, 16.0, true, &DEFAULT_TARGET_MODULES), seed).unwrap();
    model
}

fn prompts() -> Vec<TrainPrompt> {
    ["t2 t3 t4", "t5 t6", "t8 t9 t10 t11", "t12 t13", "t14 t15 t2", "t3"]
        .map(|text| TrainPrompt { text: text.to_owned(), reference: String::new() })
        .to_vec()
}

/// The toy task: the share of completion tokens that are `TARGET`.
struct TargetShare;

impl RewardFunction for TargetShare {
    fn score(&mut self, _prompt: &TrainPrompt, _completion: &str, tokens: &[u32]) -> Scored {
        let share = tokens.iter().filter(|&&t| t == TARGET).count() as f64 / tokens.len().max(1) as f64;
        Scored { total: share, parts: vec![("target_share", share)] }
    }
}

fn toy_config(algorithm: Algorithm, steps: u64) -> TrainConfig {
    let mut config = TrainConfig {
        algorithm,
        rollout: RolloutConfig { group_size: 8, prompts_per_step: 2, temperature: 1.0, top_p: 1.0, max_new_tokens: 8, mask_truncated: false },
        optimizer: OptimizerConfig { learning_rate: 2e-2, warmup_steps: 2, steps, ..OptimizerConfig::default() },
        ..TrainConfig::default()
    };
    config.run.seed = 11;
    config
}

fn mean_reward(rows: &[StepMetrics]) -> f64 {
    rows.iter().map(|r| r.reward_mean).sum::<f64>() / rows.len() as f64
}

fn learns(algorithm: Algorithm) {
    let folder = tempfile::tempdir().unwrap();
    let model = tiny_model(3);
    let steps = 30;
    let mut trainer =
        Trainer::new(toy_config(algorithm, steps), &model, TargetShare, prompts(), folder.path()).unwrap();
    trainer.run_until(steps, false).unwrap();
    let rows = metrics::read(&folder.path().join(super::trainer::METRICS_FILE)).unwrap();
    assert_eq!(rows.len(), steps as usize);
    let (first, last) = (mean_reward(&rows[..5]), mean_reward(&rows[rows.len() - 5..]));
    let curve: Vec<String> = rows.iter().map(|r| format!("{:.2}", r.reward_mean)).collect();
    eprintln!("{algorithm:?}: first 5 steps {first:.3}, last 5 {last:.3}; curve {}", curve.join(" "));
    assert!(last > first + 0.25 && last > 0.4, "{algorithm:?} did not learn: {first:.3} → {last:.3}");
    assert!(rows.iter().all(|r| r.loss.is_some_and(f64::is_finite)));

    // Greedy decoding agrees: the trained adapter scores clearly above the
    // untrained model on prompts it never saw.
    let held_out: Vec<TrainPrompt> = ["t4 t13 t9", "t11 t2"].map(|text| TrainPrompt { text: text.to_owned(), reference: String::new() }).to_vec();
    let hidden = indicatif::ProgressBar::hidden();
    let trained = evaluate(&model, &mut TargetShare, &held_out, 8, 2, &hidden).unwrap();
    let untrained = evaluate(&tiny_model(3), &mut TargetShare, &held_out, 8, 2, &hidden).unwrap();
    assert_eq!(evaluate(&model, &mut TargetShare, &held_out, 8, 1, &hidden).unwrap(), trained, "prompts of different lengths decoded together score as each alone");
    eprintln!("{algorithm:?}: greedy on held-out prompts {:.3} untrained, {:.3} trained", untrained.reward_mean, trained.reward_mean);
    assert_eq!(trained.prompts, 2);
    assert_eq!(trained.reward_parts["target_share"], trained.reward_mean);
    assert!(trained.reward_mean > untrained.reward_mean + 0.25, "{algorithm:?}: {untrained:?} → {trained:?}");
}

#[test]
fn grpo_learns_the_toy_task() {
    learns(Algorithm::Grpo);
}

#[test]
fn dapo_learns_the_toy_task() {
    learns(Algorithm::Dapo);
}

fn adapter_values(trainer: &Trainer<LocalModel, TargetShare>) -> Vec<(String, Vec<u32>)> {
    trainer
        .params()
        .iter()
        .map(|(name, var)| {
            let values = var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            (name.clone(), values.iter().map(|v| v.to_bits()).collect())
        })
        .collect()
}

fn without_timing(rows: Vec<StepMetrics>) -> Vec<StepMetrics> {
    rows.into_iter().map(|r| StepMetrics { tokens_per_second: 0.0, step_seconds: 0.0, rollout_seconds: 0.0, ..r }).collect()
}

#[test]
fn a_resumed_run_ends_bit_identical_to_an_uninterrupted_one() {
    for algorithm in [Algorithm::Grpo, Algorithm::Dapo] {
        let steps = 6;
        let mut config = toy_config(algorithm, steps);
        config.run.checkpoint_every = 2;
        config.optimizer.num_iterations = 2;
        config.optimizer.grad_accumulation = 2;

        let straight = tempfile::tempdir().unwrap();
        let model = tiny_model(5);
        let mut trainer = Trainer::new(config.clone(), &model, TargetShare, prompts(), straight.path()).unwrap();
        trainer.run_until(steps, false).unwrap();
        let expected = adapter_values(&trainer);
        // The run's last checkpoint wrote the adapter, in PEFT's format, beside it.
        let adapter_dir = straight.path().join(super::trainer::ADAPTER_DIR);
        let (_, saved) = crate::model::adapter::read_adapter(&adapter_dir, &candle_core::Device::Cpu).unwrap();
        for (name, bits) in &expected {
            let values = saved[name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(&values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), bits, "{name}");
        }

        // Stopped after step 5: the last checkpoint is step 4's, and the
        // metrics of step 5 are written again by the resumed run.
        let interrupted = tempfile::tempdir().unwrap();
        let model = tiny_model(5);
        let mut trainer = Trainer::new(config.clone(), &model, TargetShare, prompts(), interrupted.path()).unwrap();
        trainer.run_until(5, false).unwrap();
        drop(trainer);
        let model = tiny_model(5);
        let mut trainer = Trainer::new(config.clone(), &model, TargetShare, prompts(), interrupted.path()).unwrap();
        trainer.resume().unwrap();
        assert_eq!(trainer.step(), 4);
        trainer.run_until(steps, false).unwrap();
        assert_eq!(adapter_values(&trainer), expected, "{algorithm:?}");
        let read = |dir: &Path| without_timing(metrics::read(&dir.join(super::trainer::METRICS_FILE)).unwrap());
        assert_eq!(read(interrupted.path()), read(straight.path()), "{algorithm:?}");
    }
}

/// Gives NaN from its `poisoned_from`-th call on, as a broken reward would.
struct NanFrom {
    calls: usize,
    poisoned_from: usize,
}

impl RewardFunction for NanFrom {
    fn score(&mut self, prompt: &TrainPrompt, completion: &str, tokens: &[u32]) -> Scored {
        self.calls += 1;
        if self.calls >= self.poisoned_from {
            return Scored { total: f64::NAN, parts: Vec::new() };
        }
        TargetShare.score(prompt, completion, tokens)
    }
}

#[test]
fn a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_checkpoint() {
    let folder = tempfile::tempdir().unwrap();
    let model = tiny_model(9);
    let mut config = toy_config(Algorithm::Grpo, 10);
    config.run.checkpoint_every = 2;
    // Two prompts of eight samples a step: call 33 is in step 3.
    let reward = NanFrom { calls: 0, poisoned_from: 33 };
    let mut trainer = Trainer::new(config, &model, reward, prompts(), folder.path()).unwrap();
    let checkpoint = trainer.checkpoint_path();
    trainer.run_until(2, false).unwrap();
    let saved = std::fs::read(&checkpoint).unwrap();
    let adapter = trainer.params()[0].1.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let error = format!("{:#}", trainer.run_until(10, false).unwrap_err());
    assert!(error.contains("step 3: the loss is NaN"), "{error}");
    assert!(error.contains("checkpoint of step 2"), "{error}");
    assert_eq!(std::fs::read(&checkpoint).unwrap(), saved);
    assert_eq!(trainer.params()[0].1.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap(), adapter);
    assert_eq!(trainer.step(), 2);
}

/// Every completion is worth the same: no group has an advantage.
struct Constant;

impl RewardFunction for Constant {
    fn score(&mut self, _prompt: &TrainPrompt, _completion: &str, _tokens: &[u32]) -> Scored {
        Scored { total: -3.0, parts: Vec::new() }
    }
}

#[test]
fn dynamic_sampling_drops_flat_groups_up_to_its_bound_and_skips_the_update() {
    let folder = tempfile::tempdir().unwrap();
    let model = tiny_model(4);
    let mut config = toy_config(Algorithm::Dapo, 2);
    config.dapo.max_prompt_draws = 5;
    let before: Vec<Vec<f32>> =
        model.trainable().iter().map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap()).collect();
    let mut trainer = Trainer::new(config, &model, Constant, prompts(), folder.path()).unwrap();
    trainer.run_until(2, false).unwrap();
    let rows = metrics::read(&folder.path().join(super::trainer::METRICS_FILE)).unwrap();
    for row in &rows {
        assert_eq!((row.groups, row.zero_variance_groups, row.dropped_groups), (0, 5, 5));
        assert_eq!((row.loss, row.reward_mean), (None, -3.0));
    }
    let after: Vec<Vec<f32>> =
        model.trainable().iter().map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap()).collect();
    assert_eq!(before, after);
}
