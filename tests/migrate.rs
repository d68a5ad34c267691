//! `recode migrate` end to end: the real binary on a copy of a fixture
//! project (NumPy 2.1, pandas 2.2, Matplotlib 3.9, SciPy 1.14,
//! scikit-learn 1.4 installed in its `.venv`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use recode_e2e::{hermetic, recode};
use serde_json::Value;

/// A copy of `fixtures/migrate/project` in a temporary directory. (The path
/// is this crate's own rather than `recode_e2e::fixtures()`, which a target
/// directory shared between work trees may have compiled for another one.)
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/migrate/project"), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file under `dir` (but `.git`), by relative path.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() && entry.file_name() != ".git" {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.insert(entry.path().strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=recode tests", "-c", "user.email=tests@recode.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn committed(dir: &Path) {
    git(dir, &["init", "-q"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "fixture"]);
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn stderr(out: &Output) -> String {
    text(&out.stderr)
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap()
}

/// `recode check --format json` findings as (path, symbol).
fn check_findings(dir: &Path) -> Vec<(String, String)> {
    let out = recode(dir, &["check", "--format", "json", "."]);
    let findings: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["symbol"].as_str().unwrap().to_string()))
        .collect()
}

const ARRAYS_MIGRATED: &str = r#""""Array helpers written against NumPy 1.x."""
import numpy as np
from numpy import float64 as real
from numpy.lib.array_utils import byte_bounds


def scale(values):
    data = np.asarray(values, dtype=np.float64)
    if np.prod(data.shape) == 0:
        return np.nan
    return data * real(2)


def bounds(a):
    return byte_bounds(a)


def as_float(x):
    return float(x)


def members(a, b):
    # No mechanical replacement: np.isin takes other arguments.
    return np.in1d(a, b)
"#;

const PLOTS_MIGRATED: &str = r#"import matplotlib.pyplot as plt
from scipy.integrate import trapezoid


def draw(ys):
    plt.style.use("seaborn-v0_8-whitegrid")
    fig, ax = plt.subplots()
    ax.plot(ys)
    return trapezoid(ys)
"#;

#[test]
fn dry_run_prints_a_diff_that_applies_and_changes_nothing() {
    let dir = project();
    let before = snapshot(dir.path());
    let out = recode(dir.path(), &["migrate", "."]);
    assert_eq!(out.status.code(), Some(1), "a dry run with changes exits 1: {}", stderr(&out));
    assert_eq!(snapshot(dir.path()), before, "a dry run writes nothing");
    let diff = text(&out.stdout);
    for header in ["--- a/src/app/arrays.py\n+++ b/src/app/arrays.py\n", "--- a/src/app/frames.py\n", "--- a/src/app/learn.py\n", "--- a/src/app/plots.py\n"] {
        assert!(diff.contains(header), "{header} missing in\n{diff}");
    }
    assert!(!diff.contains("clean.py"), "an unchanged file has no diff");
    assert!(diff.contains("-    return np.float(x)\n+    return float(x)\n"), "{diff}");
    let err = stderr(&out);
    assert!(err.contains("13 fixed deterministically, 2 no safe fix in 4 files"), "{err}");
    assert!(err.contains("4 files would change"), "{err}");
    assert!(err.contains("src/app/frames.py:11:12: RC001 no safe fix for `pandas.DataFrame.append`: needs the model (the default model is not fetched: run `recode model fetch`, or pass --model)"), "{err}");

    // The diff applied with git gives what --write writes.
    let patch = dir.path().join("../migrate.patch");
    std::fs::write(&patch, &out.stdout).unwrap();
    let applied = Command::new("git").arg("apply").arg(&patch).current_dir(dir.path()).output().unwrap();
    assert!(applied.status.success(), "git apply: {}", stderr(&applied));
    std::fs::remove_file(&patch).unwrap();
    let written = project();
    recode(written.path(), &["migrate", "--write", "."]);
    assert_eq!(snapshot(dir.path()), snapshot(written.path()));
}

#[test]
fn write_fixes_every_mechanical_finding_and_check_agrees() {
    let dir = project();
    committed(dir.path());
    let report_dir = tempfile::tempdir().unwrap();
    let report = report_dir.path().join("report.json");
    let out = recode(dir.path(), &["migrate", "--write", "--report", report.to_str().unwrap(), "."]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "findings with no safe fix remain: {err}");
    assert!(out.stdout.is_empty(), "--write prints no diff");
    assert!(err.contains("13 fixed deterministically, 2 no safe fix in 4 files"), "{err}");
    assert!(err.contains("4 files written"), "{err}");
    assert_eq!(read(dir.path(), "src/app/arrays.py"), ARRAYS_MIGRATED);
    assert_eq!(read(dir.path(), "src/app/plots.py"), PLOTS_MIGRATED);
    assert!(read(dir.path(), "src/app/frames.py").contains("frame.to_csv(out, lineterminator=\"\\n\")\n    for name, column in frame.items():"));
    assert!(read(dir.path(), "src/app/learn.py").contains("AdaBoostClassifier(estimator=None, n_estimators=10)"));

    // `recode check` finds only what has no mechanical replacement.
    assert_eq!(
        check_findings(dir.path()),
        [
            ("src/app/arrays.py".to_string(), "numpy.in1d".to_string()),
            ("src/app/frames.py".to_string(), "pandas.DataFrame.append".to_string()),
        ]
    );

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let entries = report.as_array().unwrap();
    assert_eq!(entries.len(), 15);
    for entry in entries {
        for field in ["path", "line", "column", "symbol", "rule", "outcome", "reason"] {
            assert!(entry.get(field).is_some(), "{field} missing in {entry}");
        }
        if entry["replacement"].is_null() {
            assert_eq!(entry["outcome"], "no-safe-fix", "{entry}");
            assert!(entry["reason"].as_str().unwrap().starts_with("needs the model (the default model is not fetched"), "{entry}");
        } else {
            assert_eq!(entry["outcome"], "fixed-deterministic", "every mechanical finding is fixed: {entry}");
        }
    }
    let bounds = entries.iter().find(|e| e["symbol"] == "numpy.byte_bounds").unwrap();
    assert_eq!((bounds["path"].as_str(), bounds["line"].as_u64(), bounds["column"].as_u64()), (Some("src/app/arrays.py"), Some(14), Some(12)));

    // Migrated code leaves nothing to do.
    let after = snapshot(dir.path());
    let again = recode(dir.path(), &["migrate", "."]);
    assert!(again.stdout.is_empty(), "no diff on migrated code:\n{}", text(&again.stdout));
    let err = stderr(&again);
    assert!(err.contains("0 fixed deterministically, 2 no safe fix in 2 files") && err.contains("nothing to change"), "{err}");
    assert_eq!(again.status.code(), Some(1), "two findings still need the model");
    let again = recode(dir.path(), &["migrate", "--write", "."]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(snapshot(dir.path()), after);
}

#[test]
fn uncommitted_changes_are_refused_unless_allowed() {
    let dir = project();
    committed(dir.path());
    let plots = dir.path().join("src/app/plots.py");
    let edited = format!("{}# work in progress\n", read(dir.path(), "src/app/plots.py"));
    std::fs::write(&plots, &edited).unwrap();
    std::fs::write(dir.path().join("src/app/fresh.py"), "import numpy as np\nx = np.NaN\n").unwrap();
    let before = snapshot(dir.path());

    let out = recode(dir.path(), &["migrate", "--write", "."]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("uncommitted changes"), "{err}");
    assert!(err.contains("  src/app/plots.py\n") && err.contains("  src/app/fresh.py\n"), "{err}");
    assert!(!err.contains("  src/app/arrays.py"), "committed files are not listed: {err}");
    assert_eq!(snapshot(dir.path()), before, "nothing is written when a file is dirty");

    // A dry run is always allowed.
    assert_eq!(recode(dir.path(), &["migrate", "."]).status.code(), Some(1));

    let out = recode(dir.path(), &["migrate", "--write", "--allow-dirty", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(read(dir.path(), "src/app/plots.py"), format!("{PLOTS_MIGRATED}# work in progress\n"));
    assert_eq!(read(dir.path(), "src/app/fresh.py"), "import numpy as np\nx = np.nan\n");
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_roots_are_never_written() {
    let dir = project();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("outside.py");
    let original = "import numpy as np\nx = np.float_(1)\n";
    std::fs::write(&target, original).unwrap();
    std::os::unix::fs::symlink(&target, dir.path().join("src/app/link.py")).unwrap();

    // Walking a directory never follows the link.
    let out = recode(dir.path(), &["migrate", "--write", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), original);
    assert!(std::fs::symlink_metadata(dir.path().join("src/app/link.py")).unwrap().file_type().is_symlink());

    // Naming the link: it resolves outside the given path, so it is refused.
    let out = recode(dir.path(), &["migrate", "--write", "src/app/link.py"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("src/app/link.py: resolves to") && err.contains("outside the paths given; not written"), "{err}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), original);
}

#[cfg(unix)]
#[test]
fn file_mode_is_kept() {
    use std::os::unix::fs::PermissionsExt;
    let dir = project();
    let arrays = dir.path().join("src/app/arrays.py");
    let plots = dir.path().join("src/app/plots.py");
    std::fs::set_permissions(&arrays, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&plots, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = recode(dir.path(), &["migrate", "--write", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(read(dir.path(), "src/app/arrays.py"), ARRAYS_MIGRATED);
    assert_eq!(std::fs::metadata(&arrays).unwrap().permissions().mode() & 0o7777, 0o755);
    assert_eq!(std::fs::metadata(&plots).unwrap().permissions().mode() & 0o7777, 0o640);
    let leftovers: Vec<PathBuf> = snapshot(dir.path()).into_keys().filter(|p| p.to_string_lossy().contains("recode-tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn exit_codes() {
    let clean = tempfile::tempdir().unwrap();
    std::fs::write(clean.path().join("ok.py"), "import numpy as np\nx = np.float64(1)\n").unwrap();
    let out = recode(clean.path(), &["migrate", "--pin", "numpy==2.1", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("nothing to change"));

    // Everything fixed and written: 0.
    let fixable = tempfile::tempdir().unwrap();
    std::fs::write(fixable.path().join("a.py"), "import numpy as np\nx = np.float_(1)\n").unwrap();
    assert_eq!(recode(fixable.path(), &["migrate", "--pin", "numpy==2.1", "."]).status.code(), Some(1), "a dry run with changes");
    let out = recode(fixable.path(), &["migrate", "--pin", "numpy==2.1", "--write", "--jobs", "2", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(read(fixable.path(), "a.py"), "import numpy as np\nx = np.float64(1)\n");

    let dir = project();
    let model = recode(dir.path(), &["migrate", "--model", "no/such/model.gguf", "."]);
    assert_eq!(model.status.code(), Some(2));
    assert!(stderr(&model).contains("--model no/such/model.gguf: no such file or directory"), "{}", stderr(&model));
    let not_fetched = recode(dir.path(), &["migrate", "--model", "default", "."]);
    assert_eq!(not_fetched.status.code(), Some(2));
    assert!(stderr(&not_fetched).contains("run `recode model fetch`"), "{}", stderr(&not_fetched));
    assert_eq!(recode(dir.path(), &["migrate", "--samples", "0", "."]).status.code(), Some(2));
    let missing = recode(dir.path(), &["migrate", "no/such/file.py"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("no/such/file.py: no such file or directory"));
    assert_eq!(recode(dir.path(), &["migrate", "--jobs", "0", "."]).status.code(), Some(2));
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("a.py"), "import numpy as np\nx = np.float_(1)\n").unwrap();
    std::fs::write(bad.path().join("b.py"), b"import numpy\n\xff = 1\n").unwrap();
    let out = recode(bad.path(), &["migrate", "--pin", "numpy==2.1", "--write", "."]);
    assert_eq!(out.status.code(), Some(2), "an unreadable file is an error");
    assert!(stderr(&out).contains("b.py:2:1: not valid UTF-8"), "{}", stderr(&out));
    assert_eq!(read(bad.path(), "a.py"), "import numpy as np\nx = np.float64(1)\n", "the rest is still migrated");
}

#[test]
fn latin1_files_stay_latin1() {
    let dir = tempfile::tempdir().unwrap();
    let source = b"# -*- coding: latin-1 -*-\nimport numpy as np\ns = '\xe9t\xe9'\nx = np.NaN\n".to_vec();
    std::fs::write(dir.path().join("a.py"), &source).unwrap();
    let out = recode(dir.path(), &["migrate", "--pin", "numpy==2.1", "--write", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read(dir.path().join("a.py")).unwrap(), b"# -*- coding: latin-1 -*-\nimport numpy as np\ns = '\xe9t\xe9'\nx = np.nan\n");
}

/// `recode migrate --write --jobs 1 .` in `dir`, started hermetically as
/// `recode()` runs it, without waiting.
fn spawn_write(dir: &Path, cache: &Path) -> std::process::Child {
    hermetic(dir, cache)
        .args(["migrate", "--write", "--jobs", "1", "--no-harvest", "."])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("recode starts")
}

/// A project of many files, each with mechanical findings.
fn many_files(dir: &Path, count: usize) {
    let site = dir.join(".venv/lib/python3.11/site-packages/numpy-2.1.3.dist-info");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("METADATA"), "Metadata-Version: 2.1\nName: numpy\nVersion: 2.1.3\n").unwrap();
    std::fs::write(dir.join("pyproject.toml"), "[project]\nname = \"many\"\nversion = \"0\"\n").unwrap();
    let pkg = dir.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    for i in 0..count {
        let body = format!(
            "import numpy as np\nfrom numpy import float_ as real\n\n\ndef f{i}(x):\n    \"\"\"Function {i}.\"\"\"\n    \
             values = [np.float_(x), np.NaN, real({i})] * {}\n    return np.product(values) + np.byte_bounds(x)[0]\n",
            i % 7 + 1
        );
        std::fs::write(pkg.join(format!("f{i:03}.py")), body).unwrap();
    }
}

#[test]
fn killing_a_write_leaves_each_file_untouched_or_fully_migrated() {
    const FILES: usize = 200;
    let cache = tempfile::tempdir().unwrap();
    let original_dir = tempfile::tempdir().unwrap();
    many_files(original_dir.path(), FILES);
    let original = snapshot(original_dir.path());

    // The fully migrated version, from an uninterrupted run on a copy.
    let full = tempfile::tempdir().unwrap();
    copy_dir(original_dir.path(), full.path());
    let started = Instant::now();
    let status = spawn_write(full.path(), cache.path()).wait().unwrap();
    let whole_run = started.elapsed();
    assert_eq!(status.code(), Some(0));
    let migrated = snapshot(full.path());
    let changed = original.keys().filter(|k| original[*k] != migrated[*k]).count();
    assert_eq!(changed, FILES, "every file has something to migrate");

    // Kill at points spread over a whole run, and once right after the
    // first file is replaced.
    let mut delays: Vec<Option<Duration>> = [0.05, 0.2, 0.4, 0.6, 0.75, 0.9, 0.97].iter().map(|f| Some(whole_run.mul_f64(*f))).collect();
    delays.push(None);
    let mut partial_runs = 0;
    for delay in delays {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(original_dir.path(), dir.path());
        let mut child = spawn_write(dir.path(), cache.path());
        match delay {
            Some(delay) => std::thread::sleep(delay),
            None => {
                let first = dir.path().join("pkg/f000.py");
                let first_original = &original[Path::new("pkg/f000.py")];
                let deadline = Instant::now() + Duration::from_secs(60);
                while std::fs::read(&first).map(|b| &b == first_original).unwrap_or(true) && Instant::now() < deadline {
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();

        let now = snapshot(dir.path());
        let mut done = 0;
        for (path, bytes) in &now {
            let name = path.to_string_lossy();
            if name.ends_with(".recode-tmp") {
                // A temporary file of the interrupted write: never a .py file.
                assert!(!name.ends_with(".py"), "{name}");
                continue;
            }
            let before = original.get(path).unwrap_or_else(|| panic!("unexpected file {name}"));
            if bytes == &migrated[path] {
                done += usize::from(bytes != before);
            } else {
                assert_eq!(bytes, before, "{name} is neither the original nor the migrated file (delay {delay:?})");
            }
        }
        assert_eq!(now.keys().filter(|k| !k.to_string_lossy().ends_with(".recode-tmp")).count(), original.len(), "no file is lost");
        if done > 0 && done < FILES {
            partial_runs += 1;
        }
    }
    // How many kills landed while files were being written (timing
    // dependent, so reported rather than asserted).
    eprintln!("{partial_runs} of 8 killed runs stopped part way through the writes (a whole run took {whole_run:?})");
}

/// The model's answer for `return frame.append(extra)` in frames.py, as an
/// OpenAI-compatible server would send it after the prompt's prefill.
const CONCAT_ANSWER: &str = "\nDataFrame.append is gone in pandas 2.0; pandas.concat takes a list of frames.\n</think>\n<answer>\n```python\nimport pandas as pd\n\nreturn pd.concat([frame, extra])\n```\n</answer>";

#[test]
fn an_endpoint_model_fixes_what_has_no_mechanical_replacement() {
    let dir = project();
    committed(dir.path());
    let (base, seen) = recode_e2e::fake_openai(CONCAT_ANSWER, "unused");
    let report_dir = tempfile::tempdir().unwrap();
    let report = report_dir.path().join("report.json");
    let spec = format!("{base}#tiny-coder");
    let out = recode(
        dir.path(),
        &["migrate", "--write", "--model", &spec, "--report", report.to_str().unwrap(), "src/app/frames.py"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "every finding fixed: {err}");
    assert!(err.contains("2 fixed deterministically, 1 fixed by the model, 0 no safe fix in 1 file"), "{err}");
    let frames = read(dir.path(), "src/app/frames.py");
    assert!(frames.contains("    # No mechanical replacement: pd.concat takes a list.\n    return pd.concat([frame, extra])\n"), "{frames}");
    assert_eq!(frames.matches("import pandas as pd").count(), 1, "the repeated import is not added again:\n{frames}");
    assert!(check_findings(dir.path()).iter().all(|(path, _)| path != "src/app/frames.py"), "check agrees");

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let append = report.as_array().unwrap().iter().find(|e| e["symbol"] == "pandas.DataFrame.append").unwrap();
    assert_eq!(append["outcome"], "fixed-by-model", "{append}");

    // One request, for the one finding: the shared prompt with the notes,
    // zero worked examples for an endpoint, greedy first.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (path, body) = &seen[0];
    assert_eq!(path, "/v1/completions");
    assert_eq!(body["model"], "tiny-coder");
    assert_eq!(body["temperature"], 0.0);
    let prompt = body["prompt"].as_str().unwrap();
    assert!(prompt.contains("Library: pandas\nTarget version: "), "{prompt}");
    assert!(prompt.contains("combine objects with `pandas.concat([a, b])`"), "the catalog note: {prompt}");
    assert!(prompt.contains("```python\nreturn frame.append(extra)\n```"), "the unit: {prompt}");
    assert_eq!(prompt.matches("Legacy code:").count(), 1, "no worked example for an endpoint");
    assert!(prompt.ends_with("Let me solve this step by step.\n<think>"), "{prompt}");
}

#[test]
fn an_endpoint_answer_that_fails_validation_is_not_written() {
    let dir = project();
    committed(dir.path());
    // Still calls the removed API: every sample fails validation.
    let answer = "\nKeep it.\n</think>\n<answer>\n```python\nreturn frame.append(extra)\n```\n</answer>";
    let (base, seen) = recode_e2e::fake_openai(answer, "unused");
    let before = read(dir.path(), "src/app/frames.py");
    let out = recode(dir.path(), &["migrate", "--write", "--model", &base, "--samples", "2", "--seed", "9", "src/app/frames.py"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no safe fix for `pandas.DataFrame.append`: 2 model samples failed validation; the last: `pandas.DataFrame.append` is still used in the edited code"),
        "{err}"
    );
    let after = read(dir.path(), "src/app/frames.py");
    assert!(after.contains("return frame.append(extra)"), "{after}");
    assert_ne!(after, before, "the deterministic fixes are written");
    let seen = seen.lock().unwrap();
    let completions: Vec<&Value> = seen.iter().filter(|(path, _)| path == "/v1/completions").map(|(_, body)| body).collect();
    assert_eq!(completions.len(), 2, "{seen:?}");
    assert_eq!(completions[0]["temperature"], 0.0, "the first sample is greedy");
    assert_eq!(completions[1]["temperature"], 0.7, "the retry samples");
    assert!(completions[1]["seed"].is_u64(), "{}", completions[1]);
}

#[test]
fn the_default_model_runs_on_a_finding_and_its_answer_is_validated() {
    let model = recode_e2e::fetched_default_model();
    let dir = project();
    committed(dir.path());
    let report_dir = tempfile::tempdir().unwrap();
    let report = report_dir.path().join("report.json");
    let out = recode(
        dir.path(),
        &[
            "migrate",
            "--write",
            "--model",
            model.to_str().unwrap(),
            "--samples",
            "2",
            "--seed",
            "1",
            "--max-tokens",
            "200",
            "--report",
            report.to_str().unwrap(),
            "src/app/frames.py",
        ],
    );
    let err = stderr(&out);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let append = report.as_array().unwrap().iter().find(|e| e["symbol"] == "pandas.DataFrame.append").unwrap().clone();
    let frames = read(dir.path(), "src/app/frames.py");
    let left = check_findings(dir.path());
    let append_left = left.iter().any(|(path, symbol)| path == "src/app/frames.py" && symbol == "pandas.DataFrame.append");
    // Whatever SmolLM2 wrote, the run must be right about it.
    match append["outcome"].as_str().unwrap() {
        "fixed-by-model" => {
            assert_eq!(out.status.code(), Some(0), "{err}");
            assert!(!frames.contains("frame.append(extra)"), "{frames}");
            assert!(!append_left, "check must agree that the finding is gone:\n{frames}");
        }
        "no-safe-fix" => {
            assert_eq!(out.status.code(), Some(1), "{err}");
            let reason = append["reason"].as_str().unwrap();
            assert!(reason.starts_with("2 model samples failed validation; the last: "), "{reason}");
            assert!(frames.contains("return frame.append(extra)"), "a rejected answer is never written:\n{frames}");
            assert!(append_left);
        }
        other => panic!("unexpected outcome {other}: {append}"),
    }
    // The deterministic fixes are there either way, and the file parses.
    assert!(frames.contains("lineterminator=") && frames.contains("frame.items()"), "{frames}");
    eprintln!("SmolLM2 on `frame.append(extra)`: {append}\n{frames}");
}

#[test]
fn files_that_need_the_model_at_once_share_one_load() {
    // Eight files, each with a finding only a model can fix, on two workers:
    // the first to need the model loads it while the other waits; neither
    // may end up waiting on itself.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny-model");
    std::fs::create_dir(&model).unwrap();
    recode_e2e::tiny_model::tiny_model_dir(&model);
    let project = dir.path().join("project");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(project.join("pyproject.toml"), "[project]\nname = \"p\"\nversion = \"0\"\n").unwrap();
    for i in 0..8 {
        std::fs::write(project.join(format!("m{i}.py")), format!("import numpy as np\nmask = np.in1d([{i}], [1, 2])\n")).unwrap();
    }
    let cache = tempfile::tempdir().unwrap();
    let mut child = hermetic(&project, cache.path())
        .args(["migrate", "--pin", "numpy==2.1", "--jobs", "2", "--samples", "1", "--max-tokens", "4", "--model"])
        .arg(&model)
        .arg(".")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("recode starts");
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("recode migrate hung with several files waiting for the model");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("loading model").count(), 1, "loaded once: {err}");
    // The tiny model's 512-token context cannot hold the prompt: every
    // finding says so, and no file changes.
    assert_eq!(err.matches("no safe fix for `numpy.in1d`").count(), 8, "{err}");
    assert!(err.contains("the model's context length is 512"), "{err}");
}
