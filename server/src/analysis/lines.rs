//! Byte offsets to line/column positions, in the units each client wants.

/// A 0-based line and a 0-based column counted in Unicode scalar values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// What a column counts: bytes (UTF-8 code units) or UTF-16 code units, the
/// two position encodings an LSP client may negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnUnit {
    Utf8,
    Utf16,
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
        self.position_in(text, offset, ColumnUnit::Utf16)
    }

    /// Line and column in `unit` of a byte offset (clamped to the text and
    /// to a character boundary).
    pub fn position_in(&self, text: &str, offset: usize, unit: ColumnUnit) -> Position {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.line_of(offset);
        let before = &text[self.starts[line]..offset];
        let column = match unit {
            ColumnUnit::Utf8 => before.len(),
            ColumnUnit::Utf16 => before.encode_utf16().count(),
        };
        Position { line, column }
    }

    /// The byte offset of a line and a column in `unit`, clamped as the LSP
    /// asks: a line past the end is the end of the text, a column past the
    /// line's end is the line's end (before its `\n` or `\r\n`), and a column
    /// inside a character is that character's start.
    pub fn offset(&self, text: &str, position: Position, unit: ColumnUnit) -> usize {
        let Some(&start) = self.starts.get(position.line) else { return text.len() };
        let end = self.starts.get(position.line + 1).map_or(text.len(), |&next| next - 1);
        let line = text[start..end].strip_suffix('\r').unwrap_or(&text[start..end]);
        let within = match unit {
            ColumnUnit::Utf8 => floor_char_boundary(line, position.column.min(line.len())),
            ColumnUnit::Utf16 => {
                let mut units = 0;
                let mut bytes = line.len();
                for (at, c) in line.char_indices() {
                    if units + c.len_utf16() > position.column {
                        bytes = at;
                        break;
                    }
                    units += c.len_utf16();
                }
                bytes
            }
        };
        start + within
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

    #[test]
    fn offsets_round_trip_and_clamp_as_the_lsp_asks() {
        let text = "a = 1\r\nß = '𝄞' + x\nend";
        let index = LineIndex::new(text);
        for unit in [ColumnUnit::Utf8, ColumnUnit::Utf16] {
            for (offset, _) in text.char_indices().filter(|&(i, _)| !text[..i].ends_with('\r')) {
                assert_eq!(index.offset(text, index.position_in(text, offset, unit), unit), offset, "{unit:?} {offset}");
            }
        }
        let x = text.find('x').unwrap();
        assert_eq!(index.offset(text, Position { line: 1, column: 11 }, ColumnUnit::Utf16), x);
        assert_eq!(index.offset(text, Position { line: 1, column: 14 }, ColumnUnit::Utf8), x);
        // Past the line's end: the line's end, before `\r\n`.
        assert_eq!(index.offset(text, Position { line: 0, column: 99 }, ColumnUnit::Utf16), 5);
        // Past the last line: the end of the text.
        assert_eq!(index.offset(text, Position { line: 9, column: 0 }, ColumnUnit::Utf8), text.len());
        // Inside the surrogate pair of 𝄞, or inside ß's bytes: the character's start.
        let clef = text.find('𝄞').unwrap();
        assert_eq!(index.offset(text, Position { line: 1, column: 6 }, ColumnUnit::Utf16), clef);
        assert_eq!(index.offset(text, Position { line: 1, column: 1 }, ColumnUnit::Utf8), text.find('ß').unwrap());
    }
}
