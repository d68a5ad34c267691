//! How good a model is on prompts it was not trained on: one greedy
//! completion per prompt, scored by the run's reward.

use std::collections::BTreeMap;

use indicatif::ProgressBar;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use serde::Serialize;

use super::reward::{RewardFunction, TrainPrompt};
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

/// Greedy decoding, so a report depends only on the model and the prompts.
pub fn evaluate<P: Policy, R: RewardFunction>(
    policy: &P,
    reward: &mut R,
    prompts: &[TrainPrompt],
    max_new_tokens: usize,
    progress: &ProgressBar,
) -> anyhow::Result<EvalReport> {
    anyhow::ensure!(!prompts.is_empty(), "there are no prompts to evaluate on");
    let greedy = SampleParams { temperature: 0.0, top_p: 1.0, max_new_tokens };
    let mut unused = Pcg64::seed_from_u64(0);
    let mut report = EvalReport { prompts: prompts.len(), ..EvalReport::default() };
    let mut lengths = 0;
    for prompt in prompts {
        let tokens = policy.encode(&prompt.text)?;
        let completion = policy.sample(&tokens, 1, &greedy, &mut unused)?.remove(0);
        let scored = reward.score(prompt, &policy.decode(&completion.tokens)?, &completion.tokens);
        report.reward_mean += scored.total;
        for (name, value) in scored.parts {
            *report.reward_parts.entry(name.to_owned()).or_default() += value;
        }
        report.truncated += usize::from(!completion.finished);
        lengths += completion.tokens.len();
        progress.inc(1);
    }
    let count = prompts.len() as f64;
    report.reward_mean /= count;
    report.reward_parts.values_mut().for_each(|sum| *sum /= count);
    report.completion_len_mean = lengths as f64 / count;
    Ok(report)
}
