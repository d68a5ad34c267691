//! What a completion is worth: the migration reward of `recode::vocab`, or
//! any other function of the completion (a toy task in the learning tests).

use recode::vocab::{RewardKind, Scorer};

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
