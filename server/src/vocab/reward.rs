//! The reward of a completion against a reference migration (DESIGN.md §4).
//!
//! * format: +1 when [`AnswerParts::well_formed`], else −1;
//! * code: the first ```` ```python ```` block inside `<answer>`; none → the
//!   correctness reward is −2 (whatever the kind);
//! * both the code and the reference are normalised ([`Scorer::normalize`]):
//!   comments removed by byte range from the tree-sitter-python tree (so `#`
//!   inside a string stays, and a quote inside a comment cannot fool it),
//!   trailing white space of every line removed, blank lines dropped;
//! * the syntax check: the tree has no ERROR or MISSING node (DESIGN.md), and
//!   — because tree-sitter-python accepts some code that Python rejects, while
//!   the paper checks with Python's own parser — no block is empty (`def f():`
//!   followed only by a comment), the statements of a block that begin a line
//!   share its indentation (column 0 at module level), and there is no
//!   Python 2 `print x` / `exec x` statement;
//! * ES = 1 − levenshtein(a, b) / max(|a|, |b|) over characters, 1.0 when both
//!   are empty; EM = the normalised texts are equal;
//! * correctness by kind:
//!
//!   | kind      | syntax error | otherwise                |
//!   | --------- | ------------ | ------------------------ |
//!   | `es-star` | −2           | 3.5·ES − 1.5 ∈ [−1.5, 2] |
//!   | `es`      | not checked  | 3.5·ES − 1.5             |
//!   | `em-star` | −2           | +2 exact, −1.5 otherwise |
//!   | `em`      | not checked  | +2 exact, −1.5 otherwise |
//!
//!   The paper's ablation names EM and EM* without giving their values; the
//!   plain variants here are the starred ones without the syntax check, on the
//!   same scale, so only that check differs between a pair.
//! * total = format + correctness.
//!
//! The syntax of the code is checked (and ES and EM computed) for every kind,
//! so metrics can report them; only the starred kinds let the check decide.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tree_sitter::{Node, Parser};

use super::{Answer, AnswerParts, VocabError};
use crate::analysis::new_parser;

const FORMAT_OK: f64 = 1.0;
const FORMAT_BAD: f64 = -1.0;
/// No code block, or (starred kinds) code that does not parse.
const NO_CODE: f64 = -2.0;
const ES_SCALE: f64 = 3.5;
const ES_SHIFT: f64 = -1.5;
const EXACT: f64 = 2.0;
const NOT_EXACT: f64 = -1.5;

/// Which correctness reward to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RewardKind {
    /// Edit similarity with a syntax check: the paper's choice.
    EsStar,
    /// Edit similarity without the syntax check.
    Es,
    /// Exact match with a syntax check.
    EmStar,
    /// Exact match without the syntax check.
    Em,
}

impl RewardKind {
    fn checks_syntax(self) -> bool {
        matches!(self, RewardKind::EsStar | RewardKind::EmStar)
    }

    fn name(self) -> &'static str {
        match self {
            RewardKind::EsStar => "es-star",
            RewardKind::Es => "es",
            RewardKind::EmStar => "em-star",
            RewardKind::Em => "em",
        }
    }
}

impl fmt::Display for RewardKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for RewardKind {
    type Err = VocabError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [RewardKind::EsStar, RewardKind::Es, RewardKind::EmStar, RewardKind::Em]
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| VocabError::UnknownRewardKind(s.to_owned()))
    }
}

/// A reward and what it was made of.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RewardParts {
    pub kind: RewardKind,
    /// +1 or −1.
    pub format: f64,
    /// −2 without (valid) code, else the kind's score.
    pub correctness: f64,
    /// format + correctness.
    pub total: f64,
    /// A complete ```` ```python ```` block was found in the answer.
    pub has_code: bool,
    /// Whether the code is Python, as [`NormalizedCode::syntax_ok`] (`None` without code).
    pub syntax_ok: Option<bool>,
    /// Edit similarity of the normalised code and reference (`None` without code).
    pub es: Option<f64>,
    /// Whether the normalised code equals the normalised reference (`None` without code).
    pub exact: Option<bool>,
    /// Which parts of the expected answer shape were found.
    pub answer: AnswerParts,
}

/// Code with comments, trailing blanks and blank lines removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalizedCode {
    pub text: String,
    /// The code is Python: no ERROR or MISSING node, and none of the grammar's
    /// leniencies (see the module documentation).
    pub syntax_ok: bool,
}

/// Normalises code and computes rewards. Holds one tree-sitter parser; make one
/// per thread.
pub struct Scorer {
    parser: Parser,
}

impl Default for Scorer {
    fn default() -> Self {
        Scorer::new()
    }
}

impl Scorer {
    pub fn new() -> Self {
        Scorer { parser: new_parser() }
    }

    /// The reward of `completion` (the text generated after the prompt's
    /// prefill) against the `reference` code.
    pub fn reward(&mut self, completion: &str, reference: &str, kind: RewardKind) -> RewardParts {
        let answer = Answer::parse(completion);
        let parts = answer.parts();
        let format = if parts.well_formed { FORMAT_OK } else { FORMAT_BAD };
        let Some(code) = answer.code() else {
            return RewardParts {
                kind,
                format,
                correctness: NO_CODE,
                total: format + NO_CODE,
                has_code: false,
                syntax_ok: None,
                es: None,
                exact: None,
                answer: parts,
            };
        };
        let code = self.normalize(code);
        let reference = self.normalize(reference);
        let es = strsim::normalized_levenshtein(&code.text, &reference.text);
        let exact = code.text == reference.text;
        let correctness = if kind.checks_syntax() && !code.syntax_ok {
            NO_CODE
        } else {
            match kind {
                RewardKind::EsStar | RewardKind::Es => ES_SCALE * es + ES_SHIFT,
                RewardKind::EmStar | RewardKind::Em if exact => EXACT,
                RewardKind::EmStar | RewardKind::Em => NOT_EXACT,
            }
        };
        RewardParts {
            kind,
            format,
            correctness,
            total: format + correctness,
            has_code: true,
            syntax_ok: Some(code.syntax_ok),
            es: Some(es),
            exact: Some(exact),
            answer: parts,
        }
    }

    /// `code` with its comments removed (by the byte ranges of tree-sitter
    /// `comment` nodes), every line's trailing white space removed and blank
    /// lines dropped; CRLF is read as LF. Indentation is kept: it is Python.
    pub fn normalize(&mut self, code: &str) -> NormalizedCode {
        let code = code.replace("\r\n", "\n");
        let tree = self.parser.parse(&code, None).expect("a parser with a language and no timeout always parses");
        let root = tree.root_node();
        let (comments, rules_ok) = inspect(root);
        let mut kept = String::with_capacity(code.len());
        let mut at = 0;
        for (start, end) in comments {
            kept.push_str(&code[at..start]);
            at = end;
        }
        kept.push_str(&code[at..]);
        let text = kept.lines().map(str::trim_end).filter(|line| !line.is_empty()).collect::<Vec<_>>().join("\n");
        NormalizedCode { text, syntax_ok: !root.has_error() && rules_ok }
    }
}

/// The byte ranges of the `comment` nodes under `root`, in source order
/// (including comments inside ERROR nodes), and whether every node keeps
/// [`python_rules_ok`].
fn inspect(root: Node) -> (Vec<(usize, usize)>, bool) {
    let mut comments = Vec::new();
    let mut rules_ok = true;
    let mut cursor = root.walk();
    let mut descending = true;
    loop {
        if descending {
            let node = cursor.node();
            if node.kind() == "comment" {
                comments.push((node.start_byte(), node.end_byte()));
            } else {
                rules_ok &= python_rules_ok(node);
                if cursor.goto_first_child() {
                    continue;
                }
            }
        }
        if cursor.goto_next_sibling() {
            descending = true;
        } else if cursor.goto_parent() {
            descending = false;
        } else {
            return (comments, rules_ok);
        }
    }
}

/// Python's rules that tree-sitter-python's lenient grammar lets through
/// without an ERROR node: a block holds at least one statement (not only a
/// comment); the statements of a block that begin a line share one
/// indentation, column 0 at module level; Python 2's `print x` and `exec x`
/// statements are gone.
fn python_rules_ok(node: Node) -> bool {
    let module = match node.kind() {
        "print_statement" | "exec_statement" => return false,
        "module" => true,
        "block" => false,
        _ => return true,
    };
    let mut cursor = node.walk();
    let statements: Vec<Node> = node.named_children(&mut cursor).filter(|n| n.kind() != "comment").collect();
    let Some(first) = statements.first() else { return module };
    let column = if module { 0 } else { first.start_position().column };
    let mut previous_end_row = None;
    statements.iter().all(|statement| {
        let start = statement.start_position();
        let begins_line = previous_end_row.is_none_or(|row| start.row > row);
        previous_end_row = Some(statement.end_position().row);
        !begins_line || start.column == column
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::CodeBlock;

    fn reward(completion: &str, reference: &str, kind: RewardKind) -> RewardParts {
        Scorer::new().reward(completion, reference, kind)
    }

    fn wrap(code: &str) -> String {
        format!("\nreasoning\n</think>\n<answer>\n```python\n{code}\n```\n</answer>")
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn identical_code_scores_the_maximum() {
        // format +1; ES = 1 → ES* = 3.5·1 − 1.5 = 2; total 3. EM* = +2, total 3.
        let code = "import numpy as np\nx = np.float64(1)";
        let parts = reward(&wrap(code), code, RewardKind::EsStar);
        assert_eq!((parts.format, parts.correctness, parts.total), (1.0, 2.0, 3.0));
        assert_eq!((parts.has_code, parts.syntax_ok, parts.es, parts.exact), (true, Some(true), Some(1.0), Some(true)));
        for kind in [RewardKind::Es, RewardKind::EmStar, RewardKind::Em] {
            assert_eq!(reward(&wrap(code), code, kind).total, 3.0, "{kind}");
        }
    }

    #[test]
    fn partial_edit_similarity() {
        // "x = 1" vs "x = 2": 1 substitution over max(5, 5) chars → ES = 1 − 1/5 = 0.8;
        // ES* = 3.5·0.8 − 1.5 = 1.3; total = 1 + 1.3 = 2.3.
        // EM* = −1.5 (not exact); total = 1 − 1.5 = −0.5.
        let parts = reward(&wrap("x = 1"), "x = 2", RewardKind::EsStar);
        assert!(close(parts.es.unwrap(), 0.8));
        assert!(close(parts.correctness, 1.3) && close(parts.total, 2.3), "{parts:?}");
        let parts = reward(&wrap("x = 1"), "x = 2", RewardKind::EmStar);
        assert_eq!((parts.correctness, parts.total, parts.exact), (-1.5, -0.5, Some(false)));
    }

    #[test]
    fn no_answer_tag() {
        // format −1 (no <answer>); no code → −2; total −3 for every kind.
        for kind in [RewardKind::EsStar, RewardKind::Es, RewardKind::EmStar, RewardKind::Em] {
            let parts = reward("\nx = 1 will do\n</think>\n```python\nx = 1\n```", "x = 1", kind);
            assert_eq!((parts.format, parts.correctness, parts.total), (-1.0, -2.0, -3.0), "{kind}");
            assert_eq!((parts.has_code, parts.syntax_ok, parts.es, parts.exact), (false, None, None, None));
        }
    }

    #[test]
    fn text_after_answer() {
        // format −1 (text after </answer>); the code is identical → ES* = 2; total 1.
        let completion = format!("{}\nLet me know if you need more.", wrap("y = f(x)"));
        let parts = reward(&completion, "y = f(x)", RewardKind::EsStar);
        assert_eq!((parts.format, parts.correctness, parts.total), (-1.0, 2.0, 1.0));
        assert!(!parts.answer.nothing_after_answer);
    }

    #[test]
    fn nested_think() {
        // "<think><think>…" → format −1; the code matches → +2; total 1.
        let parts = reward(&format!("<think>{}", wrap("y = 1")), "y = 1", RewardKind::EsStar);
        assert_eq!((parts.format, parts.correctness, parts.total), (-1.0, 2.0, 1.0));
        assert!(parts.answer.think_nested);
    }

    #[test]
    fn syntax_error() {
        // "x = (1" has a MISSING ")" or an ERROR node → ES* and EM* give −2; total −1.
        let parts = reward(&wrap("x = (1"), "x = (1)", RewardKind::EsStar);
        assert_eq!((parts.format, parts.correctness, parts.total, parts.syntax_ok), (1.0, -2.0, -1.0, Some(false)));
        assert_eq!(reward(&wrap("x = (1"), "x = (1)", RewardKind::EmStar).correctness, -2.0);
        // Without the check: ES = 1 − 1/7 (one insertion, max 7 chars) = 6/7;
        // 3.5·6/7 − 1.5 = 3 − 1.5 = 1.5; total 2.5. EM: not exact → −1.5; total −0.5.
        let parts = reward(&wrap("x = (1"), "x = (1)", RewardKind::Es);
        assert!(close(parts.es.unwrap(), 6.0 / 7.0));
        assert!(close(parts.correctness, 1.5) && close(parts.total, 2.5), "{parts:?}");
        assert_eq!(reward(&wrap("x = (1"), "x = (1)", RewardKind::Em).total, -0.5);
        // An ERROR node (not only a MISSING one) fails too.
        assert_eq!(reward(&wrap("def f(:\n    pass"), "def f(): pass", RewardKind::EsStar).correctness, -2.0);
    }

    #[test]
    fn python_rules_beyond_the_grammar() {
        let mut scorer = Scorer::new();
        for (code, ok) in [
            // tree-sitter-python gives no ERROR node for any of these failures.
            ("with enable_x64():\n    # Code that uses 64-bit precision", false),
            ("def f():\n    # later\n\ndef g():\n    f()", false),
            ("import a\n\n display = a.b()\n", false),
            ("x = 1\n  y = 2\n", false),
            ("if x:\n    a = 1\n      b = 2\n", false),
            ("if x:\n    a = 1\nb = 2\n", true),
            ("print 'x'\n", false),
            // Python accepts these.
            ("if x: a = 1; b = 2\nc = (1,\n     2)\n", true),
            ("def f():\n    # comment\n    return 1\n", true),
            ("class A:\n    \"\"\"Doc.\"\"\"\n\n\n@dec\nclass B(A):\n    pass\n", true),
            ("try:\n    a()\nexcept E:\n    pass\nfinally:\n    b()\n", true),
            ("", true),
            ("# only a comment\n", true),
        ] {
            assert_eq!(scorer.normalize(code).syntax_ok, ok, "{code:?}");
        }
        // In the reward: a comment-only body is a syntax error for ES* (−2, total −1)
        // but not for plain ES, which does not check.
        let code = "def f():\n    # TODO";
        assert_eq!(reward(&wrap(code), code, RewardKind::EsStar).total, -1.0);
        assert_eq!(reward(&wrap(code), code, RewardKind::Es).total, 3.0);
    }

    #[test]
    fn empty_code() {
        // An empty block is code: it parses. ES("", "x = 1") = 1 − 5/5 = 0 →
        // ES* = −1.5; total = 1 − 1.5 = −0.5. EM* = −1.5 as well.
        let completion = "\nr\n</think>\n<answer>\n```python\n```\n</answer>";
        let parts = reward(completion, "x = 1", RewardKind::EsStar);
        assert_eq!((parts.has_code, parts.syntax_ok, parts.es), (true, Some(true), Some(0.0)));
        assert_eq!((parts.correctness, parts.total), (-1.5, -0.5));
        assert_eq!(reward(completion, "x = 1", RewardKind::EmStar).total, -0.5);
    }

    #[test]
    fn both_empty() {
        // Empty code, reference only a comment and blank lines → both normalise to "":
        // ES = 1.0 by definition → ES* = 2; EM exact → 2; total 3.
        let completion = "\nr\n</think>\n<answer>\n```python\n\n```\n</answer>";
        let parts = reward(completion, "# nothing to do\n\n", RewardKind::EsStar);
        assert_eq!((parts.es, parts.exact, parts.total), (Some(1.0), Some(true), 3.0));
        assert_eq!(reward(completion, "", RewardKind::Em).total, 3.0);
    }

    #[test]
    fn comments_with_quotes_and_hashes_in_strings() {
        let mut scorer = Scorer::new();
        // The comment's apostrophe must not open a string, and the "#" inside
        // the strings must not start a comment.
        let code = "s = \"a # b\"  # it's a string\n\n# don't\nt = 'c # d' # \"quoted\"\n    \nu = f\"{s}#\"\n";
        let normalized = scorer.normalize(code);
        assert_eq!(normalized.text, "s = \"a # b\"\nt = 'c # d'\nu = f\"{s}#\"");
        assert!(normalized.syntax_ok);
        // So a completion that differs only by comments and blank lines is exact.
        let reference = "s = \"a # b\"\nt = 'c # d'\nu = f\"{s}#\"";
        let parts = scorer.reward(&wrap(code), reference, RewardKind::EmStar);
        assert_eq!((parts.exact, parts.total), (Some(true), 3.0));
    }

    #[test]
    fn docstrings_and_indentation_are_kept() {
        let normalized =
            Scorer::new().normalize("def f():\n    \"\"\"Doc # not a comment.\"\"\"\n    return 1  # one\n");
        assert_eq!(normalized.text, "def f():\n    \"\"\"Doc # not a comment.\"\"\"\n    return 1");
    }

    #[test]
    fn crlf_is_read_as_lf() {
        // CRLF in both the completion and the reference: same code → total 3.
        let completion = "\r\nr\r\n</think>\r\n<answer>\r\n```python\r\nx = 1\r\ny = 2\r\n```\r\n</answer>";
        let parts = reward(completion, "x = 1\r\n\r\ny = 2\r\n", RewardKind::EsStar);
        assert_eq!((parts.format, parts.es, parts.total), (1.0, Some(1.0), 3.0));
    }

    #[test]
    fn unterminated_fence_is_no_code() {
        // Tags are fine (format +1) but the block never closes → −2; total −1.
        let parts = reward("\nr\n</think>\n<answer>\n```python\nx = 1\n</answer>", "x = 1", RewardKind::EsStar);
        assert_eq!((parts.format, parts.correctness, parts.total), (1.0, -2.0, -1.0));
        assert_eq!(parts.answer.code_block, CodeBlock::Unterminated);
    }

    #[test]
    fn es_counts_characters_not_bytes() {
        // "é = 1" vs "e = 1": one substitution over 5 characters (6 bytes) → ES = 0.8.
        let parts = reward(&wrap("é = 1"), "e = 1", RewardKind::Es);
        assert!(close(parts.es.unwrap(), 0.8));
    }

    #[test]
    fn kinds_round_trip_through_text_and_json() {
        for kind in [RewardKind::EsStar, RewardKind::Es, RewardKind::EmStar, RewardKind::Em] {
            assert_eq!(kind.to_string().parse::<RewardKind>().unwrap(), kind);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{kind}\""));
        }
        assert!("es_star".parse::<RewardKind>().is_err());
    }

    #[test]
    fn parts_serialise_to_json() {
        let parts = reward(&wrap("x = 1"), "x = 1", RewardKind::EsStar);
        let json = serde_json::to_value(&parts).unwrap();
        assert_eq!(json["kind"], "es-star");
        assert_eq!(json["total"], 3.0);
        assert_eq!(json["answer"]["code_block"], "python");
        assert_eq!(json["syntax_ok"], true);
    }
}
