//! How good a model is on prompts it was not trained on: one greedy
//! completion per prompt, scored by the run's reward.

use std::collections::BTreeMap;

use indicatif::ProgressBar;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::Serialize;

use super::reward::{RewardFunction, RewardTally, TrainPrompt};
use crate::policy::{Policy, SampleParams};

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EvalReport {
    pub prompts: usize,
    pub reward_mean: f64,
    /// Mean of each reward part (`format`, `correctness`, …).
    pub reward_parts: BTreeMap<String, f64>,
    /// Completions that hit `max_new_tokens` before an end token.
    pub truncated: usize,
    pub completion_len_mean: f64,
}

/// Greedy decoding, so a report depends only on the model and the prompts
/// (not on `batch`, the prompts decoded together).
pub fn evaluate<P: Policy, R: RewardFunction>(
    policy: &P,
    reward: &mut R,
    prompts: &[TrainPrompt],
    max_new_tokens: usize,
    batch: usize,
    progress: &ProgressBar,
) -> anyhow::Result<EvalReport> {
    anyhow::ensure!(!prompts.is_empty(), "there are no prompts to evaluate on");
    anyhow::ensure!(batch >= 1, "the batch must hold at least one prompt");
    let greedy = SampleParams { temperature: 0.0, top_p: 1.0, max_new_tokens };
    let mut unused = Pcg64::seed_from_u64(0);
    let mut tally = RewardTally::default();
    for chunk in prompts.chunks(batch) {
        let tokens = chunk.iter().map(|prompt| policy.encode(&prompt.text)).collect::<anyhow::Result<Vec<_>>>()?;
        let token_slices: Vec<&[u32]> = tokens.iter().map(Vec::as_slice).collect();
        let completions = policy.sample(&token_slices, 1, &greedy, &mut unused)?;
        for (prompt, completion) in chunk.iter().zip(completions) {
            tally.score(policy, reward, prompt, &completion[0], None)?;
        }
        progress.inc(chunk.len() as u64);
    }
    Ok(EvalReport {
        prompts: prompts.len(),
        reward_mean: tally.reward_mean(),
        reward_parts: tally.part_means(),
        truncated: tally.truncated,
        completion_len_mean: tally.completion_len_mean(),
    })
}
