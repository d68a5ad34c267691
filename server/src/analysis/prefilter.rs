//! A lexical test that a file *cannot* contain a finding, so it is not
//! parsed, and the offsets of the names where one could end.
//! It must never reject a file or a name that analysis would report on.
//!
//! Every finding ends at a reference whose last name is the last segment of
//! a cataloged path (or of an alias): either an attribute (`x.leaf`, maybe
//! with white space or a line break after the dot), a name in an import
//! statement (`from m import leaf as f`, also inside parentheses or after
//! a continuation), or a name provided by a star import. And the file must
//! mention a top-level module of the library whose catalog has that name,
//! or it could not import anything that resolves to it.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::knowledge::Catalog;

pub struct Prefilter {
    modules: AhoCorasick,
    /// Library index of each module pattern.
    module_library: Vec<usize>,
    leaves: AhoCorasick,
    /// Library indices whose catalog has each leaf pattern.
    leaf_libraries: Vec<Vec<usize>>,
    library_count: usize,
}

impl Prefilter {
    pub fn new(catalog: &Catalog) -> Option<Prefilter> {
        fn index_of<'c>(indices: &mut HashMap<&'c str, usize>, library: &'c str) -> usize {
            let next = indices.len();
            *indices.entry(library).or_insert(next)
        }
        let mut library_index: HashMap<&str, usize> = HashMap::new();
        let mut modules: Vec<&str> = catalog.modules().collect();
        modules.sort_unstable();
        let module_library: Vec<usize> = modules
            .iter()
            .map(|m| index_of(&mut library_index, catalog.library_of_module(m).expect("a listed module has a library")))
            .collect();
        let mut leaves: HashMap<&str, Vec<usize>> = HashMap::new();
        let paths = catalog
            .entries()
            .iter()
            .map(|e| e.symbol.path.as_str())
            .chain(catalog.alias_sources().map(String::as_str));
        for path in paths {
            let top = path.split('.').next().unwrap_or(path);
            let Some(library) = catalog.library_of_module(top) else { continue };
            let library = index_of(&mut library_index, library);
            let leaf = path.rsplit('.').next().unwrap_or(path);
            let libraries = leaves.entry(leaf).or_default();
            if !libraries.contains(&library) {
                libraries.push(library);
            }
        }
        if modules.is_empty() || leaves.is_empty() {
            return None;
        }
        let mut leaves: Vec<(&str, Vec<usize>)> = leaves.into_iter().collect();
        leaves.sort_unstable();
        let build = |patterns: &[&str]| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(patterns)
                .expect("catalog names are plain literals")
        };
        let leaf_names: Vec<&str> = leaves.iter().map(|(leaf, _)| *leaf).collect();
        Some(Prefilter {
            modules: build(&modules),
            module_library,
            leaves: build(&leaf_names),
            leaf_libraries: leaves.into_iter().map(|(_, libraries)| libraries).collect(),
            library_count: library_index.len(),
        })
    }

    pub fn may_match(&self, source: &str) -> bool {
        !self.candidates(source).is_empty()
    }

    /// Offsets of the names where a finding could end; empty when the file
    /// cannot contain one.
    pub fn candidates(&self, source: &str) -> Vec<usize> {
        let mut candidates = Vec::new();
        let mut mentioned = vec![false; self.library_count];
        for found in self.modules.find_iter(source) {
            mentioned[self.module_library[found.pattern().as_usize()]] = true;
        }
        if !mentioned.contains(&true) {
            return candidates;
        }
        let bytes = source.as_bytes();
        let star_import = memchr::memmem::find(bytes, b"import *").is_some();
        let mut import_spans: Option<Vec<(usize, usize)>> = None;
        for found in self.leaves.find_iter(source) {
            let (start, end) = (found.start(), found.end());
            let whole_word = (start == 0 || !is_ident(bytes[start - 1])) && (end == bytes.len() || !is_ident(bytes[end]));
            if !whole_word || !self.leaf_libraries[found.pattern().as_usize()].iter().any(|&l| mentioned[l]) {
                continue;
            }
            let spans = import_spans.get_or_insert_with(|| import_statement_spans(bytes));
            if star_import || after_dot(&bytes[..start]) || spans.iter().any(|&(s, e)| (s..e).contains(&start)) {
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

/// Byte spans that may belong to import statements: every line holding the
/// word `import`, extended over a parenthesised name list or continuation
/// lines that follow it.
fn import_statement_spans(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    for at in memchr::memmem::find_iter(bytes, b"import") {
        let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
        let mut end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i);
        let line = &bytes[at..end];
        if memchr::memchr(b'(', line).is_some() && memchr::memchr(b')', line).is_none() {
            end = memchr::memchr(b')', &bytes[at..]).map_or(bytes.len(), |i| at + i);
        }
        while end > 0 && end < bytes.len() && bytes[end - 1 - usize::from(bytes[end - 1] == b'\r')] == b'\\' {
            end = memchr::memchr(b'\n', &bytes[end + 1..]).map_or(bytes.len(), |i| end + 1 + i);
        }
        spans.push((start, end));
    }
    spans
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
            "from numpy import \\\n    float_",
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
            "import numpy as np\nfrom os import (\n  path,\n)\nfloat_ = 1\nprint(float_)",
            "import pandas as pd\nx.float_",
        ] {
            assert!(!p.may_match(source), "{source}");
        }
    }
}
