//! The migration prompt, as ChatML text.
//!
//! ```text
//! <|im_start|>system
//! {system}<|im_end|>
//! <|im_start|>user              ┐
//! {worked example's task}<|im_end|>   │ k times
//! <|im_start|>assistant          │
//! {PREFILL}{its completion}<|im_end|> ┘
//! <|im_start|>user
//! {the task}<|im_end|>
//! <|im_start|>assistant
//! Let me solve this step by step.
//! <think>
//! ```
//!
//! The model continues after `<think>`; [`super::Answer::parse`] reads what it
//! writes. Worked examples come from `server/vocab/examples.toml`, a small
//! hand-written set that is never training or evaluation data.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::canonical_library;

const IM_START: &str = "<|im_start|>";
/// ChatML's end of a turn; an assistant turn that ends here is complete.
pub const END_OF_TURN: &str = "<|im_end|>";
/// The start of every assistant answer. The prompt ends with it, so the model's
/// completion begins inside the `<think>` block.
pub const PREFILL: &str = "Let me solve this step by step.\n<think>";

/// The system turn unless a configuration says otherwise.
pub const DEFAULT_SYSTEM: &str = "You are an expert Python developer who updates code to newer versions of \
the libraries it uses. You are given a library, the version the code must run on, update notes that \
describe what changed in that library, and legacy code written for an older version. The update notes \
are authoritative: where they disagree with what you remember about the library, follow the notes. \
Rewrite the legacy code so that it uses the updated API and keeps its behaviour. First reason about the \
change inside <think> </think>, then give the complete migrated code inside <answer> </answer> as one \
```python code block.";

/// Models with fewer parameters than this get a worked example by default.
const SMALL_MODEL_PARAMS: u64 = 1_000_000_000;
/// The library whose worked examples (standard-library migrations) follow any
/// library's own.
const GENERIC_LIBRARY: &str = "python";

/// One migration: the words of the task, before the model answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationTask {
    /// The library's name, as the prompt shows it (callers pass the canonical
    /// name, see [`canonical_library`]).
    pub library: String,
    /// The version the code must run on, without an operator: `2.0.0`, `1.4.*`.
    pub target_version: String,
    /// The release-note text of the change.
    pub update_notes: String,
    /// The code written against the older API.
    pub legacy_code: String,
}

/// How prompts are written. Training and serving must use the same one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptConfig {
    /// Worked examples before the task (at most the number bundled for the
    /// library plus the generic ones; more are not invented).
    pub k_examples: usize,
    /// The system turn.
    #[serde(default = "default_system")]
    pub system: String,
}

fn default_system() -> String {
    DEFAULT_SYSTEM.to_owned()
}

impl PromptConfig {
    /// `k_examples` worked examples and the default system turn.
    pub fn new(k_examples: usize) -> Self {
        PromptConfig { k_examples, system: default_system() }
    }

    /// The default configuration for a model of `param_count` parameters.
    pub fn for_model(param_count: u64) -> Self {
        PromptConfig::new(default_k(param_count))
    }
}

/// The default number of worked examples: 1 for models under ~1B parameters,
/// which rarely hit the answer format without one (DESIGN.md §4), 0 above.
pub fn default_k(param_count: u64) -> usize {
    usize::from(param_count < SMALL_MODEL_PARAMS)
}

/// A hand-written migration with its ideal answer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkedExample {
    pub id: String,
    /// Canonical library name; `python` (the standard library) is the generic
    /// set that follows a library's own examples.
    pub library: String,
    pub target_version: String,
    pub update_notes: String,
    pub legacy_code: String,
    /// The text of the `<think>` block.
    pub reasoning: String,
    /// The code of the answer's ```` ```python ```` block.
    pub migrated_code: String,
}

impl WorkedExample {
    /// The example's task, as a prompt shows it.
    pub fn task(&self) -> MigrationTask {
        MigrationTask {
            library: self.library.clone(),
            target_version: self.target_version.clone(),
            update_notes: self.update_notes.clone(),
            legacy_code: self.legacy_code.clone(),
        }
    }

    /// The ideal completion: what a model should write after [`PREFILL`].
    pub fn completion(&self) -> String {
        format!(
            "\n{}\n</think>\n<answer>\n```python\n{}\n```\n</answer>",
            self.reasoning.trim(),
            clean_code(&self.migrated_code)
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleFile {
    example: Vec<WorkedExample>,
}

static EXAMPLES: LazyLock<Vec<WorkedExample>> = LazyLock::new(|| {
    toml::from_str::<ExampleFile>(include_str!("../../vocab/examples.toml"))
        .expect("server/vocab/examples.toml is valid (checked by the vocab tests)")
        .example
});

/// The bundled worked examples, in file order.
pub fn bundled_examples() -> &'static [WorkedExample] {
    &EXAMPLES
}

/// The `k` worked examples for `task`: the library's own first, then the
/// generic ones, each list rotated by a hash of the task so that different
/// tasks see different examples while the same task always sees the same.
pub fn select_examples(task: &MigrationTask, k: usize) -> Vec<&'static WorkedExample> {
    if k == 0 {
        return Vec::new();
    }
    let library = canonical_library(&task.library).ok();
    let start = task_hash(task);
    let of = |wanted: Option<&str>| -> Vec<&'static WorkedExample> {
        let mut list: Vec<_> = EXAMPLES.iter().filter(|e| Some(e.library.as_str()) == wanted).collect();
        if !list.is_empty() {
            let by = (start % list.len() as u64) as usize;
            list.rotate_left(by);
        }
        list
    };
    let mut chosen = of(library.as_deref());
    if library.as_deref() != Some(GENERIC_LIBRARY) {
        chosen.extend(of(Some(GENERIC_LIBRARY)));
    }
    chosen.truncate(k);
    chosen
}

/// FNV-1a over the task's version and code: stable across platforms and
/// releases, unlike `std`'s hasher.
fn task_hash(task: &MigrationTask) -> u64 {
    let text = [task.target_version.trim(), "\u{0}", &clean_code(&task.legacy_code)].concat();
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

/// The whole prompt for `task`, ending with the assistant's [`PREFILL`].
pub fn render_prompt(task: &MigrationTask, config: &PromptConfig) -> String {
    let mut text = String::new();
    turn(&mut text, "system", &config.system);
    for example in select_examples(task, config.k_examples) {
        turn(&mut text, "user", &user_turn(&example.task()));
        turn(&mut text, "assistant", &[PREFILL, &example.completion()].concat());
    }
    turn(&mut text, "user", &user_turn(task));
    text.push_str(IM_START);
    text.push_str("assistant\n");
    text.push_str(PREFILL);
    text
}

fn turn(text: &mut String, role: &str, content: &str) {
    for part in [IM_START, role, "\n", content, END_OF_TURN, "\n"] {
        text.push_str(part);
    }
}

fn user_turn(task: &MigrationTask) -> String {
    let library = task.library.trim();
    let version = task.target_version.trim();
    format!(
        "Library: {library}\nTarget version: {version}\n\nUpdate notes:\n{}\n\nLegacy code:\n```python\n{}\n```\n\n\
         Rewrite the legacy code so that it runs on {library} {version}, following the update notes.",
        task.update_notes.replace("\r\n", "\n").trim(),
        clean_code(&task.legacy_code),
    )
}

/// Code as a prompt shows it: LF line ends, no blank lines before the first
/// line or after the last, no trailing white space; indentation kept.
fn clean_code(code: &str) -> String {
    let code = code.replace("\r\n", "\n");
    let first = code.lines().position(|line| !line.trim().is_empty());
    let Some(first) = first else { return String::new() };
    let mut lines: Vec<&str> = code.lines().skip(first).map(str::trim_end).collect();
    while lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::vocab::{Answer, RewardKind, Scorer};

    fn task() -> MigrationTask {
        MigrationTask {
            library: "numpy".into(),
            target_version: "2.0.0".into(),
            update_notes: "np.float_ has been removed; use np.float64.\n".into(),
            legacy_code: "\nimport numpy as np\r\nx = np.float_(1)\r\n\r\n".into(),
        }
    }

    const SYSTEM_TURN: &str = "<|im_start|>system\nYou are an expert Python developer who updates code to newer \
versions of the libraries it uses. You are given a library, the version the code must run on, update notes \
that describe what changed in that library, and legacy code written for an older version. The update notes \
are authoritative: where they disagree with what you remember about the library, follow the notes. Rewrite \
the legacy code so that it uses the updated API and keeps its behaviour. First reason about the change inside \
<think> </think>, then give the complete migrated code inside <answer> </answer> as one ```python code \
block.<|im_end|>\n";

    const TASK_TURNS: &str = "<|im_start|>user
Library: numpy
Target version: 2.0.0

Update notes:
np.float_ has been removed; use np.float64.

Legacy code:
```python
import numpy as np
x = np.float_(1)
```

Rewrite the legacy code so that it runs on numpy 2.0.0, following the update notes.<|im_end|>
<|im_start|>assistant
Let me solve this step by step.
<think>";

    #[test]
    fn zero_shot_golden_text() {
        let text = render_prompt(&task(), &PromptConfig::new(0));
        assert_eq!(text, [SYSTEM_TURN, TASK_TURNS].concat());
    }

    #[test]
    fn one_shot_golden_text() {
        // FNV-1a of "2.0.0\0import numpy as np\nx = np.float_(1)" is odd, so the
        // two numpy examples rotate by one: numpy-sometrue comes first.
        let example = "<|im_start|>user
Library: numpy
Target version: 2.0.0

Update notes:
The alias np.sometrue has been removed; call np.any instead.

Legacy code:
```python
import numpy as np

flags = np.array([False, True, False])
if np.sometrue(flags):
    print(\"at least one flag is set\")
```

Rewrite the legacy code so that it runs on numpy 2.0.0, following the update notes.<|im_end|>
<|im_start|>assistant
Let me solve this step by step.
<think>
np.sometrue was only an alias of np.any and NumPy 2.0 removed it. Replacing the call with np.any keeps the behaviour.
</think>
<answer>
```python
import numpy as np

flags = np.array([False, True, False])
if np.any(flags):
    print(\"at least one flag is set\")
```
</answer><|im_end|>
";
        let text = render_prompt(&task(), &PromptConfig::new(1));
        assert_eq!(text, [SYSTEM_TURN, example, TASK_TURNS].concat());
    }

    #[test]
    fn custom_system_turn() {
        let config = PromptConfig { k_examples: 0, system: "Migrate.".into() };
        let text = render_prompt(&task(), &config);
        assert!(text.starts_with("<|im_start|>system\nMigrate.<|im_end|>\n<|im_start|>user\n"), "{text}");
    }

    #[test]
    fn default_k_depends_on_model_size() {
        assert_eq!(default_k(135_000_000), 1);
        assert_eq!(default_k(999_999_999), 1);
        assert_eq!(default_k(1_000_000_000), 0);
        assert_eq!(default_k(7_600_000_000), 0);
        assert_eq!(PromptConfig::for_model(135_000_000), PromptConfig::new(1));
    }

    #[test]
    fn config_reads_from_toml_with_the_default_system() {
        let config: PromptConfig = toml::from_str("k_examples = 1").unwrap();
        assert_eq!(config, PromptConfig::new(1));
    }

    #[test]
    fn selection_is_deterministic_and_per_library() {
        let t = task();
        let ids = |k| select_examples(&t, k).iter().map(|e| e.id.as_str()).collect::<Vec<_>>();
        assert_eq!(ids(0), Vec::<&str>::new());
        assert_eq!(ids(2), ["numpy-sometrue", "numpy-asfarray"]);
        assert_eq!(ids(2), ids(2));
        // The library's own run out, then the generic ones follow; nothing is invented.
        assert_eq!(ids(100).len(), 4);
        assert!(ids(4)[2..].iter().all(|id| id.starts_with("python-")));
        // Another legacy code may rotate the other way; both examples get used.
        let mut seen = BTreeSet::new();
        for i in 0..8 {
            let other = MigrationTask { legacy_code: format!("x = {i}"), ..task() };
            seen.insert(select_examples(&other, 1)[0].id.as_str());
        }
        assert_eq!(seen, BTreeSet::from(["numpy-asfarray", "numpy-sometrue"]));
    }

    #[test]
    fn library_names_are_matched_canonically_and_unknown_ones_fall_back() {
        let spelled = MigrationTask { library: "PyTorch".into(), ..task() };
        assert_eq!(select_examples(&spelled, 1)[0].library, "torch");
        let unknown = MigrationTask { library: "requests".into(), ..task() };
        assert_eq!(select_examples(&unknown, 1)[0].library, "python");
        let invalid = MigrationTask { library: "no such lib!".into(), ..task() };
        assert_eq!(select_examples(&invalid, 1)[0].library, "python");
        // The generic set is not repeated for the standard library itself.
        let python = MigrationTask { library: "python".into(), ..task() };
        assert_eq!(select_examples(&python, 10).len(), 2);
    }

    #[test]
    fn bundled_examples_cover_every_library_and_score_full_marks() {
        let examples = bundled_examples();
        let ids: BTreeSet<_> = examples.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids.len(), examples.len(), "example ids are unique");
        for library in
            ["numpy", "pandas", "scipy", "scikit-learn", "matplotlib", "torch", "seaborn", "jax", "scrapy", "python"]
        {
            let count = examples.iter().filter(|e| e.library == library).count();
            assert!(count >= 2, "{library} has {count} examples");
        }
        let mut scorer = Scorer::new();
        for example in examples {
            assert_eq!(canonical_library(&example.library).unwrap(), example.library, "{}", example.id);
            let answer = Answer::parse(&example.completion());
            assert!(answer.parts().well_formed, "{}", example.id);
            let parts = scorer.reward(&example.completion(), &example.migrated_code, RewardKind::EsStar);
            assert_eq!(parts.total, 3.0, "{}: {parts:?}", example.id);
            assert!(scorer.normalize(&example.legacy_code).syntax_ok, "{}", example.id);
            assert_ne!(
                scorer.normalize(&example.legacy_code).text,
                scorer.normalize(&example.migrated_code).text,
                "{} migrates something",
                example.id
            );
        }
    }

    #[test]
    fn clean_code_keeps_indentation_and_drops_outer_blank_lines() {
        assert_eq!(clean_code("\n\n    x = 1  \r\n\r\n    y = 2\n\n"), "    x = 1\n\n    y = 2");
        assert_eq!(clean_code(" \n \n"), "");
    }
}
