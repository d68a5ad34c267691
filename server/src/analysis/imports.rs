//! Which top-level modules a file imports, read lexically (fast enough to
//! run over a whole project before deciding what to harvest).

use std::collections::BTreeSet;

/// Top-level module names of `import a.b as c, d` and `from a.b import x`
/// statements (relative imports name no top-level module).
pub fn imported_modules(source: &str) -> BTreeSet<&str> {
    let mut modules = BTreeSet::new();
    for line in source.lines() {
        let line = line.trim_start();
        if let Some(rest) = line.strip_prefix("import ") {
            for part in rest.split(',') {
                modules.extend(top_level(part));
            }
        } else if let Some(rest) = line.strip_prefix("from ") {
            if let Some((module, _)) = rest.split_once(" import") {
                modules.extend(top_level(module));
            }
        }
    }
    modules
}

fn top_level(dotted: &str) -> Option<&str> {
    let dotted = dotted.trim_start_matches([' ', '\t', '(']);
    let end = dotted.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(dotted.len());
    let name = &dotted[..end];
    (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_import_statements() {
        let source = "import numpy as np, os.path\nfrom pandas.core import frame\nfrom . import sibling\n\
                      if x:\n    import torch.nn as nn\nfrom\tnowhere\n# import commented\nimportant = 1\n";
        let found: Vec<&str> = imported_modules(source).into_iter().collect();
        assert_eq!(found, ["numpy", "os", "pandas", "torch"]);
    }
}
