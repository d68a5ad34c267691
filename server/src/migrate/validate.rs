//! Every candidate edit is checked before it is offered: the edited file
//! parses, the flagged API is gone from the edited range, no new finding
//! appears, every edit stays inside the range it was allowed to change, and
//! a rewritten range still reads the names it must keep reading.

use std::collections::BTreeMap;
use std::ops::Range;

use tree_sitter::Parser;

use super::edit::{overlaps, Edit, EditSet};
use super::syntax::{self, Names};
use crate::analysis::{Analyzer, Finding, LineIndex};
use crate::env::Versions;

/// The text a candidate applies to, with what is already known about it.
pub struct Baseline<'a> {
    pub source: &'a str,
    pub findings: &'a [Finding],
    /// ERROR and MISSING nodes of the unedited text.
    pub syntax_errors: usize,
}

/// A finding a candidate must make disappear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub entry: usize,
    pub range: Range<usize>,
    pub symbol: String,
}

impl Target {
    pub fn of(finding: &Finding) -> Target {
        Target { entry: finding.entry, range: finding.start_byte..finding.end_byte, symbol: finding.symbol.clone() }
    }
}

/// Edits proposed together, what they must fix, and where they may write.
#[derive(Debug, Clone, Default)]
pub struct Candidate {
    pub edits: Vec<Edit>,
    pub targets: Vec<Target>,
    /// Ranges of the original text the edits may change (an insertion may
    /// sit on either end of one).
    pub allowed: Vec<Range<usize>>,
    /// What rewritten ranges must go on reading. A model's rewrite carries
    /// these; a deterministic one needs none, as it changes only the
    /// flagged name.
    pub kept_reads: Vec<KeptReads>,
}

/// Names a range of the original text reads, each at least as often as the
/// rewrite of that range must read it.
#[derive(Debug, Clone, Default)]
pub struct KeptReads {
    pub range: Range<usize>,
    pub reads: BTreeMap<String, usize>,
}

/// A candidate that passed: the edited text and its findings.
#[derive(Debug, Clone)]
pub struct Validated {
    pub text: String,
    pub edits: EditSet,
    pub findings: Vec<Finding>,
}

fn line(source: &str, offset: usize) -> usize {
    LineIndex::new(source).position(source, offset).line + 1
}

fn inside(edit: &Range<usize>, allowed: &Range<usize>) -> bool {
    allowed.start <= edit.start && edit.end <= allowed.end
}

/// Applies and checks a candidate; the reason it fails otherwise.
pub fn validate(
    analyzer: &Analyzer,
    parser: &mut Parser,
    versions: &Versions,
    baseline: &Baseline,
    candidate: &Candidate,
) -> Result<Validated, String> {
    let source = baseline.source;
    if candidate.edits.is_empty() {
        return Err("the candidate changes nothing".into());
    }
    for edit in &candidate.edits {
        let valid = edit.range.start <= edit.range.end
            && edit.range.end <= source.len()
            && source.is_char_boundary(edit.range.start)
            && source.is_char_boundary(edit.range.end);
        if !valid {
            return Err(format!("an edit has an invalid range (bytes {}..{})", edit.range.start, edit.range.end));
        }
        if !candidate.allowed.iter().any(|allowed| inside(&edit.range, allowed)) {
            return Err(format!(
                "an edit falls outside the range it may change (line {}, bytes {}..{})",
                line(source, edit.range.start),
                edit.range.start,
                edit.range.end
            ));
        }
    }
    let edits = EditSet::new(candidate.edits.iter().cloned())?;
    let text = edits.apply(source);

    let Some(tree) = syntax::parse(parser, &text) else {
        return Err("the edited file could not be parsed".into());
    };
    let (errors, first) = syntax::syntax_errors(&tree);
    if errors > baseline.syntax_errors {
        return Err(format!("the edited file does not parse (line {})", first.unwrap_or(1)));
    }
    for kept in &candidate.kept_reads {
        let rewritten = edits.map_range(&kept.range);
        let names = Names::read_within(tree.root_node(), &text, &rewritten);
        for (name, &before) in &kept.reads {
            let after = names.reads(name);
            if after < before {
                return Err(format!(
                    "the rewrite drops `{name}`, a value the flagged call is given (read {before} {} before, {after} after; line {})",
                    if before == 1 { "time" } else { "times" },
                    line(&text, rewritten.start)
                ));
            }
        }
    }

    let findings = analyzer.analyze(parser, &text, versions);
    let new_ranges = edits.new_ranges();
    for target in &candidate.targets {
        let mapped = edits.map_range(&target.range);
        if let Some(still) = findings.iter().find(|f| f.entry == target.entry && ranges_meet(&(f.start_byte..f.end_byte), &mapped)) {
            return Err(format!("`{}` is still used in the edited code (line {})", target.symbol, line(&text, still.start_byte)));
        }
    }
    for finding in &findings {
        let range = finding.start_byte..finding.end_byte;
        match edits.unmap_range(&range) {
            // Untouched text: the finding must have been there before.
            Some(old) => {
                let known = baseline.findings.iter().any(|f| f.entry == finding.entry && f.start_byte == old.start && f.end_byte == old.end);
                if !known {
                    return Err(format!("a new finding appears: `{}` (line {})", finding.symbol, line(&text, finding.start_byte)));
                }
            }
            // Edited text: only findings the edited range already had may remain.
            None => {
                let edited: Vec<&Range<usize>> = edits
                    .edits()
                    .iter()
                    .zip(new_ranges)
                    .filter(|(_, new)| ranges_meet(&range, new))
                    .map(|(edit, _)| &edit.range)
                    .collect();
                let known = baseline.findings.iter().any(|f| {
                    let old = f.start_byte..f.end_byte;
                    f.entry == finding.entry
                        && !candidate.targets.iter().any(|t| t.entry == f.entry && t.range == old)
                        && edited.iter().any(|e| ranges_meet(&old, e))
                });
                if !known {
                    return Err(format!(
                        "the edit brings in `{}` (line {})",
                        finding.symbol,
                        line(&text, finding.start_byte)
                    ));
                }
            }
        }
    }
    Ok(Validated { text, edits, findings })
}

/// Whether two ranges share a byte, or one is empty and sits inside (or on
/// an end of) the other.
fn ranges_meet(a: &Range<usize>, b: &Range<usize>) -> bool {
    if a.is_empty() || b.is_empty() {
        let (point, span) = if a.is_empty() { (a.start, b) } else { (b.start, a) };
        return span.start <= point && point <= span.end;
    }
    overlaps(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::new_parser;
    use crate::migrate::tests::{catalog, versions};

    fn run(source: &str, candidate: impl FnOnce(&[Finding]) -> Candidate) -> Result<String, String> {
        let catalog = catalog();
        let analyzer = Analyzer::new(&catalog);
        let mut parser = new_parser();
        let versions = versions();
        let findings = analyzer.analyze(&mut parser, source, &versions);
        let tree = syntax::parse(&mut parser, source).unwrap();
        let baseline = Baseline { source, findings: &findings, syntax_errors: syntax::syntax_errors(&tree).0 };
        let candidate = candidate(&findings);
        validate(&analyzer, &mut parser, &versions, &baseline, &candidate).map(|v| v.text)
    }

    fn replace(source: &str, finding: &Finding, text: &str) -> Candidate {
        let range = finding.start_byte..finding.end_byte;
        let _ = source;
        Candidate { edits: vec![Edit::new(range.clone(), text)], targets: vec![Target::of(finding)], allowed: vec![range], kept_reads: vec![] }
    }

    const SOURCE: &str = "import numpy as np\nx = np.float_(1)\ny = np.float_\n";

    #[test]
    fn a_good_edit_passes() {
        let out = run(SOURCE, |f| replace(SOURCE, &f[0], "np.float64")).unwrap();
        assert_eq!(out, "import numpy as np\nx = np.float64(1)\ny = np.float_\n");
    }

    #[test]
    fn broken_syntax_fails() {
        let err = run(SOURCE, |f| replace(SOURCE, &f[0], "np.float64(")).unwrap_err();
        assert!(err.contains("does not parse (line 2)"), "{err}");
    }

    #[test]
    fn api_still_present_fails() {
        let err = run(SOURCE, |f| replace(SOURCE, &f[0], "(np.float_)")).unwrap_err();
        assert!(err.contains("`numpy.float_` is still used"), "{err}");
    }

    #[test]
    fn new_finding_in_the_edit_fails() {
        let err = run(SOURCE, |f| replace(SOURCE, &f[0], "np.trapz")).unwrap_err();
        assert!(err.contains("brings in `numpy.trapz`"), "{err}");
    }

    #[test]
    fn new_finding_elsewhere_fails() {
        // Rebinding `np` to NumPy makes the later use of `np.float_` a new finding.
        let source = "import numpy as np\nnp = None\nx = np.float_\n";
        let err = run(source, |_| {
            let at = source.find("np = None").unwrap();
            let statement = at..at + 9;
            Candidate { edits: vec![Edit::new(statement.clone(), "pass")], targets: vec![], allowed: vec![statement], kept_reads: vec![] }
        })
        .unwrap_err();
        assert!(err.contains("a new finding appears: `numpy.float_` (line 3)"), "{err}");
    }

    /// `source`'s statement holding `np.in1d` rewritten to `text`, keeping
    /// what the call reads.
    fn rewrite_in1d(source: &str, text: &str) -> Result<String, String> {
        run(source, |findings| {
            let finding = findings.iter().find(|f| f.symbol == "numpy.in1d").expect("an in1d finding");
            let start = source[..finding.start_byte].rfind('\n').map_or(0, |at| at + 1);
            let end = start + source[start..].find('\n').unwrap();
            let statement = start..end;
            let reads = [("a".to_string(), 1), ("b".to_string(), 2)].into_iter().collect();
            Candidate {
                edits: vec![Edit::new(statement.clone(), text)],
                targets: vec![Target::of(finding)],
                allowed: vec![statement.clone()],
                kept_reads: vec![KeptReads { range: statement, reads }],
            }
        })
    }

    const IN1D: &str = "import numpy as np\nm = np.in1d(a, b) | b\n";

    #[test]
    fn a_rewrite_that_keeps_every_read_passes() {
        let out = rewrite_in1d(IN1D, "m = np.isin(a, b).ravel() | b").unwrap();
        assert_eq!(out, "import numpy as np\nm = np.isin(a, b).ravel() | b\n");
        // Reading a name more often, or through another spelling of the module, is fine.
        assert!(rewrite_in1d(IN1D, "import numpy\nm = numpy.isin(a, b).ravel() | b | b").is_ok());
    }

    #[test]
    fn a_rewrite_that_drops_a_read_fails() {
        let err = rewrite_in1d(IN1D, "m = np.ravel(a) | b").unwrap_err();
        assert_eq!(err, "the rewrite drops `b`, a value the flagged call is given (read 2 times before, 1 after; line 2)");
        // A keyword name or an attribute of the same spelling is no read.
        let err = rewrite_in1d(IN1D, "m = np.isin(a, b=None).b | b").unwrap_err();
        assert!(err.starts_with("the rewrite drops `b`"), "{err}");
        let err = rewrite_in1d(IN1D, "m = np.isin(b, b) | b").unwrap_err();
        assert!(err.starts_with("the rewrite drops `a`, a value the flagged call is given (read 1 time before, 0 after"), "{err}");
    }

    #[test]
    fn edit_outside_the_allowed_range_fails() {
        let err = run(SOURCE, |f| {
            let mut c = replace(SOURCE, &f[0], "np.float64");
            c.edits.push(Edit::insert(0, "# hello\n"));
            c
        })
        .unwrap_err();
        assert!(err.contains("outside the range it may change (line 1"), "{err}");
    }

    #[test]
    fn overlapping_edits_fail() {
        let err = run(SOURCE, |f| {
            let mut c = replace(SOURCE, &f[0], "np.float64");
            c.edits.push(Edit::new(f[0].start_byte + 1..f[0].end_byte, "x"));
            c
        })
        .unwrap_err();
        assert!(err.contains("edits overlap"), "{err}");
    }
}
