use std::path::PathBuf;
use std::str::FromStr;

use pep440_rs::Version;

use super::*;
use crate::env::{ResolvedVersion, VersionSource, Versions};

const CATALOG: &str = r#"
[library]
name = "numpy"
modules = ["numpy"]

[aliases]
"numpy.core.numeric" = "numpy"

[[entry]]
symbol = "numpy.float_"
kind = "removed"
deprecated_in = "1.99"
removed_in = "2.0"
replacement = "numpy.float64"
note = "n"
link = "l"

[[entry]]
symbol = "numpy.trapz"
kind = "deprecated"
deprecated_in = "2.0"
replacement = "numpy.trapezoid"
replacement_since = "2.0"
note = "n"
link = "l"

[[entry]]
symbol = "numpy.linalg.matrix_power_old"
kind = "removed"
removed_in = "1.5"
note = "n"
link = "l"

[[entry]]
symbol = "numpy.histogram(normed=)"
kind = "keyword-removed"
deprecated_in = "1.6"
removed_in = "1.24"
note = "n"
link = "l"

[[entry]]
symbol = "numpy.random.seed"
kind = "deprecated"
deprecated_in = "1.17"
severity = "info"
note = "n"
link = "l"
"#;

const PANDAS: &str = r#"
[library]
name = "pandas"
modules = ["pandas"]

[[types]]
name = "pandas.DataFrame"
made_by = ["pandas.read_csv"]

[[entry]]
symbol = "pandas.DataFrame.append"
kind = "removed"
deprecated_in = "1.4"
removed_in = "2.0"
note = "n"
link = "l"

[[entry]]
symbol = "pandas.DataFrame.to_csv(line_terminator=)"
kind = "keyword-renamed"
deprecated_in = "1.5"
removed_in = "2.0"
replacement = "lineterminator"
note = "n"
link = "l"
"#;

const OTHERS: &str = r#"
[library]
name = "matplotlib"
modules = ["matplotlib"]

[aliases]
"matplotlib.pyplot.style" = "matplotlib.style"

[[types]]
name = "matplotlib.axes.Axes"
made_by = ["matplotlib.pyplot.subplots[1]"]

[[entry]]
symbol = "matplotlib.style.use"
kind = "renamed"
argument = "seaborn"
replacement = "seaborn-v0_8"
deprecated_in = "3.6"
removed_in = "3.8"
note = "n"
link = "l"

[[entry]]
symbol = "matplotlib.axes.Axes.hist(normed=)"
kind = "keyword-removed"
deprecated_in = "2.1"
removed_in = "3.1"
note = "n"
link = "l"
"#;

const TORCH: &str = r#"
[library]
name = "torch"
modules = ["torch"]

[[entry]]
symbol = "torch.load"
kind = "behaviour-changed"
unless_keyword = "weights_only"
deprecated_in = "2.4"
removed_in = "2.6"
note = "n"
link = "l"
"#;

fn catalog() -> Catalog {
    let mut catalog = Catalog::default();
    for (name, text) in [("numpy.toml", CATALOG), ("pandas.toml", PANDAS), ("mpl.toml", OTHERS), ("torch.toml", TORCH)] {
        catalog.add_file(PathBuf::from(name), text).unwrap();
    }
    catalog
}

fn versions(pairs: &[(&str, &str)]) -> Versions {
    let mut versions = Versions::default();
    for (lib, v) in pairs {
        versions.insert(lib, ResolvedVersion { version: Version::from_str(v).unwrap(), source: VersionSource::Pin });
    }
    versions
}

const NEW: &[(&str, &str)] = &[("numpy", "2.1.0"), ("pandas", "2.2.0"), ("matplotlib", "3.9.0"), ("torch", "2.6.0")];

/// (flagged text, symbol, severity) of every finding.
fn check_with(source: &str, pairs: &[(&str, &str)]) -> Vec<(String, String, Severity)> {
    let catalog = catalog();
    let analyzer = Analyzer::new(&catalog);
    analyzer
        .analyze(&mut new_parser(), source, &versions(pairs))
        .into_iter()
        .map(|f| (source[f.start_byte..f.end_byte].to_string(), f.symbol, f.severity))
        .collect()
}

fn flagged(source: &str) -> Vec<String> {
    check_with(source, NEW).into_iter().map(|(text, _, _)| text).collect()
}

#[test]
fn aliased_module_import() {
    assert_eq!(flagged("import numpy as np\nx = np.float_(1)\n"), ["np.float_"]);
}

#[test]
fn plain_and_submodule_imports() {
    assert_eq!(flagged("import numpy\nnumpy.float_\n"), ["numpy.float_"]);
    assert_eq!(flagged("import numpy.linalg as la\nla.matrix_power_old(a)\n"), ["la.matrix_power_old"]);
    assert_eq!(flagged("import numpy.linalg\nnumpy.linalg.matrix_power_old(a)\n"), ["numpy.linalg.matrix_power_old"]);
}

#[test]
fn from_import_with_alias_flags_import_and_uses() {
    assert_eq!(flagged("from numpy import float_ as f\ny = f(2)\n"), ["float_", "f"]);
}

#[test]
fn from_import_of_class_and_evident_instance_types() {
    let source = "from pandas import DataFrame\nimport pandas as pd\n\
                  df = DataFrame()\ndf.append(x)\n\
                  other = pd.read_csv('a.csv')\nother.append(y)\n\
                  pd.DataFrame({}).append(z)\n\
                  rows = []\nrows.append(1)\n";
    assert_eq!(flagged(source), ["df.append", "other.append", "pd.DataFrame({}).append"]);
}

#[test]
fn annotated_parameters_and_tuple_returns_are_evident() {
    let source = "import pandas as pd\nimport matplotlib.pyplot as plt\n\
                  def f(frame: pd.DataFrame):\n    return frame.append(1)\n\
                  fig, ax = plt.subplots()\nax.hist(data, normed=True)\n";
    assert_eq!(flagged(source), ["frame.append", "normed"]);
}

#[test]
fn rebinding_follows_and_shadowing_hides() {
    assert_eq!(flagged("import numpy as np\nnumeric = np\nnumeric.float_\n"), ["numeric.float_"]);
    assert!(flagged("import numpy as np\nnp = object()\nnp.float_\n").is_empty());
    assert!(flagged("import numpy as np\ndef f(np):\n    return np.float_\n").is_empty());
    assert!(flagged("import numpy as np\nclass C:\n    np = 1\n    x = np.float_\n").is_empty());
    assert!(flagged("import numpy as np\nnp.float_ = 3\nimport os as np\nnp.float_\n").len() == 1);
}

#[test]
fn functions_see_the_final_module_bindings() {
    let source = "def f():\n    return np.float_\nimport numpy as np\n";
    assert_eq!(flagged(source), ["np.float_"]);
}

#[test]
fn optional_import_fallback_keeps_the_module() {
    let source = "try:\n    import numpy as np\nexcept ImportError:\n    np = None\nnp.float_\n";
    assert_eq!(flagged(source), ["np.float_"]);
}

#[test]
fn removed_keyword_is_flagged_on_the_keyword() {
    let source = "import numpy as np\nnp.histogram(a, bins=3, normed=True)\n";
    let findings = check_with(source, NEW);
    assert_eq!(findings, [("normed".to_string(), "numpy.histogram(normed=)".to_string(), Severity::Error)]);
    let source = "import pandas as pd\ndf = pd.read_csv(p)\ndf.to_csv(q, line_terminator='\\n')\n";
    assert_eq!(flagged(source), ["line_terminator"]);
}

#[test]
fn call_shape_entries() {
    assert_eq!(flagged("import torch\nm = torch.load('m.pt')\n"), ["torch.load('m.pt')"]);
    assert!(flagged("import torch\ntorch.load('m.pt', weights_only=True)\n").is_empty());
    assert!(flagged("import torch\ntorch.load('m.pt', **options)\n").is_empty());
    assert_eq!(
        flagged("import matplotlib.pyplot as plt\nplt.style.use('seaborn')\nplt.style.use('ggplot')\n"),
        ["plt.style.use('seaborn')"]
    );
}

#[test]
fn severity_follows_the_resolved_version() {
    let source = "import numpy as np\nnp.float_\nnp.trapz\nnp.random.seed(0)\n";
    let at = |v: &str| -> Vec<(String, Severity)> {
        check_with(source, &[("numpy", v)]).into_iter().map(|(t, _, s)| (t, s)).collect()
    };
    let s = |t: &str, sev| (t.to_string(), sev);
    assert_eq!(at("2.1"), [s("np.float_", Severity::Error), s("np.trapz", Severity::Warning), s("np.random.seed", Severity::Info)]);
    assert_eq!(at("1.99.1"), [s("np.float_", Severity::Warning), s("np.random.seed", Severity::Info)]);
    // Below every deprecated_in: nothing.
    assert!(at("1.16").is_empty());
    // Unknown version: informational, saying why.
    let catalog = catalog();
    let findings = Analyzer::new(&catalog).analyze(&mut new_parser(), source, &Versions::default());
    assert_eq!(findings.len(), 3);
    assert!(findings.iter().all(|f| f.severity == Severity::Info));
    assert!(findings[0].message.contains("version is unknown"), "{}", findings[0].message);
}

#[test]
fn replacement_only_when_it_exists_at_the_installed_version() {
    let catalog = catalog();
    let analyzer = Analyzer::new(&catalog);
    let source = "import numpy as np\nnp.trapz\n";
    let at = |v: &str| analyzer.analyze(&mut new_parser(), source, &versions(&[("numpy", v)]));
    assert_eq!(at("2.0").pop().unwrap().replacement.as_deref(), Some("numpy.trapezoid"));
    let float = analyzer.analyze(&mut new_parser(), "import numpy as np\nnp.float_\n", &versions(&[("numpy", "2.0")]));
    assert_eq!(float[0].message, "`numpy.float_` was removed in numpy 2.0 (numpy 2.0 is used); use `numpy.float64` instead");
}

#[test]
fn guarded_uses_are_not_reported() {
    let cases = [
        "import numpy as np\ntry:\n    x = np.float_\nexcept AttributeError:\n    x = np.float64\n",
        "import numpy as np\ntry:\n    from numpy import trapezoid\nexcept (ImportError, NameError):\n    from numpy import trapz as trapezoid\n",
        "import numpy as np\nif hasattr(np, 'float_'):\n    x = np.float_\n",
        "import numpy as np\nf = np.trapezoid if hasattr(np, 'trapezoid') else np.trapz\n",
        "import numpy as np\nif np.__version__ < '2':\n    x = np.float_\n",
        "import numpy as np\nfrom contextlib import suppress\nwith suppress(AttributeError):\n    x = np.float_\n",
    ];
    for case in cases {
        assert!(flagged(case).is_empty(), "reported in guarded code:\n{case}");
    }
    // A handler for other errors is no guard.
    assert_eq!(flagged("import numpy as np\ntry:\n    np.float_\nexcept ValueError:\n    pass\n"), ["np.float_"]);
}

#[test]
fn star_imports_and_aliases() {
    assert_eq!(flagged("from numpy import *\nx = float_(1)\ny = float(1)\n"), ["float_"]);
    assert_eq!(flagged("import numpy.core.numeric as nx\nnx.float_\n"), ["nx.float_"]);
}

#[test]
fn untracked_code_is_not_parsed() {
    let catalog = catalog();
    let analyzer = Analyzer::new(&catalog);
    assert!(!analyzer.may_match("import os\nprint(os.sep)\n"));
    assert!(!analyzer.may_match("import numpy\nnumpy.float64(1)\n"));
    assert!(analyzer.may_match("import numpy\nnumpy.float_(1)\n"));
}

#[test]
fn broken_python_never_crashes() {
    let sources = [
        "import numpy as np\ndef f(:\n    np.float_(\n",
        "import numpy as np\nx = np.float_ +\nclass\n",
        "from numpy import (float_,\n",
        "import numpy as np\n\u{0}\u{feff}np.float_ \"\"\"\n",
        "import",
        "",
    ];
    for source in sources {
        check_with(source, NEW);
    }
    // Partial code still reports what it can.
    assert_eq!(flagged("import numpy as np\nx = np.float_ +\n"), ["np.float_"]);
    let deep = format!("import numpy as np\nx = {}np.float_{}\n", "(".repeat(20_000), ")".repeat(20_000));
    check_with(&deep, NEW);
    let nested: String = (0..2_000).map(|i| format!("{}if x:\n", "    ".repeat(i))).collect();
    check_with(&format!("import numpy as np\n{nested}"), NEW);
}

/// Parsing only the needed chunks must find exactly what parsing the whole
/// file finds: on the fixtures always, and on a real site-packages when
/// `RECODE_TEST_SITE_PACKAGES` names one (CI sets it).
#[test]
fn partial_parse_finds_what_whole_parse_finds() {
    let catalog = Catalog::bundled().unwrap();
    let analyzer = Analyzer::new(&catalog);
    let versions = versions(&[("numpy", "2.4"), ("pandas", "2.2"), ("matplotlib", "3.11"), ("scipy", "1.15"), ("scikit-learn", "1.6"), ("torch", "2.6")]);
    let mut roots = vec![PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"))];
    match std::env::var_os("RECODE_TEST_SITE_PACKAGES") {
        Some(site) => roots.push(PathBuf::from(site)),
        None => eprintln!("RECODE_TEST_SITE_PACKAGES unset: comparing on the fixtures only"),
    }
    let mut parser = new_parser();
    let (mut files, mut findings) = (0, 0);
    for root in roots {
        for entry in ignore::WalkBuilder::new(root).standard_filters(false).build().flatten() {
            if entry.path().extension().is_none_or(|e| e != "py") {
                continue;
            }
            let Ok(source) = std::fs::read_to_string(entry.path()) else { continue };
            let needed = analyzer.analyze_parsing(&mut parser, &source, &versions, Parse::Needed);
            let whole = analyzer.analyze_parsing(&mut parser, &source, &versions, Parse::Whole);
            assert_eq!(needed, whole, "{}", entry.path().display());
            files += 1;
            findings += whole.len();
        }
    }
    assert!(findings > 0, "the comparison saw no findings in {files} files");
}

/// Every bundled catalog entry fires on a use written from its own symbol
/// at the version that deprecated or removed it, and stays quiet just below.
#[test]
fn every_bundled_entry_fires_at_its_version_and_not_below() {
    let catalog = Catalog::bundled().unwrap();
    let analyzer = Analyzer::new(&catalog);
    let mut parser = new_parser();
    for (index, entry) in catalog.entries().iter().enumerate() {
        let path = &entry.symbol.path;
        let top = path.split('.').next().unwrap();
        // Methods are reached through an instance of the longest cataloged
        // type that prefixes the path.
        let type_prefix = path
            .match_indices('.')
            .map(|(dot, _)| &path[..dot])
            .rfind(|prefix| catalog.return_type(prefix) == Some(*prefix));
        let (setup, reference) = match type_prefix {
            Some(class) => (format!("obj = {class}()\n"), format!("obj{}", &path[class.len()..])),
            None => (String::new(), path.clone()),
        };
        let use_site = match (&entry.symbol.keyword, &entry.argument, &entry.unless_keyword) {
            (Some(keyword), _, _) => format!("{reference}(1, {keyword}=1)"),
            (None, Some(argument), _) => format!("{reference}({argument:?})"),
            (None, None, Some(_)) => format!("{reference}(1)"),
            (None, None, None) => reference,
        };
        let source = format!("import {top}\n{setup}{use_site}\n");
        let thresholds = [&entry.deprecated_in, &entry.removed_in];
        let highest = thresholds.iter().filter_map(|v| v.as_ref()).max().unwrap();
        let lowest = thresholds.iter().filter_map(|v| v.as_ref()).min().unwrap();
        let mut fires = |version: &str| {
            analyzer
                .analyze(&mut parser, &source, &versions(&[(entry.library.as_str(), version)]))
                .iter()
                .any(|f| f.entry == index)
        };
        assert!(fires(&highest.to_string()), "{} ({}) does not fire at {highest}:\n{source}", entry.symbol, entry.origin);
        let below = format!("{lowest}.dev0");
        assert!(!fires(&below), "{} ({}) fires at {below}, below its versions:\n{source}", entry.symbol, entry.origin);
    }
}
