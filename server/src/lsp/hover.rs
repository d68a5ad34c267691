//! The hover text of a flagged use: what changed and when, the version the
//! project uses and where that version came from, the catalog's note, and
//! the release-note entries that mention the symbol.

use crate::analysis::Finding;
use crate::knowledge::notes::FoundNote;

/// Markdown for one finding.
pub fn render(finding: &Finding, notes: &[FoundNote], note_warnings: &[String]) -> String {
    let mut out = format!("**recode {}** `{}`\n\n{}\n\n", finding.rule, finding.symbol, finding.message);
    let library = &finding.library;
    let mut versions = Vec::new();
    if let Some(v) = &finding.deprecated_in {
        versions.push(format!("- deprecated in {library} {v}"));
    }
    if let Some(v) = &finding.removed_in {
        versions.push(format!("- removed or changed in {library} {v}"));
    }
    match &finding.installed {
        Some(installed) => versions.push(format!("- used: {library} {} ({})", installed.version, installed.source)),
        None => versions.push(format!("- used: unknown (no pin, installed package, lock file or declaration names {library})")),
    }
    out.push_str(&versions.join("\n"));
    out.push_str("\n\n");
    if let Some(replacement) = &finding.replacement {
        out.push_str(&format!("Replacement: `{replacement}`\n\n"));
    }
    out.push_str(&finding.note);
    out.push_str(&format!("\n\n[Release notes]({})", finding.link));
    if !notes.is_empty() {
        out.push_str("\n\n---\n\n**From the release notes**");
        for found in notes {
            let entry = &found.entry;
            let title = entry.title.as_deref().map(|t| format!(": {t}")).unwrap_or_default();
            out.push_str(&format!(
                "\n\n*{library} {} — {}*{title} ([source]({}))\n\n{}",
                entry.version,
                entry.section.title(),
                entry.source_url,
                entry.text
            ));
        }
    }
    if notes.is_empty() && !note_warnings.is_empty() {
        out.push_str(&format!("\n\n*Release notes unavailable: {}*", note_warnings.join("; ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{new_parser, Analyzer};
    use crate::knowledge::notes::{NoteEntry, Relevance, Section};
    use crate::migrate::tests::{catalog, versions};

    fn float_finding() -> Finding {
        let catalog = catalog();
        let text = "import numpy as np\nx = np.float_(1)\n";
        Analyzer::new(&catalog).analyze(&mut new_parser(), text, &versions()).remove(0)
    }

    #[test]
    fn versions_their_source_the_note_and_release_notes() {
        let note = FoundNote {
            entry: NoteEntry {
                library: "numpy".into(),
                version: "2.0.0".into(),
                section: Section::Removals,
                title: None,
                text: "`np.float_` was removed; use `np.float64`.".into(),
                source_url: "https://example.org/2.0.0-notes.rst".into(),
            },
            relevance: Relevance::Qualified,
            mentions_keyword: false,
            truncated: false,
        };
        let text = render(&float_finding(), &[note], &[]);
        assert!(text.starts_with("**recode RC001** `numpy.float_`"), "{text}");
        assert!(text.contains("- removed or changed in numpy 2.0\n- used: numpy 2.1.3 (--pin)"), "{text}");
        assert!(text.contains("Replacement: `numpy.float64`"), "{text}");
        assert!(text.contains("dropped the `float_` alias"), "{text}");
        assert!(text.contains("*numpy 2.0.0 — "), "{text}");
        assert!(text.contains("([source](https://example.org/2.0.0-notes.rst))\n\n`np.float_` was removed"), "{text}");
    }

    #[test]
    fn missing_release_notes_say_why() {
        let text = render(&float_finding(), &[], &["offline, and nothing is cached".into()]);
        assert!(text.ends_with("*Release notes unavailable: offline, and nothing is cached*"), "{text}");
    }
}
