//! Python source bytes to text: UTF-8 (a byte-order mark dropped), or
//! Latin-1 when a PEP 263 coding declaration in the first two lines says so.

use std::fmt;

/// Where the bytes stopped being UTF-8, 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: not valid UTF-8, and no Latin-1 coding declaration (PEP 263)", self.line, self.column)
    }
}

const LATIN_1_NAMES: &[&str] =
    &["latin-1", "latin1", "iso-8859-1", "iso8859-1", "iso-latin-1", "l1", "cp1252", "windows-1252"];

pub fn decode_python_source(bytes: Vec<u8>) -> Result<String, DecodeError> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text)),
        Err(err) => {
            let valid_up_to = err.utf8_error().valid_up_to();
            let bytes = err.into_bytes();
            let latin1 = bytes.split(|&b| b == b'\n').take(2).any(|line| {
                let line = String::from_utf8_lossy(line).to_lowercase();
                coding_declaration(&line).is_some_and(|c| LATIN_1_NAMES.contains(&c.as_str()))
            });
            if latin1 {
                return Ok(bytes.iter().map(|&b| char::from(b)).collect());
            }
            let before = &bytes[..valid_up_to];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
            Err(DecodeError { line, column })
        }
    }
}

/// The encoding named by a PEP 263 comment (`# -*- coding: latin-1 -*-`).
fn coding_declaration(line: &str) -> Option<String> {
    let comment = line.trim_start_matches([' ', '\t', '\x0c']).strip_prefix('#')?;
    let at = comment.find("coding")?;
    let rest = comment[at + "coding".len()..].strip_prefix([':', '='])?;
    let name: String = rest
        .trim_start_matches([' ', '\t'])
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    (!name.is_empty()).then(|| name.replace('_', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_latin1_and_errors() {
        assert_eq!(decode_python_source(b"\xef\xbb\xbfx = 1\n".to_vec()).unwrap(), "x = 1\n");
        let latin = b"# -*- coding: latin-1 -*-\ns = '\xe9t\xe9'\n".to_vec();
        assert_eq!(decode_python_source(latin).unwrap(), "# -*- coding: latin-1 -*-\ns = '\u{e9}t\u{e9}'\n");
        let err = decode_python_source(b"# coding: koi8-r\nx = '\xff'\n".to_vec()).unwrap_err();
        assert_eq!(err, DecodeError { line: 2, column: 6 });
        // A declaration on the third line does not count.
        assert!(decode_python_source(b"\n\n# coding: latin-1\n\xff".to_vec()).is_err());
    }
}
