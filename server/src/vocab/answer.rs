//! Reading a model's answer.
//!
//! The completion is the text generated after the prompt's [`PREFILL`], so it
//! starts inside the `<think>` block. Parsing puts the prefilled `<think>` back
//! and then finds, in this order:
//!
//! * the think block: from the restored `<think>` to the first `</think>`; a
//!   `<think>` inside it is *nested* (a model that repeats the prefilled tag);
//! * the answer: the first `<answer>` after `</think>` (anywhere when the think
//!   block is never closed) up to the first `</answer>` after it; an `<answer>`
//!   without `</answer>` is no answer;
//! * the code: the first ```` ```python ```` fence inside the answer (it may sit
//!   right after `<answer>` on the same line; the rest of its line is the
//!   info string) up to the first following line that is only a fence
//!   (```` ``` ````, indentation and trailing blanks allowed). Later blocks are
//!   ignored: the first wins. A fence without a language tag, or with another
//!   one (```` ```py ````), is *not* code: DESIGN.md asks for a
//!   ```` ```python ```` block, and accepting others would reward a format the
//!   prompt does not teach. An opened block that is never closed is no code
//!   either (truncated generations must not score).
//!
//! CRLF line ends are read as LF, and one ChatML end-of-turn marker at the end
//! (a decoder that keeps special tokens) is not part of the answer.
//!
//! [`PREFILL`]: super::PREFILL

use std::ops::Range;

use serde::Serialize;

use super::END_OF_TURN;

const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";
/// Opens the answer block of a completion.
pub const ANSWER_OPEN: &str = "<answer>";
/// Closes the answer block; nothing after it is read.
pub const ANSWER_CLOSE: &str = "</answer>";
const FENCE: &str = "```";
const PYTHON_FENCE: &str = "```python";

/// A parsed completion: the restored text and where its parts lie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// `<think>` + the completion, CRLF → LF, end-of-turn marker removed.
    text: String,
    think: Option<Range<usize>>,
    answer: Option<Range<usize>>,
    code: Option<Range<usize>>,
    parts: AnswerParts,
}

/// Which parts of the expected shape a completion has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AnswerParts {
    /// `</think>` closes the think block.
    pub think_closed: bool,
    /// The think block holds another `<think>`.
    pub think_nested: bool,
    /// A complete `<answer>…</answer>` was found.
    pub answer: bool,
    /// Only white space lies between `</think>` and `<answer>`.
    pub nothing_before_answer: bool,
    /// Only white space follows `</answer>`.
    pub nothing_after_answer: bool,
    /// What the answer holds by way of code.
    pub code_block: CodeBlock,
    /// The format DESIGN.md §4 rewards: `<think>…</think>` then
    /// `<answer>…</answer>`, white space only around, no nested think tag.
    pub well_formed: bool,
}

/// The code found inside `<answer>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CodeBlock {
    /// A complete ```` ```python ```` block: the code.
    Python,
    /// A ```` ```python ```` fence that is never closed.
    Unterminated,
    /// No ```` ```python ```` fence, but some other fence (bare or another language).
    OtherFence,
    /// No fence at all, or no answer.
    None,
}

impl Answer {
    /// Parses `completion`, the text generated after the prompt's prefill.
    pub fn parse(completion: &str) -> Answer {
        let completion = completion.replace("\r\n", "\n");
        let completion = completion.trim_end();
        let completion = completion.strip_suffix(END_OF_TURN).unwrap_or(completion);
        let text = [THINK_OPEN, completion].concat();

        let think_end = find(&text, THINK_CLOSE, THINK_OPEN.len());
        let think = think_end.map(|end| THINK_OPEN.len()..end);
        let think_nested = text[THINK_OPEN.len()..think_end.unwrap_or(text.len())].contains(THINK_OPEN);
        let after_think = think_end.map_or(THINK_OPEN.len(), |end| end + THINK_CLOSE.len());

        let answer = find(&text, ANSWER_OPEN, after_think).and_then(|open| {
            let start = open + ANSWER_OPEN.len();
            find(&text, ANSWER_CLOSE, start).map(|end| start..end)
        });
        let (code, code_block) = match &answer {
            Some(range) => code_in(&text, range.clone()),
            None => (None, CodeBlock::None),
        };

        let nothing_before_answer = match (&think, &answer) {
            (Some(_), Some(answer)) => text[after_think..answer.start - ANSWER_OPEN.len()].trim().is_empty(),
            _ => false,
        };
        let nothing_after_answer =
            answer.as_ref().is_some_and(|answer| text[answer.end + ANSWER_CLOSE.len()..].trim().is_empty());
        let parts = AnswerParts {
            think_closed: think.is_some(),
            think_nested,
            answer: answer.is_some(),
            nothing_before_answer,
            nothing_after_answer,
            code_block,
            well_formed: think.is_some() && !think_nested && nothing_before_answer && nothing_after_answer,
        };
        Answer { text, think, answer, code, parts }
    }

    /// The completion with the prefilled `<think>` put back (LF line ends).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text between `<think>` and `</think>`.
    pub fn think(&self) -> Option<&str> {
        self.think.clone().map(|range| &self.text[range])
    }

    /// The text between `<answer>` and `</answer>`.
    pub fn answer(&self) -> Option<&str> {
        self.answer.clone().map(|range| &self.text[range])
    }

    /// The code of the first ```` ```python ```` block in the answer.
    pub fn code(&self) -> Option<&str> {
        self.code.clone().map(|range| &self.text[range])
    }

    pub fn parts(&self) -> AnswerParts {
        self.parts
    }
}

fn find(text: &str, needle: &str, from: usize) -> Option<usize> {
    text[from..].find(needle).map(|at| from + at)
}

/// The first ```` ```python ```` block within `range` of `text`.
fn code_in(text: &str, range: Range<usize>) -> (Option<Range<usize>>, CodeBlock) {
    let answer = &text[range.clone()];
    let mut from = 0;
    let opener = loop {
        let Some(at) = find(answer, PYTHON_FENCE, from) else {
            let block = if answer.contains(FENCE) { CodeBlock::OtherFence } else { CodeBlock::None };
            return (None, block);
        };
        let after = at + PYTHON_FENCE.len();
        // `python` must be the whole language tag: ```python3 or ```pythonic are not it.
        if answer[after..].chars().next().is_none_or(char::is_whitespace) {
            break after;
        }
        from = after;
    };
    let Some(line_end) = find(answer, "\n", opener) else { return (None, CodeBlock::Unterminated) };
    let code_start = line_end + 1;
    let mut line_start = code_start;
    while line_start <= answer.len() {
        let line_end = find(answer, "\n", line_start).unwrap_or(answer.len());
        let line = answer[line_start..line_end].trim();
        if line.len() >= FENCE.len() && line.bytes().all(|b| b == b'`') {
            let start = range.start + code_start;
            return (Some(start..range.start + line_start), CodeBlock::Python);
        }
        line_start = line_end + 1;
    }
    (None, CodeBlock::Unterminated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(completion: &str) -> AnswerParts {
        Answer::parse(completion).parts()
    }

    #[test]
    fn well_formed_completion() {
        let a = Answer::parse("\nUse float64.\n</think>\n<answer>\n```python\nx = np.float64(1)\n```\n</answer>\n");
        assert_eq!(a.text(), "<think>\nUse float64.\n</think>\n<answer>\n```python\nx = np.float64(1)\n```\n</answer>");
        assert_eq!(a.think(), Some("\nUse float64.\n"));
        assert_eq!(a.answer(), Some("\n```python\nx = np.float64(1)\n```\n"));
        assert_eq!(a.code(), Some("x = np.float64(1)\n"));
        assert_eq!(
            a.parts(),
            AnswerParts {
                think_closed: true,
                think_nested: false,
                answer: true,
                nothing_before_answer: true,
                nothing_after_answer: true,
                code_block: CodeBlock::Python,
                well_formed: true,
            }
        );
    }

    #[test]
    fn tags_on_one_line_as_design_writes_them() {
        let a = Answer::parse("ok</think><answer>```python\nx = 1\n```</answer>");
        assert!(a.parts().well_formed);
        assert_eq!(a.code(), Some("x = 1\n"));
    }

    #[test]
    fn missing_tags() {
        let p = parts("I would write x = 1");
        assert!(!p.think_closed && !p.answer && !p.well_formed);
        assert_eq!(p.code_block, CodeBlock::None);

        // No </think>: the answer is still read (for the correctness reward),
        // but the format is wrong.
        let a = Answer::parse("reasoning <answer>```python\nx = 1\n```</answer>");
        assert!(!a.parts().think_closed && a.parts().answer && !a.parts().well_formed);
        assert_eq!(a.code(), Some("x = 1\n"));

        // <answer> never closed: no answer, so no code.
        let a = Answer::parse("r</think><answer>```python\nx = 1\n```");
        assert!(!a.parts().answer && !a.parts().well_formed);
        assert_eq!(a.code(), None);

        // No answer tag at all, code outside it does not count.
        let a = Answer::parse("r</think>```python\nx = 1\n```");
        assert_eq!((a.answer(), a.code()), (None, None));
    }

    #[test]
    fn answer_tags_inside_think_are_not_the_answer() {
        let a = Answer::parse("I will use <answer> tags</think><answer>```python\ny = 2\n```</answer>");
        assert!(a.parts().well_formed);
        assert_eq!(a.code(), Some("y = 2\n"));
    }

    #[test]
    fn several_code_blocks_first_wins() {
        let a = Answer::parse("r</think><answer>```python\nfirst = 1\n```\n```python\nsecond = 2\n```</answer>");
        assert_eq!(a.code(), Some("first = 1\n"));
        assert!(a.parts().well_formed);
    }

    #[test]
    fn unterminated_fence_is_no_code() {
        let p = parts("r</think><answer>```python\nx = 1\n</answer>");
        assert_eq!(p.code_block, CodeBlock::Unterminated);
        // The tags themselves are fine: the format reward does not look at fences.
        assert!(p.well_formed);
        // A fence that never reaches a new line is unterminated too.
        assert_eq!(parts("r</think><answer>```python</answer>").code_block, CodeBlock::Unterminated);
    }

    #[test]
    fn text_after_answer_breaks_the_format_but_keeps_the_code() {
        let a = Answer::parse("r</think><answer>```python\nx = 1\n```</answer>\nHope this helps!");
        assert!(a.parts().answer && !a.parts().nothing_after_answer && !a.parts().well_formed);
        assert_eq!(a.code(), Some("x = 1\n"));
        let p = parts("r</think>Here it is:<answer>```python\nx = 1\n```</answer>");
        assert!(!p.nothing_before_answer && !p.well_formed);
    }

    #[test]
    fn nested_think() {
        // The model repeats the prefilled tag: "<think><think>…".
        let p = parts("<think>r</think><answer>```python\nx = 1\n```</answer>");
        assert!(p.think_nested && p.think_closed && !p.well_formed);
        // A second think block after the first is text before the answer.
        let p = parts("a</think><think>b</think><answer>```python\nx = 1\n```</answer>");
        assert!(!p.think_nested && !p.nothing_before_answer && !p.well_formed);
    }

    #[test]
    fn fences_without_the_python_tag_are_not_code() {
        let p = parts("r</think><answer>\n```\nx = 1\n```\n</answer>");
        assert_eq!(p.code_block, CodeBlock::OtherFence);
        assert_eq!(parts("r</think><answer>```py\nx = 1\n```</answer>").code_block, CodeBlock::OtherFence);
        assert_eq!(parts("r</think><answer>```python3\nx = 1\n```</answer>").code_block, CodeBlock::OtherFence);
        // A bare block first, then a python one: the python one is the code.
        let a = Answer::parse("r</think><answer>```\nno\n```\n```python\nyes = 1\n```</answer>");
        assert_eq!(a.code(), Some("yes = 1\n"));
        assert_eq!(parts("r</think><answer>x = 1</answer>").code_block, CodeBlock::None);
    }

    #[test]
    fn info_string_indented_and_long_closing_fences() {
        let a = Answer::parse("r</think><answer>```python title=\"fix\"\nif x:\n    y = 1\n    ````  \n</answer>");
        assert_eq!(a.code(), Some("if x:\n    y = 1\n"));
    }

    #[test]
    fn empty_code_block() {
        let a = Answer::parse("r</think><answer>\n```python\n```\n</answer>");
        assert_eq!(a.code(), Some(""));
        assert_eq!(a.parts().code_block, CodeBlock::Python);
    }

    #[test]
    fn crlf_and_end_of_turn() {
        let a = Answer::parse("\r\nr\r\n</think>\r\n<answer>\r\n```python\r\nx = 1\r\n```\r\n</answer><|im_end|>\r\n");
        assert!(a.parts().well_formed);
        assert_eq!(a.code(), Some("x = 1\n"));
        assert!(!a.text().contains('\r'));
    }
}
