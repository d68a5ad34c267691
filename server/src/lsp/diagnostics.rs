//! Findings as LSP diagnostics.

use std::str::FromStr;

use tower_lsp_server::ls_types::{
    CodeDescription, Diagnostic, DiagnosticSeverity, DiagnosticTag, NumberOrString, Position, Range, Uri,
};

use super::config::{Level, SeverityLevels};
use super::document::Document;
use crate::analysis::{ColumnUnit, Finding};
use crate::knowledge::EntryKind;

/// The `source` of every diagnostic recode publishes.
pub const SOURCE: &str = "recode";

pub fn lsp_range(document: &Document, start: usize, end: usize, unit: ColumnUnit) -> Range {
    let to_lsp = |offset: usize| {
        let p = document.position(offset, unit);
        Position { line: p.line as u32, character: p.column as u32 }
    };
    Range { start: to_lsp(start), end: to_lsp(end) }
}

pub fn to_diagnostic(finding: &Finding, document: &Document, unit: ColumnUnit, levels: &SeverityLevels) -> Diagnostic {
    let severity = match levels.of(finding.severity) {
        Level::Error => DiagnosticSeverity::ERROR,
        Level::Warning => DiagnosticSeverity::WARNING,
        Level::Information => DiagnosticSeverity::INFORMATION,
        Level::Hint => DiagnosticSeverity::HINT,
    };
    // Editors strike through deprecated code; a behaviour change is still
    // the right API, so it is not struck through.
    let tags = (finding.kind != EntryKind::BehaviourChanged).then(|| vec![DiagnosticTag::DEPRECATED]);
    Diagnostic {
        range: lsp_range(document, finding.start_byte, finding.end_byte, unit),
        severity: Some(severity),
        code: Some(NumberOrString::String(finding.rule.to_string())),
        code_description: Uri::from_str(&finding.link).ok().map(|href| CodeDescription { href }),
        source: Some(SOURCE.to_string()),
        message: finding.message.clone(),
        related_information: None,
        tags,
        data: Some(serde_json::json!({ "symbol": finding.symbol })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{new_parser, Analyzer};
    use crate::migrate::tests::{catalog, versions};

    #[test]
    fn a_finding_becomes_a_tagged_diagnostic_with_its_rule_and_link() {
        let text = "s = '𝄞'; import numpy as np\nx = np.float_(1)\n";
        let catalog = catalog();
        let findings = Analyzer::new(&catalog).analyze(&mut new_parser(), text, &versions());
        let document = Document::new(text.to_string(), 1);
        let diagnostic = to_diagnostic(&findings[0], &document, ColumnUnit::Utf16, &SeverityLevels::default());
        assert_eq!(diagnostic.range, Range { start: Position { line: 1, character: 4 }, end: Position { line: 1, character: 13 } });
        assert_eq!(diagnostic.severity, Some(DiagnosticSeverity::ERROR));
        assert_eq!(diagnostic.code, Some(NumberOrString::String("RC001".into())));
        assert_eq!(diagnostic.tags, Some(vec![DiagnosticTag::DEPRECATED]));
        assert!(diagnostic.code_description.unwrap().href.as_str().starts_with("https://"));
        assert!(diagnostic.message.contains("np.float64") || diagnostic.message.contains("numpy.float64"), "{}", diagnostic.message);
        let hint = SeverityLevels { removed: Level::Hint, ..SeverityLevels::default() };
        assert_eq!(to_diagnostic(&findings[0], &document, ColumnUnit::Utf8, &hint).severity, Some(DiagnosticSeverity::HINT));
    }
}
