//! Turns findings into edits: a deterministic rewrite where the catalog has
//! a mechanical replacement valid at the installed version, otherwise a
//! candidate from a [`CandidateSource`] (the model). Every candidate is
//! validated before it is kept (see [`validate`]); a file that fails
//! validation is never produced.
//!
//! Pure: text, catalog and versions in; edited text and one outcome per
//! finding out. Reading and writing files is the caller's business.

mod edit;
mod fix;
mod model_fix;
mod syntax;
mod unit;
mod validate;

use std::ops::Range;

use serde::Serialize;
use tree_sitter::Parser;

use crate::analysis::{Analyzer, Finding};
use crate::env::Versions;

pub use edit::{Edit, EditSet};
pub use fix::{plan, FileContext, Fix, Plan};
pub use model_fix::{ModelCandidates, NotesFn};
pub use syntax::Imports;
pub use unit::{select_range, MigrationUnit};
pub use validate::{validate, Baseline, Candidate, KeptReads, Target, Validated};

/// How often fixes are planned again on the edited text: a fix that
/// overlapped another gets its turn in the next round.
const MAX_ROUNDS: usize = 8;

/// What happened to one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    FixedDeterministic,
    FixedByModel,
    NoSafeFix,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::FixedDeterministic => "fixed-deterministic",
            Outcome::FixedByModel => "fixed-by-model",
            Outcome::NoSafeFix => "no-safe-fix",
        }
    }
}

/// One finding of the unedited text and what became of it.
#[derive(Debug, Clone)]
pub struct FindingOutcome {
    /// The finding, with offsets into the unedited text.
    pub finding: Finding,
    pub outcome: Outcome,
    /// Why there is no safe fix; for a fix, how it came about when it is
    /// not the finding's own rewrite.
    pub reason: Option<String>,
}

/// The result of migrating one file's text.
#[derive(Debug, Clone)]
pub struct FileMigration {
    pub migrated: String,
    pub outcomes: Vec<FindingOutcome>,
}

/// The task a model is given for one finding.
pub struct ModelTask<'a> {
    /// The finding (library, symbol, versions, note, link, message).
    pub finding: &'a Finding,
    /// The code to rewrite and the imports it needs.
    pub unit: &'a MigrationUnit,
}

/// Where candidate rewrites for the findings with no deterministic fix come
/// from (the model backends implement it). Each call is one sample.
pub trait CandidateSource: Sync {
    /// Migrated code for `task.unit`, shaped like [`MigrationUnit::code`]
    /// (the unit's indentation removed), optionally preceded by the import
    /// statements it needs (those the file lacks are added with the file's
    /// imports); `sample` counts from 0 for each task.
    fn candidate(&self, task: &ModelTask, sample: usize) -> Result<String, String>;
}

pub struct MigrateOptions<'a> {
    /// Where model candidates come from; `None` reports the findings that
    /// need one as having no safe fix.
    pub model: Option<&'a dyn CandidateSource>,
    /// Samples drawn for one finding before it is reported as having no
    /// safe fix.
    pub samples: usize,
    /// Without a model: why there is none, for the reasons of the findings
    /// that need one.
    pub why_no_model: &'a str,
    /// Only findings of the libraries this accepts are fixed (the language
    /// server's `libraries` setting); the others stay as they are, reported
    /// as having no safe fix. `None`: every library.
    pub fixes_library: Option<&'a (dyn Fn(&str) -> bool + Sync)>,
}

impl Default for MigrateOptions<'_> {
    fn default() -> Self {
        MigrateOptions { model: None, samples: 3, why_no_model: "no model configured", fixes_library: None }
    }
}

/// One finding followed through the rounds.
struct Track {
    original: Finding,
    /// Where it is in the current text; `None` once gone.
    current: Option<Range<usize>>,
    outcome: Option<(Outcome, Option<String>)>,
    /// Why it is still open, when it is.
    pending: Option<String>,
    /// It uses a name bound elsewhere, and is fixed with that binding.
    via_binding: bool,
}

/// A validated candidate for one finding.
struct Proposal {
    track: usize,
    candidate: Candidate,
    binds: Vec<(String, String)>,
    outcome: Outcome,
}

impl Proposal {
    fn conflicts(&self, other: &Proposal) -> bool {
        let edits = self.candidate.edits.iter().any(|a| other.candidate.edits.iter().any(|b| a.conflicts(b)));
        let binds = self.binds.iter().any(|(name, path)| other.binds.iter().any(|(n, p)| n == name && p != path));
        edits || binds
    }
}

/// The proposals that do not overlap an earlier one, in order; the others
/// wait for the next round.
fn select(proposals: &[Proposal]) -> Vec<usize> {
    let mut accepted: Vec<usize> = Vec::new();
    for (k, proposal) in proposals.iter().enumerate() {
        if !accepted.iter().any(|&a| proposals[a].conflicts(proposal)) {
            accepted.push(k);
        }
    }
    accepted
}

fn combined<'p>(proposals: impl IntoIterator<Item = &'p Proposal>) -> Candidate {
    let mut all = Candidate::default();
    for p in proposals {
        all.edits.extend(p.candidate.edits.iter().cloned());
        all.targets.extend(p.candidate.targets.iter().cloned());
        all.allowed.extend(p.candidate.allowed.iter().cloned());
        all.kept_reads.extend(p.candidate.kept_reads.iter().cloned());
    }
    all
}

/// Migrates one file's text: every finding is fixed deterministically, by
/// the model, or reported with the reason it has no safe fix. Fixes of one
/// file are validated together; the result is a fixed point (migrating it
/// again changes nothing).
pub fn migrate_source(
    analyzer: &Analyzer,
    parser: &mut Parser,
    source: &str,
    versions: &Versions,
    options: &MigrateOptions,
) -> FileMigration {
    let catalog = analyzer.catalog();
    let mut text = source.to_string();
    let mut findings = analyzer.analyze(parser, &text, versions);
    let mut tracks: Vec<Track> = findings
        .iter()
        .map(|f| {
            let left_alone = options.fixes_library.is_some_and(|fixes| !fixes(&f.library));
            let outcome = left_alone.then(|| (Outcome::NoSafeFix, Some("its library is not selected".to_string())));
            Track { original: f.clone(), current: Some(f.start_byte..f.end_byte), outcome, pending: None, via_binding: false }
        })
        .collect();

    for _round in 0..MAX_ROUNDS {
        if tracks.iter().all(|t| t.outcome.is_some()) {
            break;
        }
        let Some(tree) = syntax::parse(parser, &text) else { break };
        let root = tree.root_node();
        let imports = Imports::read(root, &text, catalog);
        let track_of: Vec<Option<usize>> = findings
            .iter()
            .map(|f| {
                tracks.iter().position(|t| t.original.entry == f.entry && t.current == Some(f.start_byte..f.end_byte))
            })
            .collect();
        let ctx = FileContext { source: &text, root, catalog, findings: &findings, imports: &imports };
        let baseline = Baseline { source: &text, findings: &findings, syntax_errors: syntax::syntax_errors(&tree).0 };

        // Deterministic fixes are validated together first (one parse and
        // analysis for the round) and one by one only when that fails;
        // model candidates are validated sample by sample.
        let mut proposals: Vec<Proposal> = Vec::new();
        let mut unchecked: Vec<bool> = Vec::new();
        let mut needs_model: Vec<(usize, usize, String)> = Vec::new();
        for (index, track) in track_of.iter().enumerate() {
            let Some(track) = *track else { continue };
            if tracks[track].outcome.is_some() {
                continue;
            }
            tracks[track].pending = None;
            tracks[track].via_binding = false;
            match fix::plan(&ctx, index) {
                Plan::Fix(fix) => {
                    proposals.push(Proposal { track, candidate: fix.candidate, binds: fix.binds, outcome: Outcome::FixedDeterministic });
                    unchecked.push(true);
                }
                Plan::ViaBinding(reason) => {
                    tracks[track].pending = Some(reason);
                    tracks[track].via_binding = true;
                }
                Plan::NoFix(reason) => needs_model.push((index, track, reason)),
            }
        }
        let ask_model = |needs: Vec<(usize, usize, String)>, proposals: &mut Vec<Proposal>, unchecked: &mut Vec<bool>, tracks: &mut Vec<Track>, parser: &mut Parser| {
            for (index, track, reason) in needs {
                let Some(model) = options.model else {
                    tracks[track].outcome = Some((Outcome::NoSafeFix, Some(format!("needs the model ({}): {reason}", options.why_no_model))));
                    continue;
                };
                match model_candidate(analyzer, parser, versions, &baseline, &tree, &imports, &findings[index], model, options.samples) {
                    Ok(candidate) => {
                        proposals.push(Proposal { track, candidate, binds: Vec::new(), outcome: Outcome::FixedByModel });
                        unchecked.push(false);
                    }
                    Err(why) => tracks[track].outcome = Some((Outcome::NoSafeFix, Some(why))),
                }
            }
        };
        ask_model(std::mem::take(&mut needs_model), &mut proposals, &mut unchecked, &mut tracks, parser);
        if proposals.is_empty() {
            break;
        }

        let mut accepted = select(&proposals);
        let mut validated = validate(analyzer, parser, versions, &baseline, &combined(accepted.iter().map(|&k| &proposals[k]))).ok();
        if validated.is_none() {
            // Find the fixes that fail on their own; the model may do better.
            let mut kept: Vec<Proposal> = Vec::new();
            for (proposal, unchecked) in std::mem::take(&mut proposals).into_iter().zip(std::mem::take(&mut unchecked)) {
                if !unchecked {
                    kept.push(proposal);
                    continue;
                }
                match validate(analyzer, parser, versions, &baseline, &proposal.candidate) {
                    Ok(_) => kept.push(proposal),
                    Err(reason) => {
                        let index = track_of.iter().position(|&t| t == Some(proposal.track)).expect("a proposal's finding is current");
                        needs_model.push((index, proposal.track, format!("the deterministic rewrite failed validation: {reason}")));
                    }
                }
            }
            let mut flags = vec![false; kept.len()];
            ask_model(needs_model, &mut kept, &mut flags, &mut tracks, parser);
            proposals = kept;
            accepted = select(&proposals);
            // Together they may still fail: keep them one by one while they pass.
            let mut kept: Vec<usize> = Vec::new();
            for &k in &accepted {
                let trial = combined(kept.iter().chain([&k]).map(|&i| &proposals[i]));
                match validate(analyzer, parser, versions, &baseline, &trial) {
                    Ok(v) => {
                        kept.push(k);
                        validated = Some(v);
                    }
                    Err(reason) => tracks[proposals[k].track].pending = Some(format!("conflicts with another fix: {reason}")),
                }
            }
            accepted = kept;
        }
        for (k, proposal) in proposals.iter().enumerate() {
            if !accepted.contains(&k) && tracks[proposal.track].pending.is_none() {
                tracks[proposal.track].pending = Some("overlaps another fix".into());
            }
        }
        let Some(validated) = validated.filter(|_| !accepted.is_empty()) else { break };

        let model_edits: Vec<&Edit> = accepted
            .iter()
            .filter(|&&k| proposals[k].outcome == Outcome::FixedByModel)
            .flat_map(|&k| proposals[k].candidate.edits.iter())
            .collect();
        for &k in &accepted {
            let track = &mut tracks[proposals[k].track];
            track.outcome = Some((proposals[k].outcome, None));
            track.current = None;
        }
        for track in tracks.iter_mut() {
            let Some(range) = track.current.clone() else { continue };
            let touched = validated.edits.touches(&range);
            let mapped = validated.edits.map_range(&range);
            let still = validated.findings.iter().find(|f| {
                f.entry == track.original.entry
                    && if touched {
                        f.start_byte < mapped.end && mapped.start < f.end_byte
                    } else {
                        f.start_byte == mapped.start && f.end_byte == mapped.end
                    }
            });
            match still {
                Some(f) => track.current = Some(f.start_byte..f.end_byte),
                None => {
                    let by_model = model_edits.iter().any(|e| edit::overlaps(&range, &e.range) || e.range == range);
                    let how = if by_model { Outcome::FixedByModel } else { Outcome::FixedDeterministic };
                    let reason = if track.via_binding { "fixed where the name is bound" } else { "fixed along with another fix" };
                    track.outcome = Some((how, Some(reason.to_string())));
                    track.current = None;
                }
            }
        }
        text = validated.text;
        findings = validated.findings;
    }

    let outcomes = tracks
        .into_iter()
        .map(|track| {
            let (outcome, reason) = track.outcome.unwrap_or_else(|| {
                let reason = match track.pending {
                    Some(p) if track.via_binding => format!("{p}; that binding has no safe fix"),
                    Some(p) => p,
                    None => "no fix was found".to_string(),
                };
                (Outcome::NoSafeFix, Some(reason))
            });
            FindingOutcome { finding: track.original, outcome, reason }
        })
        .collect();
    FileMigration { migrated: text, outcomes }
}

/// One finding's own deterministic fix, validated alone against `source`
/// (an editor's quick fix). `findings` are `source`'s, `index` the finding's.
pub fn fix_finding(
    analyzer: &Analyzer,
    parser: &mut Parser,
    source: &str,
    versions: &Versions,
    findings: &[Finding],
    index: usize,
) -> Result<Validated, String> {
    let tree = syntax::parse(parser, source).ok_or("the file could not be parsed")?;
    let root = tree.root_node();
    let imports = Imports::read(root, source, analyzer.catalog());
    let ctx = FileContext { source, root, catalog: analyzer.catalog(), findings, imports: &imports };
    let baseline = Baseline { source, findings, syntax_errors: syntax::syntax_errors(&tree).0 };
    match fix::plan(&ctx, index) {
        Plan::Fix(fix) => validate(analyzer, parser, versions, &baseline, &fix.candidate),
        Plan::ViaBinding(reason) | Plan::NoFix(reason) => Err(reason),
    }
}

/// One finding rewritten by the model: up to `samples` candidates, the first
/// that passes validation is returned.
#[allow(clippy::too_many_arguments)]
pub fn fix_finding_with_model(
    analyzer: &Analyzer,
    parser: &mut Parser,
    source: &str,
    versions: &Versions,
    findings: &[Finding],
    index: usize,
    model: &dyn CandidateSource,
    samples: usize,
) -> Result<Validated, String> {
    let tree = syntax::parse(parser, source).ok_or("the file could not be parsed")?;
    let imports = Imports::read(tree.root_node(), source, analyzer.catalog());
    let baseline = Baseline { source, findings, syntax_errors: syntax::syntax_errors(&tree).0 };
    let candidate = model_candidate(analyzer, parser, versions, &baseline, &tree, &imports, &findings[index], model, samples)?;
    validate(analyzer, parser, versions, &baseline, &candidate)
}

#[allow(clippy::too_many_arguments)]
fn model_candidate(
    analyzer: &Analyzer,
    parser: &mut Parser,
    versions: &Versions,
    baseline: &Baseline,
    tree: &tree_sitter::Tree,
    imports: &Imports,
    finding: &Finding,
    model: &dyn CandidateSource,
    samples: usize,
) -> Result<Candidate, String> {
    let Some(unit) = select_range(tree, baseline.source, finding, imports) else {
        return Err("no enclosing statement to give the model".into());
    };
    let task = ModelTask { finding, unit: &unit };
    let mut last = String::from("no sample was drawn");
    for sample in 0..samples {
        match model.candidate(&task, sample) {
            Ok(code) => {
                let (new_imports, code) = match split_imports(parser, baseline.source, &unit, &code) {
                    Ok(split) => split,
                    Err(reason) => {
                        last = reason;
                        continue;
                    }
                };
                let mut candidate = Candidate {
                    edits: vec![unit.edit_for(&code)],
                    targets: vec![Target::of(finding)],
                    allowed: vec![unit.range.clone()],
                    kept_reads: vec![KeptReads { range: unit.range.clone(), reads: unit.kept_reads.clone() }],
                };
                if !new_imports.is_empty() {
                    let (at, text) = syntax::import_insertion(tree.root_node(), baseline.source, &new_imports.join("\n"));
                    candidate.edits.push(Edit::new(at..at, text));
                    candidate.allowed.push(at..at);
                }
                match validate(analyzer, parser, versions, baseline, &candidate) {
                    Ok(_) => return Ok(candidate),
                    Err(reason) => last = reason,
                }
            }
            Err(reason) => last = format!("the model failed: {reason}"),
        }
    }
    Err(format!("{samples} model sample{} failed validation; the last: {last}", if samples == 1 { "" } else { "s" }))
}

/// Splits a model's answer into the imports it starts with that the file
/// lacks (to be added with the file's imports) and the code that replaces
/// the unit. The prompt shows the unit after the imports it uses, so answers
/// usually repeat them; those are dropped. A unit that is itself an import
/// is replaced as a whole.
fn split_imports(parser: &mut Parser, source: &str, unit: &MigrationUnit, answer: &str) -> Result<(Vec<String>, String), String> {
    const IMPORTS: [&str; 3] = ["import_statement", "import_from_statement", "future_import_statement"];
    let starts_with_import = |parser: &mut Parser, code: &str| -> Option<tree_sitter::Tree> {
        let tree = syntax::parse(parser, code)?;
        let first = tree.root_node().named_child(0)?;
        IMPORTS.contains(&first.kind()).then_some(tree)
    };
    if starts_with_import(parser, &unit.code).is_some() {
        return Ok((Vec::new(), answer.to_string()));
    }
    let Some(tree) = starts_with_import(parser, answer) else {
        return Ok((Vec::new(), answer.to_string()));
    };
    let root = tree.root_node();
    let mut cursor = root.walk();
    let mut leading = Vec::new();
    let mut body_start = None;
    for child in root.named_children(&mut cursor) {
        match child.kind() {
            "comment" => {}
            kind if IMPORTS.contains(&kind) => leading.push(syntax::text(answer, child).trim().to_string()),
            _ => {
                body_start = Some(syntax::line_start(answer, child.start_byte()));
                break;
            }
        }
    }
    let Some(body_start) = body_start else {
        return Err("the answer holds only import statements".into());
    };
    let present = |statement: &String| {
        unit.imports.iter().any(|i| i.trim() == statement) || source.lines().any(|line| line.trim() == statement)
    };
    let mut new_imports: Vec<String> = Vec::new();
    for statement in leading {
        if !present(&statement) && !new_imports.contains(&statement) {
            new_imports.push(statement);
        }
    }
    Ok((new_imports, answer[body_start..].to_string()))
}

#[cfg(test)]
pub(crate) mod tests;
