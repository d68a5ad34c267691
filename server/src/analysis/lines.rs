//! Byte offsets to line/column positions, in the units each client wants.

/// A 0-based line and a 0-based column counted in Unicode scalar values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Line starts of a text, for converting byte offsets.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset) - 1
    }

    /// Line and character column of a byte offset (clamped to the text and
    /// to a character boundary).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.line_of(offset);
        let column = text[self.starts[line]..offset].chars().count();
        Position { line, column }
    }

    /// Line and UTF-16 column of a byte offset, as the LSP counts them.
    pub fn position_utf16(&self, text: &str, offset: usize) -> Position {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.line_of(offset);
        let column = text[self.starts[line]..offset].encode_utf16().count();
        Position { line, column }
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_and_utf16_units() {
        let text = "a = 1\nß = '𝄞' + x\n";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap();
        assert_eq!(index.position(text, x), Position { line: 1, column: 10 });
        assert_eq!(index.position_utf16(text, x), Position { line: 1, column: 11 });
        assert_eq!(index.position(text, 0), Position { line: 0, column: 0 });
        assert_eq!(index.position(text, text.len()), Position { line: 2, column: 0 });
        // Inside a multi-byte character: clamped to its start.
        assert_eq!(index.position(text, 7), Position { line: 1, column: 0 });
    }
}
