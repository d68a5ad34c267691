//! What a completion is worth: the migration reward of `recode::vocab`, or
//! any other function of the completion (a toy task in the learning tests).

use std::collections::BTreeMap;

use recode::vocab::{RewardKind, Scorer};

use crate::policy::{Policy, Sampled};

/// A prompt to train on and what its completions are compared with.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainPrompt {
    /// The rendered prompt text (ChatML, by `recode::vocab::render_prompt`).
    pub text: String,
    /// The reference answer.
    pub reference: String,
}

/// A reward and its named parts (reported per part in the metrics).
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub total: f64,
    pub parts: Vec<(&'static str, f64)>,
}

pub trait RewardFunction {
    /// The reward of one completion: its decoded text (end tokens left out)
    /// and its tokens.
    fn score(&mut self, prompt: &TrainPrompt, completion: &str, tokens: &[u32]) -> Scored;
}

/// Completions scored and added up: a training step's metrics and an eval
/// report are both made of these sums.
#[derive(Debug, Default)]
pub struct RewardTally {
    totals: Vec<f64>,
    part_sums: BTreeMap<String, f64>,
    lengths: Vec<usize>,
    /// Completions that hit `max_new_tokens` before an end token.
    pub truncated: usize,
}

impl RewardTally {
    /// Decodes and scores one completion of `prompt`, adds it to the tally
    /// and returns its reward. `shaping` is a named term added to the
    /// reward (DAPO's overlong penalty), reported as a part of its own.
    pub fn score<P: Policy, R: RewardFunction>(
        &mut self,
        policy: &P,
        reward: &mut R,
        prompt: &TrainPrompt,
        sample: &Sampled,
        shaping: Option<(&str, f64)>,
    ) -> anyhow::Result<f64> {
        let scored = reward.score(prompt, &policy.decode(&sample.tokens)?, &sample.tokens);
        let mut total = scored.total;
        for (name, value) in scored.parts.into_iter().chain(shaping) {
            *self.part_sums.entry(name.to_owned()).or_default() += value;
        }
        total += shaping.map_or(0.0, |(_, value)| value);
        self.totals.push(total);
        self.lengths.push(sample.tokens.len());
        self.truncated += usize::from(!sample.finished);
        Ok(total)
    }

    pub fn count(&self) -> usize {
        self.totals.len()
    }

    pub fn reward_mean(&self) -> f64 {
        self.totals.iter().sum::<f64>() / self.count() as f64
    }

    /// The population standard deviation of the rewards.
    pub fn reward_std(&self) -> f64 {
        let mean = self.reward_mean();
        (self.totals.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / self.count() as f64).sqrt()
    }

    /// The mean of each reward part.
    pub fn part_means(&self) -> BTreeMap<String, f64> {
        self.part_sums.iter().map(|(name, sum)| (name.clone(), sum / self.count() as f64)).collect()
    }

    /// Completion tokens, end tokens included.
    pub fn completion_tokens(&self) -> usize {
        self.lengths.iter().sum()
    }

    pub fn completion_len_mean(&self) -> f64 {
        self.completion_tokens() as f64 / self.count() as f64
    }

    pub fn completion_len_max(&self) -> usize {
        self.lengths.iter().copied().max().unwrap_or(0)
    }
}

/// DESIGN.md §4's reward: format + correctness of the completion against the
/// prompt's reference.
pub struct MigrationReward {
    scorer: Scorer,
    kind: RewardKind,
}

impl MigrationReward {
    pub fn new(kind: RewardKind) -> MigrationReward {
        MigrationReward { scorer: Scorer::new(), kind }
    }
}

impl RewardFunction for MigrationReward {
    fn score(&mut self, prompt: &TrainPrompt, completion: &str, _tokens: &[u32]) -> Scored {
        let parts = self.scorer.reward(completion, &prompt.reference, self.kind);
        Scored { total: parts.total, parts: vec![("format", parts.format), ("correctness", parts.correctness)] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migration_reward_is_the_vocabulary_s() {
        let prompt = TrainPrompt { text: String::new(), reference: "import numpy as np\nx = np.float64(1)\n".into() };
        let completion = "ok</think><answer>```python\nimport numpy as np\nx = np.float64(1)\n```</answer>";
        let scored = MigrationReward::new(RewardKind::EsStar).score(&prompt, completion, &[]);
        // Well formed (+1) and equal to the reference: ES 1, ES* 2.
        assert_eq!(scored, Scored { total: 3.0, parts: vec![("format", 1.0), ("correctness", 2.0)] });
        let scored = MigrationReward::new(RewardKind::EsStar).score(&prompt, "no answer", &[]);
        assert_eq!(scored.total, -3.0);
    }
}
