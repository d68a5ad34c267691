//! The training loop: rollouts, rewards, advantages, the clipped loss, the
//! update, metrics and checkpoints. It sees the model only through
//! [`Policy`], so it runs the same on the real decoder and on a tiny one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use candle_core::{DType, Device, Tensor};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;

use super::checkpoint::{self, DataCursor, RunState};
use super::config::{Algorithm, TrainConfig};
use super::metrics::{self, StepMetrics};
use super::objective::{
    group_advantages, overlong_penalty, policy_loss, zero_variance, LossInputs, LossStats, Objective, StepTotals,
};
use super::optim::{clip_global_norm, learning_rate, AdamW, GradAccumulator};
use super::reward::{RewardFunction, RewardTally, TrainPrompt};
use crate::policy::{Policy, SampleParams, Sampled};

pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The adapter of the last checkpoint, in PEFT's format: what `merge` and
/// the server take.
pub const ADAPTER_DIR: &str = "adapter";

/// Distinguish the sampling stream from the data-order streams, which are
/// all derived from the one configured seed.
const SAMPLING_SALT: u64 = 0x5341_4d50_4c49_4e47;
const ORDER_SALT: u64 = 0x4f52_4445_5200_0000;

pub struct Trainer<'p, P: Policy, R: RewardFunction> {
    config: TrainConfig,
    policy: &'p P,
    reward: R,
    prompts: Vec<TrainPrompt>,
    optimizer: AdamW,
    state: RunState,
    /// The shuffled prompt order of `state.cursor.epoch`.
    order: Vec<usize>,
    run_dir: PathBuf,
}

/// One sampled completion in a group that is trained on.
struct Rollout {
    prompt: usize,
    sample: Sampled,
    advantage: f64,
}

impl<'p, P: Policy, R: RewardFunction> Trainer<'p, P, R> {
    /// A fresh run writing into `run_dir` (created if missing).
    pub fn new(
        config: TrainConfig,
        policy: &'p P,
        reward: R,
        prompts: Vec<TrainPrompt>,
        run_dir: &Path,
    ) -> anyhow::Result<Self> {
        config.validate()?;
        anyhow::ensure!(!prompts.is_empty(), "there are no prompts to train on");
        std::fs::create_dir_all(run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
        let params = policy.trainable();
        anyhow::ensure!(!params.is_empty(), "the policy has no trainable parameters");
        let optimizer = AdamW::new(params, &config.optimizer)?;
        let state = RunState {
            step: 0,
            rng: Pcg64::seed_from_u64(config.run.seed ^ SAMPLING_SALT),
            cursor: DataCursor::default(),
        };
        let order = epoch_order(config.run.seed, 0, prompts.len());
        Ok(Trainer { config, policy, reward, prompts, optimizer, state, order, run_dir: run_dir.to_owned() })
    }

    pub fn checkpoint_path(&self) -> PathBuf {
        self.run_dir.join(CHECKPOINT_FILE)
    }

    pub fn metrics_path(&self) -> PathBuf {
        self.run_dir.join(METRICS_FILE)
    }

    /// Steps completed.
    pub fn step(&self) -> u64 {
        self.state.step
    }

    /// The adapter parameters, by PEFT name.
    #[cfg(test)]
    pub fn params(&self) -> &[(String, candle_core::Var)] {
        self.optimizer.params()
    }

    /// Continues from the run directory's checkpoint: adapter, moments, step,
    /// RNG and data cursor; metrics of later steps (written after the
    /// checkpoint, before a crash) are dropped, as they will be written again.
    pub fn resume(&mut self) -> anyhow::Result<()> {
        let path = self.checkpoint_path();
        anyhow::ensure!(path.exists(), "{} holds no checkpoint to resume", self.run_dir.display());
        let device = self.optimizer.params()[0].1.device().clone();
        self.state = checkpoint::load(&path, &mut self.optimizer, &device)?;
        self.order = epoch_order(self.config.run.seed, self.state.cursor.epoch, self.prompts.len());
        metrics::truncate_after(&self.metrics_path(), self.state.step)
    }

    /// Trains until step `last_step` (at most `optimizer.steps`), appending
    /// metrics and checkpointing every `run.checkpoint_every` steps and after
    /// the run's final step. A failed step (a NaN loss, say) stops the run
    /// and leaves the last checkpoint as it was.
    pub fn run_until(&mut self, last_step: u64, show_progress: bool) -> anyhow::Result<()> {
        let total = self.config.optimizer.steps;
        let progress = if show_progress { ProgressBar::new(total) } else { ProgressBar::hidden() };
        progress.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} steps, {elapsed} elapsed, eta {eta} | {msg}")
                .expect("the template is valid"),
        );
        progress.set_position(self.state.step);
        let mut last_saved = self.checkpoint_path().exists().then_some(self.state.step);
        while self.state.step < last_step.min(total) {
            let metrics = self.train_step().with_context(|| match last_saved {
                Some(step) => format!("the checkpoint of step {step} in {} is kept", self.checkpoint_path().display()),
                None => "no checkpoint was written yet".to_owned(),
            })?;
            metrics::append(&self.metrics_path(), &metrics)?;
            progress.set_message(format!(
                "reward {:.3} ± {:.3}, loss {}",
                metrics.reward_mean,
                metrics.reward_std,
                metrics.loss.map_or("-".into(), |loss| format!("{loss:.4}"))
            ));
            progress.inc(1);
            if self.state.step % self.config.run.checkpoint_every == 0 || self.state.step == total {
                self.save_checkpoint()?;
                last_saved = Some(self.state.step);
            }
        }
        progress.finish();
        Ok(())
    }

    /// The run state, then the adapter beside it. The adapter is written
    /// to a temporary folder and swapped in, so `adapter/` is never a
    /// partly written one (between the removal of the old one and the
    /// rename it is absent for a moment).
    fn save_checkpoint(&self) -> anyhow::Result<()> {
        checkpoint::save(&self.checkpoint_path(), &self.optimizer, &self.state)?;
        let adapter = self.run_dir.join(ADAPTER_DIR);
        let fresh = self.run_dir.join(format!(".{ADAPTER_DIR}.tmp"));
        if fresh.exists() {
            std::fs::remove_dir_all(&fresh).with_context(|| format!("removing {}", fresh.display()))?;
        }
        self.policy.save_adapter(&fresh)?;
        if adapter.exists() {
            std::fs::remove_dir_all(&adapter).with_context(|| format!("removing {}", adapter.display()))?;
        }
        std::fs::rename(&fresh, &adapter).with_context(|| format!("renaming {} to {}", fresh.display(), adapter.display()))
    }

    fn objective(&self) -> Objective {
        match self.config.algorithm {
            Algorithm::Grpo => Objective::Grpo { epsilon: self.config.grpo.epsilon, beta: self.config.grpo.beta },
            Algorithm::Dapo => Objective::Dapo {
                epsilon_low: self.config.dapo.epsilon_low,
                epsilon_high: self.config.dapo.epsilon_high,
            },
        }
    }

    /// The next prompt index in the epoch's shuffled order.
    fn next_prompt(&mut self) -> usize {
        let index = self.order[self.state.cursor.position];
        self.state.cursor.position += 1;
        if self.state.cursor.position == self.order.len() {
            self.state.cursor = DataCursor { epoch: self.state.cursor.epoch + 1, position: 0 };
            self.order = epoch_order(self.config.run.seed, self.state.cursor.epoch, self.prompts.len());
        }
        index
    }

    /// One step: sample groups, score them, and make `num_iterations` updates.
    fn train_step(&mut self) -> anyhow::Result<StepMetrics> {
        let started = Instant::now();
        let step = self.state.step + 1;
        let objective = self.objective();
        let rollout = self.config.rollout.clone();
        let dapo = self.config.dapo.clone();
        let sample_params = SampleParams {
            temperature: rollout.temperature,
            top_p: rollout.top_p,
            max_new_tokens: rollout.max_new_tokens,
        };

        let mut prompt_tokens: Vec<Vec<u32>> = Vec::new();
        let mut rollouts: Vec<Rollout> = Vec::new();
        let mut metrics = StepMetrics { step, ..StepMetrics::default() };
        let mut tally = RewardTally::default();
        let overlong = self.config.algorithm == Algorithm::Dapo && dapo.overlong_buffer > 0;
        let mut draws = 0;
        // The prompts still needed are sampled in one batch; DAPO draws again
        // for the groups it dropped, up to its bound.
        while metrics.groups < rollout.prompts_per_step {
            let mut wanted = rollout.prompts_per_step - metrics.groups;
            if self.config.algorithm == Algorithm::Dapo {
                wanted = wanted.min(dapo.max_prompt_draws - draws);
            }
            if wanted == 0 {
                break;
            }
            draws += wanted;
            let drawn: Vec<usize> = (0..wanted).map(|_| self.next_prompt()).collect();
            let drawn_tokens = drawn.iter().map(|&index| self.policy.encode(&self.prompts[index].text)).collect::<anyhow::Result<Vec<_>>>()?;
            let token_slices: Vec<&[u32]> = drawn_tokens.iter().map(Vec::as_slice).collect();
            let groups = self.policy.sample(&token_slices, rollout.group_size, &sample_params, &mut self.state.rng)?;
            for ((index, tokens), samples) in drawn.into_iter().zip(drawn_tokens).zip(groups) {
                let mut rewards = Vec::with_capacity(samples.len());
                for sample in &samples {
                    let shaping = overlong.then(|| {
                        let penalty = overlong_penalty(sample.tokens.len(), rollout.max_new_tokens, dapo.overlong_buffer, dapo.overlong_penalty);
                        ("overlong", penalty)
                    });
                    rewards.push(tally.score(self.policy, &mut self.reward, &self.prompts[index], sample, shaping)?);
                }
                if zero_variance(&rewards) {
                    metrics.zero_variance_groups += 1;
                    if self.config.algorithm == Algorithm::Dapo {
                        metrics.dropped_groups += 1;
                        continue;
                    }
                }
                metrics.groups += 1;
                prompt_tokens.push(tokens);
                let prompt = prompt_tokens.len() - 1;
                for (sample, advantage) in samples.into_iter().zip(group_advantages(&rewards)) {
                    rollouts.push(Rollout { prompt, sample, advantage });
                }
            }
        }

        metrics.reward_mean = tally.reward_mean();
        metrics.reward_std = tally.reward_std();
        metrics.reward_parts = tally.part_means();
        metrics.completion_len_mean = tally.completion_len_mean();
        metrics.completion_len_max = tally.completion_len_max();
        metrics.truncated = tally.truncated;

        metrics.rollout_seconds = started.elapsed().as_secs_f64();
        if !rollouts.is_empty() {
            self.update(step, objective, &prompt_tokens, &rollouts, &mut metrics)?;
        }
        self.state.step = step;
        metrics.learning_rate = learning_rate(
            self.config.optimizer.learning_rate,
            self.optimizer.updates().saturating_sub(1),
            self.warmup(),
            self.total_updates(),
        );
        metrics.step_seconds = started.elapsed().as_secs_f64();
        metrics.tokens_per_second = tally.completion_tokens() as f64 / metrics.step_seconds;
        Ok(metrics)
    }

    fn warmup(&self) -> u64 {
        self.config.optimizer.warmup_steps
    }

    /// The schedule runs over optimiser updates: `steps · num_iterations`.
    fn total_updates(&self) -> u64 {
        self.config.optimizer.steps * self.config.optimizer.num_iterations as u64
    }

    /// `num_iterations` updates on the step's rollouts, each summing the
    /// gradients of `grad_accumulation` micro-batches.
    fn update(
        &mut self,
        step: u64,
        objective: Objective,
        prompt_tokens: &[Vec<u32>],
        rollouts: &[Rollout],
        metrics: &mut StepMetrics,
    ) -> anyhow::Result<()> {
        let optimizer_config = self.config.optimizer.clone();
        let keep = |rollout: &Rollout| !self.config.rollout.mask_truncated || rollout.sample.finished;
        let totals = StepTotals {
            sequences: rollouts.iter().filter(|r| keep(r) && !r.sample.tokens.is_empty()).count(),
            tokens: rollouts.iter().filter(|r| keep(r)).map(|r| r.sample.tokens.len()).sum::<usize>() as f64,
        };
        let chunk_size = rollouts.len().div_ceil(optimizer_config.grad_accumulation);
        let chunks: Vec<&[Rollout]> = rollouts.chunks(chunk_size).collect();

        // π_ref and, when the rollout is reused, π_old: fixed before any update.
        let mut references = Vec::new();
        let mut olds = Vec::new();
        for chunk in &chunks {
            if objective.uses_reference() {
                references.push(self.policy.logprobs(&pairs(prompt_tokens, chunk), false)?.logprobs.detach());
            }
            if optimizer_config.num_iterations > 1 {
                olds.push(self.policy.logprobs(&pairs(prompt_tokens, chunk), true)?.logprobs.detach());
            }
        }

        let mut loss_sum = 0.0;
        let mut stats = LossStats::default();
        for _ in 0..optimizer_config.num_iterations {
            let rate = learning_rate(
                optimizer_config.learning_rate,
                self.optimizer.updates(),
                self.warmup(),
                self.total_updates(),
            );
            let mut accumulator = GradAccumulator::new(self.optimizer.params().len());
            let mut loss_value = 0.0;
            for (index, chunk) in chunks.iter().enumerate() {
                let scored = self.policy.logprobs(&pairs(prompt_tokens, chunk), true)?;
                let device = scored.logprobs.device();
                let keep_rows: Vec<f32> = chunk.iter().map(|r| if keep(r) { 1.0 } else { 0.0 }).collect();
                let mask = scored.mask.broadcast_mul(&Tensor::from_vec(keep_rows, (chunk.len(), 1), device)?)?;
                let advantages: Vec<f32> = chunk.iter().map(|r| r.advantage as f32).collect();
                let advantages = Tensor::from_vec(advantages, chunk.len(), device)?;
                // On the first pass over a fresh rollout π_old is π itself: the
                // ratio is 1 but its gradient is ∇logp.
                let old = match olds.get(index) {
                    Some(old) => old.clone(),
                    None => scored.logprobs.detach(),
                };
                let inputs = LossInputs {
                    logprobs: &scored.logprobs,
                    old_logprobs: &old,
                    ref_logprobs: references.get(index),
                    mask: &mask,
                    advantages: &advantages,
                };
                let (loss, chunk_stats) = policy_loss(objective, &inputs, totals)?;
                let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
                if !value.is_finite() {
                    bail!("step {step}: the loss is {value}; the adapter was not updated");
                }
                accumulator.add(self.optimizer.params(), &loss.backward()?)?;
                loss_value += value;
                stats.add(&chunk_stats);
            }
            let mut grads = accumulator.finish(self.optimizer.params())?;
            let norm = clip_global_norm(&mut grads, optimizer_config.max_grad_norm)?;
            if !norm.is_finite() {
                bail!("step {step}: the gradient norm is {norm}; the adapter was not updated");
            }
            self.optimizer.step(&grads, rate)?;
            loss_sum += loss_value;
            metrics.grad_norm = Some(norm);
        }
        let iterations = optimizer_config.num_iterations as f64;
        metrics.loss = Some(loss_sum / iterations);
        if objective.uses_reference() && stats.tokens > 0.0 {
            metrics.kl = Some(stats.kl_sum / stats.tokens);
        }
        if stats.tokens > 0.0 {
            metrics.clip_low = stats.clipped_low / stats.tokens;
            metrics.clip_high = stats.clipped_high / stats.tokens;
        }
        Ok(())
    }
}

/// (prompt, completion) token pairs of a micro-batch.
fn pairs<'a>(prompt_tokens: &'a [Vec<u32>], chunk: &'a [Rollout]) -> Vec<(&'a [u32], &'a [u32])> {
    chunk.iter().map(|r| (prompt_tokens[r.prompt].as_slice(), r.sample.tokens.as_slice())).collect()
}

/// The prompt order of `epoch`: a shuffle seeded by the run's seed and the
/// epoch, so a resumed run needs only the cursor to find its place.
fn epoch_order(seed: u64, epoch: u64, len: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut Pcg64::seed_from_u64(seed ^ ORDER_SALT ^ epoch.rotate_left(29)));
    order
}

/// Where the device named in the config is.
pub fn device(name: &str) -> anyhow::Result<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        cuda if cuda == "cuda" || cuda.starts_with("cuda:") => {
            let ordinal = cuda.strip_prefix("cuda:").map(str::parse).transpose()?.unwrap_or(0);
            Ok(Device::new_cuda(ordinal)?)
        }
        other => bail!("model.device must be cpu, cuda or cuda:N, not {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_epoch_has_its_own_order_of_every_prompt() {
        let first = epoch_order(3, 0, 10);
        let second = epoch_order(3, 1, 10);
        assert_ne!(first, second);
        assert_eq!(first, epoch_order(3, 0, 10));
        let mut sorted = second.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    }
}
