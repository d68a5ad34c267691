//! Deterministic rewrites: a finding whose catalog entry has a mechanical
//! replacement at the installed version becomes edits, with no model.
//!
//! The rules, by what the finding flags:
//!
//! * **a keyword** (`to_csv(line_terminator=...)`): the keyword's name is
//!   rewritten, unless the call already passes the new one.
//! * **a string argument** (`plt.style.use("seaborn")`): the string's
//!   contents are rewritten, its prefix and quotes kept.
//! * **an attribute chain** (`np.float_`, `frame.iteritems`,
//!   `scipy.ndimage.filters`): the user's spelling of the longest prefix the
//!   replacement shares is kept and the rest rewritten (`np.float64`,
//!   `frame.items`, `scipy.ndimage`). A replacement in `builtins` is written
//!   bare (`np.float` → `float`) unless the file rebinds that name. A
//!   replacement elsewhere (`np.byte_bounds` →
//!   `numpy.lib.array_utils.byte_bounds`, `np.math` → `math`) is reached
//!   through an import: one the file already has (`np.prod` when `numpy` is
//!   imported as `np`), else `from numpy.lib.array_utils import byte_bounds`
//!   (added to an existing `from numpy.lib.array_utils import ...` when there
//!   is one) when that name is free, else `import numpy.lib.array_utils`
//!   and the full dotted name.
//! * **a name imported with `from`** (`from numpy import float_ as f`): the
//!   imported name is rewritten and an alias kept (`from numpy import float64
//!   as f`). Without an alias, the import and every use are renamed
//!   (`float_` → `float64`) when every use of the name is a flagged use of
//!   the same API and the new name is free; otherwise the old name is kept
//!   as an alias (`from numpy import float64 as float_`), which changes no
//!   other line. A name that moved to another module gets its own statement
//!   (`from numpy.lib.array_utils import byte_bounds`), replacing the old
//!   one or split out of it; a builtin is dropped from the import.
//! * **a module in an import** (`import pandas.util.testing as tm`,
//!   `from scipy.ndimage.filters import gaussian_filter`): the module name
//!   is rewritten.
//! * **a use of a name bound elsewhere** (`f(...)` after `from numpy import
//!   float_ as f`, or `x` after `x = np.float_`): fixed where the name is
//!   bound; the use needs no edit of its own. A name from `from numpy import
//!   *` is rewritten where it is used.
//!
//! Anything else (a removed keyword, a behaviour change, a name spelled
//! through something recode cannot follow) is not fixed here.

use std::ops::Range;

use tree_sitter::Node;

use super::edit::Edit;
use super::syntax::{self, dotted, is_prefix, last, parent, top, ImportForm, Imports, Role};
use super::validate::{Candidate, Target};
use crate::analysis::Finding;
use crate::knowledge::{Catalog, Entry, EntryKind};

/// What the rewrites look at: one file's text, tree, imports and findings.
pub struct FileContext<'a, 't> {
    pub source: &'a str,
    pub root: Node<'t>,
    pub catalog: &'a Catalog,
    pub findings: &'a [Finding],
    pub imports: &'a Imports,
}

/// A deterministic fix: its edits (checked by validation) and the names its
/// new imports or renames bind, so that two fixes never bind one name to
/// two things.
#[derive(Debug, Clone)]
pub struct Fix {
    pub candidate: Candidate,
    pub binds: Vec<(String, String)>,
}

/// What to do about one finding.
#[derive(Debug, Clone)]
pub enum Plan {
    Fix(Fix),
    /// The finding uses a name bound elsewhere; fixing the binding fixes it.
    ViaBinding(String),
    /// No deterministic rewrite; why.
    NoFix(String),
}

struct Builder {
    edits: Vec<Edit>,
    targets: Vec<Target>,
    allowed: Vec<Range<usize>>,
    binds: Vec<(String, String)>,
}

impl Builder {
    fn new(finding: &Finding) -> Self {
        let range = finding.start_byte..finding.end_byte;
        Builder { edits: Vec::new(), targets: vec![Target::of(finding)], allowed: vec![range], binds: Vec::new() }
    }

    fn edit(mut self, range: Range<usize>, text: impl Into<String>) -> Self {
        self.edits.push(Edit::new(range, text));
        self
    }

    fn allow(mut self, range: Range<usize>) -> Self {
        self.allowed.push(range);
        self
    }

    fn done(self) -> Plan {
        Plan::Fix(Fix { candidate: Candidate { edits: self.edits, targets: self.targets, allowed: self.allowed, kept_reads: Vec::new() }, binds: self.binds })
    }
}

/// How a replacement reads: builtins bare.
fn shown(path: &str) -> &str {
    path.strip_prefix("builtins.").unwrap_or(path)
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// The deterministic plan for `ctx.findings[index]`.
pub fn plan(ctx: &FileContext, index: usize) -> Plan {
    let finding = &ctx.findings[index];
    let entry = &ctx.catalog.entries()[finding.entry];
    let lib = &entry.library;
    let Some(replacement) = finding.replacement.as_deref() else {
        return Plan::NoFix(match (&entry.replacement, &entry.replacement_since, &finding.installed) {
            (Some(r), Some(since), Some(installed)) => format!(
                "the replacement `{}` exists only from {lib} {since} ({lib} {} is used)",
                shown(r),
                installed.version
            ),
            _ => format!("no mechanical replacement is known ({})", entry.kind),
        });
    };
    if let (None, Some(since)) = (&finding.installed, &entry.replacement_since) {
        return Plan::NoFix(format!(
            "the {lib} version is unknown and `{}` exists only from {lib} {since} (name the version with --pin {lib}==VERSION)",
            shown(replacement)
        ));
    }
    if entry.kind == EntryKind::BehaviourChanged || entry.unless_keyword.is_some() {
        return Plan::NoFix("a behaviour change needs a rewrite, not a rename".into());
    }
    if entry.symbol.keyword.is_some() {
        return keyword(ctx, finding, replacement);
    }
    if let Some(argument) = &entry.argument {
        return string_argument(ctx, finding, argument, replacement);
    }
    reference(ctx, finding, entry, &ctx.catalog.canonical(replacement))
}

fn keyword(ctx: &FileContext, finding: &Finding, replacement: &str) -> Plan {
    let range = finding.start_byte..finding.end_byte;
    let Some(name) = syntax::node_at(ctx.root, &range, &[]) else {
        return Plan::NoFix("the flagged keyword is not where the analysis put it".into());
    };
    if !is_identifier(replacement) {
        return Plan::NoFix(format!("`{replacement}` is not a keyword name"));
    }
    let arguments = name.parent().and_then(|k| k.parent()).filter(|a| a.kind() == "argument_list");
    let Some(arguments) = arguments else {
        return Plan::NoFix("the keyword is not in a call's arguments".into());
    };
    let mut cursor = arguments.walk();
    let passed = arguments.named_children(&mut cursor).any(|a| {
        a.kind() == "keyword_argument"
            && a.child_by_field_name("name").is_some_and(|n| syntax::text(ctx.source, n) == replacement)
    });
    if passed {
        return Plan::NoFix(format!("the call already passes `{replacement}=`; one of the two must go"));
    }
    Builder::new(finding).edit(range, replacement).done()
}

fn string_argument(ctx: &FileContext, finding: &Finding, argument: &str, replacement: &str) -> Plan {
    let range = finding.start_byte..finding.end_byte;
    let no = |why: &str| Plan::NoFix(why.to_string());
    let Some(call) = syntax::node_at(ctx.root, &range, &[]).filter(|n| n.kind() == "call") else {
        return no("the flagged call is not where the analysis put it");
    };
    let Some(first) = call.child_by_field_name("arguments").and_then(|a| a.named_child(0)) else {
        return no("the call has no arguments");
    };
    if first.kind() != "string" {
        return no("the first argument is not a plain string");
    }
    let mut cursor = first.walk();
    let parts: Vec<Node> = first.named_children(&mut cursor).filter(|c| !matches!(c.kind(), "string_start" | "string_end")).collect();
    let [content] = parts.as_slice() else {
        return no("the string has escapes or interpolations");
    };
    if content.kind() != "string_content" || syntax::text(ctx.source, *content) != argument {
        return no("the string is not the flagged value");
    }
    if replacement.contains(['"', '\'', '\\', '\n', '\r', '{', '}']) {
        return Plan::NoFix(format!("the value {replacement:?} cannot be written into the string as it is"));
    }
    Builder::new(finding).edit(content.byte_range(), replacement).done()
}

fn reference(ctx: &FileContext, finding: &Finding, entry: &Entry, replacement: &str) -> Plan {
    let range = finding.start_byte..finding.end_byte;
    let Some(node) = syntax::node_at(ctx.root, &range, &["dotted_name", "attribute"]) else {
        return Plan::NoFix("the flagged code is not where the analysis put it".into());
    };
    let symbol = entry.symbol.path.as_str();
    match node.kind() {
        "attribute" => attribute(ctx, finding, node, symbol, replacement),
        "identifier" => name_use(ctx, finding, node, symbol, replacement),
        "dotted_name" => {
            let Some(parent) = node.parent() else { return Plan::NoFix("an unexpected spelling".into()) };
            match parent.kind() {
                "import_from_statement" if is_field(parent, "module_name", node) => {
                    from_module(finding, parent, node, replacement)
                }
                "import_from_statement" => from_name(ctx, finding, parent, node, node, None, symbol, replacement),
                "aliased_import" => match parent.parent() {
                    Some(statement) if statement.kind() == "import_from_statement" => {
                        from_name(ctx, finding, statement, parent, node, parent.child_by_field_name("alias"), symbol, replacement)
                    }
                    Some(statement) if statement.kind() == "import_statement" => {
                        import_module(ctx, finding, statement, node, true, symbol, replacement)
                    }
                    _ => Plan::NoFix("an unexpected import form".into()),
                },
                "import_statement" => import_module(ctx, finding, parent, node, false, symbol, replacement),
                _ => Plan::NoFix("an unexpected spelling".into()),
            }
        }
        other => Plan::NoFix(format!("recode cannot rewrite a {other} here")),
    }
}

fn is_field(parent: Node, field: &str, child: Node) -> bool {
    parent.child_by_field_name(field).is_some_and(|c| c.id() == child.id())
}

/// `base.a.b.c`: the chain of nodes from the base (index 0) to the whole.
fn attribute_chain(node: Node) -> Vec<Node> {
    let mut chain = Vec::new();
    let mut current = node;
    chain.push(current);
    while current.kind() == "attribute" {
        let Some(object) = current.child_by_field_name("object") else { break };
        chain.push(object);
        current = object;
    }
    chain.reverse();
    chain
}

fn attribute(ctx: &FileContext, finding: &Finding, node: Node, symbol: &str, replacement: &str) -> Plan {
    let source = ctx.source;
    let written = syntax::text(source, node);
    let chain = attribute_chain(node);
    let base = chain[0];
    let attrs: Vec<String> = chain[1..]
        .iter()
        .filter_map(|n| n.child_by_field_name("attribute"))
        .map(|a| syntax::text(source, a).to_string())
        .collect();
    if attrs.len() + 1 != chain.len() {
        return Plan::NoFix(format!("`{written}` is not a plain attribute chain"));
    }
    // What the base is: a name bound by an import (a module or an object
    // path), or anything else (an instance, whose class the catalog gave).
    let imported = (base.kind() == "identifier")
        .then(|| ctx.imports.unique_path(syntax::text(source, base)))
        .flatten();
    let base_path = match imported {
        Some(path) => {
            if ctx.catalog.canonical(&format!("{path}.{}", attrs.join("."))) != symbol {
                return Plan::NoFix(format!("`{written}` reaches `{symbol}` through a name recode cannot follow"));
            }
            path.to_string()
        }
        None => {
            let segments: Vec<&str> = symbol.split('.').collect();
            if segments.len() <= attrs.len() || segments[segments.len() - attrs.len()..] != attrs.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                return Plan::NoFix(format!("`{written}` reaches `{symbol}` through a name recode cannot follow"));
            }
            segments[..segments.len() - attrs.len()].join(".")
        }
    };
    let is_module = imported.is_some();
    let range = finding.start_byte..finding.end_byte;

    if let Some(name) = replacement.strip_prefix("builtins.") {
        if !is_module {
            return Plan::NoFix(format!("`{written}` is reached through an instance; `{name}` is a builtin"));
        }
        if ctx.imports.names.is_bound(name) {
            return Plan::NoFix(format!("`{name}` is rebound in this file, so the builtin cannot be named"));
        }
        return Builder::new(finding).edit(range, name).done();
    }

    // Keep the longest written prefix the replacement shares.
    for j in (0..=attrs.len()).rev() {
        let prefix = if j == 0 { base_path.clone() } else { format!("{base_path}.{}", attrs[..j].join(".")) };
        let prefix = ctx.catalog.canonical(&prefix);
        if !is_prefix(&prefix, replacement) {
            continue;
        }
        let rest = &replacement[prefix.len()..];
        // One more name at most: a deeper one may be a submodule that is
        // not loaded; reach that through an import instead.
        if rest.matches('.').count() <= 1 {
            let from = chain[j].end_byte();
            return Builder::new(finding).edit(from..node.end_byte(), rest).done();
        }
        break;
    }
    if !is_module {
        return Plan::NoFix(format!("`{}` cannot be reached from `{written}` by a rename", shown(replacement)));
    }
    match reference_to(ctx, replacement) {
        Ok(reach) => reach.apply_to(Builder::new(finding)).edit(range, reach.text).done(),
        Err(why) => Plan::NoFix(why),
    }
}

/// How the code can name a replacement that lives in another module.
struct Reach {
    text: String,
    edits: Vec<Edit>,
    allowed: Vec<Range<usize>>,
    binds: Vec<(String, String)>,
}

impl Reach {
    fn apply_to(&self, mut builder: Builder) -> Builder {
        builder.edits.extend(self.edits.iter().cloned());
        builder.allowed.extend(self.allowed.iter().cloned());
        builder.binds.extend(self.binds.iter().cloned());
        builder
    }
}

/// A name for `path` at the top level of the file: an import it already
/// has, or one added.
fn reference_to(ctx: &FileContext, path: &str) -> Result<Reach, String> {
    let reuse = |text: String| Ok(Reach { text, edits: Vec::new(), allowed: Vec::new(), binds: Vec::new() });
    let unique = |name: &str| ctx.imports.unique_path(name);
    let top_level = || ctx.imports.bindings.iter().filter(|b| b.top_level);
    // Already imported.
    if let Some(b) = top_level().find(|b| b.path == path && unique(&b.name) == Some(path)) {
        return reuse(b.name.clone());
    }
    let (module, name) = match parent(path) {
        Some(module) => (module, last(path)),
        None => {
            if ctx.imports.names.is_used(path) {
                return Err(format!("`{path}` names something else in this file"));
            }
            return Ok(add_import(ctx, &format!("import {path}"), path.to_string(), vec![(path.to_string(), path.to_string())]));
        }
    };
    // Its module is imported: `np.prod`.
    if let Some(b) = top_level().find(|b| b.path == module && unique(&b.name) == Some(module)) {
        return reuse(format!("{}.{name}", b.name));
    }
    if !ctx.imports.names.is_used(name) {
        // Join an existing `from module import ...`.
        let existing = top_level().find(|b| matches!(&b.form, ImportForm::From { module: m, .. } if m == module));
        if let Some(statement) = existing.and_then(|b| syntax::node_at(ctx.root, &b.statement, &[])) {
            let mut cursor = statement.walk();
            let names: Vec<Node> = statement.children_by_field_name("name", &mut cursor).collect();
            if let Some(last_name) = names.last() {
                return Ok(Reach {
                    text: name.to_string(),
                    edits: vec![Edit::insert(last_name.end_byte(), format!(", {name}"))],
                    allowed: vec![statement.byte_range()],
                    binds: vec![(name.to_string(), path.to_string())],
                });
            }
        }
        return Ok(add_import(ctx, &format!("from {module} import {name}"), name.to_string(), vec![(name.to_string(), path.to_string())]));
    }
    let first = top(path);
    if unique(first) == Some(first) || !ctx.imports.names.is_used(first) {
        return Ok(add_import(ctx, &format!("import {module}"), path.to_string(), vec![(first.to_string(), first.to_string())]));
    }
    Err(format!("`{name}` and `{first}` both name something else in this file, so `{path}` cannot be imported"))
}

fn add_import(ctx: &FileContext, statement: &str, text: String, binds: Vec<(String, String)>) -> Reach {
    let (at, inserted) = syntax::import_insertion(ctx.root, ctx.source, statement);
    let point = at..at;
    Reach { text, edits: vec![Edit::insert(at, inserted)], allowed: vec![point], binds }
}

/// A name used in code (not in an import).
fn name_use(ctx: &FileContext, finding: &Finding, node: Node, symbol: &str, replacement: &str) -> Plan {
    let source = ctx.source;
    let name = syntax::text(source, node);
    if ctx.imports.bindings.iter().any(|b| b.name == name && b.path == symbol) {
        return Plan::ViaBinding(format!("`{name}` refers to `{symbol}` through its import"));
    }
    let star = parent(symbol).is_some_and(|m| ctx.imports.stars.iter().any(|s| s == m));
    if !star || name != last(symbol) || ctx.imports.names.is_bound(name) {
        return Plan::ViaBinding(format!("`{name}` refers to `{symbol}` through a binding elsewhere"));
    }
    // From a star import.
    let range = finding.start_byte..finding.end_byte;
    if let Some(builtin) = replacement.strip_prefix("builtins.") {
        if ctx.imports.names.is_bound(builtin) {
            return Plan::NoFix(format!("`{builtin}` is rebound in this file, so the builtin cannot be named"));
        }
        return Builder::new(finding).edit(range, builtin).done();
    }
    if parent(replacement) == parent(symbol) && !ctx.imports.names.is_bound(last(replacement)) {
        return Builder::new(finding).edit(range, last(replacement)).done();
    }
    match reference_to(ctx, replacement) {
        Ok(reach) => reach.apply_to(Builder::new(finding)).edit(range, reach.text).done(),
        Err(why) => Plan::NoFix(why),
    }
}

/// Renames every use of `bound` to `new`, when every use is a flagged use
/// of the same API and `new` names nothing yet: the use edits and targets.
fn rename_uses(ctx: &FileContext, finding: &Finding, bound: &str, new: &str) -> Option<(Vec<Edit>, Vec<Target>)> {
    if ctx.imports.names.is_used(new) {
        return None;
    }
    let mut edits = Vec::new();
    let mut targets = Vec::new();
    let symbol = &ctx.catalog.entries()[finding.entry].symbol.path;
    for site in ctx.imports.names.sites(bound) {
        if site.in_import && site.role == Role::Bind {
            // Bound by an import of the same API (`from m import x as bound`),
            // which is a finding with a fix of its own.
            let same_api = ctx.imports.bindings.iter().any(|b| {
                b.name == bound && &b.path == symbol && b.statement.start <= site.range.start && site.range.end <= b.statement.end
            });
            if same_api {
                continue;
            }
            return None;
        }
        let flagged = ctx
            .findings
            .iter()
            .find(|f| f.entry == finding.entry && f.start_byte == site.range.start && f.end_byte == site.range.end)?;
        if site.role != Role::Use || site.in_import {
            return None;
        }
        edits.push(Edit::new(site.range.clone(), new));
        targets.push(Target::of(flagged));
    }
    Some((edits, targets))
}

/// The elements of an import statement's name list.
fn import_names(statement: Node) -> Vec<Node> {
    let mut cursor = statement.walk();
    let names = statement.children_by_field_name("name", &mut cursor).collect();
    names
}

/// The range that removes `element` and one comma next to it.
fn removal(elements: &[Node], element: Node) -> Option<Range<usize>> {
    let at = elements.iter().position(|e| e.id() == element.id())?;
    if at + 1 < elements.len() {
        Some(element.start_byte()..elements[at + 1].start_byte())
    } else if at > 0 {
        Some(elements[at - 1].end_byte()..element.end_byte())
    } else {
        None
    }
}

/// The statement's whole lines, when nothing else shares them.
fn whole_lines(source: &str, statement: Node) -> Option<Range<usize>> {
    let start = syntax::line_start(source, statement.start_byte());
    if !source[start..statement.start_byte()].trim().is_empty() {
        return None;
    }
    let rest = &source[statement.end_byte()..];
    let line_end = rest.find('\n').map_or(source.len(), |i| statement.end_byte() + i + 1);
    let tail = source[statement.end_byte()..line_end].trim();
    (tail.is_empty()).then_some(start..line_end)
}

/// `from module import name [as alias]` where `module.name` is flagged.
#[allow(clippy::too_many_arguments)]
fn from_name(
    ctx: &FileContext,
    finding: &Finding,
    statement: Node,
    element: Node,
    name_node: Node,
    alias: Option<Node>,
    symbol: &str,
    replacement: &str,
) -> Plan {
    let source = ctx.source;
    let imported = dotted(syntax::text(source, name_node));
    let bound = alias.map_or(imported.clone(), |a| syntax::text(source, a).to_string());
    let module = parent(symbol).unwrap_or_default();
    let elements = import_names(statement);
    let new_name = last(replacement);
    let builder = Builder::new(finding).allow(statement.byte_range());

    // A builtin: drop it from the import, renaming uses when its name differs.
    if let Some(builtin) = replacement.strip_prefix("builtins.") {
        let mut builder = builder;
        if bound != builtin {
            let Some((edits, targets)) = rename_uses(ctx, finding, &bound, builtin) else {
                return Plan::NoFix(format!("`{bound}` cannot be renamed to the builtin `{builtin}` everywhere in this file"));
            };
            builder = builder.with_uses(edits, targets);
        } else if ctx.imports.names.is_bound(builtin) && ctx.imports.names.sites(builtin).iter().filter(|s| s.role == Role::Bind).count() > 1 {
            return Plan::NoFix(format!("`{builtin}` is rebound in this file"));
        }
        return match removal(&elements, element) {
            Some(range) => builder.edit(range, "").done(),
            None => match whole_lines(source, statement) {
                Some(lines) => builder.allow(lines.clone()).edit(lines, "").done(),
                None => Plan::NoFix("the import shares its line with other code".into()),
            },
        };
    }

    // The same module: rename the imported name.
    if parent(replacement) == Some(module) {
        if alias.is_some() {
            return builder.edit(name_node.byte_range(), new_name).done();
        }
        return match rename_uses(ctx, finding, &bound, new_name) {
            Some((edits, targets)) => {
                let mut b = builder.with_uses(edits, targets).edit(name_node.byte_range(), new_name);
                b.binds.push((new_name.to_string(), replacement.to_string()));
                b.done()
            }
            None => builder.edit(name_node.byte_range(), format!("{new_name} as {bound}")).done(),
        };
    }

    // Another module: a statement of its own.
    let mut builder = builder;
    let new_statement = match parent(replacement) {
        None if bound == replacement => format!("import {replacement}"),
        None => format!("import {replacement} as {bound}"),
        Some(new_module) => {
            let target = if alias.is_some() || bound == new_name {
                bound.clone()
            } else if let Some((edits, targets)) = rename_uses(ctx, finding, &bound, new_name) {
                builder = builder.with_uses(edits, targets);
                new_name.to_string()
            } else {
                bound.clone()
            };
            builder.binds.push((target.clone(), replacement.to_string()));
            if target == new_name {
                format!("from {new_module} import {new_name}")
            } else {
                format!("from {new_module} import {new_name} as {target}")
            }
        }
    };
    match removal(&elements, element) {
        None => builder.edit(statement.byte_range(), new_statement).done(),
        Some(range) => {
            let indent = syntax::indentation(source, statement.start_byte());
            let nl = syntax::newline(source);
            builder.edit(range, "").edit(statement.end_byte()..statement.end_byte(), format!("{nl}{indent}{new_statement}")).done()
        }
    }
}

impl Builder {
    fn with_uses(mut self, edits: Vec<Edit>, targets: Vec<Target>) -> Self {
        self.allowed.extend(edits.iter().map(|e| e.range.clone()));
        self.edits.extend(edits);
        self.targets.extend(targets);
        self
    }
}

/// `from flagged.module import name`: the module moved.
fn from_module(finding: &Finding, statement: Node, module: Node, replacement: &str) -> Plan {
    if replacement.starts_with("builtins.") {
        return Plan::NoFix("the replacement is a builtin, not a module".into());
    }
    Builder::new(finding).allow(statement.byte_range()).edit(module.byte_range(), replacement).done()
}

/// `import flagged.module [as alias]`.
fn import_module(
    ctx: &FileContext,
    finding: &Finding,
    statement: Node,
    module: Node,
    aliased: bool,
    symbol: &str,
    replacement: &str,
) -> Plan {
    if replacement.starts_with("builtins.") {
        return Plan::NoFix("the replacement is a builtin, not a module".into());
    }
    let builder = Builder::new(finding).allow(statement.byte_range());
    if aliased || top(replacement) == top(symbol) {
        return builder.edit(module.byte_range(), replacement).done();
    }
    // `import a.b.c` binds `a`: give it up only when nothing else needs it.
    let old = top(symbol);
    let needed_elsewhere = ctx.imports.names.sites(old).iter().any(|site| {
        let in_statement = statement.start_byte() <= site.range.start && site.range.end <= statement.end_byte();
        let in_finding = ctx.findings.iter().any(|f| {
            f.entry == finding.entry && f.start_byte <= site.range.start && site.range.end <= f.end_byte
        });
        !in_statement && !in_finding
    });
    let other_import = ctx.imports.bindings.iter().filter(|b| b.name == old).count() > 1;
    if needed_elsewhere && !other_import {
        return Plan::NoFix(format!("`import {symbol}` also binds `{old}`, which other code uses"));
    }
    builder.edit(module.byte_range(), replacement).done()
}
