//! Pure detection: Python source + catalog + resolved versions in, findings out.
//!
//! No I/O happens here. Broken or partial Python is analysed as far as the
//! tree-sitter parse allows and never panics.

mod chunks;
mod decode;
mod finding;
mod imports;
mod lines;
mod prefilter;
mod scope;
mod visit;

use std::sync::Arc;

use tree_sitter::Parser;

use crate::env::Versions;
use crate::knowledge::Catalog;

pub use decode::{decode_python_source, DecodeError};
pub use finding::{Finding, Severity};
pub use imports::imported_modules;
pub use lines::{ColumnUnit, LineIndex, Position};
pub use prefilter::Prefilter;

/// Detection bound to one catalog. Cheap to share between threads; each
/// thread brings its own `Parser` (see [`new_parser`]).
pub struct Analyzer<'c> {
    catalog: &'c Catalog,
    /// Rejects files that cannot contain a finding before they are parsed.
    prefilter: Option<Arc<Prefilter>>,
}

/// A tree-sitter parser set up for Python.
pub fn new_parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the bundled tree-sitter-python grammar matches the tree-sitter runtime");
    parser
}

impl<'c> Analyzer<'c> {
    pub fn new(catalog: &'c Catalog) -> Self {
        Analyzer { catalog, prefilter: Prefilter::new(catalog).map(Arc::new) }
    }

    /// An analyzer for `catalog` reusing the prefilter of an earlier one for
    /// the same catalog ([`Analyzer::prefilter`]): building it (automata
    /// over every catalog name) costs more than analysing a large file, so
    /// a caller that analyses one file at a time keeps it.
    pub fn with_prefilter(catalog: &'c Catalog, prefilter: Option<Arc<Prefilter>>) -> Self {
        Analyzer { catalog, prefilter }
    }

    pub fn prefilter(&self) -> Option<Arc<Prefilter>> {
        self.prefilter.clone()
    }

    pub fn catalog(&self) -> &'c Catalog {
        self.catalog
    }

    /// Whether `source` could contain a finding at all.
    pub fn may_match(&self, source: &str) -> bool {
        self.prefilter.as_ref().is_some_and(|p| p.may_match(source))
    }

    /// Every finding in `source`, in source order.
    pub fn analyze(&self, parser: &mut Parser, source: &str, versions: &Versions) -> Vec<Finding> {
        self.analyze_parsing(parser, source, versions, Parse::Needed)
    }

    fn analyze_parsing(&self, parser: &mut Parser, source: &str, versions: &Versions, parse: Parse) -> Vec<Finding> {
        let Some(prefilter) = &self.prefilter else { return Vec::new() };
        let candidates = prefilter.candidates(source);
        if candidates.is_empty() {
            return Vec::new();
        }
        let needed = match parse {
            Parse::Needed => chunks::ranges_to_parse(source, &candidates),
            Parse::Whole => None,
        };
        let ranges: Vec<tree_sitter::Range> =
            needed.map(|ranges| ranges.into_iter().map(|r| ts_range(source, r)).collect()).unwrap_or_default();
        // An empty list means the whole text.
        if parser.set_included_ranges(&ranges).is_err() {
            parser.set_included_ranges(&[]).expect("the whole text is a valid range");
        }
        let Some(tree) = parser.parse(source, None) else {
            return Vec::new();
        };
        let mut findings = visit::Visitor::new(self.catalog, versions, source).run(tree.root_node());
        findings.sort_by_key(|f| (f.start_byte, f.end_byte, f.rule));
        findings.dedup_by(|a, b| a.start_byte == b.start_byte && a.end_byte == b.end_byte && a.entry == b.entry);
        findings
    }
}

/// How much of a file to parse: what `chunks` says is needed, or all of it
/// (which must give the same findings; the tests compare the two).
#[derive(Clone, Copy)]
enum Parse {
    Needed,
    #[cfg_attr(not(test), allow(dead_code))]
    Whole,
}

fn ts_range(source: &str, bytes: std::ops::Range<usize>) -> tree_sitter::Range {
    let point = |offset: usize| {
        let before = &source.as_bytes()[..offset];
        let row = memchr::memchr_iter(b'\n', before).count();
        let column = offset - memchr::memrchr(b'\n', before).map_or(0, |nl| nl + 1);
        tree_sitter::Point { row, column }
    };
    tree_sitter::Range {
        start_byte: bytes.start,
        end_byte: bytes.end,
        start_point: point(bytes.start),
        end_point: point(bytes.end),
    }
}

#[cfg(test)]
mod tests;
