//! An open document's text as the client last sent it, kept in step with
//! incremental changes.
//!
//! Positions arrive in the negotiated unit (UTF-8 bytes or UTF-16 code
//! units) and are clamped, never trusted: a line past the end is the end of
//! the text, a column past a line's end is the line's end, a column inside a
//! character is that character's start, and a range whose end comes before
//! its start is read the other way round. The text is always valid UTF-8.
//! Lines end at `\n` (a `\r` before it belongs to the line ending); a lone
//! `\r` is not a line break here.

use crate::analysis::{ColumnUnit, LineIndex, Position};

#[derive(Debug, Clone)]
pub struct Document {
    text: String,
    version: i32,
    index: LineIndex,
}

impl Document {
    pub fn new(text: String, version: i32) -> Document {
        let index = LineIndex::new(&text);
        Document { text, version, index }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn version(&self) -> i32 {
        self.version
    }

    pub fn set_version(&mut self, version: i32) {
        self.version = version;
    }

    /// The byte offset of a client position, clamped.
    pub fn offset(&self, position: Position, unit: ColumnUnit) -> usize {
        self.index.offset(&self.text, position, unit)
    }

    /// The client position of a byte offset.
    pub fn position(&self, offset: usize, unit: ColumnUnit) -> Position {
        self.index.position_in(&self.text, offset, unit)
    }

    /// Applies one content change: `range` replaced by `new_text`, or the
    /// whole text when `range` is `None`.
    pub fn apply(&mut self, range: Option<(Position, Position)>, new_text: &str, unit: ColumnUnit) {
        match range {
            None => self.text = new_text.to_string(),
            Some((start, end)) => {
                let (a, b) = (self.offset(start, unit), self.offset(end, unit));
                self.text.replace_range(a.min(b)..a.max(b), new_text);
            }
        }
        self.index = LineIndex::new(&self.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Position {
        Position { line, column }
    }

    #[test]
    fn incremental_changes_edit_the_text() {
        let mut doc = Document::new("import numpy as np\nx = np.float_(1)\n".into(), 1);
        doc.apply(Some((at(1, 7), at(1, 13))), "float64", ColumnUnit::Utf16);
        assert_eq!(doc.text(), "import numpy as np\nx = np.float64(1)\n");
        // A delete across lines.
        doc.apply(Some((at(0, 12), at(1, 4))), "\n", ColumnUnit::Utf16);
        assert_eq!(doc.text(), "import numpy\nnp.float64(1)\n");
        // An insertion at the very end, then a whole-text replacement.
        doc.apply(Some((at(2, 0), at(2, 0))), "y = 2", ColumnUnit::Utf8);
        assert_eq!(doc.text(), "import numpy\nnp.float64(1)\ny = 2");
        doc.apply(None, "new", ColumnUnit::Utf16);
        assert_eq!(doc.text(), "new");
    }

    #[test]
    fn positions_are_clamped_never_trusted() {
        let mut doc = Document::new("é𝄞\nab\n".into(), 1);
        // Past the line's end and past the text's end.
        doc.apply(Some((at(0, 40), at(7, 3))), "!", ColumnUnit::Utf16);
        assert_eq!(doc.text(), "é𝄞!");
        // Inside the surrogate pair: the character's start.
        doc.apply(Some((at(0, 2), at(0, 2))), "x", ColumnUnit::Utf16);
        assert_eq!(doc.text(), "éx𝄞!");
        // A range whose end comes first.
        doc.apply(Some((at(0, 4), at(0, 1))), "", ColumnUnit::Utf16);
        assert_eq!(doc.text(), "é!");
        // Inside é's two bytes.
        doc.apply(Some((at(0, 1), at(0, 3))), "e", ColumnUnit::Utf8);
        assert_eq!(doc.text(), "e");
    }

    #[test]
    fn positions_come_back_in_the_clients_unit() {
        let doc = Document::new("s = '𝄞'; x\n".into(), 3);
        let x = doc.text().find('x').unwrap();
        assert_eq!(doc.position(x, ColumnUnit::Utf16), at(0, 10));
        assert_eq!(doc.position(x, ColumnUnit::Utf8), at(0, 12));
        assert_eq!(doc.version(), 3);
    }
}
