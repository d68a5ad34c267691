//! Release notes and harvested deprecations, end to end: the real `recode`
//! binary against a loopback server and a fixture environment.

use std::path::Path;
use std::process::{Command, Output};

use recode_e2e::{binary, fixtures, StaticServer};
use serde_json::Value;

fn recode_with(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary("recode"));
    command.args(args).current_dir(dir).env_remove("VIRTUAL_ENV").env_remove("CONDA_PREFIX").env_remove("RECODE_OFFLINE");
    for (key, value) in vars {
        command.env(key, value);
    }
    command.output().expect("recode starts")
}

fn notes_server() -> StaticServer {
    let page = |name: &str| std::fs::read(fixtures().join("notes").join(name)).unwrap();
    StaticServer::start(vec![
        ("/numpy/numpy/main/doc/source/release/2.0.0-notes.rst".into(), page("numpy-2.0.0-notes.rst")),
        ("/pandas-dev/pandas/main/doc/source/whatsnew/v2.0.0.rst".into(), page("pandas-v2.0.0.rst")),
    ])
}

fn findings(output: &Output) -> Vec<Value> {
    serde_json::from_slice::<Value>(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}); stderr: {}", String::from_utf8_lossy(&output.stderr)))
        .as_array()
        .unwrap()
        .clone()
}

fn finding<'a>(findings: &'a [Value], symbol: &str) -> &'a Value {
    findings.iter().find(|f| f["symbol"] == symbol).unwrap_or_else(|| panic!("no {symbol} finding"))
}

#[test]
fn check_attaches_release_notes_and_works_offline_from_the_cache() {
    let server = notes_server();
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().to_str().unwrap();
    let project = fixtures().join("projects/analytics");
    let vars = [("RECODE_NOTES_BASE", server.base.as_str()), ("RECODE_CACHE_DIR", cache_dir)];
    let online = recode_with(&project, &["check", "--format", "json", "--no-harvest", "."], &vars);
    assert_eq!(online.status.code(), Some(1));
    let online = findings(&online);
    let float = finding(&online, "numpy.float_");
    let notes = float["notes"].as_array().unwrap();
    assert!(!notes.is_empty(), "no notes for numpy.float_: {float}");
    assert_eq!(notes[0]["source_url"], format!("{}/numpy/numpy/main/doc/source/release/2.0.0-notes.rst", server.base));
    assert!(notes[0]["text"].as_str().unwrap().contains("float_"), "{}", notes[0]);
    assert_eq!(notes[0]["version"], "2.0.0");
    let append = finding(&online, "pandas.DataFrame.append");
    assert!(append["notes"].as_array().unwrap().iter().any(|n| n["text"].as_str().unwrap().contains("append")), "{append}");
    // A library whose page the server lacks: no notes, and the run goes on.
    assert!(finding(&online, "torch.load")["notes"].as_array().unwrap().is_empty());
    drop(server);

    // The server is gone: the cache answers, offline.
    let offline = recode_with(&project, &["check", "--format", "json", "--no-harvest", "--offline", "."], &[("RECODE_CACHE_DIR", cache_dir)]);
    let offline = findings(&offline);
    assert_eq!(finding(&offline, "numpy.float_")["notes"], float["notes"]);
}

#[test]
fn catalog_changelog_and_show_print_parsed_notes() {
    let server = notes_server();
    let cache = tempfile::tempdir().unwrap();
    let vars = [("RECODE_NOTES_BASE", server.base.as_str()), ("RECODE_CACHE_DIR", cache.path().to_str().unwrap())];
    let dir = tempfile::tempdir().unwrap();
    let out = recode_with(dir.path(), &["catalog", "changelog", "numpy", "2.0"], &vars);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("numpy 2.0.0 — "), "{text}");
    assert!(text.contains("## Expired deprecations") || text.contains("## Removals"), "{text}");
    assert!(text.contains("np.float_"), "{text}");

    let out = recode_with(dir.path(), &["catalog", "show", "np.trapz"], &vars);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("numpy.trapz (renamed, RC003)"), "{text}");
    assert!(text.contains("[numpy 2.0.0 — Deprecations]"), "{text}");
    assert!(text.contains("trapezoid"), "{text}");

    let missing = recode_with(dir.path(), &["catalog", "changelog", "numpy", "1.99"], &vars);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("404") && stderr.contains("not available"), "{stderr}");
}

#[test]
fn check_reports_deprecations_harvested_from_the_installed_packages() {
    let cache = tempfile::tempdir().unwrap();
    let project = fixtures().join("projects/harvested");
    let vars = [("RECODE_CACHE_DIR", cache.path().to_str().unwrap())];
    let out = recode_with(&project, &["check", "--format", "json", "--no-notes", "."], &vars);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let found = findings(&out);
    let old_sum = finding(&found, "toylib.old_sum");
    assert_eq!(old_sum["kind"], "deprecated");
    assert_eq!(old_sum["severity"], "warning");
    assert_eq!(old_sum["installed_version"], "1.4.0");
    assert_eq!((old_sum["line"].as_u64(), old_sum["column"].as_u64()), (Some(4), Some(9)));
    let colour = finding(&found, "toylib.Widget(colour=)");
    assert_eq!(colour["kind"], "keyword-renamed");
    assert!(found.iter().all(|f| f["symbol"] != "toylib.new_sum"), "{found:?}");

    // Without harvesting the bundled catalog knows nothing of toylib.
    let bare = recode_with(&project, &["check", "--format", "json", "--no-notes", "--no-harvest", "."], &vars);
    assert_eq!(bare.status.code(), Some(0));

    // The second run reads the per-environment cache.
    let listing = recode_with(&project, &["catalog", "harvest", "--format", "json"], &vars);
    let stderr = String::from_utf8_lossy(&listing.stderr);
    assert!(stderr.contains("(from the cache)"), "{stderr}");
    let entries: Vec<Value> = serde_json::from_slice(&listing.stdout).unwrap();
    let entry = entries.iter().find(|e| e["symbol"] == "toylib.old_sum").expect("listed");
    assert_eq!(entry["in_bundled_catalog"], false);
    assert!(entries.iter().all(|e| e["library"] == "toylib"), "only what the project imports");
}
