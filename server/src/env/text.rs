//! Small shared helpers: reading files into problems, TOML with spans, and
//! turning version constraints (PEP 440, Poetry, conda) into one version.

use std::fmt::Display;
use std::fs;
use std::path::Path;
use std::str::FromStr;

use pep440_rs::{Operator, Version, VersionSpecifier, VersionSpecifiers};
use toml::de::DeTable;

use super::Problem;

/// The 1-based line holding byte `offset` of `text`.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|b| **b == b'\n').count() + 1
}

/// The first non-empty line of an error message (some parser errors draw
/// carets on following lines, which do not fit a one-line problem).
pub(crate) fn one_line(message: impl Display) -> String {
    let text = message.to_string();
    text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("").trim_end_matches(':').to_string()
}

/// Reads a file that is known (or expected) to exist; failures become problems.
pub(crate) fn read_text(path: &Path, problems: &mut Vec<Problem>) -> Option<String> {
    match fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => Some(match text.strip_prefix('\u{feff}') {
                Some(without_bom) => without_bom.to_string(),
                None => text,
            }),
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let line = line_at(&String::from_utf8_lossy(&e.as_bytes()[..valid]), valid);
                problems.push(Problem::new(path, Some(line), "the file is not valid UTF-8"));
                None
            }
        },
        Err(e) => {
            problems.push(Problem::new(path, None, format!("cannot read the file: {e}")));
            None
        }
    }
}

/// Parses a TOML document keeping spans; a syntax error becomes a problem.
pub(crate) fn parse_toml<'i>(path: &Path, text: &'i str, problems: &mut Vec<Problem>) -> Option<DeTable<'i>> {
    match DeTable::parse(text) {
        Ok(table) => Some(table.into_inner()),
        Err(e) => {
            let line = e.span().map(|s| line_at(text, s.start));
            problems.push(Problem::new(path, line, format!("invalid TOML: {}", one_line(e.message()))));
            None
        }
    }
}

/// `table[key]` when it is a table.
pub(crate) fn get_table<'a, 'i>(table: &'a DeTable<'i>, key: &str) -> Option<&'a DeTable<'i>> {
    table.get(key).and_then(|v| v.get_ref().as_table())
}

/// A version read from a declaration: exact, or the lower bound of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeclaredVersion {
    pub version: Version,
    pub lower_bound: bool,
}

impl DeclaredVersion {
    fn exact(version: Version) -> Self {
        DeclaredVersion { version, lower_bound: false }
    }
    fn lower(version: Version) -> Self {
        DeclaredVersion { version, lower_bound: true }
    }
}

/// One term of a constraint, as far as resolution cares.
enum Term {
    Exact(Version),
    Lower(Version),
    /// Upper bounds, exclusions, `*`: no version to take.
    Other,
}

fn term_of_specifier(specifier: &VersionSpecifier) -> Term {
    let version = specifier.version().clone();
    match specifier.operator() {
        Operator::Equal | Operator::ExactEqual => Term::Exact(version),
        Operator::EqualStar | Operator::TildeEqual | Operator::GreaterThanEqual | Operator::GreaterThan => {
            Term::Lower(version)
        }
        Operator::NotEqual | Operator::NotEqualStar | Operator::LessThan | Operator::LessThanEqual => Term::Other,
    }
}

/// All terms must hold: an exact term wins, else the highest lower bound.
fn conjunction(terms: impl IntoIterator<Item = Term>) -> Option<DeclaredVersion> {
    let mut lower: Option<Version> = None;
    for term in terms {
        match term {
            Term::Exact(v) => return Some(DeclaredVersion::exact(v)),
            Term::Lower(v) => {
                if lower.as_ref().is_none_or(|l| v > *l) {
                    lower = Some(v);
                }
            }
            Term::Other => {}
        }
    }
    lower.map(DeclaredVersion::lower)
}

/// The version a PEP 440 specifier set stands for (`==X` exact; `>=X`, `>X`,
/// `~=X`, `==X.*` the lower bound X; upper bounds alone: nothing).
pub(crate) fn from_specifiers(specifiers: &VersionSpecifiers) -> Option<DeclaredVersion> {
    conjunction(specifiers.iter().map(term_of_specifier))
}

/// Parses a PEP 440 version, with an error that fits on one line.
pub(crate) fn parse_version(text: &str) -> Result<Version, String> {
    Version::from_str(text.trim()).map_err(|e| format!("`{}` is not a PEP 440 version: {}", text.trim(), one_line(e)))
}

/// The constraint dialects that are not plain PEP 440.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `^1.2`, `~1.2`, bare `1.2.3` (exact), `1.2.*`, `>=1.2,<2`, `>=1.2 <2`, `a || b`.
    Poetry,
    /// conda match-spec versions: `1.26` / `=1.26` (exact), `1.26.*`, `>=1.2,<2`, `a|b`.
    Conda,
}

/// Parses a Poetry or conda version constraint. `Ok(None)` when it gives no
/// version (no lower bound); `Err` when a term does not parse.
pub(crate) fn parse_constraint(expr: &str, dialect: Dialect) -> Result<Option<DeclaredVersion>, String> {
    let separator = match dialect {
        Dialect::Poetry => "||",
        Dialect::Conda => "|",
    };
    let mut alternatives = Vec::new();
    for alternative in expr.split(separator).map(str::trim).filter(|a| !a.is_empty()) {
        let mut terms = Vec::new();
        for token in tokens(alternative) {
            terms.push(parse_term(&token)?);
        }
        match conjunction(terms) {
            Some(v) => alternatives.push(v),
            // One alternative without a lower bound: the whole has none.
            None => return Ok(None),
        }
    }
    if alternatives.len() <= 1 {
        return Ok(alternatives.pop());
    }
    // Several alternatives: the lowest version any of them allows.
    Ok(alternatives.into_iter().map(|a| a.version).min().map(DeclaredVersion::lower))
}

/// Splits a conjunction on commas and spaces, gluing a lone operator
/// (`>= 1.2`) to the version after it.
fn tokens(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut glue = false;
    for piece in text.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
        if glue {
            if let Some(last) = out.last_mut() {
                last.push_str(piece);
            }
        } else {
            out.push(piece.to_string());
        }
        glue = piece.chars().all(|c| matches!(c, '<' | '>' | '=' | '!' | '~' | '^'));
    }
    out
}

fn parse_term(term: &str) -> Result<Term, String> {
    let term = term.trim();
    if term == "*" {
        return Ok(Term::Other);
    }
    if let Some(rest) = term.strip_prefix('^') {
        return parse_version(rest).map(Term::Lower);
    }
    if term.starts_with('~') && !term.starts_with("~=") {
        return parse_version(&term[1..]).map(Term::Lower);
    }
    let bare = if term.starts_with('=') && !term.starts_with("==") { &term[1..] } else { term };
    if bare.starts_with(|c: char| c.is_ascii_digit()) {
        // A bare version is exact; a wildcard (`1.26.*`, `1.26*`) is a range.
        return match bare.strip_suffix(".*").or_else(|| bare.strip_suffix('*')) {
            Some(prefix) => parse_version(prefix).map(Term::Lower),
            None => parse_version(bare).map(Term::Exact),
        };
    }
    VersionSpecifier::from_str(term)
        .map(|s| term_of_specifier(&s))
        .map_err(|e| format!("`{term}` is not a version constraint: {}", one_line(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::from_str(s).unwrap()
    }

    #[test]
    fn line_at_counts_from_one() {
        assert_eq!(line_at("a\nb\nc", 0), 1);
        assert_eq!(line_at("a\nb\nc", 2), 2);
        assert_eq!(line_at("a\nb\nc", 4), 3);
        assert_eq!(line_at("a", 99), 1);
    }

    #[test]
    fn pep440_specifier_sets() {
        let spec = |s: &str| from_specifiers(&VersionSpecifiers::from_str(s).unwrap());
        assert_eq!(spec("==1.26.4"), Some(DeclaredVersion::exact(v("1.26.4"))));
        assert_eq!(spec(">=1.2,<2"), Some(DeclaredVersion::lower(v("1.2"))));
        assert_eq!(spec(">=1.2,>=1.5"), Some(DeclaredVersion::lower(v("1.5"))));
        assert_eq!(spec("~=1.4.2"), Some(DeclaredVersion::lower(v("1.4.2"))));
        assert_eq!(spec("==2.1.*"), Some(DeclaredVersion::lower(v("2.1"))));
        assert_eq!(spec("<2"), None);
        assert_eq!(spec("!=1.5"), None);
    }

    #[test]
    fn poetry_constraints() {
        let p = |s: &str| parse_constraint(s, Dialect::Poetry).unwrap();
        assert_eq!(p("^1.24"), Some(DeclaredVersion::lower(v("1.24"))));
        assert_eq!(p("~1.24"), Some(DeclaredVersion::lower(v("1.24"))));
        assert_eq!(p("1.24.0"), Some(DeclaredVersion::exact(v("1.24.0"))));
        assert_eq!(p("==1.24.0"), Some(DeclaredVersion::exact(v("1.24.0"))));
        assert_eq!(p(">=1.2,<2"), Some(DeclaredVersion::lower(v("1.2"))));
        assert_eq!(p(">= 1.2, < 2"), Some(DeclaredVersion::lower(v("1.2"))));
        assert_eq!(p(">=1.2 <2"), Some(DeclaredVersion::lower(v("1.2"))));
        assert_eq!(p("1.24.*"), Some(DeclaredVersion::lower(v("1.24"))));
        assert_eq!(p("^1.0 || ^2.0"), Some(DeclaredVersion::lower(v("1.0"))));
        assert_eq!(p("*"), None);
        assert_eq!(p("<2"), None);
        assert_eq!(p("^1.0 || <3"), None);
        assert!(parse_constraint("^one", Dialect::Poetry).is_err());
        assert!(parse_constraint(">>1", Dialect::Poetry).is_err());
    }

    #[test]
    fn conda_constraints() {
        let c = |s: &str| parse_constraint(s, Dialect::Conda).unwrap();
        assert_eq!(c("1.26"), Some(DeclaredVersion::exact(v("1.26"))));
        assert_eq!(c("=1.26"), Some(DeclaredVersion::exact(v("1.26"))));
        assert_eq!(c("1.26.*"), Some(DeclaredVersion::lower(v("1.26"))));
        assert_eq!(c("1.26*"), Some(DeclaredVersion::lower(v("1.26"))));
        assert_eq!(c(">=1.2,<2"), Some(DeclaredVersion::lower(v("1.2"))));
        assert_eq!(c("1.21|1.22"), Some(DeclaredVersion::lower(v("1.21"))));
    }

    #[test]
    fn one_line_keeps_the_first_line() {
        assert_eq!(one_line("bad thing:\n  numpy==\n       ^"), "bad thing");
    }
}
