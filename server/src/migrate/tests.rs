//! Each fix kind on small sources, against the bundled catalog at the
//! versions of a NumPy 2 / pandas 2 project.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Mutex;

use pep440_rs::Version;

use super::*;
use crate::analysis::new_parser;
use crate::env::{ResolvedVersion, VersionSource};
use crate::knowledge::Catalog;
use crate::model::{CancelToken, Completion, FinishReason, Generation, Generator, ModelError, SamplingParams};
use crate::vocab::PromptConfig;

pub(crate) fn catalog() -> Catalog {
    static BUNDLED: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    BUNDLED.get_or_init(|| Catalog::bundled().expect("the bundled catalog loads")).clone()
}

pub(crate) fn versions_of(pairs: &[(&str, &str)]) -> Versions {
    let mut versions = Versions::default();
    for (lib, v) in pairs {
        versions.insert(lib, ResolvedVersion { version: Version::from_str(v).unwrap(), source: VersionSource::Pin });
    }
    versions
}

pub(crate) fn versions() -> Versions {
    versions_of(&[
        ("numpy", "2.1.3"),
        ("pandas", "2.2.3"),
        ("matplotlib", "3.9.2"),
        ("scipy", "1.14.1"),
        ("scikit-learn", "1.4.2"),
        ("torch", "2.6.0"),
    ])
}

fn migrate_with(catalog: &Catalog, versions: &Versions, source: &str, model: Option<&dyn CandidateSource>) -> FileMigration {
    let analyzer = Analyzer::new(catalog);
    let options = MigrateOptions { model, ..MigrateOptions::default() };
    migrate_source(&analyzer, &mut new_parser(), source, versions, &options)
}

fn migrate(source: &str) -> FileMigration {
    let result = migrate_with(&catalog(), &versions(), source, None);
    // Migrating the result again never changes it.
    let again = migrate_with(&catalog(), &versions(), &result.migrated, None);
    assert_eq!(again.migrated, result.migrated, "not a fixed point");
    assert!(again.outcomes.iter().all(|o| o.outcome == Outcome::NoSafeFix), "{:?}", again.outcomes);
    result
}

/// The migrated text, asserting every finding was fixed deterministically.
fn fixed(source: &str) -> String {
    let result = migrate(source);
    for o in &result.outcomes {
        assert_eq!(o.outcome, Outcome::FixedDeterministic, "{} in\n{source}\n→\n{}\n{:?}", o.finding.symbol, result.migrated, o.reason);
    }
    assert!(!result.outcomes.is_empty(), "no finding in\n{source}");
    result.migrated
}

/// The reason the only finding of `symbol` has no safe fix.
fn no_fix(source: &str, symbol: &str) -> String {
    let result = migrate(source);
    let o = result.outcomes.iter().find(|o| o.finding.symbol == symbol).unwrap_or_else(|| panic!("no {symbol}: {:?}", result.outcomes));
    assert_eq!(o.outcome, Outcome::NoSafeFix, "{}", result.migrated);
    o.reason.clone().unwrap()
}

#[test]
fn attribute_keeps_the_users_alias() {
    assert_eq!(fixed("import numpy as np\nx = np.float_(1) + np.NaN\n"), "import numpy as np\nx = np.float64(1) + np.nan\n");
    assert_eq!(fixed("import numpy\nnumpy.product([1])\n"), "import numpy\nnumpy.prod([1])\n");
}

#[test]
fn builtins_are_written_bare() {
    assert_eq!(fixed("import numpy as np\nx = np.float(1)\n"), "import numpy as np\nx = float(1)\n");
    let why = no_fix("import numpy as np\nfloat = 3\nx = np.float(1)\n", "numpy.float");
    assert!(why.contains("`float` is rebound"), "{why}");
}

#[test]
fn from_import_with_alias_keeps_the_alias() {
    let result = migrate("from numpy import float_ as real\ny = real(2)\n");
    assert_eq!(result.migrated, "from numpy import float64 as real\ny = real(2)\n");
    assert_eq!(result.outcomes.len(), 2);
    assert!(result.outcomes.iter().all(|o| o.outcome == Outcome::FixedDeterministic));
    assert_eq!(result.outcomes[1].reason.as_deref(), Some("fixed where the name is bound"));
}

#[test]
fn from_import_without_alias_renames_import_and_uses() {
    assert_eq!(
        fixed("from numpy import float_, int8\n\ndef f(x):\n    return float_(x) + float_(1)\n"),
        "from numpy import float64, int8\n\ndef f(x):\n    return float64(x) + float64(1)\n"
    );
}

#[test]
fn from_import_keeps_the_old_name_when_a_use_is_not_flagged() {
    // The guarded use is not a finding, so renaming it would be a guess:
    // the old name stays, bound to the new API.
    let source = "from numpy import float_\ntry:\n    y = float_\nexcept AttributeError:\n    y = None\nz = float_(1)\n";
    assert_eq!(
        fixed(source),
        "from numpy import float64 as float_\ntry:\n    y = float_\nexcept AttributeError:\n    y = None\nz = float_(1)\n"
    );
}

#[test]
fn moved_name_gets_an_import() {
    assert_eq!(
        fixed("\"\"\"Doc.\"\"\"\nimport numpy as np\n\nb = np.byte_bounds(a)\n"),
        "\"\"\"Doc.\"\"\"\nimport numpy as np\nfrom numpy.lib.array_utils import byte_bounds\n\nb = byte_bounds(a)\n"
    );
    // The name is taken: import the module and spell it out.
    assert_eq!(
        fixed("import numpy as np\nbyte_bounds = 1\nb = np.byte_bounds(a)\n"),
        "import numpy as np\nimport numpy.lib.array_utils\nbyte_bounds = 1\nb = numpy.lib.array_utils.byte_bounds(a)\n"
    );
    // An existing `from numpy.exceptions import ...` is joined.
    assert_eq!(
        fixed("from numpy.exceptions import ComplexWarning\nimport numpy as np\nraise np.AxisError(1)\n"),
        "from numpy.exceptions import ComplexWarning, AxisError\nimport numpy as np\nraise AxisError(1)\n"
    );
    // A module replacement.
    assert_eq!(fixed("import numpy as np\nr = np.math.pi\n"), "import numpy as np\nimport math\nr = math.pi\n");
    // An import the file already has is reused.
    assert_eq!(fixed("import math\nimport numpy as np\nr = np.math.pi\n"), "import math\nimport numpy as np\nr = math.pi\n");
}

#[test]
fn moved_name_in_a_from_import() {
    assert_eq!(fixed("from numpy import byte_bounds\nbyte_bounds(a)\n"), "from numpy.lib.array_utils import byte_bounds\nbyte_bounds(a)\n");
    assert_eq!(
        fixed("from numpy import byte_bounds as bb, float64\nbb(a)\n"),
        "from numpy import float64\nfrom numpy.lib.array_utils import byte_bounds as bb\nbb(a)\n"
    );
    assert_eq!(fixed("from numpy import float, int8\nfloat(1)\n"), "from numpy import int8\nfloat(1)\n");
    assert_eq!(fixed("import os\nfrom numpy import float as F\nF(1)\n"), "import os\nfloat(1)\n");
}

#[test]
fn moved_modules() {
    assert_eq!(
        fixed("import scipy.ndimage.filters\nscipy.ndimage.filters.gaussian_filter(x, 1)\n"),
        "import scipy.ndimage\nscipy.ndimage.gaussian_filter(x, 1)\n"
    );
    assert_eq!(
        fixed("from scipy.ndimage.filters import gaussian_filter\n"),
        "from scipy.ndimage import gaussian_filter\n"
    );
    assert_eq!(fixed("import pandas.util.testing as tm\ntm.assert_frame_equal(a, b)\n"), "import pandas.testing as tm\ntm.assert_frame_equal(a, b)\n");
}

#[test]
fn instance_member_rename() {
    assert_eq!(
        fixed("import pandas as pd\ndf = pd.read_csv('x')\nfor k, v in df.iteritems():\n    pass\n"),
        "import pandas as pd\ndf = pd.read_csv('x')\nfor k, v in df.items():\n    pass\n"
    );
}

#[test]
fn keyword_rename() {
    assert_eq!(
        fixed("import pandas as pd\ndf = pd.read_csv('x')\ndf.to_csv('o', line_terminator='\\n')\n"),
        "import pandas as pd\ndf = pd.read_csv('x')\ndf.to_csv('o', lineterminator='\\n')\n"
    );
    let why = no_fix(
        "import pandas as pd\ndf = pd.read_csv('x')\ndf.to_csv('o', line_terminator='\\n', lineterminator='\\n')\n",
        "pandas.DataFrame.to_csv(line_terminator=)",
    );
    assert!(why.contains("already passes `lineterminator=`"), "{why}");
}

#[test]
fn argument_literal_keeps_its_quotes() {
    assert_eq!(
        fixed("import matplotlib.pyplot as plt\nplt.style.use(\"seaborn-whitegrid\")\nplt.style.use('seaborn')\n"),
        "import matplotlib.pyplot as plt\nplt.style.use(\"seaborn-v0_8-whitegrid\")\nplt.style.use('seaborn-v0_8')\n"
    );
}

#[test]
fn star_import_uses_are_renamed_in_place() {
    assert_eq!(fixed("from numpy import *\nx = float_(1)\n"), "from numpy import *\nx = float64(1)\n");
}

#[test]
fn findings_without_a_mechanical_replacement_need_the_model() {
    let why = no_fix("import pandas as pd\ndf = pd.read_csv('x')\nout = df.append(df)\n", "pandas.DataFrame.append");
    assert!(why.starts_with("needs the model (no model configured): no mechanical replacement"), "{why}");
}

#[test]
fn a_replacement_newer_than_the_installed_version_is_not_used() {
    let mut catalog = Catalog::default();
    catalog
        .add_file(
            PathBuf::from("t.toml"),
            "[library]\nname = \"numpy\"\nmodules = [\"numpy\"]\n[[entry]]\nsymbol = \"numpy.old\"\nkind = \"deprecated\"\n\
             deprecated_in = \"1.0\"\nreplacement = \"numpy.new\"\nreplacement_since = \"3.0\"\nnote = \"n\"\nlink = \"l\"\n",
        )
        .unwrap();
    let result = migrate_with(&catalog, &versions(), "import numpy as np\nnp.old()\n", None);
    assert_eq!(result.migrated, "import numpy as np\nnp.old()\n");
    let reason = result.outcomes[0].reason.as_deref().unwrap();
    assert!(reason.contains("`numpy.new` exists only from numpy 3.0 (numpy 2.1.3 is used)"), "{reason}");
}

#[test]
fn overlapping_fixes_take_turns_and_reach_a_fixed_point() {
    // Splitting both names out of one import: the two removals overlap, so
    // the second waits for the next round.
    let result = migrate("from numpy import byte_bounds, AxisError\nbyte_bounds(a)\nraise AxisError(1)\n");
    assert_eq!(
        result.migrated,
        "from numpy.exceptions import AxisError\nfrom numpy.lib.array_utils import byte_bounds\nbyte_bounds(a)\nraise AxisError(1)\n"
    );
    assert!(result.outcomes.iter().all(|o| o.outcome == Outcome::FixedDeterministic), "{:?}", result.outcomes);
}

#[test]
fn several_fixes_in_one_statement() {
    assert_eq!(
        fixed("import numpy as np\nx = np.product([np.float_(1), np.NaN], dtype=np.float_)\n"),
        "import numpy as np\nx = np.prod([np.float64(1), np.nan], dtype=np.float64)\n"
    );
}

/// A model that answers from a script, one answer per sample.
struct Scripted {
    answers: Vec<&'static str>,
    asked: Mutex<Vec<(String, usize)>>,
}

impl CandidateSource for Scripted {
    fn candidate(&self, task: &ModelTask, sample: usize) -> Result<String, String> {
        self.asked.lock().unwrap().push((task.unit.code.clone(), sample));
        self.answers.get(sample).map(|a| a.to_string()).ok_or_else(|| "out of answers".into())
    }
}

#[test]
fn model_candidates_are_validated_and_retried() {
    let source = "import pandas as pd\n\ndef grow(df, row):\n    out = df.append(row)\n    return out\n";
    let source = source.replace("df, row", "path, row").replace("    out =", "    df = pd.read_csv(path)\n    out =");
    let model = Scripted {
        answers: vec![
            "out = pd.concat([df, row]",          // does not parse
            "out = df.append(row)  # unchanged", // still the API
            "out = pd.concat([df, row])",
        ],
        asked: Mutex::new(Vec::new()),
    };
    let result = migrate_with(&catalog(), &versions(), &source, Some(&model));
    assert_eq!(result.migrated, source.replace("df.append(row)", "pd.concat([df, row])"));
    assert_eq!(result.outcomes[0].outcome, Outcome::FixedByModel);
    let asked = model.asked.lock().unwrap();
    assert_eq!(asked.iter().map(|(_, s)| *s).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(asked[0].0, "out = df.append(row)");
}

#[test]
fn a_model_rewrite_that_loses_an_argument_is_rejected() {
    // Seen from SmolLM2: `np.ravel(a)` parses, and `numpy.in1d` is gone,
    // but the values of `b` no longer matter.
    let source = "import numpy as np\n\ndef members(a, b):\n    return np.in1d(a, b)\n";
    let model = Scripted { answers: vec!["return np.ravel(a)", "return np.isin(a, b).ravel()"], asked: Mutex::new(Vec::new()) };
    let result = migrate_with(&catalog(), &versions(), source, Some(&model));
    assert_eq!(result.migrated, source.replace("np.in1d(a, b)", "np.isin(a, b).ravel()"));
    assert_eq!(result.outcomes[0].outcome, Outcome::FixedByModel);
    assert_eq!(model.asked.lock().unwrap().len(), 2, "the first answer failed validation");

    let model = Scripted { answers: vec!["return np.ravel(a)"], asked: Mutex::new(Vec::new()) };
    let options = MigrateOptions { model: Some(&model), samples: 1, ..MigrateOptions::default() };
    let result = migrate_source(&Analyzer::new(&catalog()), &mut new_parser(), source, &versions(), &options);
    assert_eq!(result.migrated, source);
    assert_eq!(
        result.outcomes[0].reason.as_deref(),
        Some("1 model sample failed validation; the last: the rewrite drops `b`, a value the flagged call is given (read 1 time before, 0 after; line 4)")
    );
}

#[test]
fn a_model_that_never_passes_gives_no_safe_fix_with_the_reason() {
    let source = "import pandas as pd\ndf = pd.read_csv('x')\nout = df.append(df)\n";
    let model = Scripted { answers: vec!["out = df.append(df)", "out = (", "out = df.append(df, ignore_index=True)"], asked: Mutex::new(Vec::new()) };
    let result = migrate_with(&catalog(), &versions(), source, Some(&model));
    assert_eq!(result.migrated, source, "nothing that failed validation is kept");
    let o = &result.outcomes[0];
    assert_eq!(o.outcome, Outcome::NoSafeFix);
    let reason = o.reason.as_deref().unwrap();
    assert!(reason.starts_with("3 model samples failed validation; the last: "), "{reason}");
}

#[test]
fn deterministic_and_model_fixes_in_one_file() {
    let source = "import numpy as np\nimport pandas as pd\ndf = pd.read_csv('x')\nout = df.append(df)\nx = np.float_(1)\n";
    let model = Scripted { answers: vec!["out = pd.concat([df, df])"], asked: Mutex::new(Vec::new()) };
    let result = migrate_with(&catalog(), &versions(), source, Some(&model));
    assert_eq!(
        result.migrated,
        "import numpy as np\nimport pandas as pd\ndf = pd.read_csv('x')\nout = pd.concat([df, df])\nx = np.float64(1)\n"
    );
    let outcomes: Vec<Outcome> = result.outcomes.iter().map(|o| o.outcome).collect();
    assert_eq!(outcomes, [Outcome::FixedByModel, Outcome::FixedDeterministic]);
}

#[test]
fn line_endings_and_indentation_are_kept() {
    assert_eq!(
        fixed("import numpy as np\r\nb = np.byte_bounds(a)\r\n"),
        "import numpy as np\r\nfrom numpy.lib.array_utils import byte_bounds\r\nb = byte_bounds(a)\r\n"
    );
    assert_eq!(
        fixed("def f(a):\n\tfrom numpy import byte_bounds, float64\n\treturn byte_bounds(a)\n"),
        "def f(a):\n\tfrom numpy import float64\n\tfrom numpy.lib.array_utils import byte_bounds\n\treturn byte_bounds(a)\n"
    );
}

#[test]
fn a_fix_that_fails_validation_does_not_hold_back_the_others() {
    // `scipy.rand`'s replacement `numpy.random.rand` is itself flagged, so
    // its rewrite brings in a new finding; `scipy.array`'s is fine.
    let result = migrate("import scipy\nx = scipy.rand(3)\ny = scipy.array([1])\n");
    assert_eq!(result.migrated, "import scipy\nfrom numpy import array\nx = scipy.rand(3)\ny = array([1])\n");
    let rand = &result.outcomes[0];
    assert_eq!(rand.outcome, Outcome::NoSafeFix);
    assert_eq!(
        rand.reason.as_deref(),
        Some("needs the model (no model configured): the deterministic rewrite failed validation: the edit brings in `numpy.random.rand` (line 2)")
    );
    assert_eq!(result.outcomes[1].outcome, Outcome::FixedDeterministic);
}

#[test]
fn imports_the_answer_repeats_are_dropped_and_new_ones_added() {
    let source = "import pandas as pd\n\ndf = pd.read_csv('x')\nout = df.append(df)\n";
    let model = Scripted {
        answers: vec!["import pandas as pd\nfrom pandas import concat\n\nout = concat([df, df])\n"],
        asked: Mutex::new(Vec::new()),
    };
    let result = migrate_with(&catalog(), &versions(), source, Some(&model));
    assert_eq!(result.migrated, "import pandas as pd\nfrom pandas import concat\n\ndf = pd.read_csv('x')\nout = concat([df, df])\n");
    assert_eq!(result.outcomes[0].outcome, Outcome::FixedByModel);
}

#[test]
fn an_answer_of_imports_only_is_not_a_rewrite() {
    let source = "import pandas as pd\ndf = pd.read_csv('x')\nout = df.append(df)\n";
    let model = Scripted { answers: vec!["import pandas as pd\n"; 3], asked: Mutex::new(Vec::new()) };
    let result = migrate_with(&catalog(), &versions(), source, Some(&model));
    assert_eq!(result.migrated, source);
    assert_eq!(result.outcomes[0].outcome, Outcome::NoSafeFix);
    let reason = result.outcomes[0].reason.as_deref().unwrap();
    assert!(reason.ends_with("the answer holds only import statements"), "{reason}");
}

/// A generator that answers from a script and records what it was asked.
struct ScriptedGenerator {
    completions: Vec<&'static str>,
    calls: Mutex<Vec<(String, SamplingParams)>>,
}

impl Generator for ScriptedGenerator {
    fn describe(&self) -> String {
        "scripted".into()
    }

    fn context_length(&self) -> Option<usize> {
        None
    }

    fn generate(&self, prompt: &str, params: &SamplingParams, _cancel: &CancelToken) -> Result<Generation, ModelError> {
        let mut calls = self.calls.lock().unwrap();
        let text = self.completions.get(calls.len()).copied().unwrap_or("");
        calls.push((prompt.to_string(), params.clone()));
        Ok(Generation {
            completions: vec![Completion { text: text.to_string(), finish: FinishReason::Stop, tokens: None }],
            prompt_tokens: None,
            timing: None,
        })
    }
}

fn no_notes(_: &Finding) -> Option<String> {
    None
}

/// Model candidates from `generator` with no worked example, default
/// sampling and no release notes.
fn without_notes(generator: &ScriptedGenerator) -> ModelCandidates<'_> {
    ModelCandidates {
        generator,
        prompt: PromptConfig::new(0),
        sampling: SamplingParams::default(),
        notes: &no_notes,
        cancel: CancelToken::new(),
    }
}

#[test]
fn model_candidates_prompt_with_the_notes_and_parse_the_answer() {
    let source = "import pandas as pd\ndf = pd.read_csv('x')\nout = df.append(df)\n";
    let generator = ScriptedGenerator {
        completions: vec![
            "\nappend is gone\n</think>\n<answer>\nno code here\n</answer>",
            "\nappend is gone\n</think>\n<answer>\n```\nout = pd.concat([df, df])\n```\n</answer>",
            "\nappend is gone; concat takes a list\n</think>\n<answer>\n```python\nimport pandas as pd\n\nout = pd.concat([df, df])\n```\n</answer>",
        ],
        calls: Mutex::new(Vec::new()),
    };
    let notes = |finding: &Finding| Some(format!("RELEASE NOTE for {}", finding.symbol));
    let model = ModelCandidates {
        generator: &generator,
        prompt: PromptConfig::new(1),
        sampling: SamplingParams { temperature: 0.8, seed: Some(5), ..SamplingParams::default() },
        notes: &notes,
        cancel: CancelToken::new(),
    };
    let result = migrate_with(&catalog(), &versions(), source, Some(&model));
    assert_eq!(result.migrated, source.replace("df.append(df)", "pd.concat([df, df])"));
    assert_eq!(result.outcomes[0].outcome, Outcome::FixedByModel);

    let calls = generator.calls.lock().unwrap();
    assert_eq!(calls.len(), 3);
    let (prompt, first) = &calls[0];
    assert!(prompt.ends_with(crate::vocab::PREFILL), "the prompt ends with the prefill");
    assert!(prompt.contains("2.2.3"), "the installed version is the target: {prompt}");
    assert!(prompt.contains("RELEASE NOTE for pandas.DataFrame.append"), "release notes reach the prompt");
    assert!(prompt.contains("Legacy code:\n```python\nout = df.append(df)\n```"), "the unit (it uses no import): {prompt}");
    assert_eq!(first.temperature, 0.0, "the first sample is greedy");
    assert_eq!(first.stop, [crate::vocab::ANSWER_CLOSE, crate::vocab::END_OF_TURN], "nothing after the answer is needed");
    assert_eq!(calls[1].1.temperature, 0.8, "retries sample");
    assert_ne!(calls[1].1.seed, calls[2].1.seed, "each retry has its own seed");
}

#[test]
fn model_answers_without_code_say_why() {
    let source = "import pandas as pd\ndf = pd.read_csv('x')\nout = df.append(df)\n";
    let generator = ScriptedGenerator { completions: vec!["\nthinking forever"], calls: Mutex::new(Vec::new()) };
    let model = without_notes(&generator);
    let catalog = catalog();
    let analyzer = Analyzer::new(&catalog);
    let options = MigrateOptions { model: Some(&model), samples: 1, ..MigrateOptions::default() };
    let result = migrate_source(&analyzer, &mut new_parser(), source, &versions(), &options);
    let reason = result.outcomes[0].reason.as_deref().unwrap();
    assert!(reason.contains("the answer has no <answer> block (the model stopped: stop)"), "{reason}");
}

#[test]
fn one_finding_is_fixed_alone() {
    let source = "import numpy as np\nx = np.float_(1)\ny = np.NaN\n";
    let catalog = catalog();
    let analyzer = Analyzer::new(&catalog);
    let mut parser = new_parser();
    let findings = analyzer.analyze(&mut parser, source, &versions());
    let nan = findings.iter().position(|f| f.symbol == "numpy.NaN").unwrap();
    let fixed = fix_finding(&analyzer, &mut parser, source, &versions(), &findings, nan).unwrap();
    assert_eq!(fixed.text, "import numpy as np\nx = np.float_(1)\ny = np.nan\n");
    let at = source.find("NaN").unwrap();
    assert_eq!(fixed.edits.edits(), [Edit::new(at - 1..at + 3, ".nan")]);
}

#[test]
fn one_finding_without_a_mechanical_fix_says_why_or_asks_the_model() {
    let source = "import pandas as pd\ndf = pd.read_csv('x')\nout = df.append(df)\n";
    let catalog = catalog();
    let analyzer = Analyzer::new(&catalog);
    let mut parser = new_parser();
    let findings = analyzer.analyze(&mut parser, source, &versions());
    let why = fix_finding(&analyzer, &mut parser, source, &versions(), &findings, 0).unwrap_err();
    assert!(why.starts_with("no mechanical replacement"), "{why}");
    let model = Scripted { answers: vec!["out = df.append(df)", "out = pd.concat([df, df])"], asked: Mutex::new(Vec::new()) };
    let fixed = fix_finding_with_model(&analyzer, &mut parser, source, &versions(), &findings, 0, &model, 3).unwrap();
    assert_eq!(fixed.text, source.replace("df.append(df)", "pd.concat([df, df])"));
    assert_eq!(model.asked.lock().unwrap().len(), 2);
}

#[test]
fn an_answer_cut_at_its_closing_tag_is_complete() {
    // Generation stops at `</answer>`, which the backends leave out of the text.
    let source = "import pandas as pd\ndf = pd.read_csv('x')\nout = df.append(df)\n";
    let generator = ScriptedGenerator {
        completions: vec!["\nconcat\n</think>\n<answer>\n```python\nout = pd.concat([df, df])\n```\n"],
        calls: Mutex::new(Vec::new()),
    };
    let model = without_notes(&generator);
    let result = migrate_with(&catalog(), &versions(), source, Some(&model));
    assert_eq!(result.outcomes[0].outcome, Outcome::FixedByModel, "{:?}", result.outcomes[0].reason);
}

#[test]
fn findings_of_libraries_not_selected_are_left_alone() {
    let catalog = catalog();
    let analyzer = Analyzer::new(&catalog);
    let source = "import numpy as np\nimport scipy.ndimage.filters\nx = np.float_(1)\nscipy.ndimage.filters.gaussian_filter(x, 1)\n";
    let only_scipy = |library: &str| library == "scipy";
    let options = MigrateOptions { fixes_library: Some(&only_scipy), ..MigrateOptions::default() };
    let result = migrate_source(&analyzer, &mut new_parser(), source, &versions(), &options);
    assert!(result.migrated.contains("np.float_(1)"), "{}", result.migrated);
    assert!(!result.migrated.contains("ndimage.filters"), "{}", result.migrated);
    let numpy = result.outcomes.iter().find(|o| o.finding.library == "numpy").unwrap();
    assert_eq!((numpy.outcome, numpy.reason.as_deref()), (Outcome::NoSafeFix, Some("its library is not selected")));
    assert!(result.outcomes.iter().filter(|o| o.finding.library == "scipy").all(|o| o.outcome == Outcome::FixedDeterministic));
}
