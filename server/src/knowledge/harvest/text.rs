//! Words of a deprecation message: cleaning, the versions it states, and the
//! replacement it names. Pure string work, no syntax trees.

use std::str::FromStr;

use pep440_rs::Version;

/// Collapses every run of white space to one space and trims the ends.
pub(crate) fn clean(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for word in message.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Decodes the body of a Python string literal (between its quotes).
/// Raw strings stay as written; the common escapes are decoded, a
/// backslash-newline joins lines, and unknown escapes are kept.
pub(crate) fn unescape(body: &str, raw: bool) -> String {
    if raw || !body.contains('\\') {
        return body.to_string();
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('\n') => {}
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Versions a message states, as written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct StatedVersions {
    pub deprecated: Option<String>,
    pub removed: Option<String>,
}

fn is_deprecation_anchor(word: &str) -> bool {
    word.starts_with("deprecat")
}

fn is_removal_anchor(word: &str) -> bool {
    word.starts_with("remov") || word.starts_with("expire") || word == "raise" || word == "raises"
}

/// A version token: digits with at least one dot (`2.0`, `1.24.1`, `v3.10`),
/// surrounding punctuation stripped. Plain integers are not versions
/// ("in 2 releases").
pub(crate) fn version_token(word: &str) -> Option<String> {
    let w = word
        .trim_start_matches(['(', '`', '\'', '"', 'v', 'V'])
        .trim_end_matches(['.', ',', ';', ':', ')', '`', '\'', '"', '!', '?']);
    let mut parts = w.split('.');
    let first = parts.next()?;
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        return None;
    }
    // Each further part starts with a digit; the last may carry a pre-release
    // suffix (`0rc1`).
    if !rest.iter().all(|p| p.bytes().next().is_some_and(|b| b.is_ascii_digit())) {
        return None;
    }
    if !rest.iter().all(|p| p.bytes().all(|b| b.is_ascii_alphanumeric())) {
        return None;
    }
    Version::from_str(w).ok()?;
    Some(w.to_string())
}

fn ends_sentence(word: &str) -> bool {
    word.ends_with('.') || word.ends_with(';') || word.ends_with(':') || word.ends_with('!')
}

/// Reads "deprecated since 1.5", "will be removed in 3.0", "is deprecated in
/// 1.6 and will be removed in 1.8", "(Deprecated NumPy 1.25)", "was removed in
/// the NumPy 2.0 release": a version within a few words after an anchor word,
/// in the same sentence.
pub(crate) fn stated_versions(message: &str) -> StatedVersions {
    let words: Vec<String> = message.split_whitespace().map(|w| w.to_lowercase()).collect();
    let mut found = StatedVersions::default();
    for (i, word) in words.iter().enumerate() {
        let bare = word.trim_matches(|c: char| !c.is_alphanumeric());
        let deprecation = is_deprecation_anchor(bare);
        let removal = is_removal_anchor(bare);
        if !deprecation && !removal {
            continue;
        }
        if ends_sentence(word) {
            continue;
        }
        let mut version = None;
        for next in words.iter().skip(i + 1).take(5) {
            if let Some(v) = version_token(next) {
                version = Some(v);
                break;
            }
            let bare_next = next.trim_matches(|c: char| !c.is_alphanumeric());
            if is_deprecation_anchor(bare_next) || is_removal_anchor(bare_next) || ends_sentence(next) {
                break;
            }
            // A link ("see https://…/1.20.0-notes") is no statement.
            if next.contains("://") || next.contains('/') {
                break;
            }
        }
        if let Some(v) = version {
            let slot = if deprecation { &mut found.deprecated } else { &mut found.removed };
            if slot.is_none() {
                *slot = Some(v);
            }
        }
    }
    found
}

/// Whether the message speaks of deprecation or removal (as opposed to a
/// mere change of behaviour).
pub(crate) fn mentions_deprecation(message: &str) -> bool {
    let lower = message.to_lowercase();
    lower.contains("deprecat") || lower.contains("remov") || lower.contains("no longer supported")
}

/// Whether the message announces a change of a default value (a warning that
/// fires for calls that do *not* pass the argument).
pub(crate) fn mentions_default_change(message: &str) -> bool {
    let lower = message.to_lowercase();
    lower.contains("default")
        && (lower.contains("will change")
            || lower.contains("changed")
            || lower.contains("will be changed")
            || lower.contains("change from")
            || lower.contains("change to")
            || lower.contains("will switch"))
}

/// Whether `word` (a Python identifier) occurs in the message as a word.
pub(crate) fn mentions_word(message: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    let bytes = message.as_bytes();
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut start = 0;
    while let Some(pos) = message[start..].find(word) {
        let at = start + pos;
        let end = at + word.len();
        let before_ok = at == 0 || !is_ident(bytes[at - 1]);
        let after_ok = end >= bytes.len() || !is_ident(bytes[end]);
        if before_ok && after_ok {
            return true;
        }
        start = at + 1;
        if start >= message.len() {
            break;
        }
    }
    false
}

pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_alphanumeric() || c == '_')
}

pub(crate) fn is_dotted_name(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(is_identifier)
}

/// Strips quotes, backticks, a leading dot (Sphinx `.Axes.plot`), a trailing
/// call `()` and sentence punctuation from a word naming an object.
pub(crate) fn strip_name(word: &str) -> (String, bool) {
    let quoted = word.starts_with(['`', '\'', '"']) || word.contains('`');
    let w =
        word.trim_start_matches(['`', '\'', '"', '(', '~', ':']).trim_end_matches(['.', ',', ';', ':', ')', '!', '?']);
    let w = w.trim_end_matches(['`', '\'', '"']).trim_end_matches("()");
    let w = w.trim_start_matches('.');
    (w.to_string(), quoted)
}

/// The object a message recommends instead, as written (`np.float64`,
/// `DataFrame.map`, `trapezoid`): "use X instead", "in favor of X",
/// "renamed to X", "replaced by X". Only names that are clearly names: quoted,
/// or followed by "instead"/"directly"/the end of a sentence.
pub(crate) fn stated_replacement(message: &str) -> Option<String> {
    let words: Vec<&str> = message.split_whitespace().collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    for i in 0..words.len() {
        let lead = lower[i].trim_matches(|c: char| !c.is_alphanumeric());
        let candidate_at = match lead {
            "use" => Some(i + 1),
            "of" if i >= 2 && matches!(lower[i - 1].as_str(), "favor" | "favour") && lower[i - 2] == "in" => {
                Some(i + 1)
            }
            "to" if i >= 1 && matches!(lower[i - 1].as_str(), "renamed" | "moved") => Some(i + 1),
            "by" if i >= 1 && lower[i - 1] == "replaced" => Some(i + 1),
            _ => None,
        };
        let Some(at) = candidate_at else { continue };
        let Some(word) = words.get(at) else { continue };
        let (name, quoted) = strip_name(word);
        if !is_dotted_name(&name) {
            continue;
        }
        let ends = ends_sentence(word) || at + 1 == words.len();
        let followed = lower
            .get(at + 1)
            .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
            .is_some_and(|w| matches!(w, "instead" | "directly"));
        if quoted || followed || ends || name.contains('.') && lead != "use" {
            return Some(name);
        }
    }
    None
}

/// A removal version implied by a warning category's name:
/// `Pandas4Warning` → 4.0, `RemovedInDjango50Warning` / `RemovedIn20Warning` → 5.0 / 2.0.
pub(crate) fn category_version(name: &str) -> Option<String> {
    let stem = name.strip_suffix("Warning")?;
    let digits: String =
        stem.chars().rev().take_while(|c| c.is_ascii_digit()).collect::<Vec<_>>().into_iter().rev().collect();
    if digits.is_empty() || digits.len() > 3 {
        return None;
    }
    let prefix = &stem[..stem.len() - digits.len()];
    if prefix.is_empty() || !prefix.chars().last().is_some_and(|c| c.is_alphabetic()) {
        return None;
    }
    if prefix.starts_with("RemovedIn") && digits.len() >= 2 {
        Some(format!("{}.{}", &digits[..1], &digits[1..]))
    } else if digits.len() == 1 {
        Some(format!("{digits}.0"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_messages() {
        let v = stated_versions("`foo` is deprecated in 1.6 and will be removed in 1.8.");
        assert_eq!(v.deprecated.as_deref(), Some("1.6"));
        assert_eq!(v.removed.as_deref(), Some("1.8"));
        let v = stated_versions("deprecated since 1.5");
        assert_eq!(v.deprecated.as_deref(), Some("1.5"));
        let v = stated_versions("`np.x` was removed in the NumPy 2.0 release. Use y.");
        assert_eq!(v.removed.as_deref(), Some("2.0"));
        let v = stated_versions("It was deprecated in version 1.2.");
        assert_eq!(v.deprecated.as_deref(), Some("1.2"));
        let v = stated_versions("alias (Deprecated Numpy 1.25). Replace");
        assert_eq!(v.deprecated.as_deref(), Some("1.25"));
        let v = stated_versions("will be removed in a future version. See https://x/1.20.0-notes.html");
        assert_eq!(v, StatedVersions::default());
        let v = stated_versions("deprecated. Will be removed in 3.0");
        assert_eq!((v.deprecated, v.removed.as_deref()), (None, Some("3.0")));
    }

    #[test]
    fn replacements_from_messages() {
        assert_eq!(stated_replacement("Use `np.float64` instead.").as_deref(), Some("np.float64"));
        assert_eq!(stated_replacement("Use DataFrame.map instead.").as_deref(), Some("DataFrame.map"));
        assert_eq!(stated_replacement("np.fix will be deprecated in favor of np.trunc").as_deref(), Some("np.trunc"));
        assert_eq!(stated_replacement("Use public APIs instead."), None);
        assert_eq!(stated_replacement("Use the np.errstate context manager instead."), None);
        assert_eq!(stated_replacement("Use `np.asarray(arr, dtype=dtype)` instead."), None);
        assert_eq!(stated_replacement("It was renamed to `new_name`.").as_deref(), Some("new_name"));
    }

    #[test]
    fn category_names_carry_versions() {
        assert_eq!(category_version("Pandas4Warning").as_deref(), Some("4.0"));
        assert_eq!(category_version("RemovedInDjango50Warning").as_deref(), Some("5.0"));
        assert_eq!(category_version("DeprecationWarning"), None);
        assert_eq!(category_version("Float64Warning"), None);
    }

    #[test]
    fn cleaning_and_escapes() {
        assert_eq!(clean("  a\n   b\tc "), "a b c");
        assert_eq!(unescape(r"it\'s\n", false), "it's\n");
        assert_eq!(unescape(r"a\d", true), r"a\d");
        assert!(mentions_word("The 'axis' keyword", "axis"));
        assert!(!mentions_word("The axis_x keyword", "axis"));
    }
}
