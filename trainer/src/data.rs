//! Migration training data: ReCode's `train.jsonl` and any file of its schema.
//!
//! One JSON object a line with `dependency`, `new_version`, `update_info`,
//! `old_code`, `new_code` (and `description`, which the prompt does not use).
//! The file's known quirks are handled on purpose, each one counted or given a
//! reason in the report:
//!
//! * library names differ in case and spelling (`Numpy`, `Pandas`, `PyTorch`):
//!   they become canonical PyPI names with [`recode::vocab::canonical_library`],
//!   the function the server's prompts use; a name that is no package name is
//!   dropped (`bad_library`);
//! * `new_version` is `==X.Y.Z` or a bare `X.Y.Z`: it is parsed with pep440_rs
//!   as a version or, failing that, a specifier (`==`, `===`, or the `==X.Y.*`
//!   wildcard); a few rows write the wildcard as `==1.4.x`, which is read as
//!   `==1.4.*` and counted. Anything else (`>=1.2`, `latest`) is dropped
//!   (`bad_version`). The prompt shows the version without operator (`2.0.0`,
//!   `1.4.*`);
//! * a null `update_info`, `old_code` or `new_code` drops the row (`null_field`);
//! * code that does not change — `old_code == new_code`, also after comments
//!   and blank lines are normalised away — teaches nothing (`unchanged`);
//! * a reference that does not parse as Python teaches nothing either: dropped
//!   (`reference_not_python`) and counted; legacy code that does not parse is
//!   kept (the model is asked to fix it) and counted;
//! * a row with the same task and reference as an earlier one (`duplicate`);
//! * a line that is not a JSON object of this schema (`bad_json`); blank lines
//!   are not rows.
//!
//! The train/validation split is deterministic in the seed, stratified by
//! library, and keeps rows with the same library and normalised reference on
//! the same side.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context};
use pep440_rs::{Operator, Version, VersionSpecifier};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_pcg::Pcg64;
use recode::vocab::{canonical_library, render_prompt, MigrationTask, PromptConfig, Scorer};
use serde::{Deserialize, Serialize};

/// One line of the file, as written.
#[derive(Deserialize)]
struct Row {
    dependency: String,
    new_version: String,
    update_info: Option<String>,
    old_code: Option<String>,
    new_code: Option<String>,
}

/// A row kept for training or validation.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// 1-based line in the file.
    pub line: usize,
    pub task: MigrationTask,
    /// The migrated code, as written.
    pub reference: String,
    /// The reference as the reward compares it.
    pub normalized_reference: String,
}

impl Example {
    /// The prompt for this example, rendered by the server's own vocabulary.
    pub fn prompt(&self, config: &PromptConfig) -> String {
        render_prompt(&self.task, config)
    }
}

/// Why a row was not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    BadJson,
    NullField,
    BadLibrary,
    BadVersion,
    Unchanged,
    ReferenceNotPython,
    Duplicate,
}

/// A row that was not kept, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dropped {
    /// 1-based line in the file.
    pub line: usize,
    /// Canonical library, when the row got that far.
    pub library: Option<String>,
    pub reason: DropReason,
    pub detail: String,
}

/// Quirks that were handled and kept the row (or were seen before it was
/// dropped for another reason).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Quirks {
    /// Rows whose library was written other than its canonical name.
    pub library_respelled: usize,
    /// Rows whose version had no operator (`2.0.0` rather than `==2.0.0`).
    pub version_without_operator: usize,
    /// Rows whose version wrote the wildcard as `.x` (`==1.4.x`).
    pub version_wildcard_x: usize,
    /// Kept rows whose legacy code does not parse as Python.
    pub legacy_not_python: usize,
}

/// A loaded file.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Non-blank lines read.
    pub rows: usize,
    pub examples: Vec<Example>,
    pub dropped: Vec<Dropped>,
    pub quirks: Quirks,
    /// Per canonical library: how often each spelling was seen.
    pub spellings: BTreeMap<String, BTreeMap<String, usize>>,
}

/// Indices into [`Dataset::examples`], ascending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum VersionQuirk {
    None,
    NoOperator,
    WildcardX,
}

impl Dataset {
    /// Reads and parses `path`; only a file that cannot be read is an error.
    pub fn load(path: &Path) -> anyhow::Result<Dataset> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(Dataset::parse(&text))
    }

    /// Parses JSON lines; every bad row is dropped with its reason.
    pub fn parse(text: &str) -> Dataset {
        let mut dataset = Dataset::default();
        let mut scorer = Scorer::new();
        let mut seen: HashSet<[String; 5]> = HashSet::new();
        for (index, raw) in text.lines().enumerate() {
            if raw.trim().is_empty() {
                continue;
            }
            dataset.rows += 1;
            let line = index + 1;
            if let Err((library, reason, detail)) = dataset.read_row(line, raw, &mut scorer, &mut seen) {
                dataset.dropped.push(Dropped { line, library, reason, detail });
            }
        }
        dataset
    }

    fn read_row(
        &mut self,
        line: usize,
        raw: &str,
        scorer: &mut Scorer,
        seen: &mut HashSet<[String; 5]>,
    ) -> Result<(), (Option<String>, DropReason, String)> {
        let row: Row = serde_json::from_str(raw).map_err(|e| (None, DropReason::BadJson, e.to_string()))?;
        let library = canonical_library(&row.dependency).map_err(|e| (None, DropReason::BadLibrary, e.to_string()))?;
        if library != row.dependency {
            self.quirks.library_respelled += 1;
        }
        *self.spellings.entry(library.clone()).or_default().entry(row.dependency.clone()).or_default() += 1;
        let drop = |reason, detail: String| (Some(library.clone()), reason, detail);

        let (Some(update_notes), Some(legacy_code), Some(reference)) = (row.update_info, row.old_code, row.new_code)
        else {
            return Err(drop(DropReason::NullField, "update_info, old_code or new_code is null".into()));
        };
        let (target_version, quirk) = target_version(&row.new_version).map_err(|e| drop(DropReason::BadVersion, e))?;
        match quirk {
            VersionQuirk::None => {}
            VersionQuirk::NoOperator => self.quirks.version_without_operator += 1,
            VersionQuirk::WildcardX => self.quirks.version_wildcard_x += 1,
        }

        let legacy = scorer.normalize(&legacy_code);
        let normalized = scorer.normalize(&reference);
        if legacy.text == normalized.text {
            let detail = if legacy_code == reference { "old_code == new_code" } else { "equal once normalised" };
            return Err(drop(DropReason::Unchanged, detail.into()));
        }
        if !normalized.syntax_ok {
            return Err(drop(DropReason::ReferenceNotPython, "new_code has a syntax error".into()));
        }
        let key =
            [library.clone(), target_version.clone(), update_notes.clone(), legacy_code.clone(), reference.clone()];
        if !seen.insert(key) {
            return Err(drop(DropReason::Duplicate, "same task and reference as an earlier row".into()));
        }
        if !legacy.syntax_ok {
            self.quirks.legacy_not_python += 1;
        }
        self.examples.push(Example {
            line,
            task: MigrationTask { library, target_version, update_notes, legacy_code },
            reference,
            normalized_reference: normalized.text,
        });
        Ok(())
    }

    /// A deterministic split: per library (in name order), the groups of
    /// examples sharing a normalised reference are shuffled with a PCG seeded
    /// by `seed`, and whole groups go to validation, in that order, as long as
    /// they fit in `round(val_fraction · n)` of the library's `n` examples.
    pub fn split(&self, seed: u64, val_fraction: f64) -> anyhow::Result<Split> {
        if !(0.0..1.0).contains(&val_fraction) {
            bail!("the validation fraction must be at least 0 and below 1, not {val_fraction}");
        }
        let mut libraries: BTreeMap<&str, Vec<Vec<usize>>> = BTreeMap::new();
        let mut group_of: HashMap<(&str, &str), usize> = HashMap::new();
        for (index, example) in self.examples.iter().enumerate() {
            let library = example.task.library.as_str();
            let groups = libraries.entry(library).or_default();
            let group = *group_of.entry((library, example.normalized_reference.as_str())).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[group].push(index);
        }
        let mut rng = Pcg64::seed_from_u64(seed);
        let (mut train, mut validation) = (Vec::new(), Vec::new());
        for groups in libraries.values_mut() {
            let total: usize = groups.iter().map(Vec::len).sum();
            let target = (val_fraction * total as f64).round() as usize;
            groups.shuffle(&mut rng);
            let mut taken = 0;
            for group in groups.iter() {
                if taken + group.len() <= target {
                    taken += group.len();
                    validation.extend_from_slice(group);
                } else {
                    train.extend_from_slice(group);
                }
            }
        }
        train.sort_unstable();
        validation.sort_unstable();
        Ok(Split { train, validation })
    }
}

/// The version a prompt shows for `new_version`, and which quirk it had.
fn target_version(raw: &str) -> Result<(String, VersionQuirk), String> {
    let raw = raw.trim();
    if let Ok(version) = Version::from_str(raw) {
        return Ok((version.to_string(), VersionQuirk::NoOperator));
    }
    let (specifier, quirk) = match VersionSpecifier::from_str(raw) {
        Ok(specifier) => (specifier, VersionQuirk::None),
        Err(error) => {
            // `==1.4.x`: a human's wildcard, which PEP 440 writes `==1.4.*`.
            let wildcard = raw.strip_suffix(".x").map(|stem| format!("{stem}.*"));
            match wildcard.as_deref().map(VersionSpecifier::from_str) {
                Some(Ok(specifier)) => (specifier, VersionQuirk::WildcardX),
                _ => return Err(format!("`{raw}` is neither a PEP 440 version nor a specifier: {error}")),
            }
        }
    };
    let version = specifier.version();
    match specifier.operator() {
        Operator::Equal | Operator::ExactEqual => Ok((version.to_string(), quirk)),
        Operator::EqualStar => Ok((format!("{version}.*"), quirk)),
        other => Err(format!("`{raw}` names a range ({other}), not a target version")),
    }
}

/// What `recode-train data` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    pub file: String,
    pub rows: usize,
    pub kept: usize,
    pub dropped: usize,
    pub dropped_by_reason: BTreeMap<DropReason, ReasonReport>,
    pub quirks: Quirks,
    pub libraries: BTreeMap<String, LibraryReport>,
    pub split: SplitReport,
    pub prompts: PromptReport,
}

#[derive(Debug, Default, Serialize)]
pub struct ReasonReport {
    pub count: usize,
    /// The 1-based lines dropped for this reason.
    pub lines: Vec<usize>,
    /// The first few details, with their lines.
    pub examples: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct LibraryReport {
    /// How the file spelled the library, and how often.
    pub spellings: BTreeMap<String, usize>,
    pub rows: usize,
    pub kept: usize,
    pub dropped: BTreeMap<DropReason, usize>,
    pub train: usize,
    pub validation: usize,
}

#[derive(Debug, Serialize)]
pub struct SplitReport {
    pub seed: u64,
    pub val_fraction: f64,
    pub train: usize,
    pub validation: usize,
}

/// Prompt lengths in characters, rendered with the server's vocabulary.
#[derive(Debug, Serialize)]
pub struct PromptReport {
    pub k_examples: usize,
    pub min_chars: usize,
    pub mean_chars: f64,
    pub max_chars: usize,
}

const DETAILS_PER_REASON: usize = 5;

impl Report {
    pub fn new(
        file: &Path,
        dataset: &Dataset,
        split: &Split,
        seed: u64,
        val_fraction: f64,
        config: &PromptConfig,
    ) -> Self {
        let mut dropped_by_reason: BTreeMap<DropReason, ReasonReport> = BTreeMap::new();
        let mut libraries: BTreeMap<String, LibraryReport> = BTreeMap::new();
        for (library, spellings) in &dataset.spellings {
            let report = libraries.entry(library.clone()).or_default();
            report.spellings = spellings.clone();
            report.rows = spellings.values().sum();
        }
        for dropped in &dataset.dropped {
            let reason = dropped_by_reason.entry(dropped.reason).or_default();
            reason.count += 1;
            reason.lines.push(dropped.line);
            if reason.examples.len() < DETAILS_PER_REASON {
                reason.examples.push(format!("line {}: {}", dropped.line, dropped.detail));
            }
            if let Some(library) = &dropped.library {
                *libraries.entry(library.clone()).or_default().dropped.entry(dropped.reason).or_default() += 1;
            }
        }
        for (indices, validation) in [(&split.train, false), (&split.validation, true)] {
            for &index in indices {
                let report = libraries.entry(dataset.examples[index].task.library.clone()).or_default();
                report.kept += 1;
                if validation {
                    report.validation += 1;
                } else {
                    report.train += 1;
                }
            }
        }
        let lengths: Vec<usize> = dataset.examples.iter().map(|e| e.prompt(config).chars().count()).collect();
        let prompts = PromptReport {
            k_examples: config.k_examples,
            min_chars: lengths.iter().copied().min().unwrap_or(0),
            mean_chars: if lengths.is_empty() {
                0.0
            } else {
                lengths.iter().sum::<usize>() as f64 / lengths.len() as f64
            },
            max_chars: lengths.iter().copied().max().unwrap_or(0),
        };
        Report {
            file: file.display().to_string(),
            rows: dataset.rows,
            kept: dataset.examples.len(),
            dropped: dataset.dropped.len(),
            dropped_by_reason,
            quirks: dataset.quirks.clone(),
            libraries,
            split: SplitReport { seed, val_fraction, train: split.train.len(), validation: split.validation.len() },
            prompts,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn manifest_path(relative: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }

    fn mini() -> Dataset {
        Dataset::load(&manifest_path("../fixtures/vocab/mini.jsonl")).unwrap()
    }

    fn reasons(dataset: &Dataset) -> Vec<(usize, DropReason)> {
        dataset.dropped.iter().map(|d| (d.line, d.reason)).collect()
    }

    #[test]
    fn versions_are_parsed_not_sliced() {
        let ok = |raw: &str| target_version(raw).unwrap();
        assert!(matches!(ok("==2.0.0"), (v, VersionQuirk::None) if v == "2.0.0"));
        assert!(matches!(ok("2.0.0"), (v, VersionQuirk::NoOperator) if v == "2.0.0"));
        assert!(matches!(ok(" 0.17 "), (v, VersionQuirk::NoOperator) if v == "0.17"));
        assert!(matches!(ok("== 1.5.2"), (v, VersionQuirk::None) if v == "1.5.2"));
        assert!(matches!(ok("===1.4.0"), (v, VersionQuirk::None) if v == "1.4.0"));
        assert!(matches!(ok("==1.4.*"), (v, VersionQuirk::None) if v == "1.4.*"));
        assert!(matches!(ok("==1.4.x"), (v, VersionQuirk::WildcardX) if v == "1.4.*"));
        assert!(matches!(ok("==2.1.0rc1"), (v, VersionQuirk::None) if v == "2.1.0rc1"));
        for bad in [">=1.2", "latest", "==", "1.x", "~=1.2"] {
            assert!(target_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mini_fixture_exhibits_every_quirk() {
        let dataset = mini();
        assert_eq!(dataset.rows, 16);
        assert_eq!(dataset.examples.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 15, 16]);
        assert_eq!(
            reasons(&dataset),
            [
                (6, DropReason::NullField),
                (7, DropReason::Unchanged),
                (8, DropReason::Unchanged),
                (9, DropReason::ReferenceNotPython),
                (10, DropReason::BadVersion),
                (11, DropReason::Duplicate),
                (12, DropReason::BadLibrary),
                (13, DropReason::BadJson),
                (14, DropReason::BadVersion),
            ]
        );
        assert_eq!(dataset.dropped[1].detail, "old_code == new_code");
        assert_eq!(dataset.dropped[2].detail, "equal once normalised");
        assert_eq!(
            dataset.quirks,
            Quirks { library_respelled: 8, version_without_operator: 2, version_wildcard_x: 1, legacy_not_python: 1 }
        );
        let libraries: Vec<_> = dataset.examples.iter().map(|e| e.task.library.as_str()).collect();
        assert_eq!(libraries, ["numpy", "numpy", "pandas", "torch", "matplotlib", "scikit-learn", "scrapy"]);
        let versions: Vec<_> = dataset.examples.iter().map(|e| e.task.target_version.as_str()).collect();
        assert_eq!(versions, ["2.0.0", "2.0.0", "2.0.0", "2.4.0", "1.4.*", "1.4.0", "2.5.0"]);
        assert_eq!(dataset.spellings["seaborn"], BTreeMap::from([("Seaborn".into(), 1), ("seaborn".into(), 1)]));
        assert_eq!(dataset.spellings["torch"], BTreeMap::from([("PyTorch".into(), 1)]));
    }

    #[test]
    fn prompts_come_from_the_server_vocabulary() {
        let dataset = mini();
        let torch = &dataset.examples[3];
        let config = PromptConfig::new(1);
        assert_eq!(torch.prompt(&config), render_prompt(&torch.task, &config));
        let prompt = torch.prompt(&PromptConfig::new(0));
        assert!(prompt.contains("Library: torch\nTarget version: 2.4.0\n"), "{prompt}");
        assert!(!prompt.contains('\r'), "CRLF code is shown with LF");
    }

    #[test]
    fn split_is_deterministic_and_stratified() {
        let dataset = mini();
        let split = dataset.split(7, 0.5).unwrap();
        assert_eq!(split, dataset.split(7, 0.5).unwrap());
        let mut all: Vec<usize> = split.train.iter().chain(&split.validation).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..dataset.examples.len()).collect::<Vec<_>>());
        // numpy has 2 examples → round(0.5·2) = 1 in validation; every other
        // library has 1 → round(0.5) = 1 (half away from zero) as well.
        assert_eq!(split.validation.len(), 6);
        assert_eq!(dataset.split(7, 0.0).unwrap().validation, Vec::<usize>::new());
        assert!(dataset.split(7, 1.0).is_err());
        assert!(dataset.split(7, f64::NAN).is_err());
    }

    #[test]
    fn rows_sharing_a_reference_stay_together() {
        let row = |old: &str| {
            format!(
                r#"{{"dependency":"numpy","new_version":"==2.0.0","update_info":"n {old}","old_code":"{old}","new_code":"y = 1"}}"#
            )
        };
        let text: Vec<String> = (0..10).map(|i| row(&format!("x = {i}"))).collect();
        let dataset = Dataset::parse(&text.join("\n"));
        assert_eq!(dataset.examples.len(), 10);
        for seed in 0..20 {
            let split = dataset.split(seed, 0.3).unwrap();
            assert!(split.train.is_empty() || split.validation.is_empty(), "seed {seed}: {split:?}");
        }
    }

    #[test]
    fn seeds_change_the_split() {
        let text: Vec<String> = (0..40)
            .map(|i| format!(r#"{{"dependency":"numpy","new_version":"2.0","update_info":"n","old_code":"x = {i}","new_code":"y = {i}"}}"#))
            .collect();
        let dataset = Dataset::parse(&text.join("\n"));
        let a = dataset.split(1, 0.25).unwrap();
        let b = dataset.split(2, 0.25).unwrap();
        assert_eq!((a.validation.len(), b.validation.len()), (10, 10));
        assert_ne!(a.validation, b.validation);
    }

    /// The real ReCode training file, where CI has `../shared` beside the clone.
    #[test]
    fn real_training_file() {
        let path = manifest_path("../../shared/data/recode-train/train.jsonl");
        if !path.exists() {
            eprintln!("skipped: {} is not here", path.display());
            return;
        }
        let dataset = Dataset::load(&path).unwrap();
        assert_eq!(dataset.rows, 1602);
        let count = |reason| dataset.dropped.iter().filter(|d| d.reason == reason).count();
        // The file's README: ~20 null rows, >100 with old_code == new_code (118 here,
        // and 119 more that differ only by comments or blank lines), some
        // references that do not parse (39 once the others are gone), and 27
        // repeated rows (30 with the same task and reference).
        assert_eq!(count(DropReason::NullField), 18);
        assert_eq!(count(DropReason::BadJson), 0);
        assert_eq!(count(DropReason::BadLibrary), 0);
        assert_eq!(count(DropReason::BadVersion), 0);
        assert_eq!(count(DropReason::Unchanged), 237);
        let identical = dataset.dropped.iter().filter(|d| d.detail == "old_code == new_code").count();
        assert_eq!(identical, 118);
        assert_eq!(count(DropReason::ReferenceNotPython), 39);
        assert_eq!(count(DropReason::Duplicate), 30);
        assert_eq!(dataset.examples.len(), 1278);
        assert_eq!(dataset.quirks.version_without_operator, 86);
        assert_eq!(dataset.quirks.version_wildcard_x, 17);
        let spellings = |library: &str| dataset.spellings[library].values().sum::<usize>();
        let per_library = [
            ("torch", 246),
            ("scrapy", 242),
            ("pandas", 218),
            ("scipy", 183),
            ("numpy", 179),
            ("scikit-learn", 173),
            ("matplotlib", 158),
            ("seaborn", 127),
            ("jax", 76),
        ];
        for (library, rows) in per_library {
            assert_eq!(spellings(library), rows, "{library}");
        }
        assert_eq!(dataset.examples.len() + dataset.dropped.len(), 1602);
        let split = dataset.split(0, 0.1).unwrap();
        assert_eq!(split.train.len() + split.validation.len(), dataset.examples.len());
        assert_eq!((split.train.len(), split.validation.len()), (1150, 128));
    }
}
