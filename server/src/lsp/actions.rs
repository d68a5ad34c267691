//! Code actions over one analysed document version: a quick fix for each
//! finding with a deterministic rewrite (validated alone), the "Migrate with
//! local model" command for the others, and `source.fixAll.recode` for every
//! deterministic fix of the file. Every edit names the document version it
//! was computed for, so a client never applies it to other text.

use std::collections::HashMap;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, Command, DocumentChanges, OneOf, OptionalVersionedTextDocumentIdentifier,
    TextDocumentEdit, TextEdit, Uri, WorkspaceEdit,
};

use super::diagnostics::{lsp_range, to_diagnostic};
use super::server::Analysis;
use crate::analysis::{new_parser, ColumnUnit};
use crate::migrate::{fix_finding, migrate_source, Edit, MigrateOptions};

/// The command behind "Migrate with local model".
pub const MIGRATE_WITH_MODEL: &str = "recode.migrateWithModel";

/// The kind of the whole-file action (`source.fixAll` for recode).
pub fn fix_all_kind() -> CodeActionKind {
    CodeActionKind::new("source.fixAll.recode")
}

/// What the model command needs to find its finding again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelFixArgs {
    pub uri: Uri,
    pub version: i32,
    pub symbol: String,
    pub start_byte: usize,
}

/// How edits reach the client.
#[derive(Debug, Clone, Copy)]
pub struct EditStyle {
    pub unit: ColumnUnit,
    /// The client takes `documentChanges` (edits pinned to a version).
    pub versioned: bool,
}

/// A workspace edit of `analysis`'s document from edits of its text.
pub fn workspace_edit(uri: &Uri, analysis: &Analysis, edits: &[Edit], style: EditStyle) -> WorkspaceEdit {
    let text_edits: Vec<TextEdit> = edits
        .iter()
        .map(|edit| TextEdit {
            range: lsp_range(&analysis.document, edit.range.start, edit.range.end, style.unit),
            new_text: edit.replacement.clone(),
        })
        .collect();
    if style.versioned {
        WorkspaceEdit {
            document_changes: Some(DocumentChanges::Edits(vec![TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier { uri: uri.clone(), version: Some(analysis.document.version()) },
                edits: text_edits.into_iter().map(OneOf::Left).collect(),
            }])),
            ..WorkspaceEdit::default()
        }
    } else {
        WorkspaceEdit { changes: Some(HashMap::from([(uri.clone(), text_edits)])), ..WorkspaceEdit::default() }
    }
}

/// The one edit that turns `old` into `new`: what lies between their common
/// prefix and common suffix.
pub fn difference(old: &str, new: &str) -> Edit {
    let mut prefix = old.bytes().zip(new.bytes()).take_while(|(a, b)| a == b).count();
    while !old.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let longest_suffix = old.len().min(new.len()) - prefix;
    let mut suffix = old.bytes().rev().zip(new.bytes().rev()).take(longest_suffix).take_while(|(a, b)| a == b).count();
    while !old.is_char_boundary(old.len() - suffix) || !new.is_char_boundary(new.len() - suffix) {
        suffix -= 1;
    }
    Edit::new(prefix..old.len() - suffix, &new[prefix..new.len() - suffix])
}

/// Whether an action of `kind` was asked for (`only` absent: every kind).
pub fn wanted(only: Option<&[CodeActionKind]>, kind: &CodeActionKind) -> bool {
    only.is_none_or(|only| {
        only.iter().any(|asked| kind.as_str() == asked.as_str() || kind.as_str().starts_with(&format!("{}.", asked.as_str())))
    })
}

/// The actions for the findings that overlap `bytes` (and the whole-file
/// fix). Blocks: plans and validates fixes.
pub fn code_actions(
    uri: &Uri,
    analysis: &Analysis,
    bytes: Range<usize>,
    only: Option<&[CodeActionKind]>,
    style: EditStyle,
    model_fixes: bool,
) -> Vec<CodeActionOrCommand> {
    let project = &analysis.project;
    let analyzer = project.analyzer();
    let versions = &project.resolution.versions;
    let text = analysis.document.text();
    let mut parser = new_parser();
    let mut actions = Vec::new();
    if wanted(only, &CodeActionKind::QUICKFIX) {
        for (index, finding) in analysis.shown() {
            let touches = finding.start_byte <= bytes.end && bytes.start <= finding.end_byte;
            if !touches {
                continue;
            }
            let diagnostic = to_diagnostic(finding, &analysis.document, style.unit, &analysis.severity);
            match fix_finding(&analyzer, &mut parser, text, versions, &analysis.findings, index) {
                Ok(fixed) => actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                    title: fix_title(finding.replacement.as_deref(), &finding.symbol),
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![diagnostic]),
                    edit: Some(workspace_edit(uri, analysis, fixed.edits.edits(), style)),
                    is_preferred: Some(true),
                    ..CodeAction::default()
                })),
                Err(why) if model_fixes => {
                    let args = ModelFixArgs {
                        uri: uri.clone(),
                        version: analysis.document.version(),
                        symbol: finding.symbol.clone(),
                        start_byte: finding.start_byte,
                    };
                    tracing::debug!("no deterministic fix for {}: {why}", finding.symbol);
                    let title = format!("Migrate `{}` with local model", finding.symbol);
                    actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                        title: title.clone(),
                        kind: Some(CodeActionKind::QUICKFIX),
                        diagnostics: Some(vec![diagnostic]),
                        command: Some(Command {
                            title,
                            command: MIGRATE_WITH_MODEL.into(),
                            arguments: Some(vec![serde_json::to_value(args).expect("the arguments serialise")]),
                        }),
                        ..CodeAction::default()
                    }));
                }
                Err(why) => tracing::debug!("no deterministic fix for {}: {why}", finding.symbol),
            }
        }
    }
    if wanted(only, &fix_all_kind()) && analysis.shown().next().is_some() {
        let shows = |library: &str| analysis.libraries.shows(library);
        let options = MigrateOptions { fixes_library: Some(&shows), ..MigrateOptions::default() };
        let migrated = migrate_source(&analyzer, &mut parser, text, versions, &options);
        if migrated.migrated != text {
            let edit = difference(text, &migrated.migrated);
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: "Fix all recode findings with a deterministic fix".into(),
                kind: Some(fix_all_kind()),
                edit: Some(workspace_edit(uri, analysis, &[edit], style)),
                ..CodeAction::default()
            }));
        }
    }
    actions
}

fn fix_title(replacement: Option<&str>, symbol: &str) -> String {
    match replacement {
        Some(replacement) => format!("Replace `{symbol}` with `{}`", replacement.strip_prefix("builtins.").unwrap_or(replacement)),
        None => format!("Fix `{symbol}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_difference_is_one_minimal_edit_on_character_boundaries() {
        let edit = difference("x = np.float_(1)\n", "x = np.float64(1)\n");
        assert_eq!(edit, Edit::new(12..13, "64"));
        assert_eq!(difference("aé", "aè"), Edit::new(1..3, "è"));
        assert_eq!(difference("same", "same"), Edit::new(4..4, ""));
        assert_eq!(difference("abab", "ab"), Edit::new(2..4, ""));
    }

    #[test]
    fn only_narrows_the_kinds() {
        assert!(wanted(None, &fix_all_kind()));
        assert!(wanted(Some(&[CodeActionKind::SOURCE_FIX_ALL]), &fix_all_kind()));
        assert!(wanted(Some(&[CodeActionKind::SOURCE]), &fix_all_kind()));
        assert!(!wanted(Some(&[CodeActionKind::QUICKFIX]), &fix_all_kind()));
        assert!(!wanted(Some(&[CodeActionKind::new("source.fix")]), &fix_all_kind()));
    }
}
