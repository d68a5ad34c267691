//! Helpers shared by the end-to-end tests: where the built binaries and the
//! fixtures are. The tests start the real binaries as a user would; build
//! them first (`cargo build --workspace --bins`, as the README's test
//! command does).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A binary of this workspace, built in the same target directory and
/// profile as the running test.
pub fn binary(name: &str) -> PathBuf {
    let test_exe = std::env::current_exe().expect("the test knows its own path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let profile_dir = test_exe.parent().and_then(Path::parent).expect("test binaries live in target/<profile>/deps");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first with `cargo build --workspace --bins`",
        path.display()
    );
    path
}

/// The repository's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Runs `recode` with `args` in `dir`, with no inherited environment
/// variables that would change version resolution.
pub fn recode(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary("recode"))
        .args(args)
        .current_dir(dir)
        .env_remove("VIRTUAL_ENV")
        .env_remove("CONDA_PREFIX")
        .env_remove("RECODE_LOG")
        .output()
        .expect("recode starts")
}
