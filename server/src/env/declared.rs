//! Declared requirements: `pyproject.toml` (`[project]`, `[dependency-groups]`,
//! Poetry), `requirements*.txt` (with `-r` / `-c` includes) and
//! `environment.yml` (conda specs and its `pip:` section).
//!
//! An exact pin is a version; a range gives its lower bound. Within
//! declarations an exact pin beats a lower bound; otherwise the first file
//! wins (pyproject, requirements, environment.yml).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use pep508_rs::{Requirement, VerbatimUrl, VersionOrUrl};
use toml::de::{DeTable, DeValue};
use toml::Spanned;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use super::text::{
    from_specifiers, get_table, line_at, one_line, parse_constraint, read_text, DeclaredVersion, Dialect,
};
use super::{normalize_name, Problem, ResolvedVersion, VersionSource};

/// How deep `-r` includes may nest (cycles are caught separately).
const MAX_INCLUDE_DEPTH: usize = 32;

/// The declared versions, merged: an exact pin replaces a lower bound, and
/// otherwise the first declaration of a name stays.
#[derive(Default)]
struct Declared {
    map: BTreeMap<String, ResolvedVersion>,
}

impl Declared {
    fn offer(&mut self, name: &str, declared: DeclaredVersion, file: &Path, line: usize, requirement: &str) {
        let resolved = ResolvedVersion {
            version: declared.version,
            source: VersionSource::Declared {
                file: file.to_path_buf(),
                line,
                requirement: requirement.trim().to_string(),
                lower_bound: declared.lower_bound,
            },
        };
        let key = normalize_name(name);
        let replace = match self.map.get(&key).map(|r| &r.source) {
            None => true,
            Some(VersionSource::Declared { lower_bound, .. }) => *lower_bound && !declared.lower_bound,
            Some(_) => false,
        };
        if replace {
            self.map.insert(key, resolved);
        }
    }
}

/// Everything declared under `root`. `pyproject` is the root
/// `pyproject.toml`, already read and parsed by the caller.
pub(crate) fn read(
    root: &Path,
    pyproject: Option<(&Path, &str, &DeTable<'_>)>,
    problems: &mut Vec<Problem>,
) -> Vec<(String, ResolvedVersion)> {
    let mut declared = Declared::default();
    if let Some((file, text, doc)) = pyproject {
        read_pyproject(file, text, doc, &mut declared, problems);
    }
    let mut visited = HashSet::new();
    for file in root_requirement_files(root) {
        read_requirements(&file, 0, &mut visited, &mut declared, problems);
    }
    for name in ["environment.yml", "environment.yaml"] {
        let file = root.join(name);
        if file.is_file() {
            read_environment_yml(&file, &mut visited, &mut declared, problems);
        }
    }
    declared.map.into_iter().collect()
}

// ---------------------------------------------------------------- pyproject

fn read_pyproject(file: &Path, text: &str, doc: &DeTable<'_>, declared: &mut Declared, problems: &mut Vec<Problem>) {
    if let Some(project) = get_table(doc, "project") {
        if let Some(deps) = project.get("dependencies") {
            pep508_array(file, text, deps, "[project] dependencies", declared, problems);
        }
        if let Some(optional) = project.get("optional-dependencies") {
            match optional.get_ref().as_table() {
                Some(groups) => {
                    for (group, deps) in groups {
                        let what = format!("[project.optional-dependencies] {}", group.get_ref());
                        pep508_array(file, text, deps, &what, declared, problems);
                    }
                }
                None => problems.push(at(file, text, optional, "[project] optional-dependencies must be a table")),
            }
        }
    }
    // PEP 735 dependency groups; `{ include-group = "..." }` entries name no package.
    if let Some(groups) = get_table(doc, "dependency-groups") {
        for (group, deps) in groups {
            let what = format!("[dependency-groups] {}", group.get_ref());
            pep508_array(file, text, deps, &what, declared, problems);
        }
    }
    if let Some(poetry) = get_table(doc, "tool").and_then(|t| get_table(t, "poetry")) {
        for key in ["dependencies", "dev-dependencies"] {
            if let Some(deps) = poetry.get(key) {
                poetry_table(file, text, deps, declared, problems);
            }
        }
        if let Some(groups) = get_table(poetry, "group") {
            for (_, group) in groups {
                if let Some(deps) = group.get_ref().as_table().and_then(|g| g.get("dependencies")) {
                    poetry_table(file, text, deps, declared, problems);
                }
            }
        }
    }
}

fn at(file: &Path, text: &str, value: &Spanned<DeValue<'_>>, message: impl Into<String>) -> Problem {
    Problem::new(file, Some(line_at(text, value.span().start)), message)
}

/// An array of PEP 508 requirement strings.
fn pep508_array(
    file: &Path,
    text: &str,
    deps: &Spanned<DeValue<'_>>,
    what: &str,
    declared: &mut Declared,
    problems: &mut Vec<Problem>,
) {
    let Some(items) = deps.get_ref().as_array() else {
        problems.push(at(file, text, deps, format!("{what} must be an array of requirement strings")));
        return;
    };
    for item in items.iter() {
        match item.get_ref() {
            DeValue::String(requirement) => {
                let line = line_at(text, item.span().start);
                pep508(requirement, file, line, declared, problems);
            }
            DeValue::Table(_) => {} // `{ include-group = "..." }`
            _ => problems.push(at(file, text, item, format!("{what}: expected a requirement string"))),
        }
    }
}

/// `[tool.poetry.dependencies]`-style tables: `name = "^1.2"`,
/// `name = { version = "^1.2", ... }`, or a list of such tables.
fn poetry_table(
    file: &Path,
    text: &str,
    deps: &Spanned<DeValue<'_>>,
    declared: &mut Declared,
    problems: &mut Vec<Problem>,
) {
    let Some(table) = deps.get_ref().as_table() else {
        problems.push(at(file, text, deps, "Poetry dependencies must be a table"));
        return;
    };
    for (name, spec) in table {
        let name = name.get_ref();
        if name.eq_ignore_ascii_case("python") {
            continue; // the Python constraint, not a package
        }
        let version = match spec.get_ref() {
            DeValue::String(_) => Some(spec),
            DeValue::Table(t) => t.get("version"), // path / git / url dependencies have none
            DeValue::Array(alternatives) => {
                alternatives.iter().find_map(|a| a.get_ref().as_table().and_then(|t| t.get("version")))
            }
            _ => {
                problems.push(at(
                    file,
                    text,
                    spec,
                    format!("Poetry dependency `{name}`: expected a version string or table"),
                ));
                None
            }
        };
        let Some(version) = version else { continue };
        let Some(constraint) = version.get_ref().as_str() else {
            problems.push(at(file, text, version, format!("Poetry dependency `{name}`: the version must be a string")));
            continue;
        };
        let line = line_at(text, version.span().start);
        match parse_constraint(constraint, Dialect::Poetry) {
            Ok(Some(v)) => declared.offer(name, v, file, line, &format!("{name} = \"{constraint}\"")),
            Ok(None) => {}
            Err(e) => problems.push(Problem::new(file, Some(line), format!("Poetry dependency `{name}`: {e}"))),
        }
    }
}

/// Offers one PEP 508 requirement string. URL and path requirements name no
/// version and are skipped.
fn pep508(requirement: &str, file: &Path, line: usize, declared: &mut Declared, problems: &mut Vec<Problem>) {
    let requirement = requirement.trim();
    let head = requirement.split(';').next().unwrap_or("");
    if head.contains(['@', '/', '\\']) {
        return; // `name @ url`, a path or a URL
    }
    match Requirement::<VerbatimUrl>::from_str(requirement) {
        Ok(parsed) => {
            if let Some(VersionOrUrl::VersionSpecifier(specifiers)) = &parsed.version_or_url {
                if let Some(v) = from_specifiers(specifiers) {
                    declared.offer(parsed.name.as_ref(), v, file, line, requirement);
                }
            }
        }
        Err(e) => problems.push(Problem::new(
            file,
            Some(line),
            format!("cannot parse requirement `{requirement}`: {}", one_line(&e.message)),
        )),
    }
}

// ---------------------------------------------------------- requirements.txt

/// `requirements*.txt` in the root: `requirements.txt` first, then the rest
/// sorted by name.
fn root_requirement_files(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(root) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("requirements") && n.ends_with(".txt"))
        .collect();
    names.sort_by_key(|n| (n != "requirements.txt", n.clone()));
    names.into_iter().map(|n| root.join(n)).collect()
}

fn read_requirements(
    file: &Path,
    depth: usize,
    visited: &mut HashSet<PathBuf>,
    declared: &mut Declared,
    problems: &mut Vec<Problem>,
) {
    let key = fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    if !visited.insert(key) {
        return; // already read: an include cycle, or included twice
    }
    let Some(text) = read_text(file, problems) else { return };
    let base = file.parent().unwrap_or(Path::new(""));
    for (line, logical) in logical_lines(&text) {
        requirement_line(&logical, file, line, base, depth, visited, declared, problems);
    }
}

/// Joins `\` continuations and strips comments; yields each non-empty
/// logical line with the 1-based number of its first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (index, physical) in text.lines().enumerate() {
        if current.is_empty() {
            start = index + 1;
        }
        let without_comment = strip_comment(physical);
        match without_comment.trim_end().strip_suffix('\\') {
            Some(continued) => {
                current.push_str(continued);
                current.push(' ');
            }
            None => {
                current.push_str(without_comment);
                let logical = current.trim().to_string();
                if !logical.is_empty() {
                    out.push((start, logical));
                }
                current.clear();
            }
        }
    }
    let logical = current.trim().to_string();
    if !logical.is_empty() {
        out.push((start, logical));
    }
    out
}

/// pip's rule: `#` at the start of a line or after whitespace starts a comment.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// One logical line of a requirements file (or an entry of environment.yml's
/// `pip:` list): an include, another option, or a requirement.
#[allow(clippy::too_many_arguments)]
fn requirement_line(
    logical: &str,
    file: &Path,
    line: usize,
    base: &Path,
    depth: usize,
    visited: &mut HashSet<PathBuf>,
    declared: &mut Declared,
    problems: &mut Vec<Problem>,
) {
    let logical = logical.trim();
    if logical.starts_with('-') {
        if let Some(target) = include_target(logical) {
            let included = base.join(target);
            if depth >= MAX_INCLUDE_DEPTH {
                problems.push(Problem::new(file, Some(line), format!("includes nest too deep at `{target}`")));
            } else if !included.is_file() {
                problems.push(Problem::new(file, Some(line), format!("cannot include `{target}`: no such file")));
            } else {
                read_requirements(&included, depth + 1, visited, declared, problems);
            }
        }
        return; // `-e`, `--index-url` and other options name no versions
    }
    // Per-requirement options (`--hash=...`, `--config-settings ...`) follow the requirement.
    let requirement: Vec<&str> = logical.split_whitespace().take_while(|t| !t.starts_with('-')).collect();
    let requirement = requirement.join(" ");
    let first = requirement.split_whitespace().next().unwrap_or("");
    if first.contains("://") || first.starts_with('.') || [".whl", ".tar.gz", ".zip"].iter().any(|e| first.ends_with(e))
    {
        return; // a URL, a local path or an archive
    }
    pep508(&requirement, file, line, declared, problems);
}

/// The file named by `-r FILE`, `-rFILE`, `--requirement FILE`,
/// `--requirement=FILE` and the `-c` / `--constraint` forms.
fn include_target(option: &str) -> Option<&str> {
    for flag in ["--requirement", "--constraint", "-r", "-c"] {
        if let Some(rest) = option.strip_prefix(flag) {
            let long = flag.starts_with("--");
            let target = if long {
                match rest.chars().next() {
                    Some('=') => &rest[1..],
                    Some(c) if c.is_whitespace() => rest,
                    _ => continue, // e.g. `--requirements-foo`, not this flag
                }
            } else {
                rest
            };
            let target = target.trim();
            return (!target.is_empty()).then_some(target);
        }
    }
    None
}

// ---------------------------------------------------------- environment.yml

/// conda package names whose PyPI distribution is named differently.
const CONDA_TO_PYPI: [(&str, &str); 5] = [
    ("pytorch", "torch"),
    ("pytorch-cpu", "torch"),
    ("pytorch-gpu", "torch"),
    ("matplotlib-base", "matplotlib"),
    ("py-xgboost", "xgboost"),
];

fn read_environment_yml(
    file: &Path,
    visited: &mut HashSet<PathBuf>,
    declared: &mut Declared,
    problems: &mut Vec<Problem>,
) {
    let Some(text) = read_text(file, problems) else { return };
    let mut tree = TreeBuilder::default();
    if let Err(e) = Parser::new_from_str(&text).load(&mut tree, false) {
        problems.push(Problem::new(file, Some(e.marker().line()), format!("invalid YAML: {}", e.info())));
        return;
    }
    let Some(document) = tree.documents.into_iter().next() else { return };
    let Node::Map(top, _) = document else {
        problems.push(Problem::new(file, Some(document.line()), "environment file: expected a mapping at the top"));
        return;
    };
    let Some((_, dependencies)) = top.iter().find(|(k, _)| k.scalar() == Some("dependencies")) else { return };
    let Node::Seq(items, _) = dependencies else {
        problems.push(Problem::new(file, Some(dependencies.line()), "`dependencies` must be a list"));
        return;
    };
    let base = file.parent().unwrap_or(Path::new(""));
    for item in items {
        match item {
            Node::Scalar(spec, line) => conda_spec(spec, file, *line, declared, problems),
            Node::Map(entries, _) => {
                for (key, value) in entries {
                    if key.scalar() != Some("pip") {
                        continue;
                    }
                    let Node::Seq(pip, _) = value else {
                        problems.push(Problem::new(file, Some(value.line()), "`pip` must be a list of requirements"));
                        continue;
                    };
                    for requirement in pip {
                        match requirement {
                            Node::Scalar(text, line) => {
                                requirement_line(text, file, *line, base, 0, visited, declared, problems)
                            }
                            other => {
                                problems.push(Problem::new(file, Some(other.line()), "a `pip` entry must be a string"))
                            }
                        }
                    }
                }
            }
            other => problems.push(Problem::new(file, Some(other.line()), "a dependency must be a string")),
        }
    }
}

/// A conda match spec: `numpy`, `numpy=1.26`, `numpy==1.26.4`, `numpy>=1.2,<2`,
/// `numpy 1.26.*`, `numpy=1.26.4=py311h_0`, `conda-forge::numpy=1.26`.
fn conda_spec(spec: &str, file: &Path, line: usize, declared: &mut Declared, problems: &mut Vec<Problem>) {
    let text = spec.trim();
    let text = text.rsplit_once("::").map_or(text, |(_, rest)| rest); // channel
    let end = text.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))).unwrap_or(text.len());
    let (name, rest) = (&text[..end], text[end..].trim());
    if name.is_empty() {
        problems.push(Problem::new(file, Some(line), format!("cannot parse conda spec `{spec}`")));
        return;
    }
    let expression = if rest.is_empty() || rest.starts_with('[') {
        return; // no version (the bracket form is not read)
    } else if rest.starts_with('=') && !rest.starts_with("==") {
        // `=VERSION[=BUILD]`
        rest[1..].split('=').next().unwrap_or("").to_string()
    } else {
        // `VERSION [BUILD]` or `OP VERSION,...`: the build string is not a version.
        let mut joined = tokens_keeping_lists(rest);
        if joined.is_empty() {
            return;
        }
        joined.swap_remove(0)
    };
    let distribution =
        CONDA_TO_PYPI.iter().find(|(conda, _)| conda.eq_ignore_ascii_case(name)).map_or(name, |(_, pypi)| pypi);
    match parse_constraint(&expression, Dialect::Conda) {
        Ok(Some(v)) => declared.offer(distribution, v, file, line, spec),
        Ok(None) => {}
        Err(e) => problems.push(Problem::new(file, Some(line), format!("conda spec `{spec}`: {e}"))),
    }
}

/// Whitespace-separated words, gluing lone operators and comma / bar lists
/// (`>= 1.2, <2`) back together.
fn tokens_keeping_lists(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut glue = false;
    for word in text.split_whitespace() {
        match out.last_mut() {
            Some(last) if glue => last.push_str(word),
            _ => out.push(word.to_string()),
        }
        glue = word.ends_with([',', '|', '<', '>', '=', '!', '~']);
    }
    out
}

/// A YAML node with the 1-based line it starts on.
#[derive(Debug)]
enum Node {
    Scalar(String, usize),
    Seq(Vec<Node>, usize),
    Map(Vec<(Node, Node)>, usize),
    /// Aliases: not followed.
    Other(usize),
}

impl Node {
    fn line(&self) -> usize {
        match self {
            Node::Scalar(_, l) | Node::Seq(_, l) | Node::Map(_, l) | Node::Other(l) => *l,
        }
    }

    fn scalar(&self) -> Option<&str> {
        match self {
            Node::Scalar(s, _) => Some(s),
            _ => None,
        }
    }
}

/// Builds [`Node`] trees from parser events (yaml-rust2's own tree drops
/// positions).
#[derive(Default)]
struct TreeBuilder {
    /// Open collections: (is_map, children, line).
    stack: Vec<(bool, Vec<Node>, usize)>,
    documents: Vec<Node>,
}

impl TreeBuilder {
    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            Some((_, children, _)) => children.push(node),
            None => self.documents.push(node),
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let line = mark.line().max(1);
        match event {
            Event::Scalar(value, ..) => self.push(Node::Scalar(value, line)),
            Event::Alias(_) => self.push(Node::Other(line)),
            Event::SequenceStart(..) => self.stack.push((false, Vec::new(), line)),
            Event::MappingStart(..) => self.stack.push((true, Vec::new(), line)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((is_map, children, line)) = self.stack.pop() {
                    let node = if is_map {
                        let mut pairs = Vec::new();
                        let mut it = children.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            pairs.push((k, v));
                        }
                        Node::Map(pairs, line)
                    } else {
                        Node::Seq(children, line)
                    };
                    self.push(node);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_lines_join_continuations_and_drop_comments() {
        let text = "# top\nnumpy==1.26.4 \\\n    --hash=sha256:abc \\\n    --hash=sha256:def\n\nurl#frag  # note\n";
        let lines = logical_lines(text);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].0, 2);
        assert!(lines[0].1.starts_with("numpy==1.26.4"));
        assert!(lines[0].1.contains("--hash=sha256:def"));
        assert_eq!(lines[1], (6, "url#frag".to_string()));
    }

    #[test]
    fn include_targets() {
        assert_eq!(include_target("-r base.txt"), Some("base.txt"));
        assert_eq!(include_target("-rbase.txt"), Some("base.txt"));
        assert_eq!(include_target("--requirement=base.txt"), Some("base.txt"));
        assert_eq!(include_target("--requirement base.txt"), Some("base.txt"));
        assert_eq!(include_target("-c constraints.txt"), Some("constraints.txt"));
        assert_eq!(include_target("--constraint=c.txt"), Some("c.txt"));
        assert_eq!(include_target("-e ."), None);
        assert_eq!(include_target("--index-url https://example.org"), None);
        assert_eq!(include_target("-r"), None);
    }
}
