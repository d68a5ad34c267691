//! A reStructuredText reader, as much of it as release notes use.
//!
//! Section titles (underlined, or over- and underlined; the level of a style is
//! the order it is first seen in), bullet and enumerated lists, paragraphs,
//! literal blocks (`::`, `.. code-block::`, `.. ipython::`, doctest), simple and
//! grid tables, admonitions (their text is kept), other directives, comments and
//! link targets (dropped). Inline markup becomes readable text: roles give their
//! target (``:func:`~numpy.trapz` `` → `` `numpy.trapz` ``), literals and code
//! roles are put in single backticks, links give their text, escapes are removed.

use super::doc::{render_nested, Block};

pub(crate) fn parse(text: &str) -> Vec<Block> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n").replace('\t', "    ");
    let lines: Vec<&str> = text.lines().collect();
    let mut styles = Vec::new();
    let mut out = Vec::new();
    parse_lines(&lines, &mut styles, &mut out, true);
    out
}

fn blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The adornment character if `line` is a run of one punctuation character.
fn adornment(line: &str) -> Option<char> {
    let t = line.trim_end();
    let first = t.chars().next()?;
    let is_punct = "=-`:'\"~^_*+#<>.!$%&(),/;?@[\\]{|}".contains(first);
    (is_punct && t.chars().count() >= 2 && t.chars().all(|c| c == first) && !line.starts_with(' ')).then_some(first)
}

/// `===  =====  ===` (a simple table's border).
fn is_simple_table_border(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('=') && t.contains(' ') && t.chars().all(|c| c == '=' || c == ' ')
}

/// Column of the text after a bullet or enumerator, if the line starts a list item.
fn list_marker(line: &str) -> Option<usize> {
    let ind = indent(line);
    let t = &line[ind..];
    let marker_len = if t.starts_with("* ") || t.starts_with("- ") || t.starts_with("+ ") || t.starts_with("• ") {
        t.chars().next().map(char::len_utf8).unwrap_or(1)
    } else if t.starts_with("#. ") {
        2
    } else {
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        let paren = t.starts_with('(');
        let digits = if paren { t[1..].chars().take_while(char::is_ascii_digit).count() } else { digits };
        if digits == 0 || digits > 3 {
            return None;
        }
        let after = if paren { 1 + digits } else { digits };
        match (paren, t[after..].chars().next()) {
            (true, Some(')')) | (false, Some('.' | ')')) => after + 1,
            _ => return None,
        }
    };
    let rest = &t[marker_len..];
    if !rest.starts_with(' ') {
        return None;
    }
    let spaces = rest.len() - rest.trim_start_matches(' ').len();
    Some(ind + marker_len + spaces)
}

/// First line at or after `start` that is not blank and is indented `ind` or less.
fn block_end(lines: &[&str], start: usize, ind: usize) -> usize {
    let mut j = start;
    while j < lines.len() && (blank(lines[j]) || indent(lines[j]) > ind) {
        j += 1;
    }
    j
}

/// Lines with their common indentation removed; leading and trailing blank lines dropped.
fn dedent(lines: &[&str]) -> Vec<String> {
    let min = lines.iter().filter(|l| !blank(l)).map(|l| indent(l)).min().unwrap_or(0);
    let mut out: Vec<String> =
        lines.iter().map(|l| if blank(l) { String::new() } else { l[min.min(l.len())..].to_string() }).collect();
    while out.first().is_some_and(|l| l.is_empty()) {
        out.remove(0);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    out
}

fn level_of(styles: &mut Vec<(char, bool)>, style: (char, bool)) -> usize {
    match styles.iter().position(|s| *s == style) {
        Some(p) => p,
        None => {
            styles.push(style);
            styles.len() - 1
        }
    }
}

fn heading(title: &str) -> String {
    inline(title.trim()).replace("**", "")
}

fn parse_lines(lines: &[&str], styles: &mut Vec<(char, bool)>, out: &mut Vec<Block>, top: bool) {
    let n = lines.len();
    let mut i = 0;
    let mut expect_literal = false;
    while i < n {
        let line = lines[i];
        if blank(line) {
            i += 1;
            continue;
        }
        let ind = indent(line);
        let t = line.trim();

        // Section titles (only at the top level: bodies cannot hold sections).
        if top && ind == 0 {
            if let Some(c) = adornment(line) {
                if i + 2 < n
                    && !blank(lines[i + 1])
                    && adornment(lines[i + 2]) == Some(c)
                    && !is_simple_table_border(line)
                {
                    let level = level_of(styles, (c, true));
                    out.push(Block::Heading { level, title: heading(lines[i + 1]) });
                    expect_literal = false;
                    i += 3;
                    continue;
                }
                if !is_simple_table_border(line) {
                    // A transition, or a stray adornment.
                    i += 1;
                    continue;
                }
            } else if i + 1 < n {
                if let Some(c) = adornment(lines[i + 1]) {
                    let under = lines[i + 1].trim_end().chars().count();
                    let title = t.chars().count();
                    let after_break = i == 0 || blank(lines[i - 1]) || lines[i - 1].trim_start().starts_with("..");
                    if after_break && under + 3 >= title && !is_simple_table_border(lines[i + 1]) {
                        let level = level_of(styles, (c, false));
                        out.push(Block::Heading { level, title: heading(t) });
                        expect_literal = false;
                        i += 2;
                        continue;
                    }
                }
            }
        }

        // Literal block after `::`.
        if expect_literal && ind > 0 {
            let end = block_end(lines, i, ind - 1);
            out.push(Block::Code(dedent(&lines[i..end]).join("\n")));
            expect_literal = false;
            i = end;
            continue;
        }
        expect_literal = false;

        // Tables.
        if is_simple_table_border(line) {
            i = simple_table(lines, i, out);
            continue;
        }
        if t.starts_with("+-") || t.starts_with("+=") {
            i = grid_table(lines, i, out);
            continue;
        }

        // Directives, comments, link targets.
        if t == ".." || t.starts_with(".. ") {
            let end = block_end(lines, i + 1, ind);
            directive(t[2..].trim(), &lines[i + 1..end], styles, out);
            i = end;
            continue;
        }
        if t == "__" || t.starts_with("__ ") {
            i = block_end(lines, i + 1, ind);
            continue;
        }

        // List items.
        if let Some(col) = list_marker(line) {
            let mut end = i + 1;
            while end < n {
                if blank(lines[end]) {
                    let next = (end..n).find(|&k| !blank(lines[k]));
                    match next {
                        Some(k) if indent(lines[k]) > ind => end = k,
                        _ => break,
                    }
                } else if indent(lines[end]) > ind {
                    end += 1;
                } else {
                    break;
                }
            }
            let mut body = vec![line[col.min(line.len())..].to_string()];
            for l in &lines[i + 1..end] {
                let cut = indent(l).min(col);
                body.push(if blank(l) { String::new() } else { l[cut..].to_string() });
            }
            let body_refs: Vec<&str> = body.iter().map(String::as_str).collect();
            let mut sub = Vec::new();
            parse_lines(&body_refs, styles, &mut sub, false);
            let text = render_nested(&sub);
            if !text.trim().is_empty() {
                out.push(Block::Item(text));
            }
            i = end;
            continue;
        }

        // A block quote: indented text that is not a literal block.
        if ind > 0 {
            let end = block_end(lines, i, ind - 1);
            let body = dedent(&lines[i..end]);
            let body_refs: Vec<&str> = body.iter().map(String::as_str).collect();
            parse_lines(&body_refs, styles, out, false);
            i = end;
            continue;
        }

        // A paragraph.
        let mut j = i;
        let mut para: Vec<&str> = Vec::new();
        while j < n && !blank(lines[j]) {
            if j > i {
                let tj = lines[j].trim();
                if (indent(lines[j]) == ind && list_marker(lines[j]).is_some()) || tj.starts_with(".. ") {
                    break;
                }
            }
            para.push(lines[j]);
            j += 1;
        }
        i = j;
        if para[0].trim_start().starts_with(">>>") {
            out.push(Block::Code(dedent(&para).join("\n")));
            continue;
        }
        let mut text = para.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        if text.starts_with("{{") && text.ends_with("}}") || text.starts_with("{%") && text.ends_with("%}") {
            continue; // a template placeholder (pandas' `{{ header }}`)
        }
        if let Some(stripped) = text.strip_suffix("::") {
            expect_literal = true;
            text = if stripped.ends_with(' ') || stripped.is_empty() {
                stripped.trim_end().to_string()
            } else {
                format!("{stripped}:")
            };
        }
        let text = inline(&text);
        if !text.trim().is_empty() {
            out.push(Block::Para(text));
        }
    }
}

const CODE_DIRECTIVES: &[&str] =
    &["code-block", "code", "sourcecode", "ipython", "testcode", "doctest", "plot", "literalinclude-text"];
const TEXT_DIRECTIVES: &[&str] = &[
    "note",
    "warning",
    "important",
    "tip",
    "attention",
    "caution",
    "danger",
    "hint",
    "admonition",
    "seealso",
    "deprecated",
    "versionadded",
    "versionchanged",
    "versionremoved",
];

fn directive(rest: &str, body: &[&str], styles: &mut Vec<(char, bool)>, out: &mut Vec<Block>) {
    if rest.starts_with('_') || rest.starts_with('|') || rest.starts_with('[') {
        return; // link target, substitution definition, footnote
    }
    let Some((name, arg)) = rest.split_once("::") else {
        return; // a comment
    };
    let name = name.trim().to_lowercase();
    let name = name.rsplit(':').next().unwrap_or(&name).to_string();
    let arg = arg.trim();
    // Leading `:option: value` lines of the body are the directive's options.
    let body = dedent(body);
    let content: Vec<&str> = body
        .iter()
        .map(String::as_str)
        .skip_while(|l| {
            let t = l.trim();
            t.starts_with(':') && t[1..].find(':').is_some_and(|p| p > 0 && !t[1..=p].contains(' '))
        })
        .collect();
    if CODE_DIRECTIVES.contains(&name.as_str()) {
        let code = dedent(&content).join("\n");
        if !code.trim().is_empty() {
            out.push(Block::Code(code));
        }
    } else if TEXT_DIRECTIVES.contains(&name.as_str()) {
        let mut sub = Vec::new();
        let mut lines: Vec<&str> = Vec::new();
        let label = match name.as_str() {
            "deprecated" => Some("Deprecated since"),
            "versionadded" => Some("New in"),
            "versionchanged" => Some("Changed in"),
            "versionremoved" => Some("Removed in"),
            _ => None,
        };
        let first;
        match label {
            Some(label) if !arg.is_empty() => {
                first = format!("{label} {arg}:");
                lines.push(&first);
            }
            _ if !arg.is_empty() => lines.push(arg),
            _ => {}
        }
        lines.extend(content.iter().copied());
        parse_lines(&lines, styles, &mut sub, false);
        if let [Block::Para(a), Block::Para(b), ..] = sub.as_slice() {
            if label.is_some() && a.ends_with(':') {
                let merged = format!("{a} {b}");
                sub.splice(0..2, [Block::Para(merged)]);
            }
        }
        out.extend(sub);
    }
}

/// Character columns of a simple table border: (start, end) of each `=` run.
fn columns(border: &str) -> Vec<(usize, usize)> {
    let mut cols = Vec::new();
    let mut start = None;
    for (k, c) in border.chars().enumerate() {
        match (c, start) {
            ('=', None) => start = Some(k),
            (' ', Some(s)) => {
                cols.push((s, k));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        cols.push((s, border.chars().count()));
    }
    cols
}

fn cells(line: &str, cols: &[(usize, usize)]) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    cols.iter()
        .enumerate()
        .map(|(k, &(s, _))| {
            let end = cols.get(k + 1).map(|c| c.0).unwrap_or(chars.len());
            chars
                .get(s.min(chars.len())..end.min(chars.len()))
                .map(|c| c.iter().collect::<String>())
                .unwrap_or_default()
        })
        .map(|c| c.trim().to_string())
        .collect()
}

fn is_dotted_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            let mut chars = p.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || c == '_')
        })
}

fn render_row(row: &[String], first_is_name: bool) -> String {
    row.iter()
        .enumerate()
        .filter(|(_, c)| !c.is_empty())
        .map(|(k, c)| {
            let text = inline(c);
            if k == 0 && first_is_name && is_dotted_identifier(&text) {
                format!("`{text}`")
            } else {
                text
            }
        })
        .collect::<Vec<_>>()
        .join(" — ")
}

fn simple_table(lines: &[&str], start: usize, out: &mut Vec<Block>) -> usize {
    let base = indent(lines[start]);
    let strip = |l: &str| l.get(base.min(indent(l))..).unwrap_or("").to_string();
    let cols = columns(&strip(lines[start]));
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut header_rows = 0;
    let mut borders = 1;
    let mut j = start + 1;
    while j < lines.len() {
        let l = lines[j];
        if is_simple_table_border(l) {
            borders += 1;
            j += 1;
            if borders == 2 && j < lines.len() && !blank(lines[j]) {
                header_rows = rows.len();
                continue;
            }
            break;
        }
        if blank(l) {
            j += 1;
            continue;
        }
        let row = cells(&strip(l), &cols);
        if row.first().is_some_and(String::is_empty) && !rows.is_empty() {
            let last = rows.last_mut().expect("checked");
            for (k, c) in row.into_iter().enumerate() {
                if !c.is_empty() {
                    if !last[k].is_empty() {
                        last[k].push(' ');
                    }
                    last[k].push_str(&c);
                }
            }
        } else {
            rows.push(row);
        }
        j += 1;
    }
    let header = rows[..header_rows].first().map(|h| h.first().cloned().unwrap_or_default().to_lowercase());
    let first_is_name = header.is_some_and(|h| {
        ["member", "name", "function", "attribute", "alias", "symbol", "api", "removed", "deprecated"]
            .iter()
            .any(|w| h.contains(w))
    });
    for row in &rows[header_rows..] {
        let text = render_row(row, first_is_name);
        if !text.is_empty() {
            out.push(Block::Row(text));
        }
    }
    j
}

fn grid_table(lines: &[&str], start: usize, out: &mut Vec<Block>) -> usize {
    let border = lines[start].trim();
    let bars: Vec<usize> = border.char_indices().filter(|(_, c)| *c == '+').map(|(k, _)| k).collect();
    let base = indent(lines[start]);
    let mut j = start + 1;
    let mut current: Vec<String> = vec![String::new(); bars.len().saturating_sub(1)];
    let mut rows = Vec::new();
    while j < lines.len() {
        let t = lines[j].get(base..).unwrap_or("").trim_end();
        if t.starts_with("+-") || t.starts_with("+=") {
            if current.iter().any(|c| !c.is_empty()) {
                rows.push(std::mem::replace(&mut current, vec![String::new(); bars.len().saturating_sub(1)]));
            }
            j += 1;
            continue;
        }
        if !t.starts_with('|') {
            break;
        }
        let chars: Vec<char> = t.chars().collect();
        for k in 0..current.len() {
            let (s, e) = (bars[k] + 1, bars[k + 1].min(chars.len()));
            if s < e {
                let cell: String =
                    chars[s..e].iter().collect::<String>().trim().trim_end_matches('|').trim().to_string();
                if !cell.is_empty() {
                    if !current[k].is_empty() {
                        current[k].push(' ');
                    }
                    current[k].push_str(&cell);
                }
            }
        }
        j += 1;
    }
    for row in rows {
        let text = render_row(&row, false);
        if !text.is_empty() {
            out.push(Block::Row(text));
        }
    }
    j
}

/// Makes inline markup readable.
pub(crate) fn inline(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(text.len());
    let find = |from: usize, pat: &[char]| -> Option<usize> {
        (from..n.saturating_sub(pat.len() - 1)).find(|&k| chars[k..k + pat.len()] == *pat)
    };
    let mut i = 0;
    while i < n {
        let c = chars[i];
        // ``literal``
        if c == '`' && chars.get(i + 1) == Some(&'`') {
            if let Some(close) = find(i + 2, &['`', '`']) {
                let inner: String = chars[i + 2..close].iter().collect();
                out.push('`');
                out.push_str(&inner);
                out.push('`');
                i = close + 2;
                continue;
            }
        }
        // :role:`target`
        if c == ':' && (i == 0 || !chars[i - 1].is_alphanumeric()) {
            let mut j = i + 1;
            while j < n && (chars[j].is_alphanumeric() || "_-+.:".contains(chars[j])) {
                j += 1;
            }
            if j > i + 2 && chars[j - 1] == ':' && chars.get(j) == Some(&'`') {
                if let Some(close) = find(j + 1, &['`']) {
                    let name: String = chars[i + 1..j - 1].iter().collect();
                    let content: String = chars[j + 1..close].iter().collect();
                    out.push_str(&role(&name, &content));
                    i = close + 1;
                    while i < n && chars[i] == '_' {
                        i += 1;
                    }
                    continue;
                }
            }
        }
        // `text <url>`_ , `text`_ , `default role`
        if c == '`' {
            if let Some(close) = find(i + 1, &['`']) {
                let content: String = chars[i + 1..close].iter().collect();
                let mut after = close + 1;
                let mut underscores = 0;
                while after < n && chars[after] == '_' && underscores < 2 {
                    after += 1;
                    underscores += 1;
                }
                match split_title_target(&content) {
                    (Some(title), _) => out.push_str(&title),
                    (None, target) if target.contains("://") => out.push_str(&target),
                    (None, target) if underscores > 0 => out.push_str(&target),
                    (None, target) => {
                        out.push('`');
                        out.push_str(&target);
                        out.push('`');
                    }
                }
                i = after;
                continue;
            }
        }
        if c == '\\' {
            match chars.get(i + 1) {
                Some(' ') | Some('\n') => i += 2,
                Some(&next) => {
                    out.push(next);
                    i += 2;
                }
                None => i += 1,
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `Title <target>` → (Some(Title), target); `target` → (None, target).
fn split_title_target(content: &str) -> (Option<String>, String) {
    let c = content.trim();
    if c.ends_with('>') {
        if let Some(open) = c.rfind('<') {
            let title = c[..open].trim();
            let target = c[open + 1..c.len() - 1].trim();
            if !title.is_empty() {
                return (Some(title.to_string()), target.to_string());
            }
            return (None, target.to_string());
        }
    }
    (None, c.to_string())
}

fn role(name: &str, content: &str) -> String {
    let kind = name.rsplit(':').next().unwrap_or(name);
    let (title, target) = split_title_target(content);
    match kind {
        "issue" | "gh" | "ghissue" => format!("GH#{target}"),
        "pr" | "pull" | "ghpull" => format!("PR#{target}"),
        "user" | "ref" | "doc" | "term" | "math" | "abbr" | "sup" | "sub" | "numref" | "mod-title" => {
            title.unwrap_or(target)
        }
        "file" | "envvar" | "kbd" | "program" | "option" | "samp" | "command" => {
            format!("`{}`", title.unwrap_or(target))
        }
        // Python objects: the target, fully qualified (`~` and `!` only change how Sphinx shows it).
        _ => {
            let target = target.trim_start_matches(['~', '!', '.']);
            format!("`{target}`")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markup_becomes_readable() {
        assert_eq!(inline(":func:`~numpy.trapz` is deprecated"), "`numpy.trapz` is deprecated");
        assert_eq!(inline("use ``np.float64`` instead of ``np.float_``"), "use `np.float64` instead of `np.float_`");
        assert_eq!(
            inline(":meth:`DataFrame.append <pandas.DataFrame.append>` (:issue:`35407`)"),
            "`pandas.DataFrame.append` (GH#35407)"
        );
        assert_eq!(inline("(`gh-24357 <https://github.com/numpy/numpy/pull/24357>`__)"), "(gh-24357)");
        assert_eq!(inline("by :user:`Jane Doe <jdoe>`"), "by Jane Doe");
        assert_eq!(inline("float\\_ and `tol`"), "float_ and `tol`");
        assert_eq!(inline(":py:class:`!numpy.ndarray`"), "`numpy.ndarray`");
    }

    #[test]
    fn headings_lists_and_literals() {
        let text = "\
=======
Title
=======

Intro paragraph
over two lines.

Section
-------

* first item
  continued
* second item::

      code()

Sub
~~~

1. numbered
#. auto

.. note::
   Kept note text.

.. currentmodule:: numpy

.. _label:

Para with literal::

    x = 1
";
        let blocks = parse(text);
        assert_eq!(
            blocks,
            vec![
                Block::Heading { level: 0, title: "Title".into() },
                Block::Para("Intro paragraph over two lines.".into()),
                Block::Heading { level: 1, title: "Section".into() },
                Block::Item("first item continued".into()),
                Block::Item("second item:\n\n    code()".into()),
                Block::Heading { level: 2, title: "Sub".into() },
                Block::Item("numbered".into()),
                Block::Item("auto".into()),
                Block::Para("Kept note text.".into()),
                Block::Para("Para with literal:".into()),
                Block::Code("x = 1".into()),
            ]
        );
    }

    #[test]
    fn simple_tables_give_rows() {
        let text = "\
The following members were removed:

==============  ==============================
removed member  migration guideline
==============  ==============================
float\\_         Use ``np.float64`` instead.
cast            Use ``np.asarray(arg, dtype=dtype)``
                instead.
==============  ==============================
";
        let blocks = parse(text);
        assert_eq!(
            blocks,
            vec![
                Block::Para("The following members were removed:".into()),
                Block::Row("`float_` — Use `np.float64` instead.".into()),
                Block::Row("`cast` — Use `np.asarray(arg, dtype=dtype)` instead.".into()),
            ]
        );
    }
}
