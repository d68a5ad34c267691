//! Advantages and the clipped policy-gradient losses of GRPO and DAPO.
//!
//! Tensors are `[batch, completion_len]`, right-padded, with a 0/1 mask. A
//! step's completions may be split into micro-batches for the backward pass;
//! each micro-batch's loss is divided by the *step's* normaliser (sequences
//! for GRPO, tokens for DAPO), so the micro-batch losses and their gradients
//! add up to those of the whole batch.

use candle_core::{DType, Tensor, D};

/// Keeps a group whose rewards are (nearly) equal from dividing by zero.
pub const ADVANTAGE_EPSILON: f64 = 1e-4;

/// GRPO's group-relative advantage `(r − mean) / (std + ε)`, with the sample
/// standard deviation (n − 1), as TRL's `GRPOTrainer` and DeepSeekMath compute it.
pub fn group_advantages(rewards: &[f64]) -> Vec<f64> {
    let n = rewards.len() as f64;
    let mean = rewards.iter().sum::<f64>() / n;
    let variance = rewards.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    let std = variance.sqrt();
    rewards.iter().map(|r| (r - mean) / (std + ADVANTAGE_EPSILON)).collect()
}

/// All rewards of the group are equal: every advantage is 0 and the group
/// teaches nothing (DAPO's dynamic sampling drops it).
pub fn zero_variance(rewards: &[f64]) -> bool {
    rewards.windows(2).all(|pair| (pair[0] - pair[1]).abs() < 1e-9)
}

/// DAPO's soft overlong punishment: 0 up to `max_new_tokens − buffer` tokens,
/// then falling linearly to `−penalty` at `max_new_tokens`.
pub fn overlong_penalty(completion_len: usize, max_new_tokens: usize, buffer: usize, penalty: f64) -> f64 {
    let free = max_new_tokens.saturating_sub(buffer);
    if buffer == 0 || completion_len <= free {
        return 0.0;
    }
    -penalty * ((completion_len - free) as f64 / buffer as f64).min(1.0)
}

/// Which clipped objective.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Objective {
    /// Ratio clipped to `[1 − epsilon, 1 + epsilon]`; per-sequence token mean,
    /// then the mean over sequences; `beta`·KL against the reference.
    Grpo { epsilon: f64, beta: f64 },
    /// Clip-higher `[1 − epsilon_low, 1 + epsilon_high]`; one token mean over
    /// every token of the batch; no KL.
    Dapo { epsilon_low: f64, epsilon_high: f64 },
}

impl Objective {
    fn clip_range(self) -> (f64, f64) {
        match self {
            Objective::Grpo { epsilon, .. } => (1.0 - epsilon, 1.0 + epsilon),
            Objective::Dapo { epsilon_low, epsilon_high } => (1.0 - epsilon_low, 1.0 + epsilon_high),
        }
    }

    /// Whether the loss needs the reference policy's log-probs.
    pub fn uses_reference(self) -> bool {
        matches!(self, Objective::Grpo { beta, .. } if beta > 0.0)
    }
}

/// One micro-batch's inputs; all `[batch, len]` f32 except `advantages` `[batch]`.
pub struct LossInputs<'a> {
    /// Under the current policy, differentiable.
    pub logprobs: &'a Tensor,
    /// π_old: the rollout's log-probs (detached).
    pub old_logprobs: &'a Tensor,
    /// The reference (adapter off), when the objective has a KL term.
    pub ref_logprobs: Option<&'a Tensor>,
    pub mask: &'a Tensor,
    pub advantages: &'a Tensor,
}

/// What the loss is divided by: the whole step's count, not the micro-batch's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepTotals {
    pub sequences: usize,
    pub tokens: f64,
}

/// Sums over the micro-batch's unmasked tokens, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossStats {
    pub tokens: f64,
    pub kl_sum: f64,
    /// Tokens whose ratio fell below the lower bound with a negative
    /// advantage: there the clip takes the gradient away.
    pub clipped_low: f64,
    /// Tokens above the upper bound with a positive advantage.
    pub clipped_high: f64,
}

impl LossStats {
    pub fn add(&mut self, other: &LossStats) {
        self.tokens += other.tokens;
        self.kl_sum += other.kl_sum;
        self.clipped_low += other.clipped_low;
        self.clipped_high += other.clipped_high;
    }
}

/// The micro-batch's share of the step's loss (a scalar) and its statistics.
pub fn policy_loss(
    objective: Objective,
    inputs: &LossInputs,
    totals: StepTotals,
) -> candle_core::Result<(Tensor, LossStats)> {
    let (low, high) = objective.clip_range();
    let mask = inputs.mask;
    let advantages = inputs.advantages.unsqueeze(1)?.broadcast_as(inputs.logprobs.shape())?;
    let ratio = (inputs.logprobs - inputs.old_logprobs)?.exp()?;
    let clipped = ratio.clamp(low, high)?;
    let surrogate = (&ratio * &advantages)?.minimum(&(&clipped * &advantages)?)?;
    let mut per_token = surrogate.neg()?;
    let kl = match (objective, inputs.ref_logprobs) {
        (Objective::Grpo { beta, .. }, Some(reference)) if beta > 0.0 => {
            // k3 estimator of KL(π‖π_ref): exp(d) − d − 1 with d = ref − logp,
            // non-negative and unbiased (Schulman, "Approximating KL divergence").
            let d = (reference - inputs.logprobs)?;
            let kl = ((d.exp()? - &d)? - 1.0)?;
            per_token = (per_token + (&kl * beta)?)?;
            Some(kl)
        }
        _ => None,
    };
    let masked = (per_token * mask)?;
    let loss = match objective {
        Objective::Grpo { .. } => {
            let lengths = mask.sum(D::Minus1)?.clamp(1.0, f64::INFINITY)?;
            let per_sequence = masked.sum(D::Minus1)?.div(&lengths)?;
            (per_sequence.sum_all()? / totals.sequences.max(1) as f64)?
        }
        Objective::Dapo { .. } => (masked.sum_all()? / totals.tokens.max(1.0))?,
    };

    let sum = |t: &Tensor| -> candle_core::Result<f64> { (t * mask)?.sum_all()?.to_dtype(DType::F64)?.to_scalar() };
    let negative = advantages.lt(0.0)?.to_dtype(DType::F32)?;
    let positive = advantages.gt(0.0)?.to_dtype(DType::F32)?;
    let ratio = ratio.detach();
    let stats = LossStats {
        tokens: sum(&mask.ones_like()?)?,
        kl_sum: match &kl {
            Some(kl) => sum(&kl.detach())?,
            None => 0.0,
        },
        clipped_low: sum(&(ratio.lt(low)?.to_dtype(DType::F32)? * negative)?)?,
        clipped_high: sum(&(ratio.gt(high)?.to_dtype(DType::F32)? * positive)?)?,
    };
    Ok((loss, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-5, "{actual} != {expected}");
    }

    fn close_rows(actual: &[Vec<f32>], expected: [[f64; 3]; 2]) {
        for (row, expected_row) in actual.iter().zip(expected) {
            for (&value, expected) in row.iter().zip(expected_row) {
                close(value as f64, expected);
            }
        }
    }

    fn tensor(rows: &[[f64; 3]]) -> Tensor {
        let flat: Vec<f32> = rows.iter().flatten().map(|&x| x as f32).collect();
        Tensor::from_vec(flat, (rows.len(), 3), &Device::Cpu).unwrap()
    }

    #[test]
    fn advantages_are_standardised_within_the_group() {
        // rewards 1, 3, 5: mean 3; sample variance ((−2)² + 0 + 2²) / 2 = 4,
        // std 2; advantages ∓2 / (2 + 1e-4) = ∓0.99995.
        let advantages = group_advantages(&[1.0, 3.0, 5.0]);
        close(advantages[0], -2.0 / 2.0001);
        close(advantages[1], 0.0);
        close(advantages[2], 2.0 / 2.0001);
        assert_eq!(group_advantages(&[-3.0, -3.0]), vec![0.0, 0.0]);
        assert!(zero_variance(&[-3.0, -3.0, -3.0]));
        assert!(!zero_variance(&[-3.0, -3.0, 1.0]));
    }

    #[test]
    fn overlong_penalty_falls_linearly_in_the_buffer() {
        // max 100, buffer 20: free up to 80; 90 is halfway → −0.5; 100 → −1.
        assert_eq!(overlong_penalty(80, 100, 20, 1.0), 0.0);
        close(overlong_penalty(90, 100, 20, 1.0), -0.5);
        close(overlong_penalty(100, 100, 20, 2.0), -2.0);
        assert_eq!(overlong_penalty(100, 100, 0, 1.0), 0.0);
    }

    /// Two sequences of three tokens, the second with one padding token.
    /// π_old = −1 everywhere; π = −1 + ln(ratio) with ratios
    /// [1.5, 1.0, 0.9] and [0.5, 1.1, pad]. Advantages 1 and −0.5.
    /// The reference differs from π by d = ref − logp = ln 2 at (0, 0) and
    /// −ln 2 at (1, 1), 0 elsewhere: k3 = 2 − ln 2 − 1 = 0.306853 and
    /// 0.5 + ln 2 − 1 = 0.193147.
    struct Example {
        logprobs: Tensor,
        old: Tensor,
        reference: Tensor,
        mask: Tensor,
        advantages: Tensor,
    }

    fn example() -> Example {
        let ln = f64::ln;
        let logprobs = tensor(&[[-1.0 + ln(1.5), -1.0, -1.0 + ln(0.9)], [-1.0 + ln(0.5), -1.0 + ln(1.1), 0.0]]);
        let d = tensor(&[[ln(2.0), 0.0, 0.0], [0.0, -ln(2.0), 0.0]]);
        Example {
            reference: (&logprobs + d).unwrap(),
            logprobs,
            old: tensor(&[[-1.0; 3], [-1.0, -1.0, 0.0]]),
            mask: tensor(&[[1.0; 3], [1.0, 1.0, 0.0]]),
            advantages: Tensor::new(&[1.0f32, -0.5], &Device::Cpu).unwrap(),
        }
    }

    fn loss_of(example: &Example, objective: Objective, logprobs: &Tensor, old: &Tensor) -> (Tensor, LossStats) {
        let inputs = LossInputs {
            logprobs,
            old_logprobs: old,
            ref_logprobs: Some(&example.reference),
            mask: &example.mask,
            advantages: &example.advantages,
        };
        policy_loss(objective, &inputs, StepTotals { sequences: 2, tokens: 5.0 }).unwrap()
    }

    #[test]
    fn grpo_loss_by_hand() {
        // ε = 0.2, β = 0.1.
        // Sequence 0 (A = 1): clipped ratios [1.2, 1.0, 0.9]; min(r·A, c·A) =
        //   [1.2, 1.0, 0.9]; per token −[1.2, 1.0, 0.9] + 0.1·[0.306853, 0, 0];
        //   mean over 3 = (−3.1 + 0.0306853) / 3 = −1.0231049.
        // Sequence 1 (A = −0.5): clipped [0.8, 1.1]; r·A = [−0.25, −0.55],
        //   c·A = [−0.4, −0.55]; min = [−0.4, −0.55]; per token
        //   [0.4, 0.55 + 0.0193147]; mean over 2 = 0.48465735.
        // Loss = (−1.0231049 + 0.48465735) / 2 = −0.26922377.
        // KL sum = 0.306853 + 0.193147 = 0.5 over 5 tokens; one token below
        // 0.8 with A < 0 (0.5), one above 1.2 with A > 0 (1.5).
        let example = example();
        let objective = Objective::Grpo { epsilon: 0.2, beta: 0.1 };
        let (loss, stats) = loss_of(&example, objective, &example.logprobs, &example.old);
        close(loss.to_scalar::<f32>().unwrap() as f64, -0.26922377);
        close(stats.kl_sum, 0.5);
        assert_eq!((stats.tokens, stats.clipped_low, stats.clipped_high), (5.0, 1.0, 1.0));
    }

    #[test]
    fn dapo_loss_by_hand() {
        // ε_low 0.2, ε_high 0.28, no KL.
        // Sequence 0 (A = 1): clipped [1.28, 1.0, 0.9] → per token −[1.28, 1.0, 0.9], sum −3.18.
        // Sequence 1 (A = −0.5): as in GRPO, [0.4, 0.55], sum 0.95.
        // Token mean over the batch's 5 tokens: (−3.18 + 0.95) / 5 = −0.446.
        let example = example();
        let objective = Objective::Dapo { epsilon_low: 0.2, epsilon_high: 0.28 };
        let (loss, stats) = loss_of(&example, objective, &example.logprobs, &example.old);
        close(loss.to_scalar::<f32>().unwrap() as f64, -0.446);
        assert_eq!((stats.kl_sum, stats.clipped_low, stats.clipped_high), (0.0, 1.0, 1.0));
    }

    #[test]
    fn on_policy_gradient_by_hand() {
        // num_iterations = 1: π_old = π detached, so the ratio is 1 and
        // ∂loss/∂logp at token t of sequence i is (−A_i + β(1 − e^d)) / (n_i · B):
        //   (0,0): (−1 + 0.1·(1 − 2)) / 6 = −0.1833333;  (0,1), (0,2): −1/6;
        //   (1,0): 0.5 / 4 = 0.125;  (1,1): (0.5 + 0.1·(1 − 0.5)) / 4 = 0.1375;
        //   padding: 0.
        let example = example();
        let logprobs = Var::from_tensor(&example.logprobs).unwrap();
        let old = logprobs.as_tensor().detach();
        let (loss, _) = loss_of(&example, Objective::Grpo { epsilon: 0.2, beta: 0.1 }, logprobs.as_tensor(), &old);
        let gradient = loss.backward().unwrap().get(logprobs.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        close_rows(&gradient, [[-0.1833333, -1.0 / 6.0, -1.0 / 6.0], [0.125, 0.1375, 0.0]]);
        // DAPO on policy: −A_i / 5 on every unmasked token.
        let (loss, _) =
            loss_of(&example, Objective::Dapo { epsilon_low: 0.2, epsilon_high: 0.28 }, logprobs.as_tensor(), &old);
        let gradient = loss.backward().unwrap().get(logprobs.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        close_rows(&gradient, [[-0.2, -0.2, -0.2], [0.1, 0.1, 0.0]]);
    }

    #[test]
    fn micro_batch_losses_add_up_to_the_batch_loss() {
        let example = example();
        let totals = StepTotals { sequences: 2, tokens: 5.0 };
        for objective in
            [Objective::Grpo { epsilon: 0.2, beta: 0.1 }, Objective::Dapo { epsilon_low: 0.2, epsilon_high: 0.28 }]
        {
            let (whole, _) = loss_of(&example, objective, &example.logprobs, &example.old);
            let mut parts = 0.0;
            for row in 0..2 {
                let take = |t: &Tensor| t.narrow(0, row, 1).unwrap();
                let (logprobs, old, reference, mask) =
                    (take(&example.logprobs), take(&example.old), take(&example.reference), take(&example.mask));
                let advantages = example.advantages.narrow(0, row, 1).unwrap();
                let inputs = LossInputs {
                    logprobs: &logprobs,
                    old_logprobs: &old,
                    ref_logprobs: Some(&reference),
                    mask: &mask,
                    advantages: &advantages,
                };
                parts += policy_loss(objective, &inputs, totals).unwrap().0.to_scalar::<f32>().unwrap() as f64;
            }
            close(parts, whole.to_scalar::<f32>().unwrap() as f64);
        }
    }
}
