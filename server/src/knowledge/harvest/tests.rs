use std::time::Instant;

use super::*;

/// Against a real environment: `RECODE_TEST_SITE_PACKAGES` names a
/// site-packages with numpy and pandas (CI: a venv with `pip install numpy
/// pandas scikit-learn`); skipped with a note otherwise. Prints the counts per
/// library, the time taken, and how many entries the bundled catalog lacks.
#[test]
fn real_numpy_and_pandas_install() {
    let Some(site) = std::env::var_os("RECODE_TEST_SITE_PACKAGES") else {
        eprintln!("note: RECODE_TEST_SITE_PACKAGES is not set; skipping the real-install harvest test");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // `RECODE_TEST_ONLY=numpy,pandas,sklearn` scans just those (as `recode
    // check` does for a project's imports).
    let only = std::env::var("RECODE_TEST_ONLY")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.split(',').map(|m| m.trim().to_string()).collect());
    let options =
        HarvestOptions { site_packages: PathBuf::from(site), only, cache_dir: Some(tmp.path().to_path_buf()) };
    let start = Instant::now();
    let h = harvest_cached(&options).expect("harvest");
    let elapsed = start.elapsed();
    let start = Instant::now();
    let again = harvest_cached(&options).expect("cached harvest");
    let cached = start.elapsed();
    assert!(again.from_cache && again.entries.len() == h.entries.len());
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    eprintln!(
        "harvested {} entries from {} files in {elapsed:.2?} ({profile} build; cache hit {cached:.2?}); {} problems, {} sites skipped",
        h.entries.len(),
        h.files_scanned,
        h.problems.len(),
        h.skipped
    );
    // Compare with the bundled catalog, or with the catalog files of a
    // directory (`RECODE_TEST_CATALOG_DIR`, e.g. another branch's `server/catalog`).
    let bundled = match std::env::var_os("RECODE_TEST_CATALOG_DIR") {
        Some(dir) => {
            let mut c = Catalog::default();
            c.add_dir(Path::new(&dir)).map(|_| c).map_err(|e| eprintln!("catalog dir: {e}")).ok()
        }
        None => Catalog::bundled().ok(),
    };
    let missing = bundled.as_ref().map(|c| h.missing_from(c));
    for (lib, n) in h.counts() {
        let version = h
            .entries
            .iter()
            .find_map(|e| match (&e.source, e.library == lib) {
                (EntrySource::Harvested { version }, true) => Some(version.to_string()),
                _ => None,
            })
            .unwrap_or_default();
        let lacking = missing.as_ref().map(|m| m.iter().filter(|e| e.library == lib).count());
        eprintln!(
            "  {lib} {version}: {n} entries, {} not in the catalog",
            lacking.map_or("?".into(), |l| l.to_string())
        );
    }
    if let Some(c) = &bundled {
        eprintln!("  compared with a catalog of {} entries", c.entries().len());
    }
    for p in &h.problems {
        eprintln!("  problem: {p}");
    }
    if let Some(dump) = std::env::var_os("RECODE_HARVEST_DUMP") {
        let mut out = String::new();
        for e in &h.entries {
            out.push_str(&format!(
                "{}\t{}\t{}\tdep={:?}\trem={:?}\trepl={:?}\t{}\t{}\n",
                e.library,
                e.symbol,
                e.kind,
                e.deprecated_in.as_ref().map(|v| v.to_string()),
                e.removed_in.as_ref().map(|v| v.to_string()),
                e.replacement,
                e.origin,
                e.note
            ));
        }
        std::fs::write(dump, out).unwrap();
    }

    check_invariants(&h);
    // NumPy 2.x: `numpy/_expired_attrs_2_0.py`.
    let e = entry(&h, "numpy.float_");
    assert_eq!(e.kind, EntryKind::Removed);
    assert_eq!(e.removed_in, v("2.0"));
    assert_eq!(e.replacement.as_deref(), Some("numpy.float64"));
    assert!(e.origin.starts_with("numpy/_expired_attrs_2_0.py:"), "{}", e.origin);
    assert_eq!(entry(&h, "numpy.NaN").replacement.as_deref(), Some("numpy.nan"));
    // pandas 2.1+ deprecations of the dtype checks (kept through 3.x).
    let e = entry(&h, "pandas.api.types.is_period_dtype");
    assert_eq!(e.kind, EntryKind::Deprecated);
    assert!(e.origin.starts_with("pandas/core/dtypes/common.py:"), "{}", e.origin);
    assert!(h.counts().iter().any(|(lib, n)| lib == "pandas" && *n >= 50));
    assert!(h.counts().iter().any(|(lib, n)| lib == "numpy" && *n >= 50));
}

fn fixture_site() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/harvest/site-packages")
}

fn fixture() -> Harvest {
    harvest(&HarvestOptions { site_packages: fixture_site(), only: None, cache_dir: None }).expect("fixture harvests")
}

/// The entry for `symbol` (`path` or `path(keyword=)`), or a panic listing
/// what there is.
fn entry<'a>(h: &'a Harvest, symbol: &str) -> &'a Entry {
    h.entries.iter().find(|e| e.symbol.to_string() == symbol).unwrap_or_else(|| {
        let all: Vec<String> = h.entries.iter().map(|e| e.symbol.to_string()).collect();
        panic!("no entry {symbol}; have {all:#?}")
    })
}

fn has(h: &Harvest, symbol: &str) -> bool {
    h.entries.iter().any(|e| e.symbol.to_string() == symbol)
}

fn v(s: &str) -> Option<Version> {
    Some(Version::from_str(s).unwrap())
}

/// `rel:LINE` of the first line of a fixture file containing `needle`.
fn origin_of(rel: &str, needle: &str) -> String {
    let text = std::fs::read_to_string(fixture_site().join(rel)).unwrap();
    let line = text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle:?} not in {rel}")) + 1;
    format!("{rel}:{line}")
}

#[test]
fn maps_distributions_to_import_packages() {
    let h = fixture();
    let libs: Vec<(&str, Vec<&str>)> =
        h.libraries.iter().map(|l| (l.name.as_str(), l.modules.iter().map(String::as_str).collect())).collect();
    // top_level.txt (toylib), RECORD first components (toyplot: not
    // `toyplot.libs`, not `../../bin`), the normalised name (toy_learn).
    assert_eq!(libs, vec![("toy-learn", vec!["toy_learn"]), ("toylib", vec!["toylib"]), ("toyplot", vec!["toyplot"])]);
    assert!(h.libraries.iter().all(|l| l.release_notes.is_none()));
    for e in &h.entries {
        let lib = h.libraries.iter().find(|l| l.name == e.library).expect("entry library is listed");
        let top = e.symbol.path.split('.').next().unwrap();
        assert!(lib.modules.iter().any(|m| m == top), "{} outside {:?}", e.symbol, lib.modules);
    }
    // The METADATA headers end at the first blank line ("Name: not-this").
    let toylib = entry(&h, "toylib.old_sum");
    assert_eq!(toylib.library, "toylib");
    assert!(matches!(&toylib.source, EntrySource::Harvested { version } if version.to_string() == "1.4.0"));
}

#[test]
fn bad_files_are_named_and_skipped() {
    let h = fixture();
    assert_eq!(h.files_scanned, 20, "tests/ and _vendor/ are not scanned");
    assert_eq!(h.problems.len(), 2, "{:#?}", h.problems);
    assert!(
        h.problems[0].contains("toylib/broken.py") && h.problems[0].contains("syntax error at line 1"),
        "{}",
        h.problems[0]
    );
    assert!(h.problems[1].contains("toylib/latin.py") && h.problems[1].contains("UTF-8"), "{}", h.problems[1]);
    assert!(!h.entries.iter().any(|e| e.origin.contains("tests/") || e.origin.contains("_vendor")));
    assert!(!h.entries.iter().any(|e| e.note.contains("helper") || e.symbol.path.contains("_private")));
    assert!(h.skipped >= 5, "private, nested, helper, positional-only and nameless sites are counted: {}", h.skipped);
}

#[test]
fn warnings_in_functions_and_methods() {
    let h = fixture();
    // A function in a private module, reached through `toylib/__init__.py`.
    let e = entry(&h, "toylib.old_sum");
    assert_eq!(e.kind, EntryKind::Deprecated);
    assert_eq!(e.note, "old_sum is deprecated and will be removed in 2.0. Use `new_sum` instead.");
    assert_eq!(e.deprecated_in, v("1.4.0"), "no version stated: the installed one");
    assert_eq!(e.removed_in, v("2.0"));
    assert_eq!(e.replacement.as_deref(), Some("toylib.new_sum"));
    // The line of the `warnings.warn(` call.
    assert_eq!(e.origin, format!("toylib/_impl.py:{}", line_no("toylib/_impl.py", "old_sum is deprecated") - 1));
    assert!(e.link.ends_with("toylib/_impl.py"), "{}", e.link);
    assert!(Path::new(&e.link).is_file());

    // A method; the message assembled from `msg = ...; msg += f"..."` and
    // `category=PendingDeprecationWarning`.
    let e = entry(&h, "toylib.Widget.render");
    assert_eq!(e.kind, EntryKind::Deprecated);
    assert_eq!(e.note, "Widget.render is deprecated; call {type(self).__name__}.draw instead.");
    assert_eq!(e.origin, origin_of("toylib/_impl.py", "warnings.warn(msg, category="));

    // A value-dependent warning is a behaviour change, not a deprecation.
    let e = entry(&h, "toylib.Widget.resize");
    assert_eq!(e.kind, EntryKind::BehaviourChanged);
    assert!(!has(&h, "toylib.Widget.resize(mode=)"));

    // `from warnings import warn` + a package-defined DeprecationWarning subclass.
    let e = entry(&h, "toylib.core.not_exported");
    assert_eq!(e.kind, EntryKind::Deprecated);
    // FutureWarning saying "deprecated": a deprecation.
    assert_eq!(entry(&h, "toylib.core.NDBase.swapaxes").kind, EntryKind::Deprecated);

    // A warning at module level deprecates the module.
    let e = entry(&h, "toylib.legacy");
    assert_eq!((e.kind, e.removed_in.clone()), (EntryKind::Deprecated, v("2.0")));
    assert_eq!(e.origin, origin_of("toylib/legacy.py", "warnings.warn("));
}

fn line_no(rel: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(fixture_site().join(rel)).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn keyword_deprecations_from_guards_and_helpers() {
    let h = fixture();
    // `if colour is not None: warn(...)` in __init__: the constructor keyword.
    let e = entry(&h, "toylib.Widget(colour=)");
    assert_eq!(e.kind, EntryKind::KeywordRenamed);
    assert_eq!(e.replacement.as_deref(), Some("color"));
    // `if inplace is not _NoDefault` with a sentinel default.
    let e = entry(&h, "toylib.scale(inplace=)");
    assert_eq!((e.kind, e.removed_in.clone()), (EntryKind::KeywordRemoved, v("3.0")));
    // pandas @deprecate_kwarg
    let e = entry(&h, "toylib.Frame.select(cols=)");
    assert_eq!((e.kind, e.replacement.as_deref()), (EntryKind::KeywordRenamed, Some("columns")));
    let e = entry(&h, "toylib.Frame.reindex(copy=)");
    assert_eq!((e.kind, e.replacement.as_deref()), (EntryKind::KeywordRemoved, None));
    assert_eq!(e.origin, origin_of("toylib/core.py", "@deprecate_kwarg(\"copy\", None)"));
    // @deprecate_nonkeyword_arguments is no API removal.
    assert!(!h.entries.iter().any(|e| e.symbol.path == "toylib.Frame.drop"));
    // matplotlib @_api.rename_parameter / @_api.delete_parameter / warn_deprecated(obj_type="parameter")
    let e = entry(&h, "toyplot.Axes.scatter(s=)");
    assert_eq!(
        (e.kind, e.replacement.as_deref(), e.deprecated_in.clone()),
        (EntryKind::KeywordRenamed, Some("size"), v("3.7"))
    );
    let e = entry(&h, "toyplot.Axes.fill(antialiased=)");
    assert_eq!((e.kind, e.deprecated_in.clone()), (EntryKind::KeywordRemoved, v("3.8")));
    assert!(e.note.ends_with("It had no effect."), "{}", e.note);
    let e = entry(&h, "toyplot.Axes.grid(b=)");
    assert_eq!(
        (e.kind, e.replacement.as_deref(), e.deprecated_in.clone()),
        (EntryKind::KeywordRenamed, Some("visible"), v("3.5"))
    );
    // pyplot's `@_copy_docstring_and_deprecators(Axes.scatter)` wrapper
    // takes the keyword deprecations of the method.
    let e = entry(&h, "toyplot.pyplot.scatter(s=)");
    assert_eq!((e.kind, e.replacement.as_deref()), (EntryKind::KeywordRenamed, Some("size")));
    // sklearn: `if self.normalize != "deprecated"` in fit() → the constructor
    // keyword, for the public subclass that takes it (not for Ridge).
    let e = entry(&h, "toy_learn.linear_model.LinearModel(normalize=)");
    assert_eq!(
        (e.kind, e.deprecated_in.clone(), e.removed_in.clone()),
        (EntryKind::KeywordRemoved, v("1.0"), v("1.4"))
    );
    assert!(!has(&h, "toy_learn.linear_model.Ridge(normalize=)"));
}

#[test]
fn module_getattr_names_and_numpy_tables() {
    let h = fixture();
    // `if name == "old_alias": warnings.warn(...)` in toylib/__init__.py
    let e = entry(&h, "toylib.old_alias");
    assert_eq!((e.kind, e.deprecated_in.clone()), (EntryKind::Deprecated, v("1.2")));
    assert_eq!(e.replacement.as_deref(), Some("toylib.new_sum"));
    // `if name in __future_scalars__` (a module-level set): FutureWarning
    // without "deprecated" is a behaviour change; `{name}` is filled in.
    let e = entry(&h, "toylib.bytes");
    assert_eq!(e.kind, EntryKind::BehaviourChanged);
    assert_eq!(e.note, "In the future `toylib.bytes` will be a ToyLib scalar.");
    assert!(has(&h, "toylib.str"));
    // A guard that names nothing (`name.startswith("x_")`) gives no entry.
    assert!(!h.entries.iter().any(|e| e.symbol.path.contains("__getattr__") || e.note.contains("x_ names")));

    // __expired_attributes__ lives in toylib/_expired.py and is imported by
    // toylib/__init__.py: the keys are toylib.<name>, removed; the
    // __getattr__ raise dresses the message; the docstring dates it.
    let e = entry(&h, "toylib.float_");
    assert_eq!(e.kind, EntryKind::Removed);
    assert_eq!(e.note, "`toylib.float_` was removed in the ToyLib 1.0 release. Use `toylib.Float64` instead.");
    assert_eq!((e.deprecated_in.clone(), e.removed_in.clone()), (None, v("1.0")));
    assert_eq!(e.origin, origin_of("toylib/_expired.py", "\"float_\""));
    let e = entry(&h, "toylib.oldfunc");
    assert!(e.note.ends_with("It was an alias; use `toylib.new_sum`."), "{}", e.note);

    // __former_attrs__ from a dict comprehension over a literal table.
    let e = entry(&h, "toylib.int");
    assert_eq!(e.kind, EntryKind::Removed);
    assert_eq!(
        e.note,
        "module 'toylib' has no attribute 'int'. `toylib.int` was a deprecated alias for the builtin `int`. \
         Use `int` by itself. It was deprecated in ToyLib 1.1."
    );
    assert_eq!((e.deprecated_in.clone(), e.removed_in.clone()), (v("1.1"), v("1.4.0")));
    assert_eq!(e.replacement.as_deref(), Some("int"));
    assert_eq!(entry(&h, "toylib.object").note, "module 'toylib' has no attribute 'object'. `toylib.object` was a deprecated alias for the builtin `object`. Use `object` by itself.");
}

#[test]
fn decorators_pep702_sklearn_matplotlib() {
    let h = fixture();
    // PEP 702 in a stub of a compiled module, re-exported by __init__.py.
    let e = entry(&h, "toylib.legacy_sum");
    assert_eq!(e.kind, EntryKind::Deprecated);
    assert_eq!(e.note, "Use `toylib.new_sum` instead; `legacy_sum` will be removed in 2.0.");
    assert_eq!(e.removed_in, v("2.0"));
    assert_eq!(e.origin, origin_of("toylib/fast.pyi", "@deprecated(\"Use"));
    let e = entry(&h, "toylib.Gadget.spin");
    assert_eq!(e.deprecated_in, v("1.3"));
    // PEP 702 on one `@overload`: the keyword that overload takes, not the function.
    let e = entry(&h, "toylib.resize(newsize=)");
    assert_eq!(
        (e.kind, e.origin.as_str()),
        (EntryKind::KeywordRemoved, origin_of("toylib/fast.pyi", "`newsize`").as_str())
    );
    assert!(!has(&h, "toylib.resize") && !has(&h, "toylib.resize(shape=)"));
    // A deprecated property setter does not deprecate reading the property.
    assert!(!has(&h, "toylib.Gadget.size"));

    // sklearn @deprecated("...") on a class, a property (inherited by the
    // public subclasses of a private base), and a bare @deprecated().
    let e = entry(&h, "toy_learn.linear_model.OldRegressor");
    assert_eq!((e.kind, e.deprecated_in.clone(), e.removed_in.clone()), (EntryKind::Deprecated, v("1.1"), v("1.3")));
    assert_eq!(e.replacement.as_deref(), Some("toy_learn.linear_model.LinearModel"));
    assert_eq!(e.library, "toy-learn");
    assert!(has(&h, "toy_learn.linear_model.LinearModel.coef_old_"));
    assert!(has(&h, "toy_learn.linear_model.Ridge.coef_old_"));
    assert!(!h.entries.iter().any(|e| e.symbol.path.contains("_BaseModel")));
    let e = entry(&h, "toy_learn.linear_model.load_thing");
    assert_eq!(
        (e.kind, e.note.as_str(), e.deprecated_in.clone()),
        (EntryKind::Deprecated, "`load_thing` is deprecated.", v("1.2.0"))
    );
    // The decorator's own machinery (nested wrappers) is no deprecation.
    assert!(!h.entries.iter().any(|e| e.symbol.path.starts_with("toy_learn.utils")));

    // matplotlib @_api.deprecated("3.6", alternative=..., removal=...)
    let e = entry(&h, "toyplot.Axes.draw_old");
    assert_eq!((e.deprecated_in.clone(), e.removed_in.clone()), (v("3.6"), v("3.9")));
    assert_eq!(e.replacement.as_deref(), Some("toyplot.Axes.draw_new"));
    assert_eq!(e.note, "`draw_old` is deprecated since 3.6 and will be removed in 3.9. Use Axes.draw_new instead.");
    let e = entry(&h, "toyplot.OldAxes");
    assert_eq!((e.kind, e.deprecated_in.clone()), (EntryKind::Deprecated, v("3.8")));
    let e = entry(&h, "toyplot.Axes.legend_handles");
    assert_eq!((e.kind, e.deprecated_in.clone()), (EntryKind::Deprecated, v("3.7")));
    // _api.warn_external(msg, MatplotlibDeprecationWarning): a package-defined category.
    assert_eq!(entry(&h, "toyplot.plot_thing").kind, EntryKind::Deprecated);
    // The helpers themselves (message from a parameter) are not deprecated.
    assert!(!h.entries.iter().any(|e| e.symbol.path.starts_with("toyplot._api")));
}

#[test]
fn public_paths_follow_reexports() {
    let h = fixture();
    // `from ._impl import old_sum` in toylib/__init__.py
    assert_eq!(entry(&h, "toylib.old_sum").origin.split(':').next(), Some("toylib/_impl.py"));
    // `from .core import *` honours core's literal __all__: `scale` is
    // re-exported, `not_exported` keeps its own (public) path.
    assert!(has(&h, "toylib.scale(inplace=)"));
    assert!(!has(&h, "toylib.not_exported"));
    // A method inherited from a base the package does not re-export is
    // recorded for the re-exported subclass, with its sibling replacement.
    let e = entry(&h, "toylib.Frame.swapaxes");
    assert_eq!(e.replacement.as_deref(), Some("toylib.Frame.transpose"));
    // `@set_module("toylib")` names where users find a class no __init__ re-exports.
    assert!(has(&h, "toylib.Meter.read_old"));
    // No private path survives when a public one exists.
    assert!(!h.entries.iter().any(|e| e.symbol.path.starts_with("toylib._impl")), "private module paths");
    // Deduplication: one entry per symbol and keyword.
    let mut seen = std::collections::HashSet::new();
    for e in &h.entries {
        assert!(seen.insert(e.symbol.to_string()), "duplicate {}", e.symbol);
    }
}

#[test]
fn only_scans_the_imported_packages() {
    let only: BTreeSet<String> = ["toyplot".to_string()].into_iter().collect();
    let h = harvest(&HarvestOptions { site_packages: fixture_site(), only: Some(only), cache_dir: None }).unwrap();
    assert_eq!(h.files_scanned, 5);
    assert!(h.problems.is_empty());
    assert_eq!(h.libraries.len(), 1);
    assert!(h.entries.iter().all(|e| e.library == "toyplot"));
    assert!(has(&h, "toyplot.Axes.draw_old"));
}

#[test]
fn harvested_entries_join_a_catalog() {
    let h = fixture();
    let mut catalog = Catalog::default();
    h.extend_catalog(&mut catalog);
    assert_eq!(catalog.library_of_module("toylib"), Some("toylib"));
    let e = catalog.lookup("toylib.old_sum").next().expect("entry in catalog");
    assert!(matches!(e.source, EntrySource::Harvested { .. }));
    assert_eq!(h.missing_from(&catalog).len(), 0);
    assert_eq!(h.missing_from(&Catalog::default()).len(), h.entries.len());
}

#[test]
fn missing_site_packages_is_an_error() {
    let err =
        harvest(&HarvestOptions { site_packages: PathBuf::from("/nonexistent/site-packages"), ..Default::default() })
            .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/site-packages"), "{err}");
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

#[test]
fn cache_is_per_environment_and_invalidated_by_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site-packages");
    copy_dir(&fixture_site(), &site);
    let cache = tmp.path().join("cache");
    let options = HarvestOptions { site_packages: site.clone(), only: None, cache_dir: Some(cache.clone()) };

    let first = harvest_cached(&options).unwrap();
    assert!(!first.from_cache);
    assert_eq!(first.files_scanned, 20);
    let files: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 1, "one cache file, no temporary left: {files:?}");
    assert_eq!(cache_file(&options).unwrap().file_name().unwrap(), files[0].as_os_str());

    let second = harvest_cached(&options).unwrap();
    assert!(second.from_cache);
    assert_eq!(second.files_scanned, 0);
    assert_eq!(second.problems, first.problems);
    assert_eq!(second.skipped, first.skipped);
    assert_eq!(second.libraries.len(), first.libraries.len());
    let show = |h: &Harvest| -> Vec<String> {
        h.entries
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {:?} {:?} {:?} {} {} {} {:?}",
                    e.library,
                    e.symbol,
                    e.kind,
                    e.deprecated_in,
                    e.removed_in,
                    e.replacement,
                    e.note,
                    e.origin,
                    e.link,
                    e.source
                )
            })
            .collect()
    };
    assert_eq!(show(&second), show(&first), "the cache round-trips every field");

    // Another `only` set is another cache file.
    let only = HarvestOptions { only: Some(["toylib".to_string()].into_iter().collect()), ..options.clone() };
    assert!(!harvest_cached(&only).unwrap().from_cache);
    assert!(harvest_cached(&only).unwrap().from_cache);

    // Installing a distribution invalidates the cache.
    let new_dist = site.join("newlib-0.1.dist-info");
    std::fs::create_dir_all(&new_dist).unwrap();
    std::fs::write(new_dist.join("METADATA"), "Name: newlib\nVersion: 0.1\n").unwrap();
    let third = harvest_cached(&options).unwrap();
    assert!(!third.from_cache);
    assert!(harvest_cached(&options).unwrap().from_cache);

    // So does upgrading one in place (its METADATA changes).
    std::fs::write(
        site.join("toylib-1.4.0.dist-info/METADATA"),
        "Name: ToyLib\nVersion: 1.4.0\nSummary: reinstalled\n",
    )
    .unwrap();
    let fourth = harvest_cached(&options).unwrap();
    assert!(!fourth.from_cache);

    // A corrupt cache file is re-harvested, not an error.
    std::fs::write(cache_file(&options).unwrap(), "{ not json").unwrap();
    let fifth = harvest_cached(&options).unwrap();
    assert!(!fifth.from_cache);
    assert!(harvest_cached(&options).unwrap().from_cache);
}

#[test]
fn deprecated_namespace_modules() {
    let h = fixture();
    // `def __getattr__(name): return _sub_module_deprecation(..., attribute=name)`
    let e = entry(&h, "toylib.oldnames");
    assert_eq!((e.kind, e.removed_in.clone()), (EntryKind::Deprecated, v("2.0.0")), "the header comment dates it");
    assert_eq!(e.origin, origin_of("toylib/oldnames.py", "return _sub_module_deprecation"));
    let e = entry(&h, "toylib.oldnames.new_sum");
    assert_eq!(e.replacement.as_deref(), Some("toylib.new_sum"));
    assert!(
        e.note.starts_with(
            "The `toylib.oldnames` namespace is deprecated. Import `new_sum` as `toylib.new_sum` instead."
        ),
        "{}",
        e.note
    );
    assert_eq!(entry(&h, "toylib.oldnames.nothing_here").replacement, None, "no such name in the parent");
    // The private helper itself is no entry.
    assert!(!h.entries.iter().any(|e| e.symbol.path.contains("_helpers")));
}

/// What the catalog requires of every entry.
fn check_invariants(h: &Harvest) {
    for e in &h.entries {
        let s = e.symbol.to_string();
        assert!(e.deprecated_in.is_some() || e.removed_in.is_some(), "{s}: no version");
        if let (Some(d), Some(r)) = (&e.deprecated_in, &e.removed_in) {
            assert!(d <= r, "{s}: deprecated_in {d} after removed_in {r}");
        }
        assert_eq!(
            e.symbol.keyword.is_some(),
            matches!(e.kind, EntryKind::KeywordRemoved | EntryKind::KeywordRenamed),
            "{s}: {}",
            e.kind
        );
        if e.kind == EntryKind::KeywordRenamed {
            assert!(e.replacement.is_some(), "{s}: renamed to what?");
        }
        assert!(!e.note.trim().is_empty() && !e.link.is_empty(), "{s}: note and link");
        assert!(e.symbol.path.split('.').all(text::is_identifier), "{s}: not a dotted name");
        assert!(matches!(e.source, EntrySource::Harvested { .. }));
        let (file, line) = e.origin.rsplit_once(':').expect("origin is file:line");
        assert!(file.ends_with(".py") || file.ends_with(".pyi"), "{s}: {}", e.origin);
        assert!(line.parse::<usize>().is_ok_and(|l| l > 0), "{s}: {}", e.origin);
    }
}

#[test]
fn entries_keep_the_catalog_invariants() {
    check_invariants(&fixture());
}
