//! Which parts of a file need parsing at all.
//!
//! A module splits, lexically, into top-level statements. A `def` or `class`
//! statement (with its decorators) that holds no candidate occurrence (see
//! `prefilter`) cannot produce a finding. What it could do is bind its own
//! name at module level and so shadow what that name meant. A module-level
//! name means something to detection only when module-level code binds it
//! (an import or an assignment, always parsed, so the name shows there as a
//! word outside quotes) or a star import provides it. So such a block is
//! left out unless its name appears unquoted in the module-level statements,
//! and nothing is left out of a file with a star import. A name bound at
//! module level to a cataloged symbol (`from numpy.random import rand`,
//! `from numpy import float_ as f`, `f = np.float_`) is itself a finding
//! where it is used, so a block that uses such a name (the candidate, its
//! `as` alias, or the targets of an assignment on its line) is parsed too.
//! Everything else
//! (imports, assignments, module-level `if`/`try`) is always parsed.
//! Skipping uses tree-sitter's included ranges, so node offsets stay those
//! of the file.

use std::collections::HashSet;
use std::ops::Range;

/// One top-level statement: its byte range and, for `def`/`class` blocks,
/// the name it binds.
#[derive(Debug, PartialEq, Eq)]
struct Chunk {
    range: Range<usize>,
    defines: Option<Range<usize>>,
}

/// The byte ranges to parse, or `None` when the whole file must be parsed
/// (nothing to skip, or text the splitter cannot follow).
pub fn ranges_to_parse(source: &str, candidates: &[usize]) -> Option<Vec<Range<usize>>> {
    let bytes = source.as_bytes();
    if memchr::memmem::find(bytes, b"import *").is_some() {
        return None;
    }
    let chunks = split(bytes, 0..bytes.len(), b"")?;
    let module_level: Vec<&[u8]> =
        chunks.iter().filter(|c| c.defines.is_none()).map(|c| &bytes[c.range.clone()]).collect();
    let tracked: HashSet<&[u8]> = chunks
        .iter()
        .filter(|c| c.defines.is_none())
        .flat_map(|c| candidates.iter().filter(move |&&at| c.range.contains(&at)))
        .flat_map(|&at| bound_names(bytes, at))
        .collect();
    let needed = |chunk: &Chunk, scope_text: &[&[u8]]| match &chunk.defines {
        None => true,
        Some(name) => {
            candidates.iter().any(|&at| chunk.range.contains(&at))
                || scope_text.iter().any(|text| contains_unquoted_word(text, &bytes[name.clone()]))
                || words(&bytes[chunk.range.clone()]).any(|word| tracked.contains(word))
        }
    };
    let mut ranges: Vec<Range<usize>> = Vec::new();
    let mut skipped_any = false;
    for chunk in &chunks {
        if !needed(chunk, &module_level) {
            skipped_any = true;
            continue;
        }
        // Inside a needed class, methods are skipped by the same rules, with
        // the class body's own statements as the scope text.
        match class_body(bytes, chunk).and_then(|(body, indent)| Some((body.start, split(bytes, body, indent)?))) {
            Some((body_start, members)) => {
                push_range(&mut ranges, chunk.range.start..body_start);
                let class_level: Vec<&[u8]> =
                    members.iter().filter(|m| m.defines.is_none()).map(|m| &bytes[m.range.clone()]).collect();
                for member in &members {
                    if needed(member, &class_level) {
                        push_range(&mut ranges, member.range.clone());
                    } else {
                        skipped_any = true;
                    }
                }
            }
            None => push_range(&mut ranges, chunk.range.clone()),
        }
    }
    skipped_any.then_some(ranges)
}

fn push_range(ranges: &mut Vec<Range<usize>>, range: Range<usize>) {
    match ranges.last_mut() {
        Some(last) if last.end == range.start => last.end = range.end,
        _ => ranges.push(range),
    }
}

/// For a `class` statement: the byte range of its indented body and the
/// body's indentation. `None` for other statements and one-line classes.
fn class_body<'b>(bytes: &'b [u8], chunk: &Chunk) -> Option<(Range<usize>, &'b [u8])> {
    let name = chunk.defines.as_ref()?;
    let line_start = memchr::memrchr(b'\n', &bytes[..name.start]).map_or(0, |i| i + 1);
    if !bytes[line_start..name.start].trim_ascii_start().starts_with(b"class") {
        return None;
    }
    // The body starts at the first indented code line after the header.
    let starts = line_starts(bytes, line_start..chunk.range.end)?;
    let (&body_start, indent_len) = starts.iter().skip(1).find_map(|s| {
        let indent = bytes[*s..chunk.range.end].iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
        let code = bytes.get(s + indent).copied();
        (indent > 0 && code.is_some_and(|c| !matches!(c, b'\n' | b'\r' | b'#'))).then_some((s, indent))
    })?;
    Some((body_start..chunk.range.end, &bytes[body_start..body_start + indent_len]))
}

fn is_ident(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte >= 0x80
}

/// The names a module-level statement may bind to the cataloged symbol
/// whose name starts at `at`: the name itself, an `as` alias right after
/// it, and the targets of an assignment earlier on its line.
fn bound_names(bytes: &[u8], at: usize) -> Vec<&[u8]> {
    let name_end = at + bytes[at..].iter().position(|&b| !is_ident(b)).unwrap_or(bytes.len() - at);
    let mut names = vec![&bytes[at..name_end]];
    let rest = bytes[name_end..].trim_ascii_start();
    if let Some(after_as) = rest.strip_prefix(b"as").filter(|r| r.first().is_some_and(u8::is_ascii_whitespace)) {
        names.extend(words(after_as).next());
    }
    let line_start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |i| i + 1);
    let line = &bytes[line_start..at];
    let assignment = line.iter().enumerate().position(|(i, &b)| {
        b == b'=' && line.get(i + 1) != Some(&b'=') && (i == 0 || !matches!(line[i - 1], b'=' | b'!' | b'<' | b'>'))
    });
    if let Some(equals) = assignment {
        names.extend(words(&line[..equals]));
    }
    names
}

/// The identifier-like words of a text.
fn words(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| !is_ident(b)).filter(|w| w.first().is_some_and(|b| !b.is_ascii_digit()))
}

/// Whether `word` occurs as a whole word that is not the whole content of a
/// string literal (`__all__ = ["name"]` names, it does not bind).
fn contains_unquoted_word(haystack: &[u8], word: &[u8]) -> bool {
    let is_quote = |b: u8| b == b'"' || b == b'\'';
    memchr::memmem::find_iter(haystack, word).any(|at| {
        let end = at + word.len();
        let before = (at > 0).then(|| haystack[at - 1]);
        let after = haystack.get(end).copied();
        let whole = before.is_none_or(|b| !is_ident(b)) && after.is_none_or(|b| !is_ident(b));
        let quoted = before.is_some_and(is_quote) && after.is_some_and(is_quote);
        whole && !quoted
    })
}

/// Splits a module into top-level statements. `None` when the text ends
/// inside a string or a bracket, or brackets close that never opened.
fn split(bytes: &[u8], within: Range<usize>, indent: &[u8]) -> Option<Vec<Chunk>> {
    let starts: Vec<usize> = line_starts(bytes, within.clone())?
        .into_iter()
        .filter(|&s| {
            let code = s + indent.len();
            bytes[s..].starts_with(indent)
                && bytes.get(code).is_some_and(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'#' | b'\x0c'))
        })
        .collect();
    let mut chunks: Vec<Chunk> = Vec::new();
    if starts.first().is_some_and(|&first| first > within.start) {
        // Text before the first statement (blank lines, comments).
        chunks.push(Chunk { range: within.start..starts[0], defines: None });
    }
    for (index, &start) in starts.iter().enumerate() {
        let end = starts.get(index + 1).copied().unwrap_or(within.end);
        let code = start + indent.len();
        let first = first_word(&bytes[code..end]);
        // Clauses of a compound statement, and a definition after its
        // decorators, belong to the statement before them.
        let continues_previous = matches!(first, b"else" | b"elif" | b"except" | b"finally")
            || chunks.last().is_some_and(|prev| is_decorator_run(bytes, prev, indent));
        let defines = definition_name(bytes, code, end);
        match chunks.last_mut() {
            Some(prev) if continues_previous => {
                if is_decorator_run(bytes, prev, indent) {
                    prev.defines = defines;
                }
                prev.range.end = end;
            }
            _ => chunks.push(Chunk { range: start..end, defines }),
        }
    }
    Some(chunks)
}

/// A run of decorators still waiting for its definition.
fn is_decorator_run(bytes: &[u8], chunk: &Chunk, indent: &[u8]) -> bool {
    chunk.defines.is_none() && bytes.get(chunk.range.start + indent.len()) == Some(&b'@')
}

fn first_word(line: &[u8]) -> &[u8] {
    let end = line.iter().position(|&b| !is_ident(b)).unwrap_or(line.len());
    &line[..end]
}

/// The name a `def`/`async def`/`class` line at `start` binds.
fn definition_name(bytes: &[u8], start: usize, end: usize) -> Option<Range<usize>> {
    let line = &bytes[start..end];
    let rest = if let Some(rest) = line.strip_prefix(b"async") {
        rest.trim_ascii_start().strip_prefix(b"def")?
    } else {
        line.strip_prefix(b"def").or_else(|| line.strip_prefix(b"class"))?
    };
    if !rest.first().is_some_and(|b| b.is_ascii_whitespace()) {
        return None;
    }
    let name_start = end - rest.trim_ascii_start().len();
    let name_len = bytes[name_start..end].iter().position(|&b| !is_ident(b)).unwrap_or(end - name_start);
    (name_len > 0).then(|| name_start..name_start + name_len)
}

/// Byte offsets of the lines in `within` that begin a logical line: outside
/// strings and brackets, and not joined to the line before by a backslash.
fn line_starts(bytes: &[u8], within: Range<usize>) -> Option<Vec<usize>> {
    let mut starts = Vec::new();
    let mut depth: usize = 0;
    let mut at_line_start = true;
    let mut i = within.start;
    while i < within.end {
        if at_line_start {
            at_line_start = false;
            if depth == 0 {
                starts.push(i);
            }
        }
        match bytes[i] {
            b'\n' => {
                at_line_start = true;
                i += 1;
            }
            b'#' => i = memchr::memchr(b'\n', &bytes[i..within.end]).map_or(within.end, |n| i + n),
            // A backslash before a line break joins the next line.
            b'\\' => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(b'\n'), _) => i += 2,
                (Some(b'\r'), Some(b'\n')) => i += 3,
                _ => i += 1,
            },
            b'(' | b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                i += 1;
            }
            b'"' | b'\'' => i = skip_string(&bytes[..within.end], i)?,
            _ => i += 1,
        }
    }
    (depth == 0).then_some(starts)
}

/// The offset after the string literal whose opening quote is at `i`.
/// Prefix letters need no care: they are ordinary bytes before the quote.
fn skip_string(bytes: &[u8], i: usize) -> Option<usize> {
    let quote = bytes[i];
    let triple = bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote);
    let mut j = i + if triple { 3 } else { 1 };
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'\n' if !triple => return None,
            c if c == quote => {
                if !triple {
                    return Some(j + 1);
                }
                if bytes.get(j + 1) == Some(&quote) && bytes.get(j + 2) == Some(&quote) {
                    return Some(j + 3);
                }
                j += 1;
            }
            _ => j += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk_texts(source: &str) -> Vec<(&str, Option<&str>)> {
        split(source.as_bytes(), 0..source.len(), b"")
            .unwrap()
            .into_iter()
            .map(|c| (&source[c.range], c.defines.map(|d| &source[d])))
            .collect()
    }

    #[test]
    fn splits_top_level_statements() {
        let source = "import numpy as np\n\n@decorator\n@other(1)\ndef f(a,\nb):\n    return '''\nx\n'''\n\nclass C(\n  Base):\n    pass\nif x:\n    y = 1\nelse:\n    y = 2\nz = [\n1]\nasync def g(): pass\n";
        let chunks = chunk_texts(source);
        assert_eq!(chunks[0], ("import numpy as np\n\n", None));
        assert_eq!(chunks[1].1, Some("f"));
        assert!(chunks[1].0.starts_with("@decorator") && chunks[1].0.ends_with("'''\n\n"));
        assert_eq!(chunks[2].1, Some("C"));
        assert_eq!(chunks[3], ("if x:\n    y = 1\nelse:\n    y = 2\n", None));
        assert_eq!(chunks[4], ("z = [\n1]\n", None));
        assert_eq!(chunks[5], ("async def g(): pass\n", Some("g")));
    }

    #[test]
    fn strings_comments_and_continuations_do_not_start_statements() {
        let source = "x = 1 + \\\ndef_not_a_def\ns = \"# ( not a comment\"\nt = 'a\\'b' # (\nu = \"\"\"\ndef inner(): pass\n\"\"\"\n";
        let starts: Vec<&str> = chunk_texts(source).into_iter().map(|(t, _)| t.lines().next().unwrap()).collect();
        assert_eq!(starts, ["x = 1 + \\", "s = \"# ( not a comment\"", "t = 'a\\'b' # (", "u = \"\"\""]);
    }

    #[test]
    fn unbalanced_text_parses_whole() {
        assert!(ranges_to_parse("x = (\ndef f(): pass\n", &[]).is_none());
        assert!(ranges_to_parse("s = '''\ndef f(): pass\n", &[]).is_none());
        assert!(ranges_to_parse("x = )\n", &[]).is_none());
    }

    #[test]
    fn skips_definitions_without_candidates_unless_their_name_is_used() {
        let source = "import numpy as np\n__all__ = ['quiet']\ndef quiet():\n    return 1\ndef loud():\n    return np.float_\ndef np():\n    pass\n";
        let loud = source.find("float_").unwrap();
        let ranges = ranges_to_parse(source, &[loud]).unwrap();
        let parsed: String = ranges.iter().map(|r| &source[r.clone()]).collect();
        assert!(!parsed.contains("def quiet"), "{parsed}");
        assert!(parsed.contains("def loud"), "{parsed}");
        assert!(parsed.contains("def np"), "a definition shadowing a module-level name is parsed: {parsed}");
        assert!(ranges_to_parse("from numpy import *\ndef quiet(): pass\n", &[]).is_none());
        let source = "import numpy as np\nfrom numpy.random import rand as r\ng = np.float_\ndef quiet():\n    return np.zeros(1)\ndef uses():\n    return r(3)\ndef also():\n    return g\n";
        let ranges = ranges_to_parse(source, &[source.find("rand as").unwrap(), source.find("float_").unwrap()]).unwrap();
        let parsed: String = ranges.iter().map(|r| &source[r.clone()]).collect();
        assert!(parsed.contains("def uses") && parsed.contains("def also"), "{parsed}");
        assert!(!parsed.contains("def quiet"), "{parsed}");
    }

    #[test]
    fn methods_of_a_needed_class_are_skipped_by_the_same_rules() {
        let source = "import numpy as np\nclass C(Base):\n    \"\"\"Doc.\"\"\"\n    x = 1\n\n    @property\n    def quiet(self):\n        return 1\n\n    def loud(self):\n        return np.float_\n\n    def kept(self):\n        pass\n    kept = staticmethod(kept)\n";
        let ranges = ranges_to_parse(source, &[source.find("float_").unwrap()]).unwrap();
        let parsed: String = ranges.iter().map(|r| &source[r.clone()]).collect();
        assert!(!parsed.contains("def quiet") && !parsed.contains("@property"), "{parsed}");
        assert!(parsed.contains("class C(Base):\n    \"\"\"Doc.\"\"\"\n    x = 1\n"), "{parsed}");
        assert!(parsed.contains("    def loud(self):\n        return np.float_\n"), "{parsed}");
        assert!(parsed.contains("def kept"), "a method named in the class body is kept: {parsed}");
    }
}
