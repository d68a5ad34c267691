//! `recode-train` as a process: its subcommands, arguments and JSON output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/vocab").join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recode-train")).args(args).output().expect("recode-train runs")
}

fn json(output: &Output) -> serde_json::Value {
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

#[test]
fn reward_prints_the_parts() {
    let completion = fixture("completion.txt");
    let reference = fixture("reference.py");
    let args = ["reward", "--completion", completion.to_str().unwrap(), "--reference", reference.to_str().unwrap()];
    let parts = json(&run(&args));
    // Well-formed (+1); the code equals the reference once the comment and the
    // blank line are gone: ES = 1, ES* = 2; total 3.
    assert_eq!(parts["kind"], "es-star");
    assert_eq!((parts["format"].as_f64(), parts["correctness"].as_f64()), (Some(1.0), Some(2.0)));
    assert_eq!(parts["total"], 3.0);
    assert_eq!(parts["es"], 1.0);
    assert_eq!(parts["exact"], true);
    assert_eq!(parts["syntax_ok"], true);
    assert_eq!(parts["answer"]["well_formed"], true);

    let parts = json(&run(&[&args[..], &["--kind", "em"]].concat()));
    assert_eq!((parts["kind"].as_str(), parts["total"].as_f64()), (Some("em"), Some(3.0)));
}

#[test]
fn reward_rejects_an_unknown_kind_and_a_missing_file() {
    let completion = fixture("completion.txt");
    let reference = fixture("reference.py");
    let output = run(&[
        "reward",
        "--completion",
        completion.to_str().unwrap(),
        "--reference",
        reference.to_str().unwrap(),
        "--kind",
        "bleu",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown reward kind `bleu`"));

    let missing = fixture("no-such-file.txt");
    let output =
        run(&["reward", "--completion", missing.to_str().unwrap(), "--reference", reference.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-file.txt"));
}

#[test]
fn data_reports_the_mini_fixture() {
    let file = fixture("mini.jsonl");
    let report = json(&run(&["data", "--file", file.to_str().unwrap(), "--seed", "3", "--val-fraction", "0.5"]));
    assert_eq!(
        (report["rows"].as_u64(), report["kept"].as_u64(), report["dropped"].as_u64()),
        (Some(16), Some(7), Some(9))
    );
    let reasons = &report["dropped_by_reason"];
    for (reason, count) in [
        ("bad_json", 1),
        ("null_field", 1),
        ("bad_library", 1),
        ("bad_version", 2),
        ("unchanged", 2),
        ("reference_not_python", 1),
        ("duplicate", 1),
    ] {
        assert_eq!(reasons[reason]["count"], count, "{reason}");
    }
    assert_eq!(reasons["bad_version"]["lines"], serde_json::json!([10, 14]));
    assert_eq!(report["libraries"]["torch"]["spellings"]["PyTorch"], 1);
    assert_eq!(report["libraries"]["seaborn"]["dropped"]["unchanged"], 2);
    assert_eq!(report["libraries"]["numpy"]["kept"], 2);
    assert_eq!(report["libraries"]["numpy"]["dropped"]["duplicate"], 1);
    assert_eq!(report["quirks"]["version_wildcard_x"], 1);
    assert_eq!(report["split"]["train"].as_u64().unwrap() + report["split"]["validation"].as_u64().unwrap(), 7);
    assert_eq!(report["prompts"]["k_examples"], 1);

    // Same seed, same report.
    let again = json(&run(&["data", "--file", file.to_str().unwrap(), "--seed", "3", "--val-fraction", "0.5"]));
    assert_eq!(report, again);
}

#[test]
fn data_rejects_a_bad_fraction() {
    let file = fixture("mini.jsonl");
    let output = run(&["data", "--file", file.to_str().unwrap(), "--val-fraction", "1.5"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("validation fraction"));
}

#[test]
fn train_names_an_unknown_config_key_before_loading_anything() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("run.toml");
    std::fs::write(&config, "[rollout]\ngroup_size = 4\ntemprature = 0.7\n").unwrap();
    let out = folder.path().join("run");
    let output = run(&["train", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("temprature") && stderr.contains("run.toml"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn train_refuses_to_start_over_a_run_without_resume() {
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("run.toml");
    std::fs::write(&config, "[model]\npath = \"missing.gguf\"\n").unwrap();
    let out = folder.path().join("run");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("checkpoint.safetensors"), b"").unwrap();
    let output = run(&["train", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--resume"));
}

#[test]
fn plot_draws_a_run_s_metrics() {
    let folder = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (1..=3)
        .map(|step| {
            serde_json::json!({
                "step": step, "learning_rate": 5e-5, "reward_mean": -1.0 + step as f64, "reward_std": 0.5,
                "reward_parts": {"format": 0.0, "correctness": -1.0}, "loss": 0.1, "kl": 0.01,
                "clip_low": 0.0, "clip_high": 0.0, "grad_norm": 1.0, "completion_len_mean": 40.0,
                "completion_len_max": 64, "truncated": 1, "groups": 1, "zero_variance_groups": 0,
                "dropped_groups": 0, "tokens_per_second": 10.0, "step_seconds": 30.0
            })
            .to_string()
        })
        .collect();
    std::fs::write(folder.path().join("metrics.jsonl"), lines.join("\n")).unwrap();
    let output = run(&["plot", folder.path().to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(std::fs::read(folder.path().join("curves.png")).unwrap().starts_with(b"\x89PNG"));
}

#[test]
fn resume_names_the_keys_that_changed_since_the_run_started() {
    let folder = tempfile::tempdir().unwrap();
    let out = folder.path().join("run");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("checkpoint.safetensors"), b"").unwrap();
    let config = folder.path().join("run.toml");
    std::fs::write(&config, "[model]\npath = \"/m.gguf\"\n[data]\nfile = \"/d.jsonl\"\n[rollout]\ngroup_size = 4\n")
        .unwrap();
    std::fs::write(
        out.join("config.toml"),
        "[model]\npath = \"/m.gguf\"\n[data]\nfile = \"/d.jsonl\"\n[rollout]\ngroup_size = 8\n[grpo]\nbeta = 0.1\n",
    )
    .unwrap();
    let output = run(&["train", "--config", config.to_str().unwrap(), "--out", out.to_str().unwrap(), "--resume"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("rollout.group_size, grpo.beta") || stderr.contains("grpo.beta, rollout.group_size"),
        "{stderr}"
    );
}

#[test]
fn prompt_prints_what_the_model_is_given() {
    let file = fixture("mini.jsonl");
    let output = run(&["prompt", "--file", file.to_str().unwrap(), "--line", "3", "--k-examples", "0"]);
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let prompt = String::from_utf8(output.stdout).unwrap();
    assert!(prompt.starts_with("<|im_start|>system\n"), "{prompt}");
    assert!(prompt.contains("Library: pandas\nTarget version: 2.0.0\n"), "canonical name, no operator: {prompt}");
    assert!(prompt.contains("Series.iteritems was removed; use Series.items."), "{prompt}");
    assert!(prompt.ends_with("<|im_start|>assistant\nLet me solve this step by step.\n<think>"), "{prompt}");
    assert_eq!(prompt.matches("<|im_start|>user").count(), 1, "no worked example with --k-examples 0");

    let output = run(&["prompt", "--file", file.to_str().unwrap(), "--line", "6"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mini.jsonl:6: the row is dropped"), "{stderr}");
}

/// The real SmolLM2 (fetched by `recode model fetch`) on the held-out rows
/// of the mini fixture: greedy completions, scored; a missing adapter is
/// an error that names it.
#[test]
fn eval_scores_greedy_completions_of_held_out_rows() {
    let model = recode::model::fetch::default_model_path()
        .unwrap_or_else(|e| panic!("the default model is needed for this test; run `recode model fetch` first ({e})"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("eval.toml");
    let data = fixture("mini.jsonl");
    std::fs::write(
        &config,
        format!(
            "[model]\npath = {:?}\n[data]\nfile = {:?}\nval_fraction = 0.5\nk_examples = 0\n[rollout]\nmax_new_tokens = 6\n[run]\nseed = 3\n",
            model.display().to_string(),
            data.display().to_string()
        ),
    )
    .unwrap();
    let output = json(&run(&["eval", "--config", config.to_str().unwrap(), "--rows", "1"]));
    let report = &output["report"];
    assert_eq!(output["adapter"], serde_json::Value::Null);
    assert_eq!(report["prompts"], 1);
    // Six tokens are too few for a closed answer: a format failure, scored as such.
    assert_eq!(report["reward_parts"]["format"], -1.0);
    assert!(report["completion_len_mean"].as_f64().unwrap() <= 6.0);
    let parts: f64 = ["format", "correctness"].iter().map(|p| report["reward_parts"][p].as_f64().unwrap()).sum();
    assert_eq!(report["reward_mean"].as_f64().unwrap(), parts);

    // Every prompt over data.max_prompt_tokens: left out, counted, and nothing to score.
    let strict = dir.path().join("strict.toml");
    std::fs::write(&strict, std::fs::read_to_string(&config).unwrap().replace("k_examples = 0\n", "k_examples = 0\nmax_prompt_tokens = 10\n")).unwrap();
    let output = run(&["eval", "--config", strict.to_str().unwrap(), "--rows", "1"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("left out 1 of 1 prompts longer than 10 tokens") && stderr.contains("no prompts to evaluate"), "{stderr}");

    let missing = dir.path().join("no-adapter");
    let output = run(&["eval", "--config", config.to_str().unwrap(), "--adapter", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-adapter"), "{stderr}");
}
