//! The migration task's words, shared by the server and the trainer.
//!
//! One task — library, target version, update notes, legacy code → migrated
//! code — is written as a ChatML prompt by [`render_prompt`], the model's
//! completion is read back by [`Answer::parse`], and [`Scorer::reward`] grades
//! it against a reference exactly as DESIGN.md §4 says. The trained habit only
//! transfers if training and serving use the same words, so both binaries call
//! these functions and nothing else.
//!
//! Invariants: pure — no I/O, no clock, no randomness (the worked examples are
//! bundled with `include_str!`); the same inputs always give the same text and
//! the same reward.

mod answer;
mod library;
mod prompt;
mod reward;

pub use answer::{Answer, AnswerParts, CodeBlock, ANSWER_CLOSE, ANSWER_OPEN};
pub use library::canonical_library;
pub use prompt::{
    bundled_examples, default_k, render_prompt, select_examples, MigrationTask, PromptConfig, WorkedExample,
    DEFAULT_SYSTEM, END_OF_TURN, PREFILL,
};
pub use reward::{NormalizedCode, RewardKind, RewardParts, Scorer};

/// What can go wrong in the vocabulary's inputs.
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    #[error("unknown reward kind `{0}` (expected es-star, es, em-star or em)")]
    UnknownRewardKind(String),
    #[error("`{name}` is not a valid library name: {source}")]
    InvalidLibraryName {
        name: String,
        #[source]
        source: pep508_rs::InvalidNameError,
    },
}
