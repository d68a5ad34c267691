//! `metrics.jsonl`: one JSON object per step, appended as the run goes.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::checkpoint::write_atomically;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// 1-based: the step this line describes.
    pub step: u64,
    pub learning_rate: f64,
    /// Over every completion sampled in the step (dropped groups included).
    pub reward_mean: f64,
    pub reward_std: f64,
    /// Mean of each reward part (`format`, `correctness`, `overlong`, …).
    pub reward_parts: BTreeMap<String, f64>,
    /// Mean over the step's updates; `None` when no group was left to train on.
    pub loss: Option<f64>,
    /// Mean k3 KL per token against the reference (GRPO with β > 0).
    pub kl: Option<f64>,
    /// Shares of trained tokens whose ratio was clipped below / above.
    pub clip_low: f64,
    pub clip_high: f64,
    /// Global gradient norm before clipping (of the last update).
    pub grad_norm: Option<f64>,
    pub completion_len_mean: f64,
    pub completion_len_max: usize,
    /// Completions that hit `max_new_tokens`.
    pub truncated: usize,
    /// Groups trained on, groups whose rewards were all equal, and of those
    /// the ones DAPO's dynamic sampling dropped.
    pub groups: usize,
    pub zero_variance_groups: usize,
    pub dropped_groups: usize,
    /// Completion tokens sampled per second of the whole step.
    pub tokens_per_second: f64,
    pub step_seconds: f64,
    /// Of `step_seconds`, the time spent sampling and scoring completions;
    /// the rest is the update (reference and policy passes, backward, AdamW).
    #[serde(default)]
    pub rollout_seconds: f64,
}

pub fn append(path: &Path, metrics: &StepMetrics) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{}", serde_json::to_string(metrics)?).with_context(|| format!("writing {}", path.display()))
}

pub fn read(path: &Path) -> anyhow::Result<Vec<StepMetrics>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut rows = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        rows.push(serde_json::from_str(&line).with_context(|| format!("{}:{}", path.display(), index + 1))?);
    }
    Ok(rows)
}

/// Drops the lines of steps after `step`: a resumed run writes them again.
pub fn truncate_after(path: &Path, step: u64) -> anyhow::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let mut kept = String::new();
    for metrics in read(path)?.into_iter().filter(|m| m.step <= step) {
        kept.push_str(&serde_json::to_string(&metrics)?);
        kept.push('\n');
    }
    write_atomically(path, kept.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_after_the_resumed_step_are_dropped() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("metrics.jsonl");
        for step in 1..=5 {
            append(&path, &StepMetrics { step, reward_mean: step as f64, ..StepMetrics::default() }).unwrap();
        }
        truncate_after(&path, 3).unwrap();
        let steps: Vec<u64> = read(&path).unwrap().iter().map(|m| m.step).collect();
        assert_eq!(steps, vec![1, 2, 3]);
    }
}
