//! Rendering findings as text, JSON (DESIGN.md §7) and SARIF 2.1.0.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::json;

use crate::analysis::{Finding, Position, Severity};
use crate::knowledge::notes::FoundNote;
use crate::knowledge::EntryKind;

/// One checked file and its findings, with (start, end) positions and, when
/// retrieved, the release-note entries of each finding.
pub struct CheckedFile {
    pub path: PathBuf,
    /// Index of the project (root, versions, catalog) the file belongs to.
    pub project: usize,
    pub findings: Vec<Finding>,
    pub positions: Vec<(Position, Position)>,
    /// Empty, or one list per finding.
    pub notes: Vec<Vec<FoundNote>>,
    pub lines: usize,
}

impl CheckedFile {
    fn each(&self) -> impl Iterator<Item = (&Finding, &(Position, Position))> {
        self.findings.iter().zip(&self.positions)
    }
}

/// A finding as `recode check --format json` prints it. Lines and columns
/// are 1-based; columns count Unicode characters.
#[derive(Serialize)]
struct JsonFinding<'a> {
    path: String,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    library: &'a str,
    symbol: &'a str,
    kind: EntryKind,
    severity: Severity,
    deprecated_in: Option<String>,
    removed_in: Option<String>,
    installed_version: Option<String>,
    version_source: Option<String>,
    replacement: Option<&'a str>,
    message: &'a str,
    rule: &'a str,
    note: &'a str,
    link: &'a str,
    /// Release-note entries that mention the symbol, best first.
    notes: &'a [FoundNote],
}

fn display_path(path: &std::path::Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

pub fn text(out: &mut impl Write, files: &[CheckedFile]) -> std::io::Result<()> {
    for file in files {
        for (finding, (start, _)) in file.each() {
            writeln!(
                out,
                "{}:{}:{}: {} [{}] {}",
                display_path(&file.path),
                start.line + 1,
                start.column + 1,
                finding.rule,
                finding.severity,
                finding.message
            )?;
        }
    }
    Ok(())
}

pub fn json(out: &mut impl Write, files: &[CheckedFile]) -> std::io::Result<()> {
    let findings: Vec<JsonFinding> = files
        .iter()
        .flat_map(|file| {
            file.each().enumerate().map(move |(index, (f, (start, end)))| JsonFinding {
                path: display_path(&file.path),
                line: start.line + 1,
                column: start.column + 1,
                end_line: end.line + 1,
                end_column: end.column + 1,
                library: &f.library,
                symbol: &f.symbol,
                kind: f.kind,
                severity: f.severity,
                deprecated_in: f.deprecated_in.as_ref().map(ToString::to_string),
                removed_in: f.removed_in.as_ref().map(ToString::to_string),
                installed_version: f.installed.as_ref().map(|i| i.version.to_string()),
                version_source: f.installed.as_ref().map(|i| i.source.to_string()),
                replacement: f.replacement.as_deref(),
                message: &f.message,
                rule: f.rule,
                note: &f.note,
                link: &f.link,
                notes: file.notes.get(index).map_or(&[], Vec::as_slice),
            })
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &findings)?;
    writeln!(out)
}

const KINDS: &[EntryKind] = &[
    EntryKind::Removed,
    EntryKind::Deprecated,
    EntryKind::Renamed,
    EntryKind::Moved,
    EntryKind::KeywordRemoved,
    EntryKind::KeywordRenamed,
    EntryKind::BehaviourChanged,
];

fn rule_description(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Removed => "Use of an API removed at the project's library version",
        EntryKind::Deprecated => "Use of an API deprecated at the project's library version",
        EntryKind::Renamed => "Use of an API that was renamed",
        EntryKind::Moved => "Use of an API that moved to another module",
        EntryKind::KeywordRemoved => "Use of a keyword argument that was removed",
        EntryKind::KeywordRenamed => "Use of a keyword argument that was renamed",
        EntryKind::BehaviourChanged => "Call whose behaviour changed at the project's library version",
    }
}

pub fn sarif(out: &mut impl Write, files: &[CheckedFile]) -> std::io::Result<()> {
    let rules: Vec<_> = KINDS
        .iter()
        .map(|kind| {
            json!({
                "id": kind.rule(),
                "name": kind.as_str(),
                "shortDescription": { "text": rule_description(*kind) },
            })
        })
        .collect();
    let results: Vec<_> = files
        .iter()
        .flat_map(|file| {
            file.each().map(move |(f, (start, end))| {
                json!({
                    "ruleId": f.rule,
                    "ruleIndex": KINDS.iter().position(|k| *k == f.kind),
                    "level": match f.severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                        Severity::Info => "note",
                    },
                    "message": { "text": f.message },
                    "locations": [{
                        "physicalLocation": {
                            "artifactLocation": { "uri": display_path(&file.path) },
                            "region": {
                                "startLine": start.line + 1,
                                "startColumn": start.column + 1,
                                "endLine": end.line + 1,
                                "endColumn": end.column + 1,
                            }
                        }
                    }],
                    "helpUri": f.link,
                    "properties": {
                        "library": f.library,
                        "symbol": f.symbol,
                        "installedVersion": f.installed.as_ref().map(|i| i.version.to_string()),
                        "versionSource": f.installed.as_ref().map(|i| i.source.to_string()),
                        "replacement": f.replacement,
                    }
                })
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "recode",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}
