//! `recode check` end to end: the real binary on fixture projects.

use std::path::PathBuf;

use recode_e2e::{fixtures, recode};
use serde_json::Value;

fn analytics() -> PathBuf {
    fixtures().join("projects/analytics")
}

fn json_findings(args: &[&str]) -> (Vec<Value>, i32) {
    let out = recode(&analytics(), args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let value: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr)));
    (value.as_array().expect("a JSON array").clone(), out.status.code().unwrap())
}

#[test]
fn json_output_matches_the_expected_file() {
    let (findings, code) = json_findings(&["check", "--format", "json", "."]);
    assert_eq!(code, 1, "findings exit with 1");
    let actual = serde_json::to_string_pretty(&findings).unwrap() + "\n";
    let expected_path = analytics().join("expected-check.json");
    if std::env::var_os("RECODE_BLESS").is_some() {
        std::fs::write(&expected_path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&expected_path).expect("expected-check.json exists");
    // Compared as JSON values: key order is serde_json's business, not the contract.
    let expected: Value = serde_json::from_str(&expected).expect("expected-check.json is JSON");
    assert!(
        Value::Array(findings) == expected,
        "set RECODE_BLESS=1 to rewrite the expected file after a deliberate change\nactual:\n{actual}"
    );
}

#[test]
fn findings_carry_versions_sources_and_positions() {
    let (findings, _) = json_findings(&["check", "--format", "json", "."]);
    let find = |symbol: &str| {
        findings
            .iter()
            .find(|f| f["symbol"] == symbol)
            .unwrap_or_else(|| panic!("no finding for {symbol}"))
            .clone()
    };
    let float = find("numpy.float_");
    assert_eq!(float["installed_version"], "2.1.3", "the installed version beats requirements.txt's 1.26.4");
    assert!(float["version_source"].as_str().unwrap().contains("numpy-2.1.3.dist-info"));
    assert_eq!(float["severity"], "error");
    assert_eq!(float["path"], "src/analytics/frames.py");
    assert_eq!((float["line"].as_u64(), float["column"].as_u64()), (Some(4), Some(19)));
    let simps = find("scipy.integrate.simps");
    assert_eq!(simps["installed_version"], "1.14.1", "[tool.recode.pins] wins");
    let normalize = find("sklearn.linear_model.LinearRegression(normalize=)");
    assert_eq!(normalize["installed_version"], "1.1.3", "declared in requirements.txt");
    assert_eq!(normalize["severity"], "warning", "deprecated at 1.1.3, removed only in 1.2");
    for f in &findings {
        assert_ne!(f["path"], "generated/stale.py", ".gitignore is respected");
        let line = f["line"].as_u64().unwrap();
        // The guarded trapz (frames.py:19–20) and the shadowed np (frames.py:26) stay quiet.
        if f["path"] == "src/analytics/frames.py" {
            assert!(!(19..=20).contains(&line) && line != 26, "guarded or shadowed use reported: {f}");
        }
    }
}

#[test]
fn pin_overrides_everything() {
    let (findings, _) = json_findings(&["check", "--format", "json", "--pin", "numpy==1.19.0", "src/analytics/frames.py"]);
    assert!(
        findings.iter().all(|f| f["library"] != "numpy"),
        "NumPy 1.19 predates every NumPy change used here: {findings:?}"
    );
    assert!(findings.iter().any(|f| f["library"] == "pandas"));
}

#[test]
fn text_and_sarif_formats() {
    let out = recode(&analytics(), &["check", "src/analytics/frames.py"]);
    let text = String::from_utf8(out.stdout).unwrap();
    let first = text.lines().next().expect("at least one finding");
    assert!(first.starts_with("src/analytics/frames.py:4:19: RC001 [error] `numpy.float_` was removed"), "{first}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("findings in 1 file checked"));

    let (json, _) = json_findings(&["check", "--format", "json", "."]);
    let out = recode(&analytics(), &["check", "--format", "sarif", "."]);
    assert_eq!(out.status.code(), Some(1));
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), json.len());
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    for result in results {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert!(["error", "warning", "note"].contains(&result["level"].as_str().unwrap()));
        let region = &result["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn exit_codes() {
    let clean = tempfile::tempdir().unwrap();
    std::fs::write(clean.path().join("ok.py"), "import numpy as np\nx = np.float64(1)\n").unwrap();
    assert_eq!(recode(clean.path(), &["check", "."]).status.code(), Some(0));

    let missing = recode(&analytics(), &["check", "no/such/dir"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such/dir: no such file or directory"));

    let bad_pin = recode(&analytics(), &["check", "--pin", "numpy=>2", "."]);
    assert_eq!(bad_pin.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_pin.stderr).contains("--pin numpy=>2"));
}

#[test]
fn unreadable_files_are_named_and_the_rest_is_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.py"), "import numpy as np\nnp.float_\n").unwrap();
    std::fs::write(dir.path().join("b.py"), b"import numpy\n\xff\xfe = 1\n").unwrap();
    let out = recode(dir.path(), &["check", "--pin", "numpy==2.0", "."]);
    assert_eq!(out.status.code(), Some(2), "an unchecked file is an error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("b.py:2:1: not valid UTF-8"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("a.py:2:1: RC001"));
}

#[test]
fn overlapping_paths_check_each_file_once() {
    let out = recode(&analytics(), &["check", "--format", "json", "src", "src/analytics/frames.py", "."]);
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let (all, _) = json_findings(&["check", "--format", "json", "."]);
    assert_eq!(findings.len(), all.len());
}
