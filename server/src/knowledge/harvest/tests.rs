use std::time::Instant;

use super::*;

/// Against a real environment: `RECODE_TEST_SITE_PACKAGES` names a
/// site-packages with numpy, pandas (and scikit-learn); skipped otherwise.
#[test]
fn real_numpy_and_pandas_install() {
    let Some(site) = std::env::var_os("RECODE_TEST_SITE_PACKAGES") else {
        eprintln!("note: RECODE_TEST_SITE_PACKAGES is not set; skipping the real-install harvest test");
        return;
    };
    let options = HarvestOptions { site_packages: PathBuf::from(site), only: None, cache_dir: None };
    let start = Instant::now();
    let h = harvest(&options).expect("harvest");
    let elapsed = start.elapsed();
    eprintln!("harvested {} entries from {} files in {:.2?} ({} problems, {} skipped)", h.entries.len(), h.files_scanned, elapsed, h.problems.len(), h.skipped);
    for (lib, n) in h.counts() {
        eprintln!("  {lib}: {n}");
    }
    for p in &h.problems {
        eprintln!("  problem: {p}");
    }
    if let Some(dump) = std::env::var_os("RECODE_HARVEST_DUMP") {
        let mut out = String::new();
        for e in &h.entries {
            out.push_str(&format!(
                "{}\t{}\t{}\tdep={:?}\trem={:?}\trepl={:?}\t{}\t{}\n",
                e.library, e.symbol, e.kind,
                e.deprecated_in.as_ref().map(|v| v.to_string()),
                e.removed_in.as_ref().map(|v| v.to_string()),
                e.replacement, e.origin, e.note
            ));
        }
        std::fs::write(dump, out).unwrap();
    }
}
