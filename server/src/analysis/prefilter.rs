//! A lexical test that a file *cannot* contain a finding, so it is not
//! parsed. It must never reject a file that analysis would report on.
//!
//! Every finding ends at a reference whose last name is the last segment of
//! a cataloged path (or of an alias): either an attribute (`x.leaf`, maybe
//! with white space or a line break after the dot), a name imported on an
//! `import` line (`from m import leaf as f`), or a name provided by a star
//! import. And the file must mention one of the cataloged modules to import
//! anything at all.

use aho_corasick::{AhoCorasick, MatchKind};

use crate::knowledge::Catalog;

pub struct Prefilter {
    modules: AhoCorasick,
    leaves: AhoCorasick,
}

impl Prefilter {
    pub fn new(catalog: &Catalog) -> Option<Prefilter> {
        let modules: Vec<&str> = catalog.modules().collect();
        let mut leaves: Vec<&str> = catalog
            .entries()
            .iter()
            .map(|e| &e.symbol.path)
            .chain(catalog.alias_sources())
            .map(|path| path.rsplit('.').next().unwrap_or(path))
            .collect();
        leaves.sort_unstable();
        leaves.dedup();
        if modules.is_empty() || leaves.is_empty() {
            return None;
        }
        let build = |patterns: &[&str]| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(patterns)
                .expect("catalog names are plain literals")
        };
        Some(Prefilter { modules: build(&modules), leaves: build(&leaves) })
    }

    pub fn may_match(&self, source: &str) -> bool {
        !self.candidates(source).is_empty()
    }

    /// Offsets of the names where a finding could end; empty when the file
    /// cannot contain one.
    pub fn candidates(&self, source: &str) -> Vec<usize> {
        let mut candidates = Vec::new();
        if !self.modules.is_match(source) {
            return candidates;
        }
        let bytes = source.as_bytes();
        let mut import_anywhere: Option<bool> = None;
        for found in self.leaves.find_iter(source) {
            let (start, end) = (found.start(), found.end());
            let whole_word = (start == 0 || !is_ident(bytes[start - 1])) && (end == bytes.len() || !is_ident(bytes[end]));
            if !whole_word {
                continue;
            }
            if after_dot(&bytes[..start]) || on_import_line(bytes, start) {
                candidates.push(start);
                continue;
            }
            // Names imported by a star import or inside a parenthesised
            // multi-line import are not on an `import` line: accept when the
            // file has either at all.
            let multi = *import_anywhere.get_or_insert_with(|| {
                memchr::memmem::find(bytes, b"import *").is_some()
                    || memchr::memmem::find(bytes, b"import (").is_some()
                    || memchr::memmem::find(bytes, b"import(").is_some()
                    || memchr::memmem::find(bytes, b"import \\").is_some()
            });
            if multi {
                candidates.push(start);
            }
        }
        candidates
    }
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// Whether the text before a name ends with a dot, white space, line breaks
/// and continuation backslashes aside.
fn after_dot(before: &[u8]) -> bool {
    before
        .iter()
        .rev()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\\'))
        .is_some_and(|&b| b == b'.')
}

fn on_import_line(bytes: &[u8], at: usize) -> bool {
    let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
    memchr::memmem::find(&bytes[start..end], b"import").is_some()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn prefilter() -> Prefilter {
        let mut catalog = Catalog::default();
        let text = "[library]\nname = \"numpy\"\nmodules = [\"numpy\"]\n[aliases]\n\"numpy.oldcore\" = \"numpy.core\"\n\
                    [[entry]]\nsymbol = \"numpy.float_\"\nkind = \"removed\"\nremoved_in = \"2\"\nnote = \"n\"\nlink = \"l\"\n\
                    [[entry]]\nsymbol = \"numpy.random.rand\"\nkind = \"removed\"\nremoved_in = \"2\"\nnote = \"n\"\nlink = \"l\"\n";
        catalog.add_file(PathBuf::from("t.toml"), text).unwrap();
        Prefilter::new(&catalog).unwrap()
    }

    #[test]
    fn accepts_every_way_a_finding_can_be_written() {
        let p = prefilter();
        for source in [
            "import numpy as np\nnp.float_",
            "import numpy as np\nx = (np\n   .float_)",
            "import numpy as np\nx = np. \\\n  float_",
            "from numpy import float_ as f",
            "from numpy import (\n    float_,\n)",
            "from numpy import *\nfloat_(1)",
            "import numpy.random as r\nr.rand(3)",
            "import numpy.oldcore as c",
        ] {
            assert!(p.may_match(source), "{source}");
        }
    }

    #[test]
    fn rejects_files_that_cannot_match() {
        let p = prefilter();
        for source in [
            "import os\nos.float_",
            "import numpy as np\nnp.float64(1)",
            "import numpy as np\nfloat_ = 3\nprint(float_)",
            "import numpy as np\nnp.random.randn(3)",
            "import numpy as np\nx = np.float_x",
        ] {
            assert!(!p.may_match(source), "{source}");
        }
    }
}
