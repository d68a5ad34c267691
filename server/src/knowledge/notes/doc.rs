//! The format-neutral shape of a release-notes page, and how it becomes entries.
//!
//! Both parsers produce a flat list of [`Block`]s: headings (with a level) and the
//! paragraphs, list items, literal blocks and table rows under them, their inline
//! markup already made readable. [`build_entries`] turns that into [`NoteEntry`]s:
//!
//! * a heading whose title names a section ("Deprecations", "Expired
//!   deprecations", "Removal of prior version deprecations/changes", "Backwards
//!   incompatible API changes", …) sets the section of everything below it, and each
//!   item, paragraph or table row directly under it is an entry;
//! * any other heading (NumPy's "``np.float_`` has been removed", a torch change
//!   title) makes one entry of the text under it, titled with the heading; if that
//!   text is only list items (scikit-learn's `:mod:` headings, torch's "Python
//!   frontend"), each item is an entry titled with the heading;
//! * scikit-learn's `|API|` / `|Fix|` tags are removed from the text and, with the
//!   words of the entry, classify it: "deprecated … will be removed" → Deprecations,
//!   "… is now removed" → Removals, other "deprecat…" → Deprecations, other `|API|`
//!   → API changes; otherwise the heading's section stands;
//! * empty and trivial entries (a date, a table-of-contents line) are dropped.

use super::{NoteEntry, Section};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Block {
    Heading { level: usize, title: String },
    Para(String),
    Item(String),
    Code(String),
    Row(String),
}

/// The section a heading's title names, if it names one.
pub(crate) fn section_of_title(title: &str) -> Option<Section> {
    if title.contains('`') || title.split_whitespace().count() > 7 {
        return None;
    }
    let t = title.to_lowercase();
    if t.starts_with("c api") || t.starts_with("c-api") || t.contains(" c api") || t.contains(" c-api") {
        return None; // the C API is not what a Python finding is about
    }
    if t.contains("expired") {
        Some(Section::ExpiredDeprecations)
    } else if t.contains("remov") {
        Some(Section::Removals)
    } else if t.contains("deprecat") {
        Some(Section::Deprecations)
    } else if t.contains("backward") && t.contains("incompatib")
        || t.contains("breaking")
        || t.contains("api change")
        || t.contains("api break")
    {
        Some(Section::ApiChanges)
    } else if t.contains("behavior")
        || t.contains("behaviour")
        || t.contains("compatibility note")
        || t.contains("changed model")
    {
        Some(Section::BehaviourChanges)
    } else {
        None
    }
}

/// `Version 1.2.1` → `1.2.1` (scikit-learn's per-patch sections).
fn version_of_title(title: &str) -> Option<String> {
    let lower = title.trim().to_lowercase();
    let rest = lower.strip_prefix("version ")?.trim();
    let valid = !rest.is_empty()
        && rest.split('.').count() >= 2
        && rest.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    valid.then(|| rest.to_string())
}

/// scikit-learn's change tags.
const TAGS: &[&str] = &["MajorFeature", "Feature", "Efficiency", "Enhancement", "Fix", "API"];

/// Removes `|Tag|` markers; returns the text and the tags found.
fn take_tags(text: &str) -> (String, Vec<&'static str>) {
    let mut found = Vec::new();
    let mut out = text.to_string();
    for tag in TAGS {
        let marker = format!("|{tag}|");
        if out.contains(&marker) {
            found.push(*tag);
            out = out.replace(&marker, "");
        }
    }
    if found.is_empty() {
        return (text.to_string(), found);
    }
    (squeeze_spaces(&out), found)
}

fn squeeze_spaces(text: &str) -> String {
    text.lines()
        .map(|line| {
            let indent = line.len() - line.trim_start().len();
            let body = line.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
            format!("{}{}", &line[..indent], body)
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn section_of_tags(tags: &[&str], text: &str) -> Option<Section> {
    if tags.is_empty() {
        return None;
    }
    let lower = text.to_lowercase();
    let announces = lower.contains("will be removed") || lower.contains("will raise");
    if lower.contains("deprecat") && announces {
        Some(Section::Deprecations)
    } else if lower.contains("removed") && !announces {
        Some(Section::Removals)
    } else if lower.contains("deprecat") {
        Some(Section::Deprecations)
    } else if tags.contains(&"API") {
        Some(Section::ApiChanges)
    } else {
        None // a fix or a feature: the heading's section stands
    }
}

/// Words with a letter or digit in them.
fn word_count(text: &str) -> usize {
    text.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count()
}

fn is_trivial(text: &str) -> bool {
    let t = text.trim();
    t.chars().filter(|c| c.is_alphanumeric()).count() < 3 || (word_count(t) < 3 && !t.contains('`'))
}

/// A heading node: its title, and the blocks directly under it.
struct Node<'a> {
    title: Option<&'a str>,
    level: usize,
    parent: Option<usize>,
    blocks: Vec<&'a Block>,
    has_children: bool,
}

pub(crate) fn build_entries(blocks: &[Block], library: &str, version: &str, source_url: &str) -> Vec<NoteEntry> {
    // 1. The heading tree.
    let mut nodes = vec![Node { title: None, level: 0, parent: None, blocks: Vec::new(), has_children: false }];
    let mut stack = vec![0usize];
    for block in blocks {
        match block {
            Block::Heading { level, title } => {
                let level = level + 1; // the root is level 0
                while nodes[*stack.last().expect("root stays")].level >= level {
                    stack.pop();
                }
                let parent = *stack.last().expect("root stays");
                nodes[parent].has_children = true;
                nodes.push(Node {
                    title: Some(title),
                    level,
                    parent: Some(parent),
                    blocks: Vec::new(),
                    has_children: false,
                });
                stack.push(nodes.len() - 1);
            }
            other => {
                let current = *stack.last().expect("root stays");
                nodes[current].blocks.push(other);
            }
        }
    }
    let headings: Vec<String> = nodes.iter().filter_map(|n| n.title.map(|t| t.trim().to_lowercase())).collect();

    // 2. Entries, node by node.
    let mut entries = Vec::new();
    for node in &nodes {
        if node.blocks.is_empty() {
            continue;
        }
        let mut section = None;
        let mut entry_version = None;
        let mut at = Some(node);
        while let Some(n) = at {
            if section.is_none() {
                section = n.title.and_then(section_of_title);
            }
            if entry_version.is_none() {
                entry_version = n.title.and_then(version_of_title);
            }
            at = n.parent.map(|p| &nodes[p]);
        }
        let names_section = node.title.and_then(section_of_title).is_some();
        let push = |entries: &mut Vec<NoteEntry>, title: Option<&str>, text: String, from_list: bool| {
            let (text, tags) = take_tags(&text);
            let text = text.trim().to_string();
            if is_trivial(&text) {
                return;
            }
            // A table-of-contents line repeats a heading of the page.
            if from_list && headings.contains(&text.trim_end_matches('.').to_lowercase()) {
                return;
            }
            let section = section_of_tags(&tags, &text).or(section).unwrap_or(Section::Other);
            entries.push(NoteEntry {
                library: library.to_string(),
                version: entry_version.clone().unwrap_or_else(|| version.to_string()),
                section,
                title: title.map(str::to_string),
                text,
                source_url: source_url.to_string(),
            });
        };

        let only_items = node.blocks.iter().enumerate().all(|(i, b)| match b {
            Block::Item(_) | Block::Row(_) | Block::Code(_) => true,
            Block::Para(p) => is_lead_in(p, node.blocks.get(i + 1).copied()),
            Block::Heading { .. } => false,
        });
        if node.title.is_none() || names_section || (only_items && node.title.is_some()) {
            // One entry per item, paragraph or row; literal blocks join the entry
            // before them; a lead-in ("… were removed:") prefixes the items after it.
            let title = if names_section { None } else { node.title };
            let mut lead: Option<&str> = None;
            let mut pending: Option<(String, bool)> = None;
            for (i, block) in node.blocks.iter().enumerate() {
                match block {
                    Block::Code(code) => {
                        if let Some((text, _)) = pending.as_mut() {
                            text.push_str("\n\n");
                            text.push_str(&indent_code(code));
                        }
                    }
                    Block::Para(p) if is_lead_in(p, node.blocks.get(i + 1).copied()) => {
                        if let Some((text, from_list)) = pending.take() {
                            push(&mut entries, title, text, from_list);
                        }
                        lead = Some(p);
                    }
                    Block::Para(p) => {
                        if let Some((text, from_list)) = pending.take() {
                            push(&mut entries, title, text, from_list);
                        }
                        lead = None;
                        pending = Some((p.clone(), false));
                    }
                    Block::Item(t) | Block::Row(t) => {
                        if let Some((text, from_list)) = pending.take() {
                            push(&mut entries, title, text, from_list);
                        }
                        let text = match lead {
                            Some(l) => format!("{l}\n{t}"),
                            None => t.clone(),
                        };
                        pending = Some((text, lead.is_none()));
                    }
                    Block::Heading { .. } => {}
                }
            }
            if let Some((text, from_list)) = pending.take() {
                push(&mut entries, title, text, from_list);
            }
        } else {
            // The heading is the change; everything under it is its text.
            let mut text = String::new();
            let mut previous: Option<&Block> = None;
            for block in &node.blocks {
                let sep = match (previous, block) {
                    (None, _) => "",
                    (Some(Block::Item(_) | Block::Row(_)), Block::Item(_) | Block::Row(_)) => "\n",
                    _ => "\n\n",
                };
                text.push_str(sep);
                match block {
                    Block::Para(p) => text.push_str(p),
                    Block::Item(t) => {
                        text.push_str("- ");
                        text.push_str(&t.replace('\n', "\n  "));
                    }
                    Block::Row(t) => text.push_str(t),
                    Block::Code(c) => text.push_str(&indent_code(c)),
                    Block::Heading { .. } => {}
                }
                previous = Some(block);
            }
            push(&mut entries, node.title, text, false);
        }
    }
    entries
}

/// A short paragraph ending with a colon, followed by a list or table.
fn is_lead_in(para: &str, next: Option<&Block>) -> bool {
    para.trim_end().ends_with(':') && para.len() < 300 && matches!(next, Some(Block::Item(_) | Block::Row(_)))
}

pub(crate) fn indent_code(code: &str) -> String {
    code.lines()
        .map(|l| if l.trim().is_empty() { String::new() } else { format!("    {l}") })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders a nested list of blocks (a list item's body) as one text.
pub(crate) fn render_nested(blocks: &[Block]) -> String {
    let mut out = String::new();
    let mut previous: Option<&Block> = None;
    for block in blocks {
        let sep = match (previous, block) {
            (None, _) => "",
            (Some(Block::Item(_) | Block::Row(_)), Block::Item(_) | Block::Row(_)) => "\n",
            (Some(Block::Para(_)), Block::Item(_)) => "\n",
            _ => "\n\n",
        };
        out.push_str(sep);
        match block {
            Block::Para(p) => out.push_str(p),
            Block::Item(t) => {
                out.push_str("- ");
                out.push_str(&t.replace('\n', "\n  "));
            }
            Block::Row(t) => out.push_str(t),
            Block::Code(c) => out.push_str(&indent_code(c)),
            Block::Heading { title, .. } => out.push_str(title),
        }
        previous = Some(block);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_titles_map_by_keyword() {
        assert_eq!(section_of_title("Expired deprecations"), Some(Section::ExpiredDeprecations));
        assert_eq!(section_of_title("Removal of prior version deprecations/changes"), Some(Section::Removals));
        assert_eq!(section_of_title("NumPy 2.0 Python API removals"), Some(Section::Removals));
        assert_eq!(section_of_title("Deprecated features"), Some(Section::Deprecations));
        assert_eq!(section_of_title("Backwards incompatible API changes"), Some(Section::ApiChanges));
        assert_eq!(section_of_title("Other API changes"), Some(Section::ApiChanges));
        assert_eq!(section_of_title("Behaviour changes"), Some(Section::BehaviourChanges));
        assert_eq!(section_of_title("Changes in behavior"), Some(Section::BehaviourChanges));
        assert_eq!(section_of_title("New features"), None);
        assert_eq!(section_of_title("C API changes"), None);
        // A change's own title is not a section, even with a keyword in it.
        assert_eq!(section_of_title("`np.float_` has been removed"), None);
        assert_eq!(version_of_title("Version 1.2.1"), Some("1.2.1".to_string()));
        assert_eq!(version_of_title("Version 1.2"), Some("1.2".to_string()));
        assert_eq!(version_of_title("Versions of things"), None);
    }

    #[test]
    fn tags_classify_and_leave_the_text() {
        let (text, tags) = take_tags("|API| The `normalize` parameter was removed.");
        assert_eq!(text, "The `normalize` parameter was removed.");
        assert_eq!(tags, ["API"]);
        assert_eq!(section_of_tags(&tags, &text), Some(Section::Removals));
        assert_eq!(section_of_tags(&["Fix"], "Fixed a crash."), None);
        assert_eq!(
            section_of_tags(&["API"], "`x` is deprecated and will be removed in 1.4."),
            Some(Section::Deprecations)
        );
        assert_eq!(section_of_tags(&["API"], "`x` was deprecated in 1.0 and is now removed."), Some(Section::Removals));
        assert_eq!(section_of_tags(&["API"], "The default of `tol` changed."), Some(Section::ApiChanges));
        assert_eq!(section_of_tags(&["Fix"], "`y` no longer deprecated by mistake."), Some(Section::Deprecations));
    }

    #[test]
    fn trivial_text_is_dropped() {
        assert!(is_trivial("**January 2023**"));
        assert!(is_trivial("{{ header }}"));
        assert!(!is_trivial("`np.cast` removed."));
        assert!(!is_trivial("The thing went away."));
    }
}
