//! A finding: a use of a cataloged API at a version where it matters.

use std::fmt;

use pep440_rs::Version;
use serde::Serialize;

use crate::env::ResolvedVersion;
use crate::knowledge::catalog::SeverityCap;
use crate::knowledge::{Entry, EntryKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The library's version is unknown, or the entry is advisory only.
    Info,
    /// Deprecated at the resolved version.
    Warning,
    /// Removed (or changed) at the resolved version.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One flagged use. Offsets are bytes into the analysed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub start_byte: usize,
    pub end_byte: usize,
    /// Index of the entry in the catalog the analysis ran with.
    pub entry: usize,
    pub library: String,
    /// The entry's symbol as written in the catalog (`pandas.read_csv(squeeze=)`).
    pub symbol: String,
    pub kind: EntryKind,
    pub rule: &'static str,
    pub severity: Severity,
    pub deprecated_in: Option<Version>,
    pub removed_in: Option<Version>,
    pub installed: Option<ResolvedVersion>,
    /// The mechanical replacement, when one exists at the resolved version.
    pub replacement: Option<String>,
    pub message: String,
    /// The catalog's note and release-notes link for the change.
    pub note: String,
    pub link: String,
}

/// The severity of `entry` at the resolved version, or `None` when the
/// version is older than anything the entry records.
pub fn severity_at(entry: &Entry, installed: Option<&Version>) -> Option<Severity> {
    let reached = |v: &Option<Version>| match (v, installed) {
        (Some(v), Some(installed)) => installed >= v,
        _ => false,
    };
    let severity = match installed {
        None => Severity::Info,
        Some(_) if reached(&entry.removed_in) => Severity::Error,
        Some(_) if reached(&entry.deprecated_in) => Severity::Warning,
        Some(_) => return None,
    };
    Some(match entry.severity_cap {
        Some(SeverityCap::Info) => Severity::Info,
        Some(SeverityCap::Warning) => severity.min(Severity::Warning),
        None => severity,
    })
}

/// The replacement, if it already exists at the resolved version.
pub fn applicable_replacement(entry: &Entry, installed: Option<&Version>) -> Option<String> {
    let replacement = entry.replacement.as_ref()?;
    match (&entry.replacement_since, installed) {
        (Some(since), Some(installed)) if installed < since => None,
        _ => Some(replacement.clone()),
    }
}

/// How a replacement reads in a message: builtins without their module.
pub fn display_name(qualified: &str) -> &str {
    qualified.strip_prefix("builtins.").unwrap_or(qualified)
}

pub fn message(entry: &Entry, installed: Option<&ResolvedVersion>, severity: Severity, replacement: Option<&str>) -> String {
    let lib = &entry.library;
    let subject = match (&entry.symbol.keyword, &entry.unless_keyword, &entry.argument) {
        (Some(keyword), _, _) => format!("keyword `{keyword}=` of `{}`", entry.symbol.path),
        (None, Some(required), _) => format!("`{}` without `{required}=`", entry.symbol.path),
        (None, None, Some(argument)) => format!("`{}({argument:?})`", entry.symbol.path),
        (None, None, None) => format!("`{}`", entry.symbol.path),
    };
    let changed = if entry.kind == EntryKind::BehaviourChanged { "changed behaviour" } else { "was removed" };
    let mut text = match (severity, installed) {
        (_, None) => {
            let when = match (&entry.removed_in, &entry.deprecated_in) {
                (Some(r), _) => format!("{changed} in {lib} {r}"),
                (None, Some(d)) => format!("is deprecated since {lib} {d}"),
                (None, None) => "is outdated".to_string(),
            };
            format!("{subject} {when}; the {lib} version is unknown (no pin, installed package, lock file or declaration names it)")
        }
        (Severity::Error, Some(v)) => {
            let removed = entry.removed_in.as_ref().map(ToString::to_string).unwrap_or_default();
            format!("{subject} {changed} in {lib} {removed} ({lib} {} is used)", v.version)
        }
        (_, Some(v)) => {
            let since = entry.deprecated_in.as_ref().map(ToString::to_string).unwrap_or_default();
            let mut t = format!("{subject} is deprecated since {lib} {since}");
            if let Some(removed) = &entry.removed_in {
                let verb = if entry.kind == EntryKind::BehaviourChanged { "changes" } else { "is removed" };
                t.push_str(&format!(" and {verb} in {removed}"));
            }
            t.push_str(&format!(" ({lib} {} is used)", v.version));
            t
        }
    };
    if let Some(replacement) = replacement {
        let use_text = match (&entry.symbol.keyword, &entry.argument) {
            (Some(_), _) => format!("`{replacement}=`"),
            (None, Some(_)) => format!("{replacement:?}"),
            (None, None) => format!("`{}`", display_name(replacement)),
        };
        text.push_str(&format!("; use {use_text} instead"));
    }
    text
}
