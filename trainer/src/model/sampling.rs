//! Choosing the next token from logits: greedy, or temperature and nucleus
//! (top-p) sampling driven by the caller's seeded generator.

use rand::Rng;
use rand_pcg::Pcg64;

/// The next token: the arg-max when `temperature <= 0` (the first on ties,
/// no random draw), else one draw from `softmax(logits / temperature)`
/// restricted to the most likely tokens whose probabilities sum to `top_p`.
pub fn next_token(logits: &[f32], temperature: f64, top_p: f64, rng: &mut Pcg64) -> u32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if temperature <= 0.0 {
        return logits.iter().position(|&l| l == max).unwrap_or(0) as u32;
    }
    let weights: Vec<f64> = logits.iter().map(|&l| (f64::from(l - max) / temperature).exp()).collect();
    let mut candidates: Vec<usize> = (0..weights.len()).collect();
    if top_p < 1.0 {
        candidates.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]).then(a.cmp(&b)));
        let total: f64 = weights.iter().sum();
        let mut cumulative = 0.0;
        let keep = candidates
            .iter()
            .position(|&i| {
                cumulative += weights[i];
                cumulative >= top_p * total
            })
            .map_or(candidates.len(), |last| last + 1);
        candidates.truncate(keep);
    }
    let kept: f64 = candidates.iter().map(|&i| weights[i]).sum();
    let mut remaining = rng.random::<f64>() * kept;
    for &i in &candidates {
        remaining -= weights[i];
        if remaining < 0.0 {
            return i as u32;
        }
    }
    *candidates.last().expect("logits are not empty") as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn greedy_takes_the_first_maximum() {
        let mut rng = Pcg64::seed_from_u64(0);
        assert_eq!(next_token(&[0.1, 3.0, 3.0, -1.0], 0.0, 1.0, &mut rng), 1);
    }

    #[test]
    fn top_p_keeps_only_the_nucleus() {
        // Probabilities ≈ 0.66, 0.24, 0.09, 0.01: top-p 0.8 keeps the first two.
        let logits = [2.0, 1.0, 0.0, -2.0];
        let mut rng = Pcg64::seed_from_u64(1);
        let draws: Vec<u32> = (0..2000).map(|_| next_token(&logits, 1.0, 0.8, &mut rng)).collect();
        assert!(draws.iter().all(|&t| t < 2));
        let share_of_first = draws.iter().filter(|&&t| t == 0).count() as f64 / draws.len() as f64;
        // 0.66 / (0.66 + 0.24) = 0.73, ± 3 standard deviations of 2000 draws.
        assert!((share_of_first - 0.731).abs() < 0.03, "{share_of_first}");
    }

    #[test]
    fn temperature_one_follows_the_softmax() {
        let logits = [0.0, 0.0, 3.0f32.ln()];
        let mut rng = Pcg64::seed_from_u64(2);
        let draws: Vec<u32> = (0..4000).map(|_| next_token(&logits, 1.0, 1.0, &mut rng)).collect();
        // Weights 1, 1, 3: the last token 60% of the time.
        let share = draws.iter().filter(|&&t| t == 2).count() as f64 / draws.len() as f64;
        assert!((share - 0.6).abs() < 0.025, "{share}");
    }
}
