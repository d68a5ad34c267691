//! Which entries mention a symbol, best first, and how many fit a budget.
//!
//! A mention is searched in an entry's title and text, at identifier boundaries:
//!
//! * `Qualified`: the qualified name, or it with the module abbreviated
//!   (`numpy.float_`, `np.float_`);
//! * `Tail`: a dotted tail of two or more components (`DataFrame.append`);
//! * `NameInCode`: the last component inside backticks (`` `float_` ``);
//! * `Name`: the last component as a word, not after a dot (`float_`);
//! * `Module`: only when no entry mentions the symbol: its parent
//!   (`pandas.DataFrame`, `np.linalg`, or a bare `DataFrame`).
//!
//! Order: relevance (a keyword query's keyword mentioned too counts first), then
//! section (Removals, Expired deprecations, Deprecations, API changes, Behaviour
//! changes, Other), then the order of the query's versions, then page order.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{FoundNote, NoteEntry, NoteQuery};

/// How an entry mentions the symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relevance {
    Module,
    Name,
    NameInCode,
    Tail,
    Qualified,
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Byte ranges inside single backticks.
fn code_spans(text: &str) -> Vec<(usize, usize)> {
    let ticks: Vec<usize> = text.match_indices('`').map(|(i, _)| i).collect();
    ticks.chunks(2).filter(|p| p.len() == 2).map(|p| (p[0], p[1])).collect()
}

/// Occurrences of `needle` at identifier boundaries; for each, whether it sits in
/// code. `after_dot`: an occurrence right after a `.` counts.
fn occurrences(text: &str, needle: &str, after_dot: bool, spans: &[(usize, usize)]) -> Vec<bool> {
    if needle.is_empty() {
        return Vec::new();
    }
    let mut found = Vec::new();
    for (at, _) in text.match_indices(needle) {
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        if before.is_some_and(|c| is_ident(c) || (c == '.' && !after_dot)) {
            continue;
        }
        if after.is_some_and(is_ident) {
            continue;
        }
        found.push(spans.iter().any(|&(s, e)| s < at && at < e));
    }
    found
}

/// The forms of a dotted name: itself and with a module abbreviated.
fn forms(path: &str, aliases: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = vec![path.to_string()];
    for (module, alias) in aliases {
        if let Some(rest) = path.strip_prefix(module.as_str()) {
            if rest.is_empty() || rest.starts_with('.') {
                out.push(format!("{alias}{rest}"));
            }
        }
    }
    out
}

struct Needles {
    qualified: Vec<String>,
    tails: Vec<String>,
    name: String,
    module: Vec<String>,
    keyword: Option<String>,
}

impl Needles {
    fn new(query: &NoteQuery, aliases: &BTreeMap<String, String>) -> Needles {
        let parts: Vec<&str> = query.symbol.split('.').filter(|p| !p.is_empty()).collect();
        let qualified = forms(&query.symbol, aliases);
        let tails = (1..parts.len().saturating_sub(1)).map(|k| parts[k..].join(".")).collect();
        let name = parts.last().copied().unwrap_or_default().to_string();
        let mut module = Vec::new();
        if parts.len() >= 2 {
            let parent = parts[..parts.len() - 1].join(".");
            module = forms(&parent, aliases);
            if parts.len() >= 3 {
                module.push(parts[parts.len() - 2].to_string());
            }
        }
        Needles { qualified, tails, name, module, keyword: query.keyword.clone() }
    }

    fn relevance(&self, text: &str) -> Option<Relevance> {
        let spans = code_spans(text);
        if self.qualified.iter().any(|q| !occurrences(text, q, false, &spans).is_empty()) {
            return Some(Relevance::Qualified);
        }
        if self.tails.iter().any(|t| !occurrences(text, t, false, &spans).is_empty()) {
            return Some(Relevance::Tail);
        }
        let names = occurrences(text, &self.name, false, &spans);
        if names.iter().any(|&in_code| in_code) {
            return Some(Relevance::NameInCode);
        }
        if !names.is_empty() {
            return Some(Relevance::Name);
        }
        if self.module.iter().any(|m| !occurrences(text, m, false, &spans).is_empty()) {
            return Some(Relevance::Module);
        }
        None
    }

    fn mentions_keyword(&self, text: &str) -> bool {
        let Some(kw) = &self.keyword else { return false };
        let spans = code_spans(text);
        occurrences(text, kw, false, &spans).iter().any(|&in_code| in_code)
            || text
                .match_indices(&format!("{kw}="))
                .any(|(at, _)| !text[..at].chars().next_back().is_some_and(is_ident))
    }
}

/// The entries that mention the query's symbol (or failing that its module), best first.
pub fn rank_entries(entries: &[NoteEntry], query: &NoteQuery, aliases: &BTreeMap<String, String>) -> Vec<FoundNote> {
    let needles = Needles::new(query, aliases);
    let version_order = |v: &str| {
        query.versions.iter().position(|q| {
            let q = q.to_string();
            v == q || v.starts_with(&format!("{q}.")) || q.starts_with(&format!("{v}."))
        })
    };
    let mut found: Vec<(usize, FoundNote)> = entries
        .iter()
        .enumerate()
        .filter_map(|(k, entry)| {
            let haystack = match &entry.title {
                Some(t) => format!("{t}\n{}", entry.text),
                None => entry.text.clone(),
            };
            let relevance = needles.relevance(&haystack)?;
            let mentions_keyword = needles.mentions_keyword(&haystack);
            Some((k, FoundNote { entry: entry.clone(), relevance, mentions_keyword, truncated: false }))
        })
        .collect();
    if found.iter().any(|(_, f)| f.relevance > Relevance::Module) {
        found.retain(|(_, f)| f.relevance > Relevance::Module);
    }
    found.sort_by(|(ka, a), (kb, b)| {
        let key = |f: &FoundNote| (std::cmp::Reverse((f.mentions_keyword, f.relevance)), f.entry.section);
        key(a)
            .cmp(&key(b))
            .then_with(|| {
                let (va, vb) = (version_order(&a.entry.version), version_order(&b.entry.version));
                va.unwrap_or(usize::MAX).cmp(&vb.unwrap_or(usize::MAX))
            })
            .then(ka.cmp(kb))
    });
    found.into_iter().map(|(_, f)| f).collect()
}

/// The least room worth filling with the start of an entry that does not fit whole.
const MIN_PARTIAL_CHARS: usize = 160;

/// Keeps the best entries whose rendered text ([`NoteEntry::render`]) fits in
/// `budget` characters in all; the first entry that does not fit is cut to the room
/// left (if there is enough room to be useful, or if it is the only one). Returns
/// the kept entries and how many were left out.
pub fn apply_budget(ranked: Vec<FoundNote>, budget: usize) -> (Vec<FoundNote>, usize) {
    let total = ranked.len();
    let mut kept = Vec::new();
    let mut used = 0;
    for mut found in ranked {
        let size = found.entry.render().chars().count();
        if used + size <= budget {
            used += size;
            kept.push(found);
            continue;
        }
        let room = budget - used;
        if room >= MIN_PARTIAL_CHARS || (kept.is_empty() && room > 0) {
            let title = found.entry.title.as_ref().map(|t| t.chars().count() + 1).unwrap_or(0);
            if room > title + 1 {
                let keep = room - title - 1; // one for the ellipsis
                let cut: String = found.entry.text.chars().take(keep).collect();
                found.entry.text = format!("{}…", cut.trim_end());
                found.truncated = true;
                kept.push(found);
            }
        }
        break;
    }
    let omitted = total - kept.len();
    (kept, omitted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::notes::Section;

    fn entry(section: Section, title: Option<&str>, text: &str) -> NoteEntry {
        NoteEntry {
            library: "pandas".into(),
            version: "2.0.0".into(),
            section,
            title: title.map(str::to_string),
            text: text.into(),
            source_url: "http://127.0.0.1/x".into(),
        }
    }

    #[test]
    fn boundaries() {
        let spans = code_spans("use `np.float_` now");
        assert_eq!(occurrences("use `np.float_` now", "np.float_", false, &spans), [true]);
        assert!(occurrences("np.float_x", "np.float_", false, &[]).is_empty());
        assert!(occurrences("xnp.float_", "np.float_", false, &[]).is_empty());
        assert!(occurrences("Series.append", "append", false, &[]).is_empty());
        assert_eq!(occurrences("Series.append", "append", true, &[]), [false]);
    }

    #[test]
    fn ranking_orders_by_relevance_then_section() {
        let aliases: BTreeMap<String, String> = [("pandas".to_string(), "pd".to_string())].into();
        let entries = vec![
            entry(Section::Other, None, "You can append rows with `concat`."),
            entry(Section::Deprecations, None, "Deprecated `Series.append`; use `concat`."),
            entry(Section::Removals, None, "Removed `DataFrame.append` and `Series.append`."),
            entry(Section::ApiChanges, None, "`pd.DataFrame.append` no longer exists."),
            entry(Section::Other, None, "`DataFrame.to_csv` gained an option."),
        ];
        let q = NoteQuery::new("pandas", "pandas.DataFrame.append", vec![], 10_000);
        let ranked = rank_entries(&entries, &q, &aliases);
        let texts: Vec<(&str, Relevance)> = ranked.iter().map(|f| (f.entry.text.as_str(), f.relevance)).collect();
        assert_eq!(
            texts,
            [
                ("`pd.DataFrame.append` no longer exists.", Relevance::Qualified),
                ("Removed `DataFrame.append` and `Series.append`.", Relevance::Tail),
                ("You can append rows with `concat`.", Relevance::Name),
            ]
        );
        // Nothing names the symbol: fall back to its module.
        let q = NoteQuery::new("pandas", "pandas.DataFrame.iteritems", vec![], 10_000);
        let ranked = rank_entries(&entries, &q, &aliases);
        assert_eq!(ranked.len(), 3);
        assert!(ranked.iter().all(|f| f.relevance == Relevance::Module));
        assert_eq!(ranked[0].entry.section, Section::Removals);
    }

    #[test]
    fn keyword_queries_prefer_the_keyword() {
        let entries = vec![
            entry(Section::ApiChanges, Some("`sklearn.linear_model`"), "`LinearRegression` got faster."),
            entry(
                Section::Removals,
                Some("`sklearn.linear_model`"),
                "The `normalize` parameter of `LinearRegression` was removed.",
            ),
        ];
        let q = NoteQuery::new("scikit-learn", "sklearn.linear_model.LinearRegression(normalize=)", vec![], 10_000);
        assert_eq!(q.keyword.as_deref(), Some("normalize"));
        let ranked = rank_entries(&entries, &q, &BTreeMap::new());
        assert!(ranked[0].mentions_keyword);
        assert_eq!(ranked[0].entry.section, Section::Removals);
        assert!(!ranked[1].mentions_keyword);
    }

    #[test]
    fn budget_keeps_whole_entries_then_cuts_one() {
        let long = "x".repeat(300);
        let found = |text: &str| FoundNote {
            entry: entry(Section::Removals, None, text),
            relevance: Relevance::Qualified,
            mentions_keyword: false,
            truncated: false,
        };
        let ranked = vec![found("first entry"), found(&long), found("third")];
        let (kept, omitted) = apply_budget(ranked.clone(), 200);
        assert_eq!(kept.len(), 2);
        assert_eq!(omitted, 1);
        assert_eq!(kept[0].entry.text, "first entry");
        assert!(kept[1].truncated);
        assert_eq!(kept.iter().map(|f| f.entry.render().chars().count()).sum::<usize>(), 200);
        let (kept, omitted) = apply_budget(ranked.clone(), 20);
        assert_eq!((kept.len(), omitted), (1, 2));
        let (kept, omitted) = apply_budget(ranked, 0);
        assert_eq!((kept.len(), omitted), (0, 3));
    }
}
