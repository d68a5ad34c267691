//! Resolution over the fixture projects in `fixtures/env/`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep440_rs::Version;

use super::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/env")).join(name)
}

fn v(text: &str) -> Version {
    Version::from_str(text).unwrap()
}

/// Options with no process environment at all (tests never read the real one).
fn isolated() -> ResolveOptions {
    ResolveOptions::default()
}

fn with_process(virtual_env: Option<PathBuf>, conda_prefix: Option<PathBuf>) -> ResolveOptions {
    ResolveOptions { process: ProcessEnv { virtual_env, conda_prefix }, ..ResolveOptions::default() }
}

#[track_caller]
fn version<'a>(resolution: &'a Resolution, library: &str) -> &'a ResolvedVersion {
    resolution.versions.get(library).unwrap_or_else(|| panic!("{library} not resolved; got {:?}", resolution.versions))
}

#[track_caller]
fn assert_installed(resolution: &Resolution, library: &str, expected: &str, metadata: &Path) {
    let resolved = version(resolution, library);
    assert_eq!(resolved.version, v(expected), "{library}");
    assert_eq!(resolved.source, VersionSource::Installed { metadata: metadata.to_path_buf() }, "{library}");
}

#[track_caller]
fn assert_locked(resolution: &Resolution, library: &str, expected: &str, file: &Path) {
    let resolved = version(resolution, library);
    assert_eq!(resolved.version, v(expected), "{library}");
    assert_eq!(resolved.source, VersionSource::Locked { file: file.to_path_buf() }, "{library}");
}

#[track_caller]
fn assert_declared(
    resolution: &Resolution,
    library: &str,
    expected: &str,
    file: &Path,
    line: usize,
    requirement: &str,
    lower_bound: bool,
) {
    let resolved = version(resolution, library);
    assert_eq!(resolved.version, v(expected), "{library}");
    assert_eq!(
        resolved.source,
        VersionSource::Declared { file: file.to_path_buf(), line, requirement: requirement.to_string(), lower_bound },
        "{library}"
    );
}

#[track_caller]
fn assert_no_problems(resolution: &Resolution) {
    assert!(resolution.problems.is_empty(), "unexpected problems: {:#?}", resolution.problems);
}

/// The problem on `file` (relative to the root) whose message contains `needle`.
#[track_caller]
fn problem<'a>(resolution: &'a Resolution, file: &str, needle: &str) -> &'a Problem {
    let path = resolution.root.join(file);
    resolution
        .problems
        .iter()
        .find(|p| p.file == path && p.message.contains(needle))
        .unwrap_or_else(|| panic!("no problem on {file} mentioning {needle:?}; got {:#?}", resolution.problems))
}

// ------------------------------------------------------------- precedence

#[test]
fn installed_beats_locked_beats_declared() {
    let root = fixture("precedence");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    let site = root.join(".venv/lib/python3.11/site-packages");
    assert_eq!(r.environment.as_deref(), Some(site.as_path()));

    // Installed 1.26.4 over uv.lock 1.26.0 over declared >=1.22.
    assert_installed(&r, "numpy", "1.26.4", &site.join("numpy-1.26.4.dist-info"));
    // uv.lock 2.1.4 over poetry.lock 2.0.3 (first lock file wins) over declared >=1.5.
    assert_locked(&r, "pandas", "2.1.4", &root.join("uv.lock"));
    // Only poetry.lock names requests: 2.31.0 over requirements-base.txt's ==2.25.1.
    assert_locked(&r, "requests", "2.31.0", &root.join("poetry.lock"));
    // Declared only: the exact pin in requirements.txt beats pyproject's lower bound.
    assert_declared(&r, "matplotlib", "3.7.5", &root.join("requirements.txt"), 3, "matplotlib==3.7.5", false);
    // From the `-r` include, with its own line.
    assert_declared(&r, "click", "8.0", &root.join("requirements-base.txt"), 2, "click>=8.0", true);
    // Optional dependencies count as declarations too.
    assert_declared(&r, "seaborn", "0.12", &root.join("pyproject.toml"), 14, "seaborn>=0.12", true);
    // egg-info directory and egg-info file.
    assert_installed(&r, "six", "1.16.0", &site.join("six-1.16.0-py3.11.egg-info"));
    assert_installed(&r, "simplejson", "3.19.2", &site.join("simplejson-3.19.2-py3.11.egg-info"));
    // The project itself, from uv.lock.
    assert_locked(&r, "precedence-demo", "0.1.0", &root.join("uv.lock"));
}

#[test]
fn project_pins_beat_installed() {
    let root = fixture("precedence");
    let r = resolve(&root, &isolated());
    // .venv has scipy 1.13.1, uv.lock 1.10.0; [tool.recode.pins] says 1.11.4.
    let scipy = version(&r, "SciPy");
    assert_eq!(scipy.version, v("1.11.4"));
    assert_eq!(scipy.source, VersionSource::ProjectPin { file: root.join("pyproject.toml") });
    assert_eq!(r.settings.pins.get("scipy"), Some(&v("1.11.4")));
}

#[test]
fn command_line_pins_beat_everything() {
    let root = fixture("precedence");
    let options = ResolveOptions {
        pins: vec![
            parse_pin("numpy==2.0.0").unwrap(),
            parse_pin("scipy==1.14.0").unwrap(),
            parse_pin("Pandas==1.0.0").unwrap(),
            parse_pin("pandas==1.1.0").unwrap(), // a later pin of the same library wins
        ],
        ..isolated()
    };
    let r = resolve(&root, &options);
    for (library, expected) in [("numpy", "2.0.0"), ("scipy", "1.14.0"), ("pandas", "1.1.0")] {
        let resolved = version(&r, library);
        assert_eq!(resolved.version, v(expected), "{library}");
        assert_eq!(resolved.source, VersionSource::Pin, "{library}");
        assert_eq!(resolved.source.to_string(), "--pin");
    }
    // Unpinned libraries still come from their own sources.
    assert_locked(&r, "requests", "2.31.0", &root.join("poetry.lock"));
}

#[test]
fn sources_display_where_the_version_came_from() {
    let root = fixture("precedence");
    let r = resolve(&root, &isolated());
    let site = root.join(".venv/lib/python3.11/site-packages");
    let show = |library: &str| version(&r, library).source.to_string();
    assert_eq!(show("numpy"), format!("installed: {}", site.join("numpy-1.26.4.dist-info").display()));
    assert_eq!(show("pandas"), format!("locked: {}", root.join("uv.lock").display()));
    assert_eq!(show("scipy"), format!("[tool.recode.pins] in {}", root.join("pyproject.toml").display()));
    assert_eq!(
        show("matplotlib"),
        format!("declared: {}:3 `matplotlib==3.7.5`", root.join("requirements.txt").display())
    );
    assert_eq!(
        show("click"),
        format!("declared: {}:2 `click>=8.0` (lower bound of the range)", root.join("requirements-base.txt").display())
    );
}

#[test]
fn settings_come_from_tool_recode() {
    let root = fixture("precedence");
    let r = resolve(&root, &isolated());
    assert_eq!(r.settings.exclude, vec!["build/**".to_string(), "notebooks/*.py".to_string()]);
    assert_eq!(r.settings.catalog, vec![root.join("recode-catalog")]);
    assert_eq!(r.settings.env, None);
    assert_eq!(r.root, root);
}

// ------------------------------------------------------------ environment

#[test]
fn virtual_env_variable_beats_dot_venv() {
    let root = fixture("precedence");
    let other = fixture("envs/other-venv");
    let r = resolve(&root, &with_process(Some(other.clone()), None));
    assert_no_problems(&r);
    let site = other.join("lib/python3.12/site-packages");
    assert_eq!(r.environment.as_deref(), Some(site.as_path()));
    assert_installed(&r, "numpy", "2.1.0", &site.join("numpy-2.1.0.dist-info"));
    // Not in that environment: the lock file speaks for scipy's neighbours.
    assert_locked(&r, "pandas", "2.1.4", &root.join("uv.lock"));
}

#[test]
fn explicit_env_beats_virtual_env_and_may_be_site_packages_itself() {
    let root = fixture("precedence");
    let site = fixture("envs/conda-prefix/lib/python3.10/site-packages");
    let options = ResolveOptions { env: Some(site.clone()), ..with_process(Some(fixture("envs/other-venv")), None) };
    let r = resolve(&root, &options);
    assert_no_problems(&r);
    assert_eq!(r.environment.as_deref(), Some(site.as_path()));
    assert_installed(&r, "numpy", "1.24.3", &site.join("numpy-1.24.3.dist-info"));
    assert_installed(&r, "torch", "2.1.0", &site.join("torch-2.1.0.dist-info"));
}

#[test]
fn settings_env_beats_dot_venv_and_env_option_beats_settings() {
    let root = fixture("settings-env");
    let r = resolve(&root, &with_process(Some(fixture("envs/other-venv")), None));
    assert_no_problems(&r);
    assert_eq!(r.settings.env, Some(root.join(".venv311")));
    assert_eq!(r.settings.exclude, vec!["migrations/**".to_string()]);
    let site = root.join(".venv311/lib/python3.11/site-packages");
    assert_installed(&r, "numpy", "1.26.2", &site.join("numpy-1.26.2.dist-info"));

    let options = ResolveOptions { env: Some(fixture("envs/windows-venv")), ..isolated() };
    let r = resolve(&root, &options);
    let site = fixture("envs/windows-venv/Lib/site-packages");
    assert_eq!(r.environment.as_deref(), Some(site.as_path()));
    assert_installed(&r, "numpy", "1.25.2", &site.join("numpy-1.25.2.dist-info"));
}

#[test]
fn plain_venv_directory_is_found() {
    let root = fixture("venv-dir");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    let site = root.join("venv/lib/python3.11/site-packages");
    assert_installed(&r, "requests", "2.32.3", &site.join("requests-2.32.3.dist-info"));
}

#[test]
fn conda_prefix_is_the_last_resort() {
    let conda = fixture("envs/conda-prefix");
    let site = conda.join("lib/python3.10/site-packages");
    // No venv in the project: $CONDA_PREFIX is read, and installed beats uv.lock.
    let root = fixture("locks/uv");
    let r = resolve(&root, &with_process(None, Some(conda.clone())));
    assert_no_problems(&r);
    assert_installed(&r, "numpy", "1.24.3", &site.join("numpy-1.24.3.dist-info"));
    assert_locked(&r, "pandas", "2.2.3", &root.join("uv.lock"));

    // A project .venv comes first.
    let root = fixture("precedence");
    let r = resolve(&root, &with_process(None, Some(conda)));
    assert_eq!(r.environment, Some(root.join(".venv/lib/python3.11/site-packages")));
    assert!(r.versions.get("torch").is_none());
}

#[test]
fn site_packages_layouts() {
    // lib64, and a dist-info without METADATA: the directory name gives name and version.
    let site = find_site_packages(&fixture("envs/lib64-venv")).unwrap();
    assert_eq!(site, fixture("envs/lib64-venv/lib64/python3.9/site-packages"));
    let r = resolve(&fixture("locks/pdm"), &ResolveOptions { env: Some(fixture("envs/lib64-venv")), ..isolated() });
    assert_no_problems(&r);
    assert_installed(&r, "numpy", "1.23.5", &site.join("numpy-1.23.5.dist-info"));

    // The highest Python, by number: 3.12 over 3.9.
    assert_eq!(
        find_site_packages(&fixture("envs/multi-python")),
        Some(fixture("envs/multi-python/lib/python3.12/site-packages"))
    );
    // Windows.
    assert_eq!(find_site_packages(&fixture("envs/windows-venv")), Some(fixture("envs/windows-venv/Lib/site-packages")));
    // dist-packages is not a site-packages directory.
    assert_eq!(find_site_packages(&fixture("envs/debian-like")), None);
    assert_eq!(find_site_packages(&fixture("does-not-exist")), None);
}

#[test]
fn missing_explicit_env_is_a_problem_and_not_replaced_by_a_guess() {
    let root = fixture("precedence");
    let missing = fixture("does-not-exist");
    let r = resolve(&root, &ResolveOptions { env: Some(missing.clone()), ..isolated() });
    assert_eq!(r.environment, None);
    assert_eq!(r.problems.len(), 1, "{:#?}", r.problems);
    assert_eq!(r.problems[0].file, missing);
    assert!(r.problems[0].message.contains("--env"), "{}", r.problems[0]);
    // The .venv is not read behind the user's back; the lock file speaks.
    assert_locked(&r, "numpy", "1.26.0", &root.join("uv.lock"));

    // An env without site-packages is a problem too.
    let empty = fixture("envs/debian-like");
    let r = resolve(&root, &ResolveOptions { env: Some(empty.clone()), ..isolated() });
    assert_eq!(r.environment, None);
    assert!(r.problems.iter().any(|p| p.file == empty && p.message.contains("no site-packages")), "{:#?}", r.problems);
}

#[test]
fn stale_variables_are_problems_and_discovery_goes_on() {
    let root = fixture("precedence");
    let stale = fixture("envs/gone");
    let broken = fixture("envs/empty-venv");
    let r = resolve(&root, &with_process(Some(stale.clone()), None));
    assert_eq!(r.environment, Some(root.join(".venv/lib/python3.11/site-packages")));
    assert!(r.problems.iter().any(|p| p.file == stale && p.message.contains("$VIRTUAL_ENV")), "{:#?}", r.problems);

    let r = resolve(&root, &with_process(Some(broken.clone()), None));
    assert_eq!(r.environment, Some(root.join(".venv/lib/python3.11/site-packages")));
    assert!(r.problems.iter().any(|p| p.file == broken && p.message.contains("no site-packages")), "{:#?}", r.problems);
}

#[test]
fn duplicate_metadata_keeps_the_higher_version() {
    let env = fixture("envs/duplicates");
    let site = env.join("lib/python3.11/site-packages");
    let r = resolve(&fixture("locks/pdm"), &ResolveOptions { env: Some(env), ..isolated() });
    assert_installed(&r, "numpy", "1.26.4", &site.join("numpy-1.26.4.dist-info"));
    assert_installed(&r, "scikit-learn", "1.3.0", &site.join("scikit_learn-1.3.0.dist-info"));
    assert_eq!(r.problems.len(), 2, "{:#?}", r.problems);
    let numpy = r.problems.iter().find(|p| p.file == site.join("numpy-1.24.0.dist-info")).unwrap();
    assert!(numpy.message.contains("1.26.4") && numpy.message.contains("numpy-1.26.4.dist-info"), "{numpy}");
    assert!(r.problems.iter().any(|p| p.file == site.join("scikit_learn-1.2.2-py3.11.egg-info")));
}

// ------------------------------------------------------------------ locks

#[test]
fn uv_lock() {
    let root = fixture("locks/uv");
    let lock = root.join("uv.lock");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    assert_locked(&r, "numpy", "2.0.2", &lock);
    assert_locked(&r, "pandas", "2.2.3", &lock);
    assert_locked(&r, "python-dateutil", "2.9.0.post0", &lock);
    assert_locked(&r, "analytics", "0.4.0", &lock);
    assert!(r.versions.get("analytics-core").is_none(), "a workspace member without a version");
    assert_eq!(r.versions.len(), 4);
}

#[test]
fn poetry_lock() {
    let root = fixture("locks/poetry");
    let lock = root.join("poetry.lock");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    assert_locked(&r, "matplotlib", "3.8.2", &lock);
    assert_locked(&r, "numpy", "1.26.3", &lock);
    assert_locked(&r, "scikit_learn", "1.3.2", &lock);
    assert_eq!(r.versions.len(), 3);
}

#[test]
fn pylock_toml() {
    let root = fixture("locks/pylock");
    let lock = root.join("pylock.toml");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    assert_locked(&r, "numpy", "1.26.4", &lock);
    assert_locked(&r, "scipy", "1.12.0", &lock);
    assert!(r.versions.get("local-tools").is_none());
    assert_eq!(r.versions.len(), 2);
}

#[test]
fn pipfile_lock() {
    let root = fixture("locks/pipfile");
    let lock = root.join("Pipfile.lock");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    assert_locked(&r, "numpy", "1.25.2", &lock); // `default` over `develop`
    assert_locked(&r, "pandas", "2.0.3", &lock);
    assert_locked(&r, "pytest", "7.4.3", &lock);
    assert!(r.versions.get("internal-lib").is_none());
    assert_eq!(r.versions.len(), 3);
}

#[test]
fn pdm_lock() {
    let root = fixture("locks/pdm");
    let lock = root.join("pdm.lock");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    assert_locked(&r, "rich", "13.7.0", &lock);
    assert_locked(&r, "torch", "2.2.1", &lock);
    assert_eq!(r.versions.len(), 2);
}

#[test]
fn first_lock_file_that_names_a_package_wins() {
    let root = fixture("lock-order");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    assert_locked(&r, "numpy", "1.26.0", &root.join("uv.lock"));
    assert_locked(&r, "pandas", "2.0.0", &root.join("poetry.lock"));
    assert_locked(&r, "scipy", "1.11.0", &root.join("pylock.toml"));
    assert_locked(&r, "requests", "2.30.0", &root.join("Pipfile.lock"));
    assert_locked(&r, "rich", "13.7.0", &root.join("pdm.lock"));
}

// ----------------------------------------------------------- declarations

#[test]
fn poetry_declarations() {
    let root = fixture("poetry-declared");
    let file = root.join("pyproject.toml");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    // `^1.24` in the main group, exact `1.26.2` in the dev group: exact wins.
    assert_declared(&r, "numpy", "1.26.2", &file, 24, "numpy = \"1.26.2\"", false);
    assert_declared(&r, "pandas", "2.0", &file, 10, "pandas = \"~2.0\"", true);
    assert_declared(&r, "scipy", "1.11.4", &file, 11, "scipy = \"1.11.4\"", false);
    assert_declared(&r, "requests", "2.28", &file, 12, "requests = \">=2.28,<3\"", true);
    assert_declared(&r, "matplotlib", "3.7", &file, 13, "matplotlib = \"^3.7\"", true);
    assert_declared(&r, "torch", "2.1.0", &file, 15, "torch = \"2.1.0\"", false);
    assert_declared(&r, "pytest", "7.4", &file, 23, "pytest = \"^7.4\"", true);
    assert_declared(&r, "sphinx", "7.1", &file, 27, "Sphinx = \">=7.1\"", true);
    for absent in ["python", "internal-utils", "attrs", "urllib3"] {
        assert!(r.versions.get(absent).is_none(), "{absent}");
    }
    assert_eq!(r.versions.len(), 8);
}

#[test]
fn environment_yml_with_pip_section() {
    let root = fixture("conda-env");
    let file = root.join("environment.yml");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    assert_declared(&r, "python", "3.11", &file, 6, "python=3.11", false);
    assert_declared(&r, "numpy", "1.26.4", &file, 7, "numpy=1.26.4", false);
    assert_declared(&r, "pandas", "2.0", &file, 8, "pandas>=2.0,<2.2", true);
    assert_declared(&r, "scipy", "1.11", &file, 9, "conda-forge::scipy=1.11", false);
    // conda's `pytorch` is PyPI's `torch`; `matplotlib-base` is matplotlib.
    assert_declared(&r, "torch", "2.1.0", &file, 10, "pytorch==2.1.0", false);
    assert!(r.versions.get("pytorch").is_none());
    assert_declared(&r, "matplotlib", "3.8", &file, 11, "matplotlib-base 3.8.*", true);
    assert_declared(&r, "xarray", "2023.12.0", &file, 12, "xarray=2023.12.0=pyhd8ed1ab_0", false);
    // The pip: section, with its own lines and a -r include beside the file.
    assert_declared(&r, "requests", "2.31.0", &file, 16, "requests==2.31.0", false);
    assert_declared(&r, "rich", "13.0", &file, 17, "rich>=13.0", true);
    assert_declared(&r, "httpx", "0.25.2", &root.join("pip-extra.txt"), 2, "httpx==0.25.2", false);
    for absent in ["netcdf4", "pip", "climate-tools"] {
        assert!(r.versions.get(absent).is_none(), "{absent}");
    }
    assert_eq!(r.versions.len(), 10);
}

#[test]
fn requirements_files() {
    let root = fixture("requirements");
    let top = root.join("requirements.txt");
    let base = root.join("requirements/base.txt");
    let constraints = root.join("constraints.txt");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    // Continuation lines and --hash options; the line is the first physical line.
    assert_declared(&r, "numpy", "1.26.4", &top, 8, "numpy==1.26.4", false);
    assert_declared(&r, "pandas", "2.0.3", &top, 11, "pandas >= 2.0.3, < 3", true);
    // The exact pin in the constraints file beats `~=1.11.2`.
    assert_declared(&r, "scipy", "1.11.4", &constraints, 2, "scipy==1.11.4", false);
    assert_declared(&r, "urllib3", "1.26.18", &constraints, 1, "urllib3==1.26.18", false);
    assert_declared(&r, "django", "4.2", &top, 13, "Django==4.2.*", true);
    assert_declared(&r, "tomli", "2.0", &top, 14, "tomli>=2.0; python_version < \"3.11\"", true);
    assert_declared(&r, "pillow", "10.1.0", &top, 21, "Pillow[avif]==10.1.0", false);
    // From the include (which includes the top file again: a cycle).
    assert_declared(&r, "requests", "2.31", &base, 3, "requests>=2.31", true);
    assert_declared(&r, "attrs", "23.1.0", &base, 4, "attrs==23.1.0", false);
    // Another root requirements file: read after requirements.txt, so its
    // numpy==1.20.0 loses to the earlier exact pin.
    assert_declared(&r, "pytest", "7.4", &root.join("requirements-dev.txt"), 2, "pytest>=7.4", true);
    for absent in ["six", "mypkg", "local-pkg", "other", "internal"] {
        assert!(r.versions.get(absent).is_none(), "{absent}");
    }
    assert_eq!(r.versions.len(), 10);
}

#[test]
fn include_cycles_terminate() {
    let root = fixture("cycle");
    let r = resolve(&root, &isolated());
    assert_no_problems(&r);
    assert_declared(&r, "flask", "3.0.0", &root.join("requirements.txt"), 3, "flask==3.0.0", false);
    assert_declared(&r, "werkzeug", "3.0", &root.join("more/extra.txt"), 2, "werkzeug>=3.0", true);
    assert_eq!(r.versions.len(), 2);
}

#[test]
fn exact_declaration_beats_an_earlier_lower_bound() {
    // precedence: pyproject says matplotlib>=3.5 (read first), requirements.txt ==3.7.5.
    let r = resolve(&fixture("precedence"), &isolated());
    let matplotlib = version(&r, "matplotlib");
    assert!(matches!(matplotlib.source, VersionSource::Declared { lower_bound: false, .. }));
    assert_eq!(matplotlib.version, v("3.7.5"));
}

// --------------------------------------------------------------- problems

#[test]
fn malformed_files_are_problems_with_file_and_line() {
    let root = fixture("malformed");
    let r = resolve(&root, &isolated());
    let at = |file: &str, needle: &str| problem(&r, file, needle).line;

    assert_eq!(at("pyproject.toml", "pandas>=>2.0"), Some(6));
    assert_eq!(at("pyproject.toml", "scipy"), Some(11));
    assert_eq!(at("pyproject.toml", "`env` must be a string"), Some(14));
    assert_eq!(at("pyproject.toml", "unknown setting `colour`"), Some(15));
    assert_eq!(at("pyproject.toml", "`pandas`"), Some(18));
    assert_eq!(at("uv.lock", "httpx"), Some(11));
    assert_eq!(at("poetry.lock", "invalid TOML"), Some(7));
    assert!(at("Pipfile.lock", "invalid JSON").is_some());
    assert_eq!(at("requirements.txt", "pandas=>2.0"), Some(3));
    assert_eq!(at("requirements.txt", "missing.txt"), Some(4));
    assert!(at("environment.yml", "invalid YAML").is_some_and(|l| (4..=5).contains(&l)));
    assert_eq!(at(".venv/lib/python3.11/site-packages/brokenpkg-1.0.dist-info/METADATA", "not a version"), Some(3));
    assert_eq!(r.problems.len(), 12, "{:#?}", r.problems);

    // Everything else still resolves.
    let site = root.join(".venv/lib/python3.11/site-packages");
    assert_installed(&r, "goodpkg", "2.0", &site.join("goodpkg-2.0.dist-info"));
    assert_locked(&r, "requests", "2.31.0", &root.join("uv.lock"));
    assert_declared(&r, "numpy", "1.24", &root.join("pyproject.toml"), 5, "numpy>=1.24", true);
    assert_declared(&r, "click", "8.1.7", &root.join("requirements.txt"), 2, "click==8.1.7", false);
    assert_declared(&r, "rich", "13", &root.join("requirements.txt"), 5, "rich>=13", true);
    let matplotlib = version(&r, "matplotlib");
    assert_eq!(matplotlib.source, VersionSource::ProjectPin { file: root.join("pyproject.toml") });
    for absent in ["pandas", "httpx", "brokenpkg", "flask", "scipy"] {
        assert!(r.versions.get(absent).is_none(), "{absent}");
    }
    assert_eq!(r.settings.env, None);
}

#[test]
fn broken_pyproject_leaves_the_rest() {
    let root = fixture("malformed-pyproject");
    let r = resolve(&root, &isolated());
    assert_eq!(r.problems.len(), 1, "{:#?}", r.problems);
    let p = problem(&r, "pyproject.toml", "invalid TOML");
    assert_eq!(p.line, Some(1));
    assert!(p.to_string().starts_with(&format!("{}:1: invalid TOML", root.join("pyproject.toml").display())));
    assert_eq!(r.settings, ProjectSettings::default());
    assert_declared(&r, "numpy", "1.26.4", &root.join("requirements.txt"), 1, "numpy==1.26.4", false);
}

#[test]
fn missing_root_is_a_problem() {
    let root = fixture("no-such-project");
    let r = resolve(&root, &isolated());
    assert!(r.versions.is_empty());
    assert_eq!(r.problems.len(), 1);
    assert_eq!(r.problems[0].file, root);
}

#[test]
fn problem_display() {
    let with_line = Problem::new("proj/requirements.txt", Some(3), "cannot parse requirement `x=>1`");
    assert_eq!(with_line.to_string(), "proj/requirements.txt:3: cannot parse requirement `x=>1`");
    let without = Problem::new("proj/.venv", None, "--env: no such directory");
    assert_eq!(without.to_string(), "proj/.venv: --env: no such directory");
}

// ------------------------------------------------------------------- pins

#[test]
fn parse_pin_accepts_exact_versions() {
    assert_eq!(parse_pin("numpy==1.26.4"), Ok(("numpy".to_string(), v("1.26.4"))));
    assert_eq!(parse_pin(" Scikit_Learn == 1.3.0 "), Ok(("scikit-learn".to_string(), v("1.3.0"))));
    assert_eq!(parse_pin("torch==2.1.0+cu121"), Ok(("torch".to_string(), v("2.1.0+cu121"))));
}

#[test]
fn parse_pin_explains_what_is_wrong() {
    let err = |text: &str| parse_pin(text).unwrap_err();
    assert!(err("").contains("empty"));
    assert!(err("numpy").contains("names no version"), "{}", err("numpy"));
    assert!(err("numpy>=1.2").contains("exact"), "{}", err("numpy>=1.2"));
    assert!(err("numpy==1.*").contains("exact"), "{}", err("numpy==1.*"));
    assert!(err("numpy=1.2").contains("use `==`"), "{}", err("numpy=1.2"));
    assert!(err("numpy==banana").contains("numpy==banana"), "{}", err("numpy==banana"));
    assert!(err("numpy[extra]==1.0").contains("extras"), "{}", err("numpy[extra]==1.0"));
    assert!(err("numpy==1.0; python_version > '3'").contains("markers"));
    assert!(err("==1.2").contains("LIB==VERSION"));
    for text in ["", "numpy", "numpy>=1.2", "=="] {
        assert!(!err(text).contains('\n'), "one line: {:?}", err(text));
    }
}

#[test]
fn byte_order_marks_crlf_and_bad_encodings() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("requirements.txt"), "\u{feff}numpy==1.26.4\r\npandas>=2.0 \\\r\n  --hash=sha256:00\r\n")
        .unwrap();
    std::fs::write(root.join("requirements-extra.txt"), b"rich==13.7.0\n\xff\xfe\n").unwrap();
    let r = resolve(root, &isolated());
    let top = root.join("requirements.txt");
    assert_declared(&r, "numpy", "1.26.4", &top, 1, "numpy==1.26.4", false);
    assert_declared(&r, "pandas", "2.0", &top, 2, "pandas>=2.0", true);
    assert_eq!(r.problems.len(), 1, "{:#?}", r.problems);
    assert_eq!(r.problems[0].file, root.join("requirements-extra.txt"));
    assert_eq!(r.problems[0].line, Some(2));
}
