//! A Markdown reader for release notes (GitHub release bodies).
//!
//! ATX (`#`…`######`) and setext headings, bullet and ordered lists (nested items
//! stay in their parent's text), fenced code, pipe tables, paragraphs. HTML-only
//! lines and comments are dropped (PyTorch's notes put code in `<table>` cells);
//! links give their text, images are dropped, escapes are removed.

use super::doc::{render_nested, Block};

pub(crate) fn parse(text: &str) -> Vec<Block> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n").replace('\t', "    ");
    let text = strip_comments(&text);
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    parse_lines(&lines, &mut out, true);
    out
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn atx(line: &str) -> Option<(usize, String)> {
    if indent(line) > 3 {
        return None;
    }
    let t = line.trim();
    let hashes = t.chars().take_while(|&c| c == '#').count();
    if hashes == 0 || hashes > 6 {
        return None;
    }
    let rest = &t[hashes..];
    if !rest.is_empty() && !rest.starts_with(' ') {
        return None;
    }
    let title = rest.trim().trim_end_matches('#').trim();
    Some((hashes, title.to_string()))
}

fn setext(line: &str) -> Option<usize> {
    if indent(line) > 3 {
        return None;
    }
    let t = line.trim();
    if t.len() >= 2 && t.chars().all(|c| c == '=') {
        Some(1)
    } else if t.len() >= 2 && t.chars().all(|c| c == '-') {
        Some(2)
    } else {
        None
    }
}

fn fence(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.starts_with("```") {
        Some("```")
    } else if t.starts_with("~~~") {
        Some("~~~")
    } else {
        None
    }
}

fn thematic_break(line: &str) -> bool {
    let t: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    t.len() >= 3 && (t.chars().all(|c| c == '-') || t.chars().all(|c| c == '*') || t.chars().all(|c| c == '_'))
}

/// Whether the line is only HTML tags (`<table>`, `</td><td>`, `<br/>` …).
fn html_only(line: &str) -> bool {
    let mut t = line.trim();
    if !t.starts_with('<') {
        return false;
    }
    while let Some(rest) = t.strip_prefix('<') {
        let Some(end) = rest.find('>') else { return false };
        let tag = &rest[..end];
        if !tag.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!') {
            return false;
        }
        t = rest[end + 1..].trim_start();
    }
    t.is_empty()
}

/// Column of the text after a list marker, if the line starts a list item.
fn list_marker(line: &str) -> Option<usize> {
    let ind = indent(line);
    let t = &line[ind..];
    let marker = if t.starts_with("- ") || t.starts_with("* ") || t.starts_with("+ ") {
        1
    } else {
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        if digits == 0 || digits > 9 || !matches!(t[digits..].chars().next(), Some('.' | ')')) {
            return None;
        }
        digits + 1
    };
    let rest = &t[marker..];
    if !rest.starts_with(' ') && !rest.is_empty() {
        return None;
    }
    if thematic_break(line) {
        return None;
    }
    Some(ind + marker + (rest.len() - rest.trim_start_matches(' ').len()).min(4))
}

fn starts_block(line: &str) -> bool {
    atx(line).is_some() || fence(line).is_some() || list_marker(line).is_some() || line.trim_start().starts_with('|')
}

fn parse_lines(lines: &[&str], out: &mut Vec<Block>, top: bool) {
    let n = lines.len();
    let mut i = 0;
    while i < n {
        let line = lines[i];
        if blank(line) || html_only(line) {
            i += 1;
            continue;
        }
        let ind = indent(line);
        if let Some((level, title)) = atx(line) {
            if top {
                out.push(Block::Heading { level, title: heading(&title) });
            } else if !title.is_empty() {
                out.push(Block::Para(inline(&title)));
            }
            i += 1;
            continue;
        }
        if let Some(marker) = fence(line) {
            let mut j = i + 1;
            let mut code = Vec::new();
            while j < n && !lines[j].trim_start().starts_with(marker) {
                code.push(lines[j]);
                j += 1;
            }
            let min = code.iter().filter(|l| !blank(l)).map(|l| indent(l)).min().unwrap_or(0);
            let text = code.iter().map(|l| l.get(min..).unwrap_or("").trim_end()).collect::<Vec<_>>().join("\n");
            if !text.trim().is_empty() {
                out.push(Block::Code(text.trim_matches('\n').to_string()));
            }
            i = (j + 1).min(n);
            continue;
        }
        if thematic_break(line) {
            i += 1;
            continue;
        }
        if line.trim_start().starts_with('|') {
            let mut j = i;
            while j < n && lines[j].trim_start().starts_with('|') {
                let row = lines[j].trim().trim_matches('|');
                let is_separator = row.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '));
                if !is_separator {
                    let cells: Vec<String> =
                        row.split('|').map(|c| inline(c.trim())).filter(|c| !c.is_empty()).collect();
                    if !cells.is_empty() {
                        out.push(Block::Row(cells.join(" — ")));
                    }
                }
                j += 1;
            }
            i = j;
            continue;
        }
        if let Some(col) = list_marker(line) {
            let mut end = i + 1;
            let mut previous_blank = false;
            while end < n {
                let l = lines[end];
                if blank(l) {
                    previous_blank = true;
                    end += 1;
                    continue;
                }
                if indent(l) > ind && (indent(l) >= col || !previous_blank) {
                    previous_blank = false;
                    end += 1;
                } else if !previous_blank && !starts_block(l) && setext(l).is_none() && !html_only(l) {
                    end += 1; // a lazy continuation line
                } else {
                    break;
                }
            }
            while end > i + 1 && blank(lines[end - 1]) {
                end -= 1;
            }
            let mut body = vec![line[col.min(line.len())..].to_string()];
            for l in &lines[i + 1..end] {
                let cut = indent(l).min(col);
                body.push(if blank(l) { String::new() } else { l[cut..].to_string() });
            }
            let refs: Vec<&str> = body.iter().map(String::as_str).collect();
            let mut sub = Vec::new();
            parse_lines(&refs, &mut sub, false);
            let text = render_nested(&sub);
            if !text.trim().is_empty() {
                out.push(Block::Item(text));
            }
            i = end;
            continue;
        }
        // A paragraph (or a setext heading).
        let mut j = i;
        let mut para: Vec<&str> = Vec::new();
        let mut setext_level = None;
        while j < n && !blank(lines[j]) {
            if j > i {
                if let Some(level) = setext(lines[j]) {
                    if para.len() == 1 && top {
                        setext_level = Some(level);
                        j += 1;
                        break;
                    }
                }
                if starts_block(lines[j]) || html_only(lines[j]) {
                    break;
                }
            }
            para.push(lines[j]);
            j += 1;
        }
        i = j.max(i + 1);
        let text = inline(&para.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" "));
        match setext_level {
            Some(level) => out.push(Block::Heading { level, title: text.replace("**", "") }),
            None if !text.is_empty() => out.push(Block::Para(text)),
            None => {}
        }
    }
}

fn heading(title: &str) -> String {
    inline(title).replace("**", "").replace("__", "").trim().to_string()
}

/// Makes inline Markdown readable: links give their text, images and inline HTML
/// tags go, escapes are removed; code spans and emphasis stay.
pub(crate) fn inline(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < n {
        let c = chars[i];
        if c == '`' {
            let ticks = chars[i..].iter().take_while(|&&c| c == '`').count();
            let close = (i + ticks..n).find(|&k| {
                chars[k..].iter().take_while(|&&c| c == '`').count() == ticks && (k == 0 || chars[k - 1] != '`')
            });
            if let Some(close) = close {
                let inner: String = chars[i + ticks..close].iter().collect();
                out.push('`');
                out.push_str(inner.trim());
                out.push('`');
                i = close + ticks;
                continue;
            }
        }
        if c == '!' && chars.get(i + 1) == Some(&'[') {
            if let Some((_, end)) = link_at(&chars, i + 1) {
                i = end;
                continue;
            }
        }
        if c == '[' {
            if let Some((label, end)) = link_at(&chars, i) {
                out.push_str(&inline(&label));
                i = end;
                continue;
            }
        }
        if c == '<' {
            if let Some(end) = (i + 1..n).find(|&k| chars[k] == '>') {
                let inner: String = chars[i + 1..end].iter().collect();
                let is_tag = inner.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/') && !inner.contains(' ')
                    || inner.starts_with(|c: char| c.is_ascii_alphabetic()) && inner.contains('=');
                if inner.contains("://") {
                    out.push_str(&inner);
                    i = end + 1;
                    continue;
                }
                if is_tag && !inner.contains('<') {
                    out.push(' ');
                    i = end + 1;
                    continue;
                }
            }
        }
        if c == '\\' {
            if let Some(&next) = chars.get(i + 1) {
                if next.is_ascii_punctuation() {
                    out.push(next);
                    i += 2;
                    continue;
                }
            }
        }
        out.push(c);
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `[label](url)` or `[label][ref]` at `start`: the label and the index after it.
fn link_at(chars: &[char], start: usize) -> Option<(String, usize)> {
    let mut depth = 0;
    let mut k = start;
    while k < chars.len() {
        match chars[k] {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        k += 1;
    }
    if k >= chars.len() {
        return None;
    }
    let label: String = chars[start + 1..k].iter().collect();
    let close = match chars.get(k + 1) {
        Some('(') => ')',
        Some('[') => ']',
        _ => return None,
    };
    let end = (k + 2..chars.len()).find(|&j| chars[j] == close)?;
    Some((label, end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markdown() {
        assert_eq!(inline("see [the docs](https://x.y/z) and ![img](a.png)"), "see the docs and");
        assert_eq!(
            inline("`torch.cuda.amp.autocast(args...)` is **deprecated**"),
            "`torch.cuda.amp.autocast(args...)` is **deprecated**"
        );
        assert_eq!(inline("a<br>b \\_c"), "a b _c");
        assert_eq!(inline("(#12345)"), "(#12345)");
    }

    #[test]
    fn blocks() {
        let text = "\
# Title

- TOC one
- TOC two

## Backwards Incompatible Changes
### **A change (#1)**
Text of the change
on two lines.
<table><tr><td>
```python
old()
```
</td></tr></table>

* item with
  continuation
  * nested
1. first
";
        assert_eq!(
            parse(text),
            vec![
                Block::Heading { level: 1, title: "Title".into() },
                Block::Item("TOC one".into()),
                Block::Item("TOC two".into()),
                Block::Heading { level: 2, title: "Backwards Incompatible Changes".into() },
                Block::Heading { level: 3, title: "A change (#1)".into() },
                Block::Para("Text of the change on two lines.".into()),
                Block::Code("old()".into()),
                Block::Item("item with continuation\n- nested".into()),
                Block::Item("first".into()),
            ]
        );
    }
}
