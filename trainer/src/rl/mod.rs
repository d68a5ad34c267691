//! Reinforcement learning on the migration task: GRPO and DAPO (DESIGN.md §5).
//!
//! `config` reads the TOML run configuration; `objective` computes
//! advantages and the clipped losses; `optim` is AdamW with its schedule,
//! clipping and accumulation; `reward` scores completions; `trainer` runs
//! rollouts and updates against the [`crate::policy::Policy`] trait;
//! `checkpoint` and `metrics` are the run's files; `plot` draws its curves;
//! `eval` scores greedy completions of held-out prompts.

pub mod checkpoint;
pub mod config;
pub mod eval;
#[cfg(test)]
mod learning_tests;
pub mod metrics;
pub mod objective;
pub mod optim;
pub mod plot;
pub mod reward;
pub mod trainer;
