//! Release-notes tests: parsing the fixture pages, and fetching, caching and
//! retrieving them from a loopback server.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::test_server::{Route, TestServer};
use super::*;
use crate::knowledge::catalog::Catalog;

const NUMPY_PATH: &str = "/numpy/numpy/main/doc/source/release/2.0.0-notes.rst";
const PANDAS_PATH: &str = "/pandas-dev/pandas/main/doc/source/whatsnew/v2.0.0.rst";
const SKLEARN_PATH: &str = "/scikit-learn/scikit-learn/main/doc/whats_new/v1.2.rst";
const TORCH_PATH: &str = "/repos/pytorch/pytorch/releases/tags/v2.4.0";
const MPL_DIR: &str = "/matplotlib/matplotlib/main/doc/api/prev_api_changes";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/notes").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn v(s: &str) -> Version {
    Version::from_str(s).unwrap()
}

fn parse_fixture(name: &str, format: NotesFormat, library: &str, version: &str) -> Vec<NoteEntry> {
    parse_page(format, &fixture(name), library, version, "https://example.org/page").unwrap()
}

fn by_section(entries: &[NoteEntry], section: Section) -> Vec<&str> {
    entries.iter().filter(|e| e.section == section).map(|e| e.text.as_str()).collect()
}

fn entry_with<'a>(entries: &'a [NoteEntry], needle: &str) -> &'a NoteEntry {
    entries
        .iter()
        .find(|e| e.text.contains(needle))
        .unwrap_or_else(|| panic!("no entry contains {needle:?}: {entries:#?}"))
}

/// A server with every fixture page at its real path.
fn fixture_server() -> TestServer {
    let server = TestServer::start();
    server.route(NUMPY_PATH, Route::ok("text/plain", fixture("numpy-2.0.0-notes.rst")));
    server.route(PANDAS_PATH, Route::ok("text/plain", fixture("pandas-v2.0.0.rst")));
    server.route(SKLEARN_PATH, Route::ok("text/plain", fixture("scikit-learn-v1.2.rst")));
    server.route(TORCH_PATH, Route::ok("application/json", fixture("torch-v2.4.0.json")));
    server.route(
        &format!("{MPL_DIR}/api_changes_3.9.0.rst"),
        Route::ok("text/plain", fixture("matplotlib/api_changes_3.9.0.rst")),
    );
    for part in ["behaviour", "removals"] {
        server.route(
            &format!("{MPL_DIR}/api_changes_3.9.0/{part}.rst"),
            Route::ok("text/plain", fixture(&format!("matplotlib/api_changes_3.9.0/{part}.rst"))),
        );
    }
    server
}

fn config(server: &TestServer, cache: Option<PathBuf>) -> NotesConfig {
    let mut config = NotesConfig::with_base(&server.base(), cache);
    config.limits.connect_timeout = Duration::from_secs(2);
    config.limits.timeout = Duration::from_secs(2);
    config
}

fn float_query(budget: usize) -> NoteQuery {
    NoteQuery::new("numpy", "numpy.float_", vec![v("2.0")], budget)
}

// ---------------------------------------------------------------- parsing

#[test]
fn numpy_rst_splits_into_sections_and_change_headings() {
    let entries = parse_fixture("numpy-2.0.0-notes.rst", NotesFormat::Rst, "numpy", "2.0.0");
    assert_eq!(by_section(&entries, Section::Removals).len(), 6, "{entries:#?}");
    assert_eq!(
        by_section(&entries, Section::Deprecations),
        [
            "`numpy.trapz` is deprecated in favour of `numpy.trapezoid`, which takes the same arguments.\n\n(gh-24445)",
            "The `np.linalg.linalg` submodule was always private. Import what you need from `np.linalg` instead:\n\n    \
             from numpy.linalg import norm\n\n(gh-24680)",
        ]
    );
    assert_eq!(
        by_section(&entries, Section::ExpiredDeprecations),
        [
            "`np.msort` has been removed; call `np.sort(a, axis=0)` instead.",
            "Passing `dtype=None` to `numpy.in1d` no longer warns, and the old behaviour is gone.",
        ]
    );
    // A change heading is the entry's title, its paragraphs and literal block the text.
    let float = entries.iter().find(|e| e.title.as_deref() == Some("`np.float_` has been removed")).unwrap();
    assert_eq!(float.section, Section::Removals);
    assert_eq!(
        float.text,
        "The `np.float_` alias of `numpy.float64` is no longer available. Replace it with `np.float64`, which has \
         always been the same type:\n\n    x = np.zeros(3, dtype=np.float64)\n\n(gh-24376)"
    );
    // Table rows carry the lead-in paragraph; escapes are gone.
    let row = entry_with(&entries, "`float_` —");
    assert_eq!(
        row.text,
        "The following aliases were dropped from the main namespace:\n`float_` — Use `np.float64` instead."
    );
    assert_eq!(row.section, Section::Removals);
    assert_eq!(row.title, None);
    // Bullets under a plain heading take it as their title.
    let highlight = entry_with(&entries, "Scalar promotion follows NEP 50.");
    assert_eq!((highlight.section, highlight.title.as_deref()), (Section::Other, Some("Highlights")));
    for e in &entries {
        assert!(!e.text.contains("``") && !e.text.contains(":func:") && !e.text.contains(".. "), "{e:#?}");
        assert_eq!((e.library.as_str(), e.version.as_str()), ("numpy", "2.0.0"));
        assert_eq!(e.source_url, "https://example.org/page");
    }
}

#[test]
fn pandas_whatsnew_sections() {
    let entries = parse_fixture("pandas-v2.0.0.rst", NotesFormat::Rst, "pandas", "2.0.0");
    assert_eq!(
        by_section(&entries, Section::Removals),
        [
            "Removed `DataFrame.append` and `Series.append`; concatenate with `pandas.concat` instead (GH#35407)",
            "Removed `Series.iteritems` and `DataFrame.iteritems`; iterate with `.items()` instead (GH#45321)",
            "Removed the `squeeze` keyword of `read_csv`; call `.squeeze(\"columns\")` on the result (GH#43242)",
            "Removed `Index.is_monotonic`, use `Index.is_monotonic_increasing` (GH#45422)",
        ]
    );
    assert_eq!(by_section(&entries, Section::Deprecations).len(), 2);
    let value_counts =
        entries.iter().find(|e| e.title.as_deref() == Some("Value counts sets the resulting name to `count`")).unwrap();
    assert_eq!(value_counts.section, Section::ApiChanges);
    assert!(value_counts.text.ends_with("    s.value_counts()"), "{}", value_counts.text);
    assert_eq!(entry_with(&entries, "keyword of the `Timestamp` constructor").section, Section::ApiChanges);
    assert!(entries.iter().all(|e| !e.text.contains("{{") && !e.text.contains("contributors::")));
}

#[test]
fn scikit_learn_tags_and_patch_versions() {
    let entries = parse_fixture("scikit-learn-v1.2.rst", NotesFormat::Rst, "scikit-learn", "1.2");
    let normalize = entry_with(&entries, "`normalize` parameter");
    assert_eq!(normalize.section, Section::Removals);
    assert_eq!(normalize.version, "1.2.0");
    assert_eq!(normalize.title.as_deref(), Some("`sklearn.linear_model`"));
    assert!(normalize.text.starts_with("The `normalize` parameter of `linear_model.LinearRegression` was deprecated"));
    assert!(normalize.text.ends_with("PR#23460 by C. Contributor."), "{}", normalize.text);
    let sparse = entry_with(&entries, "`sparse_output`");
    assert_eq!((sparse.section, sparse.version.as_str()), (Section::Deprecations, "1.2.0"));
    let changed = entry_with(&entries, "MiniBatchDictionaryLearning");
    assert_eq!((changed.section, changed.version.as_str()), (Section::BehaviourChanges, "1.2.1"));
    let fix = entry_with(&entries, "`set_output` now works");
    assert_eq!((fix.section, fix.title.as_deref()), (Section::Other, Some("`sklearn.base`")));
    assert_eq!(entry_with(&entries, "newton-cholesky").section, Section::Other);
    assert!(entries.iter().all(|e| !e.text.contains('|') && !e.text.contains("January 2023")), "{entries:#?}");
}

#[test]
fn torch_github_release_markdown() {
    let entries = parse_fixture("torch-v2.4.0.json", NotesFormat::GithubRelease, "torch", "2.4.0");
    assert_eq!(
        by_section(&entries, Section::Deprecations),
        [
            "`torch.cuda.amp.autocast(args...)` is deprecated. Please use `torch.amp.autocast(\"cuda\", args...)` \
             instead. (#126062)",
            "`torch.cpu.amp.autocast(args...)` is deprecated. Please use `torch.amp.autocast(\"cpu\", args...)` \
             instead. (#126062)",
            "`torch.cuda.amp.GradScaler(args...)` is deprecated. Please use `torch.amp.GradScaler(\"cuda\", \
             args...)` instead. (#126527)",
        ]
    );
    assert!(entries
        .iter()
        .filter(|e| e.section == Section::Deprecations)
        .all(|e| e.title.as_deref() == Some("Python API")));
    let softmax = entry_with(&entries, "without `dim` used to guess");
    assert_eq!(softmax.section, Section::ApiChanges);
    assert_eq!(softmax.title.as_deref(), Some("`F.softmax` without `dim` now raises (#100001)"));
    assert!(
        softmax.text.contains("    y = F.softmax(x, dim=-1)") && !softmax.text.contains("<td>"),
        "{}",
        softmax.text
    );
    // The table of contents at the top is not an entry.
    assert!(entries.iter().all(|e| e.text != "Deprecations" && e.text != "Backwards Incompatible Changes"));
    assert_eq!(entry_with(&entries, "assert_allclose").section, Section::ApiChanges);
}

#[test]
fn unparsable_pages_are_clear_errors() {
    let err = parse_page(NotesFormat::Rst, "\n\n~~~~\n\n", "numpy", "2.0.0", "u").unwrap_err();
    assert_eq!(err.to_string(), "could not parse u: no release-note entries found in the reStructuredText page");
    let err = parse_page(NotesFormat::Rst, "<!DOCTYPE html><html><p>Rate limited</p></html>", "numpy", "2.0.0", "u")
        .unwrap_err();
    assert!(err.to_string().contains("got an HTML page"), "{err}");
    let err =
        parse_page(NotesFormat::GithubRelease, "{\"message\": \"Not Found\"}", "torch", "2.4.0", "u").unwrap_err();
    assert_eq!(err.to_string(), "could not parse u: the GitHub release JSON has no `body` text");
    let err = parse_page(NotesFormat::GithubRelease, "not json", "torch", "2.4.0", "u").unwrap_err();
    assert!(err.to_string().starts_with("could not parse u: not a GitHub release JSON document"), "{err}");
    let err = parse_page(NotesFormat::Markdown, "# Title\n\n## Other\n", "torch", "2.4.0", "u").unwrap_err();
    assert!(matches!(err, NotesError::NoEntries { .. }));
}

// ---------------------------------------------------------------- retrieval

#[test]
fn retrieve_ranks_exact_mentions_first_with_source_urls() {
    let server = fixture_server();
    let cache = tempfile::tempdir().unwrap();
    let notes = ReleaseNotes::new(config(&server, Some(cache.path().to_path_buf())));
    let got = notes.retrieve(&float_query(10_000));
    assert_eq!(got.warnings, Vec::<String>::new());
    let summary: Vec<(Option<&str>, Relevance, Section)> =
        got.entries.iter().map(|f| (f.entry.title.as_deref(), f.relevance, f.entry.section)).collect();
    assert_eq!(
        summary,
        [
            (Some("`np.float_` has been removed"), Relevance::Qualified, Section::Removals),
            (None, Relevance::NameInCode, Section::Removals),
        ]
    );
    assert!(got.entries[1].entry.text.ends_with("`float_` — Use `np.float64` instead."));
    let url = format!("{}{NUMPY_PATH}", server.base());
    assert!(got.entries.iter().all(|f| f.entry.source_url == url));
    assert_eq!(got.omitted, 0);
    // `2.0` was read as the page of 2.0.0, once, politely.
    assert_eq!(server.hits(NUMPY_PATH), 1);
    let request = server.requests().pop().unwrap().to_lowercase();
    assert!(request.contains(&format!("user-agent: recode/{}", env!("CARGO_PKG_VERSION"))), "{request}");
    assert!(!request.contains("cookie:") && !request.contains("authorization:"), "{request}");
    // The same instance does not read the page again.
    let again = notes.retrieve(&NoteQuery::new("numpy", "numpy.trapz", vec![v("2.0.0")], 10_000));
    assert_eq!(
        again.entries[0].entry.text.lines().next().unwrap(),
        "`numpy.trapz` is deprecated in favour of `numpy.trapezoid`, which takes the same arguments."
    );
    assert_eq!(again.entries[0].relevance, Relevance::Qualified);
    assert_eq!(server.hits(NUMPY_PATH), 1);
}

#[test]
fn retrieve_respects_the_budget() {
    let server = fixture_server();
    let notes = ReleaseNotes::new(config(&server, None));
    let full = notes.retrieve(&float_query(10_000));
    let sizes: Vec<usize> = full.entries.iter().map(|f| f.entry.render().chars().count()).collect();
    assert_eq!(sizes.len(), 2);
    // Exactly room for both.
    let both = notes.retrieve(&float_query(sizes[0] + sizes[1]));
    assert_eq!((both.entries.len(), both.omitted), (2, 0));
    assert!(both.entries.iter().all(|f| !f.truncated));
    // Room for the first and a little: the second is left out, not cut to a stub.
    let one = notes.retrieve(&float_query(sizes[0] + 20));
    assert_eq!((one.entries.len(), one.omitted), (1, 1));
    assert_eq!(one.entries[0].entry, full.entries[0].entry);
    // Less than the first: it is cut to fit.
    let cut = notes.retrieve(&float_query(100));
    assert_eq!((cut.entries.len(), cut.omitted), (1, 1));
    assert!(cut.entries[0].truncated);
    assert!(cut.entries[0].entry.text.ends_with('…'));
    assert!(cut.entries[0].entry.render().chars().count() <= 100);
    assert!(cut.text().starts_with("`np.float_` has been removed\nThe `np.float_` alias"));
}

#[test]
fn retrieve_for_catalog_entries_with_tails_and_keywords() {
    let server = fixture_server();
    let notes = ReleaseNotes::new(config(&server, None));
    let mut catalog = Catalog::default();
    catalog
        .add_file(
            PathBuf::from("test.toml"),
            r#"
[library]
name = "pandas"
modules = ["pandas"]

[[entry]]
symbol = "pandas.DataFrame.append"
kind = "removed"
deprecated_in = "1.4"
removed_in = "2.0"
note = "Use pandas.concat."
link = "https://example.org"
"#,
        )
        .unwrap();
    catalog
        .add_file(
            PathBuf::from("test2.toml"),
            r#"
[library]
name = "scikit-learn"
modules = ["sklearn"]

[[entry]]
symbol = "sklearn.linear_model.LinearRegression(normalize=)"
kind = "keyword-removed"
deprecated_in = "1.0"
removed_in = "1.2"
note = "Scale the data first."
link = "https://example.org"
"#,
        )
        .unwrap();
    let append = catalog.lookup("pandas.DataFrame.append").next().unwrap();
    let query = NoteQuery::for_entry(append, Some(&v("2.1.4")), 5_000);
    assert_eq!(query.versions, [v("2.0"), v("1.4"), v("2.1.4")]);
    let got = notes.retrieve(&query);
    assert_eq!(got.entries.len(), 1, "{got:#?}");
    assert_eq!(got.entries[0].relevance, Relevance::Tail);
    assert!(got.entries[0].entry.text.starts_with("Removed `DataFrame.append` and `Series.append`"));
    // The pages of 1.4.0 and 2.1.4 are not served: said, not fatal.
    assert_eq!(got.warnings.len(), 2, "{:?}", got.warnings);
    assert!(got.warnings[0].starts_with("release notes of pandas 1.4.0: could not fetch http://127.0.0.1:"));
    assert!(got.warnings[0]
        .ends_with("/pandas-dev/pandas/main/doc/source/whatsnew/v1.4.0.rst: HTTP 404 Not Found; nothing is cached"));

    let iteritems = notes.retrieve(&NoteQuery::new("pandas", "pandas.DataFrame.iteritems", vec![v("2.0")], 5_000));
    assert_eq!(iteritems.entries.len(), 1);
    assert!(iteritems.entries[0].entry.text.contains("`DataFrame.iteritems`"));

    let normalize = catalog.entries().iter().find(|e| e.library == "scikit-learn").unwrap();
    let got = notes.retrieve(&NoteQuery::for_entry(normalize, None, 5_000));
    let first = &got.entries[0];
    assert!(first.mentions_keyword);
    assert_eq!(
        (first.relevance, first.entry.section, first.entry.version.as_str()),
        (Relevance::Tail, Section::Removals, "1.2.0")
    );
    assert!(got.entries[1..].iter().all(|f| !f.mentions_keyword));
    assert_eq!(server.hits(SKLEARN_PATH), 1);
}

#[test]
fn torch_release_json_from_the_github_api_path() {
    let server = fixture_server();
    let notes = ReleaseNotes::new(config(&server, None));
    let got = notes.retrieve(&NoteQuery::new("torch", "torch.cuda.amp.autocast", vec![v("2.4")], 5_000));
    assert_eq!(got.warnings, Vec::<String>::new());
    assert_eq!(got.entries.len(), 1, "{got:#?}");
    let found = &got.entries[0];
    assert_eq!((found.relevance, found.entry.section), (Relevance::Qualified, Section::Deprecations));
    assert!(found.entry.text.starts_with("`torch.cuda.amp.autocast(args...)` is deprecated."));
    assert_eq!(found.entry.source_url, format!("{}{TORCH_PATH}", server.base()));
    let request = server.requests().pop().unwrap().to_lowercase();
    assert!(request.contains("accept: application/vnd.github+json"), "{request}");
}

#[test]
fn matplotlib_includes_are_followed_and_a_missing_one_is_a_warning() {
    let server = fixture_server();
    let notes = ReleaseNotes::new(config(&server, None));
    let got = notes.retrieve(&NoteQuery::new("matplotlib", "matplotlib.cm.get_cmap", vec![v("3.9.2")], 5_000));
    let first = &got.entries[0];
    assert_eq!(first.entry.title.as_deref(), Some("`matplotlib.cm.get_cmap`"));
    assert_eq!(
        (first.relevance, first.entry.section, first.entry.version.as_str()),
        (Relevance::Qualified, Section::Removals, "3.9.0")
    );
    assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
    assert!(got.warnings[0].contains("include `/api/prev_api_changes/api_changes_3.9.0/deprecations.rst`"));
    assert!(got.warnings[0].contains("HTTP 404"));
    let page = notes.page("matplotlib", &v("3.9")).page.unwrap();
    let legend = page.entries.iter().find(|e| e.title.as_deref() == Some("Legends with no handles now warn")).unwrap();
    assert_eq!(legend.section, Section::BehaviourChanges);
    assert!(legend.text.contains("`matplotlib.axes.Axes.legend`"));
}

#[test]
fn unknown_library_and_no_versions_are_warnings() {
    let server = fixture_server();
    let notes = ReleaseNotes::new(config(&server, None));
    let got = notes.retrieve(&NoteQuery::new("leftpad", "leftpad.pad", vec![v("1.0")], 100));
    assert!(got.entries.is_empty());
    assert_eq!(got.warnings, ["no release-notes source is known for library `leftpad`"]);
    let got = notes.retrieve(&NoteQuery::new("numpy", "numpy.float_", vec![], 100));
    assert_eq!(got.warnings, ["release notes of numpy: no version to read them for"]);
}

// ---------------------------------------------------------------- cache

#[test]
fn cache_is_written_and_reused_offline() {
    let server = fixture_server();
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().join("notes");
    let online = ReleaseNotes::new(config(&server, Some(dir.clone())));
    let fetched = online.retrieve(&float_query(10_000));
    assert_eq!(fetched.entries.len(), 2);
    let file = dir.join("numpy").join("2.0.0.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(json["source_url"], format!("{}{NUMPY_PATH}", server.base()));
    assert!(json["fetched_at"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(json["entries"].as_array().unwrap().len(), 13);
    // Only the one file: no temporary files left behind.
    assert_eq!(std::fs::read_dir(dir.join("numpy")).unwrap().count(), 1);

    // Offline, pointed nowhere: the cache answers, nothing is fetched.
    let mut offline_config = NotesConfig::with_base("http://127.0.0.1:9", Some(dir.clone()));
    offline_config.offline = true;
    let offline = ReleaseNotes::new(offline_config);
    let cached = offline.retrieve(&float_query(10_000));
    assert_eq!(cached, Retrieved { warnings: vec![], ..fetched.clone() });
    assert_eq!(offline.page("numpy", &v("2.0")).origin, PageOrigin::Cache { stale: false });
    // A fresh cache is used online too.
    let again = ReleaseNotes::new(config(&server, Some(dir.clone())));
    assert_eq!(again.retrieve(&float_query(10_000)).entries, fetched.entries);
    assert_eq!(server.hits(NUMPY_PATH), 1);

    // Offline with nothing cached.
    let got = offline.retrieve(&NoteQuery::new("pandas", "pandas.DataFrame.append", vec![v("2.0")], 100));
    assert_eq!(got.warnings, ["release notes of pandas 2.0.0: offline, and nothing is cached"]);
}

#[test]
fn a_corrupt_cache_file_is_replaced_by_a_fetch() {
    let server = fixture_server();
    let cache = tempfile::tempdir().unwrap();
    let file = cache.path().join("numpy").join("2.0.0.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "{ truncated").unwrap();
    let notes = ReleaseNotes::new(config(&server, Some(cache.path().to_path_buf())));
    let got = notes.retrieve(&float_query(10_000));
    assert_eq!(got.entries.len(), 2);
    assert_eq!(got.warnings.len(), 1);
    assert!(got.warnings[0].contains("malformed cache file") && got.warnings[0].ends_with("ignoring the cached copy"));
    let page = NotesCache::new(cache.path().to_path_buf()).load("numpy", "2.0.0").unwrap().unwrap();
    assert_eq!(page.entries.len(), 13);
}

/// Primes a cache from the good page, breaks the route, and checks that a stale
/// lookup warns with `expected`, still answers from the cache, and leaves the
/// cache file as it was; and that without a cache it warns and answers nothing.
fn falls_back_to_the_cache(broken: Route, max_bytes: Option<u64>, expected: &str) {
    let server = fixture_server();
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_path_buf();
    let first = ReleaseNotes::new(config(&server, Some(dir.clone()))).retrieve(&float_query(10_000));
    assert_eq!(first.entries.len(), 2);
    let file = dir.join("numpy").join("2.0.0.json");
    let before = std::fs::read(&file).unwrap();

    server.route(NUMPY_PATH, broken);
    let mut stale = config(&server, Some(dir.clone()));
    stale.max_age = Duration::ZERO;
    stale.limits.timeout = Duration::from_millis(800);
    if let Some(max) = max_bytes {
        stale.limits.max_bytes = max;
    }
    let notes = ReleaseNotes::new(stale.clone());
    let got = notes.retrieve(&float_query(10_000));
    assert_eq!(got.entries, first.entries, "cached entries are still served");
    assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
    let warning = &got.warnings[0];
    assert!(warning.starts_with("release notes of numpy 2.0.0: "), "{warning}");
    assert!(warning.contains(expected), "{warning:?} lacks {expected:?}");
    assert!(warning.ends_with("using the cached copy fetched 0 days ago"), "{warning}");
    assert_eq!(notes.page("numpy", &v("2.0")).origin, PageOrigin::Cache { stale: true });
    assert_eq!(std::fs::read(&file).unwrap(), before, "the cache file is untouched");
    assert_eq!(std::fs::read_dir(dir.join("numpy")).unwrap().count(), 1);

    let empty = tempfile::tempdir().unwrap();
    let uncached = ReleaseNotes::new(NotesConfig { cache_dir: Some(empty.path().to_path_buf()), ..stale });
    let got = uncached.retrieve(&float_query(10_000));
    assert!(got.entries.is_empty());
    assert_eq!(got.warnings.len(), 1);
    assert!(got.warnings[0].contains(expected) && got.warnings[0].ends_with("nothing is cached"), "{:?}", got.warnings);
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0, "a failed fetch writes nothing");
}

#[test]
fn not_found_falls_back_to_the_cache() {
    falls_back_to_the_cache(
        Route::Body { status: 404, content_type: "text/plain", body: b"404: Not Found".to_vec() },
        None,
        &format!("{NUMPY_PATH}: HTTP 404 Not Found"),
    );
}

#[test]
fn server_error_falls_back_to_the_cache() {
    falls_back_to_the_cache(
        Route::Body { status: 500, content_type: "text/plain", body: b"oops".to_vec() },
        None,
        "HTTP 500 Internal Server Error",
    );
}

#[test]
fn timeout_falls_back_to_the_cache() {
    falls_back_to_the_cache(Route::Hang(Duration::from_secs(4)), None, "timed out after");
}

#[test]
fn oversize_streamed_body_falls_back_to_the_cache() {
    falls_back_to_the_cache(Route::Stream(200_000), Some(65_536), "the page is larger than 65536 bytes");
}

#[test]
fn oversize_announced_body_falls_back_to_the_cache() {
    falls_back_to_the_cache(Route::Announce(10_000_000), Some(65_536), "the page is larger than 65536 bytes");
}

#[test]
fn unparsable_page_falls_back_to_the_cache() {
    falls_back_to_the_cache(
        Route::ok("text/plain", "\n~~~~~~\n\n:: \n\n"),
        None,
        "no release-note entries found in the reStructuredText page",
    );
}

#[test]
fn binary_garbage_falls_back_to_the_cache() {
    falls_back_to_the_cache(
        Route::ok("application/octet-stream", vec![0xff, 0xfe, 0x00, 0x81]),
        None,
        "not UTF-8 text",
    );
}

#[test]
fn redirect_loop_falls_back_to_the_cache() {
    falls_back_to_the_cache(Route::Redirect(NUMPY_PATH.to_string()), None, "more than 5 redirects");
}

#[test]
fn redirect_to_plain_http_falls_back_to_the_cache() {
    falls_back_to_the_cache(
        Route::Redirect("http://example.com/notes.rst".to_string()),
        None,
        "refusing to fetch http://example.com/notes.rst: plain HTTP is allowed only to loopback hosts",
    );
}

// ---------------------------------------------------------------- fetch rules

#[test]
fn only_https_or_loopback_http_is_fetched() {
    for ok in [
        "https://raw.githubusercontent.com/x",
        "http://127.0.0.1:8/x",
        "http://127.4.5.6/x",
        "http://[::1]:8/x",
        "http://localhost:8/x",
    ] {
        assert!(check_url(ok).is_ok(), "{ok}");
    }
    let refused = [
        ("http://example.com/notes.rst", "plain HTTP is allowed only to loopback hosts; use https"),
        ("http://10.0.0.1/notes.rst", "plain HTTP is allowed only to loopback hosts; use https"),
        ("ftp://127.0.0.1/notes.rst", "scheme `ftp` is not fetched; use https"),
        ("file:///etc/passwd", "scheme `file` is not fetched"),
        ("https://user:secret@example.com/notes.rst", "URLs with credentials are not fetched"),
        ("not a url", "not a URL"),
    ];
    for (url, reason) in refused {
        let err = check_url(url).unwrap_err().to_string();
        assert!(err.starts_with(&format!("refusing to fetch {url}: ")) && err.contains(reason), "{err}");
    }
    // A mirror on plain HTTP that is not loopback: refused before any request.
    let server = fixture_server();
    let notes = ReleaseNotes::new(NotesConfig::with_base("http://example.com/mirror", None));
    let got = notes.retrieve(&float_query(1_000));
    assert!(got.entries.is_empty());
    assert_eq!(
        got.warnings,
        ["release notes of numpy 2.0.0: refusing to fetch http://example.com/mirror/numpy/numpy/main/doc/source/release/2.0.0-notes.rst: \
          plain HTTP is allowed only to loopback hosts; use https; nothing is cached"]
    );
    assert!(server.requests().is_empty());
}

#[test]
fn redirects_are_bounded() {
    let server = fixture_server();
    for k in 0..5 {
        server.route(&format!("/r{k}"), Route::Redirect(format!("/r{}", k + 1)));
    }
    server.route("/r5", Route::Redirect(NUMPY_PATH.to_string()));
    let fetcher = Fetcher::new(FetchLimits::default()).unwrap();
    // Five redirects are followed.
    let text = fetcher.get_text(&format!("{}/r1", server.base()), "text/plain").unwrap();
    assert!(text.contains("NumPy 2.0.0 Release Notes"));
    // Six are not.
    let err = fetcher.get_text(&format!("{}/r0", server.base()), "text/plain").unwrap_err();
    assert!(matches!(err, NotesError::TooManyRedirects { limit: 5, .. }), "{err}");
    assert_eq!(err.to_string(), format!("could not fetch {}/r0: more than 5 redirects", server.base()));
    // The sixth redirect (to the page) was not followed.
    assert_eq!((server.hits("/r5"), server.hits(NUMPY_PATH)), (2, 1));
    // A lower bound from the configuration.
    let strict = Fetcher::new(FetchLimits { max_redirects: 1, ..FetchLimits::default() }).unwrap();
    assert!(matches!(
        strict.get(&format!("{}/r4", server.base()), "*/*"),
        Err(NotesError::TooManyRedirects { limit: 1, .. })
    ));
}

// ---------------------------------------------------------------- configuration

#[test]
fn configuration_from_environment_variables() {
    let vars = |name: &str| match name {
        ENV_NOTES_BASE => Some("http://127.0.0.1:8080/mirror".to_string()),
        ENV_CACHE_DIR => Some("/tmp/recode-cache".to_string()),
        ENV_OFFLINE => Some("1".to_string()),
        _ => None,
    };
    let config = NotesConfig::from_vars(vars);
    assert_eq!(config.global_base.as_deref(), Some("http://127.0.0.1:8080/mirror"));
    assert_eq!(config.cache_dir, Some(PathBuf::from("/tmp/recode-cache/notes")));
    assert!(config.offline);
    let notes = ReleaseNotes::new(config);
    assert_eq!(
        notes.page_url("NumPy", &v("2.0")).unwrap(),
        (
            "http://127.0.0.1:8080/mirror/numpy/numpy/main/doc/source/release/2.0.0-notes.rst".to_string(),
            "2.0.0".to_string()
        )
    );

    let defaults = NotesConfig::from_vars(|_| None);
    assert_eq!(defaults.global_base, None);
    assert!(!defaults.offline);
    assert_eq!(defaults.cache_dir, default_cache_dir());
    assert!(defaults.cache_dir.is_none_or(|d| d.ends_with("notes")));
    assert_eq!(defaults.max_age, Duration::from_secs(30 * 86_400));
    assert_eq!(defaults.limits.max_redirects, 5);

    // A per-library base wins over the global one.
    let mut config = NotesConfig::with_base("http://127.0.0.1:1", None);
    config.base_overrides.insert("torch".to_string(), "https://mirror.example/gh/".to_string());
    let notes = ReleaseNotes::new(config);
    assert_eq!(
        notes.page_url("torch", &v("2.4")).unwrap().0,
        "https://mirror.example/gh/repos/pytorch/pytorch/releases/tags/v2.4.0"
    );
    assert_eq!(
        notes.page_url("scikit-learn", &v("1.2.1")).unwrap().0,
        "http://127.0.0.1:1/scikit-learn/scikit-learn/main/doc/whats_new/v1.2.rst"
    );
    assert!(matches!(notes.page_url("leftpad", &v("1")), Err(NotesError::UnknownLibrary(_))));
}

#[test]
fn release_notes_can_be_shared_between_threads() {
    fn assert_shareable<T: Send + Sync>() {}
    assert_shareable::<ReleaseNotes>();
    let _: &dyn NotesProvider = &ReleaseNotes::new(NotesConfig::with_base("http://127.0.0.1:1", None));
}
