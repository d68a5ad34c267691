//! Candidates written by a model: the finding becomes the shared migration
//! prompt (`crate::vocab`), a [`Generator`] continues it, and the code of the
//! answer's python block is the candidate. Validation is the caller's
//! ([`super::migrate_source`] checks every candidate the same way).

use crate::analysis::Finding;
use crate::model::{sample_seed, CancelToken, FinishReason, Generator, SamplingParams};
use crate::vocab::{
    canonical_library, render_prompt, Answer, CodeBlock, MigrationTask, PromptConfig, ANSWER_CLOSE, ANSWER_OPEN, END_OF_TURN,
};

use super::{CandidateSource, ModelTask};

/// Release-note text for a finding (already ranked and cut to a budget), or
/// `None` when none was retrieved.
pub type NotesFn<'a> = dyn Fn(&Finding) -> Option<String> + Sync + 'a;

/// A [`CandidateSource`] backed by a model.
///
/// Sample 0 of a finding is greedy (the model's best guess); later samples,
/// drawn only when an earlier one failed validation, use
/// `sampling.temperature` with a seed derived from `sampling.seed` and the
/// sample number.
pub struct ModelCandidates<'a> {
    pub generator: &'a dyn Generator,
    pub prompt: PromptConfig,
    /// Temperature, top-p, max tokens and seed; `n` and `stop` are set here.
    pub sampling: SamplingParams,
    pub notes: &'a NotesFn<'a>,
    pub cancel: CancelToken,
}

impl ModelCandidates<'_> {
    /// The prompt the model is given for `task`.
    fn prompt_for(&self, task: &ModelTask) -> String {
        render_prompt(&migration_task(task, (self.notes)(task.finding)), &self.prompt)
    }
}

impl CandidateSource for ModelCandidates<'_> {
    fn candidate(&self, task: &ModelTask, sample: usize) -> Result<String, String> {
        let prompt = self.prompt_for(task);
        let mut params = self.sampling.clone();
        params.n = 1;
        // Nothing after the answer is used: stop there rather than let a
        // small model ramble on to max_tokens.
        params.stop = vec![ANSWER_CLOSE.to_string(), END_OF_TURN.to_string()];
        if sample == 0 {
            params.temperature = 0.0;
        } else {
            params.seed = params.seed.map(|seed| sample_seed(seed, sample));
        }
        let generation = self.generator.generate(&prompt, &params, &self.cancel).map_err(|e| e.to_string())?;
        let mut completion = generation.completions.into_iter().next().ok_or("the model returned no completion")?;
        if completion.finish == FinishReason::Stop && completion.text.contains(ANSWER_OPEN) && !completion.text.contains(ANSWER_CLOSE) {
            // The stop string was cut off the text; an answer that was
            // open when generation stopped there is complete.
            completion.text.push_str(ANSWER_CLOSE);
        }
        let answer = Answer::parse(&completion.text);
        match answer.code() {
            Some(code) if !code.trim().is_empty() => Ok(code.to_string()),
            Some(_) => Err("the answer's python block is empty".into()),
            None => Err(match (answer.answer(), answer.parts().code_block) {
                (None, _) => format!("the answer has no <answer> block (the model stopped: {})", completion.finish),
                (Some(_), CodeBlock::OtherFence) => "the answer's code block is not marked ```python".into(),
                (Some(_), _) => "the answer has no ```python block".into(),
            }),
        }
    }
}

/// The words of the task for one finding: the library, the version the code
/// must run on, what changed (the finding, the catalog's note, the release
/// notes) and the code with the imports it uses.
fn migration_task(task: &ModelTask, release_notes: Option<String>) -> MigrationTask {
    let finding = task.finding;
    let library = canonical_library(&finding.library).unwrap_or_else(|_| finding.library.clone());
    let target_version = finding
        .installed
        .as_ref()
        .map(|installed| installed.version.to_string())
        .or_else(|| finding.removed_in.as_ref().or(finding.deprecated_in.as_ref()).map(ToString::to_string))
        .unwrap_or_else(|| "latest".to_string());
    let mut update_notes = finding.message.clone();
    for more in [Some(finding.note.clone()), release_notes] {
        if let Some(more) = more.filter(|text| !text.trim().is_empty()) {
            update_notes.push_str("\n\n");
            update_notes.push_str(more.trim());
        }
    }
    let unit = task.unit;
    let legacy_code = if unit.imports.is_empty() {
        unit.code.clone()
    } else {
        format!("{}\n\n{}", unit.imports.join("\n"), unit.code)
    };
    MigrationTask { library, target_version, update_notes, legacy_code }
}
