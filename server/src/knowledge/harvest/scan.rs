//! One source file in, its facts out: the names it binds (for public paths)
//! and the deprecation sites it holds. Parses with tree-sitter-python; never
//! looks at other files (cross-file work happens in `mod.rs` / `names.rs`).

use std::collections::HashMap;
use std::path::PathBuf;

use tree_sitter::{Node, Parser};

use crate::knowledge::catalog::EntryKind;

use super::text::{
    clean, is_dotted_name, is_identifier, mentions_default_change, mentions_word, unescape, version_token,
};

/// A file to scan.
#[derive(Debug, Clone)]
pub(crate) struct FileInput {
    pub path: PathBuf,
    /// Path relative to site-packages, with `/`.
    pub rel: String,
    /// Dotted module name (`pkg.sub` for `pkg/sub/__init__.py`).
    pub module: String,
    pub is_init: bool,
    /// Index of the distribution the file belongs to.
    pub dist: usize,
}

/// A name bound at module level by an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    /// `import a.b as name`: `name` is module `a.b`.
    Module { name: String, module: String },
    /// `from module import attr as name`.
    From { name: String, module: String, attr: String },
    /// `from module import *`.
    Star { module: String },
}

/// `__all__` of a module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum AllNames {
    #[default]
    Absent,
    Literal(Vec<String>),
    /// Computed: treat like absent (every public name).
    Unknown,
}

/// A class definition anywhere in the file.
#[derive(Debug, Clone)]
pub(crate) struct ClassFact {
    /// Qualified name inside the module (`["Outer", "Inner"]`).
    pub qual: Vec<String>,
    /// The base class expressions as written (`NDFrame`, `generic.NDFrame`).
    pub bases: Vec<String>,
    /// Names the class body defines (methods, attributes).
    pub members: Vec<String>,
    /// Parameter names of its own `__init__` (`**name` for a `**kwargs`), if it has one.
    pub init_params: Option<Vec<String>>,
}

/// What a site's symbol is, relative to its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// A definition inside the module: `["func"]`, `["Class", "method"]`.
    Def(Vec<String>),
    /// An attribute of a module reached through its `__getattr__`, or a key of
    /// a NumPy-style table (module fixed up later).
    Attr { module: String, name: String },
    /// The module itself (a warning at import time).
    Module,
}

/// The warning category of a `warnings.warn` site, resolved after every
/// file is read (a package may define its own `DeprecationWarning`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SiteKind {
    Warn { category: String, conditional: bool },
    Fixed(EntryKind),
}

/// One place in the code that says something is deprecated.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    pub target: Target,
    pub keyword: Option<String>,
    pub kind: SiteKind,
    pub message: String,
    /// Versions given as arguments (`@_api.deprecated("3.8", removal="3.10")`).
    pub deprecated_in: Option<String>,
    pub removed_in: Option<String>,
    /// A replacement given as an argument or found in the guard (new keyword).
    pub replacement: Option<String>,
    pub line: usize,
    /// For table keys: the table's name (the owning package is found later).
    pub table: Option<String>,
}

/// `@_copy_docstring_and_deprecators(Axes.plot)`: the keyword deprecations of
/// the source apply to the decorated function too.
#[derive(Debug, Clone)]
pub(crate) struct CopySite {
    pub target: Vec<String>,
    /// The source as written (`Axes.plot`).
    pub source: String,
}

/// A `raise` in a module `__getattr__` guarded by `name in TABLE` where the
/// table comes from elsewhere: its message dresses the table's entries.
#[derive(Debug, Clone)]
pub(crate) struct TableTemplate {
    pub table: String,
    pub param: String,
    pub message: String,
}

#[derive(Debug, Default)]
pub(crate) struct FileFacts {
    pub bindings: Vec<Binding>,
    /// Names defined at module level (def, class, assignment).
    pub defs: Vec<String>,
    pub all: AllNames,
    pub classes: Vec<ClassFact>,
    /// `Alias = SomeWarning` assignments (for category resolution).
    pub warning_aliases: Vec<(String, String)>,
    pub sites: Vec<Site>,
    pub copies: Vec<CopySite>,
    pub templates: Vec<TableTemplate>,
    /// The module docstring (read for table versions).
    pub docstring: Option<String>,
    /// `@set_module("numpy")` on a module-level definition: (name, module)
    /// where users find it.
    pub set_module: Vec<(String, String)>,
    /// The comment lines that open the file.
    pub header_comment: Option<String>,
    /// The module `__getattr__` hands every name to a deprecation helper
    /// (SciPy's `_sub_module_deprecation(..., attribute=name)`): the whole
    /// namespace is deprecated. The line of that call.
    pub deprecated_namespace: Option<usize>,
    /// Sites seen but not turned into entries (private or nested functions,
    /// helpers, positional-only deprecations, unrecoverable names).
    pub skipped: usize,
}

/// Parses and reads one file. `Err` carries the problem (syntax error).
/// A file without any of these words has no deprecation site.
const SITE_WORDS: &[&str] = &[
    "warn",
    "deprecat",
    "rename_parameter",
    "delete_parameter",
    "__expired_attributes__",
    "__former_attrs__",
    "__getattr__",
];

pub(crate) fn scan_source(parser: &mut Parser, input: &FileInput, text: &str) -> Result<FileFacts, String> {
    let tree = parser.parse(text, None).ok_or_else(|| "tree-sitter gave no tree".to_string())?;
    let root = tree.root_node();
    if root.has_error() {
        let at = first_error(root).map(|n| n.start_position().row + 1).unwrap_or(1);
        return Err(format!("syntax error at line {at}"));
    }
    let src = text.as_bytes();
    let mut consts = HashMap::new();
    collect_module_consts(root, src, &mut consts);
    let mut warn_names = WarnNames::default();
    collect_warn_imports(root, src, &mut warn_names);
    // Most files hold no deprecation at all: for them only the names they
    // bind are read (for public paths), not their calls.
    let sites_possible = SITE_WORDS.iter().any(|w| text.contains(w));
    let mut walker = Walker { src, input, consts, warn_names, sites_possible, facts: FileFacts::default() };
    walker.facts.docstring = docstring(root, src);
    walker.facts.header_comment = header_comment(text);
    let ctx = Ctx::default();
    walker.walk_block(root, &ctx);
    Ok(walker.facts)
}

fn first_error(node: Node) -> Option<Node> {
    let mut cursor = node.walk();
    loop {
        let n = cursor.node();
        if n.is_error() || n.is_missing() {
            return Some(n);
        }
        if n.has_error() && cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                return None;
            }
        }
    }
}

/// Every descendant of `node` (itself included), pre-order, without
/// recursion; `skip` prunes subtrees (their root is still visited).
fn descendants<'t>(node: Node<'t>, skip: impl Fn(&Node<'t>) -> bool) -> Vec<Node<'t>> {
    let mut out = Vec::new();
    let mut cursor = node.walk();
    loop {
        let n = cursor.node();
        out.push(n);
        let descend = n.id() == node.id() || !skip(&n);
        if descend && cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.node().id() == node.id() {
                return out;
            }
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return out;
            }
        }
    }
}

fn returns_early(stmt: Node) -> bool {
    descendants(stmt, is_scope).iter().any(|n| n.kind() == "return_statement")
}

fn is_scope(n: &Node) -> bool {
    matches!(n.kind(), "function_definition" | "class_definition" | "lambda")
}

fn text<'s>(node: Node, src: &'s [u8]) -> &'s str {
    node.utf8_text(src).unwrap_or("")
}

fn line(node: Node) -> usize {
    node.start_position().row + 1
}

fn named_children<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).filter(|n| n.kind() != "comment").collect()
}

/// The last component of a dotted callee (`warnings.warn` → `warn`).
fn last_name<'s>(node: Node, src: &'s [u8]) -> &'s str {
    match node.kind() {
        "attribute" => node.child_by_field_name("attribute").map(|a| text(a, src)).unwrap_or(""),
        "identifier" => text(node, src),
        _ => "",
    }
}

fn header_comment(text: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| l.trim_start().starts_with('#'))
        .filter(|l| !l.starts_with("#!") && !l.contains("coding"))
        .map(|l| l.trim_start().trim_start_matches('#').trim())
        .collect();
    let joined = clean(&lines.join(" "));
    (!joined.is_empty()).then_some(joined)
}

fn docstring(body: Node, src: &[u8]) -> Option<String> {
    let first = named_children(body).into_iter().next()?;
    if first.kind() != "expression_statement" {
        return None;
    }
    let s = first.named_child(0)?;
    if s.kind() != "string" {
        return None;
    }
    Some(string_body(s, src))
}

/// The decoded body of a `string` node; f-string interpolations stay as
/// written (`{name}`).
fn string_body(node: Node, src: &[u8]) -> String {
    let children = named_children(node);
    let start = children.iter().find(|c| c.kind() == "string_start");
    let end = children.iter().rev().find(|c| c.kind() == "string_end");
    let (Some(start), Some(end)) = (start, end) else { return String::new() };
    let prefix = text(*start, src).trim_end_matches(['"', '\'']).to_lowercase();
    let body = src.get(start.end_byte()..end.start_byte()).unwrap_or(&[]);
    let body = String::from_utf8_lossy(body);
    unescape(&body, prefix.contains('r'))
}

/// Module-level simple assignments `NAME = value` (the last one wins),
/// looking through module-level `if`/`try`/`with` blocks.
fn collect_module_consts<'t>(root: Node<'t>, src: &[u8], out: &mut HashMap<String, Node<'t>>) {
    for node in descendants(root, |n| is_scope(n) || n.kind() == "call") {
        if node.kind() == "assignment" {
            if let (Some(left), Some(right)) = (node.child_by_field_name("left"), node.child_by_field_name("right")) {
                if left.kind() == "identifier" {
                    out.insert(text(left, src).to_string(), right);
                }
            }
        }
    }
}

/// Names under which this file can call `warnings.warn`.
#[derive(Default)]
struct WarnNames {
    /// Names bound to the `warnings` module.
    modules: Vec<String>,
    /// Names bound to `warnings.warn` / `warnings.warn_explicit`.
    functions: Vec<String>,
}

fn collect_warn_imports(root: Node, src: &[u8], out: &mut WarnNames) {
    out.modules.push("warnings".into());
    for node in descendants(root, |n| {
        !matches!(
            n.kind(),
            "module"
                | "block"
                | "function_definition"
                | "class_definition"
                | "if_statement"
                | "try_statement"
                | "with_statement"
                | "else_clause"
                | "elif_clause"
                | "except_clause"
                | "finally_clause"
                | "decorated_definition"
                | "for_statement"
                | "while_statement"
        )
    }) {
        match node.kind() {
            "import_statement" => {
                for child in named_children(node) {
                    if child.kind() == "aliased_import" {
                        let name = child.child_by_field_name("name").map(|n| text(n, src));
                        let alias = child.child_by_field_name("alias").map(|n| text(n, src));
                        if name == Some("warnings") {
                            if let Some(alias) = alias {
                                out.modules.push(alias.to_string());
                            }
                        }
                    }
                }
            }
            "import_from_statement" => {
                let module = node.child_by_field_name("module_name").map(|n| text(n, src));
                if module != Some("warnings") {
                    continue;
                }
                let mut cursor = node.walk();
                for name in node.children_by_field_name("name", &mut cursor) {
                    let (orig, bound) = match name.kind() {
                        "aliased_import" => (
                            name.child_by_field_name("name").map(|n| text(n, src)).unwrap_or(""),
                            name.child_by_field_name("alias").map(|n| text(n, src)).unwrap_or(""),
                        ),
                        _ => (text(name, src), text(name, src)),
                    };
                    if orig == "warn" || orig == "warn_explicit" {
                        out.functions.push(bound.to_string());
                    }
                }
            }
            _ => {}
        }
    }
}

/// A function parameter.
#[derive(Debug, Clone)]
struct Param {
    name: String,
    default: Option<String>,
    /// `*args` / `**kwargs`.
    star: u8,
}

fn parameters(def: Node, src: &[u8]) -> Vec<Param> {
    let Some(params) = def.child_by_field_name("parameters") else { return Vec::new() };
    let mut out = Vec::new();
    for p in named_children(params) {
        let param = match p.kind() {
            "identifier" => Param { name: text(p, src).into(), default: None, star: 0 },
            "default_parameter" | "typed_default_parameter" => Param {
                name: p.child_by_field_name("name").map(|n| text(n, src)).unwrap_or("").into(),
                default: p.child_by_field_name("value").map(|n| text(n, src).to_string()),
                star: 0,
            },
            "typed_parameter" => {
                let Some(inner) = p.named_child(0) else { continue };
                match inner.kind() {
                    "identifier" => Param { name: text(inner, src).into(), default: None, star: 0 },
                    "list_splat_pattern" => Param { name: splat_name(inner, src), default: None, star: 1 },
                    "dictionary_splat_pattern" => Param { name: splat_name(inner, src), default: None, star: 2 },
                    _ => continue,
                }
            }
            "list_splat_pattern" => Param { name: splat_name(p, src), default: None, star: 1 },
            "dictionary_splat_pattern" => Param { name: splat_name(p, src), default: None, star: 2 },
            _ => continue,
        };
        if !param.name.is_empty() {
            out.push(param);
        }
    }
    out
}

fn splat_name(node: Node, src: &[u8]) -> String {
    node.named_child(0).map(|n| text(n, src).to_string()).unwrap_or_default()
}

/// A condition the current statement depends on.
#[derive(Clone)]
enum Guard<'t> {
    /// Inside the body of `if cond` / `elif cond`.
    Then(Node<'t>),
    /// Inside `else` (or a later `elif`) of these conditions.
    Else(Vec<Node<'t>>),
    /// Some other conditional (except, while, match case).
    Other,
}

#[derive(Clone)]
struct FuncCtx<'t> {
    node: Node<'t>,
    name: String,
    params: Vec<Param>,
    /// Defined inside another function.
    nested: bool,
    /// A property setter or deleter.
    setter: bool,
}

#[derive(Clone)]
struct ClassCtx {
    init_params: Vec<Param>,
}

#[derive(Clone, Default)]
struct Ctx<'t> {
    /// Names of the enclosing classes and functions.
    qual: Vec<String>,
    class: Option<ClassCtx>,
    func: Option<FuncCtx<'t>>,
    /// Guards since the innermost function started (or since module level).
    guards: Vec<Guard<'t>>,
    /// The statement sits in a class body (directly or in its if-blocks).
    in_class_body: bool,
}

impl Ctx<'_> {
    fn module_scope(&self) -> bool {
        self.func.is_none() && !self.in_class_body
    }
}

struct Walker<'s, 't> {
    src: &'s [u8],
    input: &'s FileInput,
    consts: HashMap<String, Node<'t>>,
    warn_names: WarnNames,
    /// Whether the file mentions anything a site needs (see `SITE_WORDS`).
    sites_possible: bool,
    facts: FileFacts,
}

/// How a call deprecates.
enum CallRole {
    /// `warnings.warn(msg, category)` and friends.
    Warn,
    /// matplotlib's `_api.warn_deprecated(since, name=..., ...)`.
    WarnDeprecated,
}

/// What a decorator says.
enum DecoRole {
    Deprecated,
    PandasDeprecate,
    DeprecateKwarg,
    RenameParameter,
    ScipyRenameParameter,
    DeleteParameter,
    PositionalOnly,
    CopyDeprecators,
    Setter,
    Other,
}

fn deco_role(name: &str) -> DecoRole {
    match name {
        "deprecated" | "_deprecated" | "Deprecated" => DecoRole::Deprecated,
        "deprecate" => DecoRole::PandasDeprecate,
        "deprecate_kwarg" => DecoRole::DeprecateKwarg,
        "rename_parameter" => DecoRole::RenameParameter,
        "_rename_parameter" => DecoRole::ScipyRenameParameter,
        "delete_parameter" => DecoRole::DeleteParameter,
        "make_keyword_only"
        | "deprecate_nonkeyword_arguments"
        | "_deprecate_positional_args"
        | "deprecate_positional_args" => DecoRole::PositionalOnly,
        "_copy_docstring_and_deprecators" => DecoRole::CopyDeprecators,
        "setter" | "deleter" => DecoRole::Setter,
        _ => DecoRole::Other,
    }
}

/// Arguments of a call, split.
struct Args<'t> {
    positional: Vec<Node<'t>>,
    keywords: Vec<(String, Node<'t>)>,
}

impl<'t> Args<'t> {
    fn of(call: Node<'t>, src: &[u8]) -> Args<'t> {
        let mut args = Args { positional: Vec::new(), keywords: Vec::new() };
        if let Some(list) = call.child_by_field_name("arguments") {
            if list.kind() != "argument_list" {
                return args;
            }
            for a in named_children(list) {
                match a.kind() {
                    "keyword_argument" => {
                        if let (Some(n), Some(v)) = (a.child_by_field_name("name"), a.child_by_field_name("value")) {
                            args.keywords.push((text(n, src).to_string(), v));
                        }
                    }
                    "list_splat" | "dictionary_splat" => {}
                    _ => args.positional.push(a),
                }
            }
        }
        args
    }

    fn get(&self, index: usize, keyword: &str) -> Option<Node<'t>> {
        self.keywords
            .iter()
            .find(|(k, _)| k == keyword)
            .map(|(_, v)| *v)
            .or_else(|| self.positional.get(index).copied())
    }

    fn kw(&self, keyword: &str) -> Option<Node<'t>> {
        self.keywords.iter().find(|(k, _)| k == keyword).map(|(_, v)| *v)
    }
}

fn is_private(name: &str) -> bool {
    name.starts_with('_') && !(name.starts_with("__") && name.ends_with("__"))
}

fn is_dunder(name: &str) -> bool {
    name.len() > 4 && name.starts_with("__") && name.ends_with("__")
}

impl<'s, 't> Walker<'s, 't> {
    fn walk_block(&mut self, block: Node<'t>, ctx: &Ctx<'t>) {
        // After `if ...: return ...` the rest of a function body runs only
        // on some paths.
        let mut after_return: Option<Ctx<'t>> = None;
        for stmt in named_children(block) {
            let current = after_return.as_ref().unwrap_or(ctx);
            self.walk_statement(stmt, current);
            if after_return.is_none() && ctx.func.is_some() && stmt.kind() == "if_statement" && returns_early(stmt) {
                after_return = Some(Self::with_guard(ctx, Guard::Other));
            }
        }
    }

    fn with_guard(ctx: &Ctx<'t>, guard: Guard<'t>) -> Ctx<'t> {
        let mut inner = ctx.clone();
        inner.guards.push(guard);
        inner
    }

    fn walk_statement(&mut self, stmt: Node<'t>, ctx: &Ctx<'t>) {
        match stmt.kind() {
            "function_definition" => self.function(stmt, &[], ctx),
            "class_definition" => self.class(stmt, &[], ctx),
            "decorated_definition" => {
                let decorators: Vec<Node> =
                    named_children(stmt).into_iter().filter(|n| n.kind() == "decorator").collect();
                if let Some(def) = stmt.child_by_field_name("definition") {
                    match def.kind() {
                        "function_definition" => self.function(def, &decorators, ctx),
                        "class_definition" => self.class(def, &decorators, ctx),
                        _ => {}
                    }
                }
            }
            "if_statement" => {
                let mut previous = Vec::new();
                if let Some(cond) = stmt.child_by_field_name("condition") {
                    if let Some(body) = stmt.child_by_field_name("consequence") {
                        self.walk_block(body, &Self::with_guard(ctx, Guard::Then(cond)));
                    }
                    previous.push(cond);
                }
                let mut cursor = stmt.walk();
                let alternatives: Vec<Node> = stmt.children_by_field_name("alternative", &mut cursor).collect();
                for alt in alternatives {
                    match alt.kind() {
                        "elif_clause" => {
                            if let (Some(cond), Some(body)) =
                                (alt.child_by_field_name("condition"), alt.child_by_field_name("consequence"))
                            {
                                let mut inner = Self::with_guard(ctx, Guard::Else(previous.clone()));
                                inner.guards.push(Guard::Then(cond));
                                self.walk_block(body, &inner);
                                previous.push(cond);
                            }
                        }
                        "else_clause" => {
                            if let Some(body) = alt.child_by_field_name("body") {
                                self.walk_block(body, &Self::with_guard(ctx, Guard::Else(previous.clone())));
                            }
                        }
                        _ => {}
                    }
                }
            }
            "for_statement" | "with_statement" => {
                if let Some(body) = stmt.child_by_field_name("body") {
                    self.walk_block(body, ctx);
                }
                if let Some(alt) = stmt.child_by_field_name("alternative") {
                    if let Some(body) = alt.child_by_field_name("body") {
                        self.walk_block(body, ctx);
                    }
                }
            }
            "while_statement" => {
                let inner = Self::with_guard(ctx, Guard::Other);
                if let Some(body) = stmt.child_by_field_name("body") {
                    self.walk_block(body, &inner);
                }
            }
            "try_statement" => {
                for part in named_children(stmt) {
                    match part.kind() {
                        "block" => self.walk_block(part, ctx),
                        "except_clause" | "except_group_clause" => {
                            let inner = Self::with_guard(ctx, Guard::Other);
                            for b in named_children(part).into_iter().filter(|n| n.kind() == "block") {
                                self.walk_block(b, &inner);
                            }
                        }
                        "else_clause" | "finally_clause" => {
                            let body = part
                                .child_by_field_name("body")
                                .or_else(|| named_children(part).into_iter().find(|n| n.kind() == "block"));
                            if let Some(body) = body {
                                self.walk_block(body, ctx);
                            }
                        }
                        _ => {}
                    }
                }
            }
            "match_statement" => {
                let inner = Self::with_guard(ctx, Guard::Other);
                for node in descendants(stmt, is_scope) {
                    if node.kind() == "case_clause" {
                        if let Some(body) = node.child_by_field_name("consequence") {
                            self.walk_block(body, &inner);
                        }
                    }
                }
            }
            "import_statement" | "import_from_statement" => {
                if ctx.module_scope() {
                    self.import(stmt);
                }
            }
            "expression_statement" => {
                if ctx.module_scope() || ctx.in_class_body {
                    self.scope_assignment(stmt, ctx);
                }
                self.calls_in(stmt, ctx);
            }
            "raise_statement" => {
                self.raise(stmt, ctx);
                self.calls_in(stmt, ctx);
            }
            "block" => self.walk_block(stmt, ctx),
            _ => self.calls_in(stmt, ctx),
        }
    }

    // ----- imports and module-level names -----

    fn package(&self) -> String {
        if self.input.is_init {
            self.input.module.clone()
        } else {
            self.input.module.rsplit_once('.').map(|(p, _)| p.to_string()).unwrap_or_default()
        }
    }

    fn absolute(&self, module_node: Node) -> Option<String> {
        if module_node.kind() == "dotted_name" {
            return Some(text(module_node, self.src).to_string());
        }
        // relative_import: import_prefix (dots) and an optional dotted_name.
        let mut dots = 0;
        let mut rest = None;
        for child in named_children(module_node) {
            match child.kind() {
                "import_prefix" => dots = text(child, self.src).chars().filter(|&c| c == '.').count(),
                "dotted_name" => rest = Some(text(child, self.src).to_string()),
                _ => {}
            }
        }
        let mut base = self.package();
        for _ in 1..dots {
            base = base.rsplit_once('.').map(|(p, _)| p.to_string())?;
        }
        Some(match rest {
            Some(r) if base.is_empty() => r,
            Some(r) => format!("{base}.{r}"),
            None => base,
        })
    }

    fn import(&mut self, stmt: Node<'t>) {
        match stmt.kind() {
            "import_statement" => {
                for child in named_children(stmt) {
                    match child.kind() {
                        "dotted_name" => {
                            let full = text(child, self.src);
                            let top = full.split('.').next().unwrap_or(full).to_string();
                            self.facts.bindings.push(Binding::Module { name: top.clone(), module: top });
                        }
                        "aliased_import" => {
                            if let (Some(n), Some(a)) =
                                (child.child_by_field_name("name"), child.child_by_field_name("alias"))
                            {
                                self.facts.bindings.push(Binding::Module {
                                    name: text(a, self.src).into(),
                                    module: text(n, self.src).into(),
                                });
                            }
                        }
                        _ => {}
                    }
                }
            }
            "import_from_statement" => {
                let Some(module) = stmt.child_by_field_name("module_name").and_then(|m| self.absolute(m)) else {
                    return;
                };
                if named_children(stmt).iter().any(|c| c.kind() == "wildcard_import") {
                    self.facts.bindings.push(Binding::Star { module });
                    return;
                }
                let mut cursor = stmt.walk();
                let names: Vec<Node> = stmt.children_by_field_name("name", &mut cursor).collect();
                for name in names {
                    let (attr, bound) = match name.kind() {
                        "aliased_import" => (
                            name.child_by_field_name("name").map(|n| text(n, self.src)).unwrap_or(""),
                            name.child_by_field_name("alias").map(|n| text(n, self.src)).unwrap_or(""),
                        ),
                        _ => (text(name, self.src), text(name, self.src)),
                    };
                    if is_identifier(attr) && is_identifier(bound) {
                        self.facts.bindings.push(Binding::From {
                            name: bound.into(),
                            module: module.clone(),
                            attr: attr.into(),
                        });
                    }
                }
            }
            _ => {}
        }
    }

    fn string_list(&self, node: Node<'t>) -> Option<Vec<String>> {
        match node.kind() {
            "list" | "tuple" | "set" => {
                let mut out = Vec::new();
                for item in named_children(node) {
                    if item.kind() != "string" {
                        return None;
                    }
                    out.push(string_body(item, self.src));
                }
                Some(out)
            }
            "parenthesized_expression" => node.named_child(0).and_then(|n| self.string_list(n)),
            _ => None,
        }
    }

    /// Module- or class-level assignments: definitions, `__all__`, NumPy
    /// tables, warning aliases, and deprecations made by wrapping
    /// (`x = _api.deprecated("3.8")(property(...))`).
    fn scope_assignment(&mut self, stmt: Node<'t>, ctx: &Ctx<'t>) {
        let Some(expr) = stmt.named_child(0) else { return };
        let module_scope = ctx.module_scope();
        match expr.kind() {
            "assignment" => {
                let (Some(left), right) = (expr.child_by_field_name("left"), expr.child_by_field_name("right")) else {
                    return;
                };
                let names: Vec<String> = match left.kind() {
                    "identifier" => vec![text(left, self.src).to_string()],
                    "pattern_list" | "tuple_pattern" => named_children(left)
                        .into_iter()
                        .filter(|n| n.kind() == "identifier")
                        .map(|n| text(n, self.src).to_string())
                        .collect(),
                    _ => Vec::new(),
                };
                if module_scope {
                    for name in &names {
                        if name == "__all__" {
                            self.facts.all = match right.and_then(|r| self.string_list(r)) {
                                Some(list) => AllNames::Literal(list),
                                None => AllNames::Unknown,
                            };
                        } else {
                            self.facts.defs.push(name.clone());
                        }
                    }
                }
                let (Some(right), [name]) = (right, names.as_slice()) else { return };
                if module_scope
                    && matches!(name.as_str(), "__expired_attributes__" | "__former_attrs__" | "__deprecated_attrs__")
                {
                    self.table(name, right);
                    return;
                }
                if module_scope && name.ends_with("Warning") && matches!(right.kind(), "identifier" | "attribute") {
                    self.facts.warning_aliases.push((name.clone(), last_name(right, self.src).to_string()));
                }
                if right.kind() == "call" {
                    self.wrapped_assignment(name, right, ctx);
                }
            }
            "augmented_assignment" if module_scope => {
                let left = expr.child_by_field_name("left").map(|n| text(n, self.src));
                if left == Some("__all__") {
                    let extra = expr.child_by_field_name("right").and_then(|r| self.string_list(r));
                    self.extend_all(extra);
                }
            }
            "call" if module_scope => {
                // __all__.extend([...]) / __all__.append("x")
                let Some(func) = expr.child_by_field_name("function") else { return };
                if func.kind() != "attribute" {
                    return;
                }
                let object = func.child_by_field_name("object").map(|n| text(n, self.src));
                if object != Some("__all__") {
                    return;
                }
                let args = Args::of(expr, self.src);
                let extra = match (last_name(func, self.src), args.positional.first()) {
                    ("extend", Some(a)) => self.string_list(*a),
                    ("append", Some(a)) if a.kind() == "string" => Some(vec![string_body(*a, self.src)]),
                    _ => None,
                };
                self.extend_all(extra);
            }
            _ => {}
        }
    }

    fn extend_all(&mut self, extra: Option<Vec<String>>) {
        match (&mut self.facts.all, extra) {
            (AllNames::Literal(list), Some(extra)) => list.extend(extra),
            (AllNames::Absent, Some(extra)) => self.facts.all = AllNames::Literal(extra),
            _ => self.facts.all = AllNames::Unknown,
        }
    }

    fn symbol_for_member(&self, ctx: &Ctx<'t>, name: &str) -> Option<Target> {
        // mpl: `@_api.caching_module_getattr class __getattr__: x = ...`
        if ctx.qual.len() == 1 && ctx.qual[0] == "__getattr__" {
            return Some(Target::Attr { module: self.input.module.clone(), name: name.to_string() });
        }
        if ctx.func.is_some() {
            return None;
        }
        let mut qual = ctx.qual.clone();
        qual.push(name.to_string());
        Some(Target::Def(qual))
    }

    fn wrapped_assignment(&mut self, name: &str, call: Node<'t>, ctx: &Ctx<'t>) {
        if !self.sites_possible {
            return;
        }
        let Some(func) = call.child_by_field_name("function") else { return };
        let Some(target) = self.symbol_for_member(ctx, name) else { return };
        if is_private(name) {
            return;
        }
        // `x = _api.deprecated("3.8", ...)(property(...))`
        if func.kind() == "call" {
            if let Some(inner) = func.child_by_field_name("function") {
                if matches!(deco_role(last_name(inner, self.src)), DecoRole::Deprecated) {
                    let site = self.deprecated_decorator(func, target, line(call), name);
                    self.facts.sites.push(site);
                }
            }
            return;
        }
        let args = Args::of(call, self.src);
        match last_name(func, self.src) {
            "deprecate_privatize_attribute" => {
                let since = args.get(0, "since").and_then(|n| self.version_arg(n));
                self.facts.sites.push(Site {
                    target,
                    keyword: None,
                    kind: SiteKind::Fixed(EntryKind::Deprecated),
                    message: format!("`{name}` is deprecated; it is now private as `_{name}`."),
                    deprecated_in: since,
                    removed_in: None,
                    replacement: None,
                    line: line(call),
                    table: None,
                });
            }
            "deprecate" if ctx.module_scope() => {
                // pandas: deprecate(name, alternative, version, alt_name=None, klass=None, stacklevel=2, msg=None)
                let version = args.get(2, "version").and_then(|n| self.version_arg(n));
                let alt = args
                    .kw("alt_name")
                    .and_then(|n| self.literal(n))
                    .or_else(|| args.get(1, "alternative").map(|n| text(n, self.src).to_string()))
                    .filter(|a| is_dotted_name(a));
                let message = args.kw("msg").and_then(|n| self.eval_message(n, None)).unwrap_or_else(|| match &alt {
                    Some(a) => format!("{name} is deprecated, use {a} instead."),
                    None => format!("{name} is deprecated."),
                });
                self.facts.sites.push(Site {
                    target,
                    keyword: None,
                    kind: SiteKind::Fixed(EntryKind::Deprecated),
                    message,
                    deprecated_in: version,
                    removed_in: None,
                    replacement: alt,
                    line: line(call),
                    table: None,
                });
            }
            _ => {}
        }
    }

    // ----- NumPy tables -----

    fn table(&mut self, table: &str, value: Node<'t>) {
        let mut keys: Vec<(String, String, usize)> = Vec::new();
        match value.kind() {
            "dictionary" => {
                for pair in named_children(value) {
                    if pair.kind() != "pair" {
                        continue;
                    }
                    let (Some(k), Some(v)) = (pair.child_by_field_name("key"), pair.child_by_field_name("value"))
                    else {
                        continue;
                    };
                    let Some(key) = self.literal(k) else { continue };
                    // A value may be a message or a tuple holding one.
                    let message = if v.kind() == "tuple" {
                        named_children(v).into_iter().find_map(|item| self.eval_message(item, None))
                    } else {
                        self.eval_message(v, None)
                    };
                    keys.push((key, message.unwrap_or_default(), line(pair)));
                }
            }
            "dictionary_comprehension" => keys = self.comprehension_table(value),
            _ => {}
        }
        if keys.is_empty() {
            self.facts.skipped += 1;
        }
        let kind = if table == "__deprecated_attrs__" { EntryKind::Deprecated } else { EntryKind::Removed };
        for (key, message, at) in keys {
            if !is_identifier(&key) {
                continue;
            }
            self.facts.sites.push(Site {
                target: Target::Attr { module: self.input.module.clone(), name: key },
                keyword: None,
                kind: SiteKind::Fixed(kind),
                message,
                deprecated_in: None,
                removed_in: None,
                replacement: None,
                line: at,
                table: Some(table.to_string()),
            });
        }
    }

    /// `{n: _msg.format(n=n, extended_msg=m) for n, m in _type_info}` over a
    /// module-level list of literals.
    fn comprehension_table(&self, comp: Node<'t>) -> Vec<(String, String, usize)> {
        let mut out = Vec::new();
        let Some(body) = comp.child_by_field_name("body") else { return out };
        let Some(clause) = named_children(comp).into_iter().find(|n| n.kind() == "for_in_clause") else { return out };
        let (Some(left), Some(right)) = (clause.child_by_field_name("left"), clause.child_by_field_name("right"))
        else {
            return out;
        };
        let vars: Vec<String> = match left.kind() {
            "identifier" => vec![text(left, self.src).into()],
            _ => named_children(left).into_iter().map(|n| text(n, self.src).to_string()).collect(),
        };
        let items = match right.kind() {
            "identifier" => self.consts.get(text(right, self.src)).copied(),
            _ => Some(right),
        };
        let Some(items) = items else { return out };
        if !matches!(items.kind(), "list" | "tuple" | "set") {
            return out;
        }
        let (Some(key), Some(value)) = (body.child_by_field_name("key"), body.child_by_field_name("value")) else {
            return out;
        };
        for item in named_children(items) {
            let elements: Vec<Node> = if vars.len() == 1 { vec![item] } else { named_children(item) };
            if elements.len() != vars.len() {
                continue;
            }
            let mut bound = HashMap::new();
            for (var, element) in vars.iter().zip(&elements) {
                if let Some(v) = self.eval_with(*element, None, usize::MAX, &HashMap::new(), 0) {
                    bound.insert(var.clone(), v);
                }
            }
            let Some(k) = self.eval_with(key, None, usize::MAX, &bound, 0) else { continue };
            let message = clean(&self.eval_with(value, None, usize::MAX, &bound, 0).unwrap_or_default());
            out.push((k, message, line(item)));
        }
        out
    }

    // ----- definitions -----

    fn function(&mut self, def: Node<'t>, decorators: &[Node<'t>], ctx: &Ctx<'t>) {
        let name = def.child_by_field_name("name").map(|n| text(n, self.src).to_string()).unwrap_or_default();
        if ctx.module_scope() {
            self.facts.defs.push(name.clone());
        }
        let setter = decorators.iter().any(|d| {
            let expr = d.named_child(0);
            expr.is_some_and(|e| matches!(deco_role(last_name(e, self.src)), DecoRole::Setter))
        });
        let func = FuncCtx {
            node: def,
            name: name.clone(),
            params: parameters(def, self.src),
            nested: ctx.func.is_some(),
            setter,
        };
        self.decorators(decorators, ctx, &name, Some(&func));
        let mut inner = ctx.clone();
        inner.qual.push(name);
        inner.func = Some(func);
        inner.guards.clear();
        inner.in_class_body = false;
        if let Some(body) = def.child_by_field_name("body") {
            self.walk_block(body, &inner);
        }
    }

    fn class(&mut self, def: Node<'t>, decorators: &[Node<'t>], ctx: &Ctx<'t>) {
        let name = def.child_by_field_name("name").map(|n| text(n, self.src).to_string()).unwrap_or_default();
        if ctx.module_scope() {
            self.facts.defs.push(name.clone());
        }
        let bases: Vec<String> = def
            .child_by_field_name("superclasses")
            .map(|list| {
                named_children(list)
                    .into_iter()
                    .filter(|n| matches!(n.kind(), "identifier" | "attribute"))
                    .map(|n| text(n, self.src).to_string())
                    .collect()
            })
            .unwrap_or_default();
        let body = def.child_by_field_name("body");
        let mut members = Vec::new();
        let mut init_params = Vec::new();
        let mut has_init = false;
        if let Some(body) = body {
            for stmt in named_children(body) {
                let def = if stmt.kind() == "decorated_definition" {
                    stmt.child_by_field_name("definition")
                } else {
                    Some(stmt)
                };
                let Some(def) = def else { continue };
                match def.kind() {
                    "function_definition" | "class_definition" => {
                        let member = def.child_by_field_name("name").map(|n| text(n, self.src)).unwrap_or("");
                        if member == "__init__" && def.kind() == "function_definition" {
                            init_params = parameters(def, self.src);
                            has_init = true;
                        }
                        members.push(member.to_string());
                    }
                    "expression_statement" => {
                        if let Some(a) = def.named_child(0).filter(|a| a.kind() == "assignment") {
                            if let Some(l) = a.child_by_field_name("left").filter(|l| l.kind() == "identifier") {
                                members.push(text(l, self.src).to_string());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut qual = ctx.qual.clone();
        qual.push(name.clone());
        if ctx.func.is_none() {
            let names = has_init.then(|| {
                init_params.iter().map(|p| if p.star == 2 { format!("**{}", p.name) } else { p.name.clone() }).collect()
            });
            self.facts.classes.push(ClassFact { qual: qual.clone(), bases, members, init_params: names });
        }
        self.decorators(decorators, ctx, &name, None);
        let mut inner = ctx.clone();
        inner.qual = qual;
        inner.class = Some(ClassCtx { init_params });
        inner.guards.clear();
        inner.in_class_body = true;
        if ctx.func.is_some() {
            // A class inside a function: not reachable by name; keep walking
            // for completeness but nothing in it gets a public symbol.
            inner.func = ctx.func.clone().map(|mut f| {
                f.nested = true;
                f
            });
        }
        if let Some(body) = body {
            self.walk_block(body, &inner);
        }
    }

    /// The symbol a definition named `name` in `ctx` is called by, or `None`
    /// (with a skip counted) when it has none worth recording.
    fn def_target(&mut self, ctx: &Ctx<'t>, name: &str, func: Option<&FuncCtx<'t>>) -> Option<Target> {
        if ctx.func.is_some() {
            self.facts.skipped += 1;
            return None;
        }
        if let Some(f) = func {
            if f.setter {
                self.facts.skipped += 1;
                return None;
            }
        }
        let in_class = ctx.class.is_some() && ctx.in_class_body;
        if in_class && func.is_some() && matches!(name, "__init__" | "__new__") {
            return Some(Target::Def(ctx.qual.clone()));
        }
        if is_private(name) || is_dunder(name) {
            self.facts.skipped += 1;
            return None;
        }
        self.symbol_for_member(ctx, name)
    }

    fn decorators(&mut self, decorators: &[Node<'t>], ctx: &Ctx<'t>, name: &str, func: Option<&FuncCtx<'t>>) {
        if ctx.module_scope() {
            for deco in decorators {
                let Some(call) = deco.named_child(0).filter(|e| e.kind() == "call") else { continue };
                let Some(callee) = call.child_by_field_name("function") else { continue };
                if last_name(callee, self.src) == "set_module" {
                    let module = Args::of(call, self.src).positional.first().and_then(|a| self.literal(*a));
                    if let Some(module) = module.filter(|m| is_dotted_name(m)) {
                        self.facts.set_module.push((name.to_string(), module));
                    }
                }
            }
        }
        if !self.sites_possible {
            return;
        }
        let overload =
            decorators.iter().any(|d| d.named_child(0).is_some_and(|e| last_name(e, self.src) == "overload"));
        for deco in decorators {
            let Some(expr) = deco.named_child(0) else { continue };
            let (callee, call) = if expr.kind() == "call" {
                match expr.child_by_field_name("function") {
                    Some(f) => (f, Some(expr)),
                    None => continue,
                }
            } else {
                (expr, None)
            };
            let role = deco_role(last_name(callee, self.src));
            let at = line(*deco);
            match role {
                DecoRole::Other | DecoRole::Setter => {}
                DecoRole::PositionalOnly => self.facts.skipped += 1,
                DecoRole::CopyDeprecators => {
                    let source = call
                        .and_then(|c| Args::of(c, self.src).positional.first().copied())
                        .map(|n| text(n, self.src).to_string());
                    if let (Some(source), true) = (source, ctx.module_scope()) {
                        let mut target = ctx.qual.clone();
                        target.push(name.to_string());
                        self.facts.copies.push(CopySite { target, source });
                    }
                }
                DecoRole::Deprecated => {
                    let Some(target) = self.def_target(ctx, name, func) else { continue };
                    let mut site = match call {
                        Some(call) => self.deprecated_decorator(call, target, at, name),
                        None => Site {
                            target,
                            keyword: None,
                            kind: SiteKind::Fixed(EntryKind::Deprecated),
                            message: format!("`{name}` is deprecated."),
                            deprecated_in: None,
                            removed_in: None,
                            replacement: None,
                            line: at,
                            table: None,
                        },
                    };
                    // PEP 702 on one `@overload` of a stub: that signature is
                    // deprecated, usually for a keyword the message names.
                    if overload {
                        // The parameter the message calls a keyword, else the
                        // first one it quotes ("`newshape` ... use `shape=...`").
                        let keyword = func.and_then(|f| {
                            let params: Vec<&Param> = f
                                .params
                                .iter()
                                .filter(|p| p.star == 0 && !matches!(p.name.as_str(), "self" | "cls"))
                                .collect();
                            params
                                .iter()
                                .find(|p| names_as_keyword(&site.message, &p.name))
                                .or_else(|| {
                                    params
                                        .iter()
                                        .filter_map(|p| quoted_at(&site.message, &p.name).map(|at| (at, p)))
                                        .min_by_key(|(at, _)| *at)
                                        .map(|(_, p)| p)
                                })
                                .map(|p| p.name.clone())
                        });
                        if let Some(keyword) = keyword {
                            site.keyword = Some(keyword);
                            site.kind = SiteKind::Fixed(EntryKind::KeywordRemoved);
                        }
                    }
                    self.facts.sites.push(site);
                }
                DecoRole::PandasDeprecate => {
                    let Some(target) = self.def_target(ctx, name, func) else { continue };
                    let args = call.map(|c| Args::of(c, self.src));
                    let version = args.as_ref().and_then(|a| a.get(2, "version")).and_then(|n| self.version_arg(n));
                    let message = args
                        .as_ref()
                        .and_then(|a| a.kw("msg").or_else(|| a.kw("message")))
                        .and_then(|n| self.eval_message(n, None))
                        .unwrap_or_else(|| format!("`{name}` is deprecated."));
                    let replacement = args
                        .as_ref()
                        .and_then(|a| a.kw("alt_name").or_else(|| a.kw("new_name")))
                        .and_then(|n| self.literal(n))
                        .filter(|a| is_dotted_name(a));
                    self.facts.sites.push(Site {
                        target,
                        keyword: None,
                        kind: SiteKind::Fixed(EntryKind::Deprecated),
                        message,
                        deprecated_in: version,
                        removed_in: None,
                        replacement,
                        line: at,
                        table: None,
                    });
                }
                DecoRole::DeprecateKwarg
                | DecoRole::RenameParameter
                | DecoRole::ScipyRenameParameter
                | DecoRole::DeleteParameter => {
                    let Some(call) = call else { continue };
                    let Some(target) = self.def_target(ctx, name, func) else { continue };
                    let args = Args::of(call, self.src);
                    let (since, old, new, present) = match role {
                        DecoRole::DeprecateKwarg => {
                            let new = args.get(1, "new_arg_name");
                            let new_is_none = new.is_none_or(|n| text(n, self.src) == "None");
                            (None, args.get(0, "old_arg_name"), if new_is_none { None } else { new }, true)
                        }
                        DecoRole::RenameParameter => {
                            (args.get(0, "since"), args.get(1, "old"), args.get(2, "new"), true)
                        }
                        DecoRole::ScipyRenameParameter => {
                            let version = args.get(2, "dep_version");
                            let present = version.is_some_and(|v| text(v, self.src) != "None");
                            (version, args.get(0, "old_name"), args.get(1, "new_name"), present)
                        }
                        _ => (args.get(0, "since"), args.get(1, "name"), None, true),
                    };
                    if !present {
                        continue; // a pure alias, not a deprecation
                    }
                    let Some(old) = old.and_then(|n| self.literal(n)).filter(|o| is_identifier(o)) else {
                        self.facts.skipped += 1;
                        continue;
                    };
                    let new = new.and_then(|n| self.literal(n)).filter(|n| is_identifier(n));
                    let since = since.and_then(|n| self.version_arg(n));
                    let removal = args.kw("removal").and_then(|n| self.version_arg(n));
                    let (kind, message) = match &new {
                        Some(new) => (
                            EntryKind::KeywordRenamed,
                            format!("The `{old}` parameter of `{name}` is deprecated; it was renamed to `{new}`."),
                        ),
                        None => {
                            let mut m = format!("The `{old}` parameter of `{name}` is deprecated and will be removed.");
                            if let Some(add) = args.kw("addendum").and_then(|n| self.eval_message(n, None)) {
                                m.push(' ');
                                m.push_str(&add);
                            }
                            (EntryKind::KeywordRemoved, m)
                        }
                    };
                    self.facts.sites.push(Site {
                        target,
                        keyword: Some(old),
                        kind: SiteKind::Fixed(kind),
                        message,
                        deprecated_in: since,
                        removed_in: removal,
                        replacement: new,
                        line: at,
                        table: None,
                    });
                }
            }
        }
    }

    /// `@deprecated("message")` (PEP 702, sklearn, scipy), `@deprecated(reason=...,
    /// version=...)`, matplotlib `@_api.deprecated("3.8", alternative=..., removal=...)`.
    fn deprecated_decorator(&self, call: Node<'t>, target: Target, at: usize, name: &str) -> Site {
        let args = Args::of(call, self.src);
        let first = args.positional.first().and_then(|n| self.literal(n.to_owned()));
        let mut deprecated_in = None;
        let mut message = None;
        match first {
            Some(f) if version_token(&f).as_deref() == Some(f.as_str()) => deprecated_in = Some(f),
            Some(_) => message = args.positional.first().and_then(|n| self.eval_message(*n, None)),
            None => {}
        }
        for key in ["message", "reason", "details", "extra", "msg"] {
            if message.is_none() {
                message = args.kw(key).and_then(|n| self.eval_message(n, None)).filter(|m| !m.is_empty());
            }
        }
        for key in ["since", "version", "deprecated_in"] {
            if deprecated_in.is_none() {
                deprecated_in = args.kw(key).and_then(|n| self.version_arg(n));
            }
        }
        let removed_in = ["removal", "removed_in"].iter().find_map(|k| args.kw(k).and_then(|n| self.version_arg(n)));
        let alternative = args.kw("alternative").and_then(|n| self.literal(n));
        let replacement = alternative.as_deref().map(|a| super::text::strip_name(a).0).filter(|a| is_dotted_name(a));
        let message = match message {
            // matplotlib messages are %-templates.
            Some(m) => m
                .replace("%(name)s", name)
                .replace("%(since)s", deprecated_in.as_deref().unwrap_or("?"))
                .replace("%(removal)s", removed_in.as_deref().unwrap_or("a later release")),
            None => {
                let mut m = format!("`{name}` is deprecated");
                if let Some(d) = &deprecated_in {
                    m.push_str(&format!(" since {d}"));
                }
                if let Some(r) = &removed_in {
                    m.push_str(&format!(" and will be removed in {r}"));
                }
                m.push('.');
                if let Some(a) = &alternative {
                    m.push_str(&format!(" Use {a} instead."));
                }
                if let Some(add) = args.kw("addendum").and_then(|n| self.eval_message(n, None)) {
                    m.push(' ');
                    m.push_str(&add);
                }
                m
            }
        };
        Site {
            target,
            keyword: None,
            kind: SiteKind::Fixed(EntryKind::Deprecated),
            message,
            deprecated_in,
            removed_in,
            replacement,
            line: at,
            table: None,
        }
    }

    // ----- calls: warnings.warn and friends -----

    fn calls_in(&mut self, stmt: Node<'t>, ctx: &Ctx<'t>) {
        if !self.sites_possible {
            return;
        }
        let calls: Vec<Node> = descendants(stmt, is_scope).into_iter().filter(|n| n.kind() == "call").collect();
        for call in calls {
            let Some(func) = call.child_by_field_name("function") else { continue };
            let role = match func.kind() {
                "identifier" => {
                    let n = text(func, self.src);
                    if self.warn_names.functions.iter().any(|f| f == n) {
                        Some(CallRole::Warn)
                    } else {
                        None
                    }
                }
                "attribute" => {
                    let object = func.child_by_field_name("object").map(|o| text(o, self.src)).unwrap_or("");
                    let attr = last_name(func, self.src);
                    let object_last = object.rsplit('.').next().unwrap_or(object);
                    let warn =
                        matches!(attr, "warn" | "warn_explicit") && self.warn_names.modules.iter().any(|m| m == object);
                    // matplotlib's `_api.warn_external(message, category)`
                    let external = attr == "warn_external" && object_last == "_api";
                    if warn || external {
                        Some(CallRole::Warn)
                    } else if attr == "warn_deprecated" {
                        Some(CallRole::WarnDeprecated)
                    } else {
                        None
                    }
                }
                _ => None,
            };
            match role {
                Some(CallRole::Warn) => self.warn(call, ctx),
                Some(CallRole::WarnDeprecated) => self.warn_deprecated(call, ctx),
                None => self.namespace_helper(call, func, ctx),
            }
        }
    }

    /// In a module `__getattr__(name)`: `return _sub_module_deprecation(...,
    /// attribute=name)`, a deprecation helper handed the requested name.
    fn namespace_helper(&mut self, call: Node<'t>, callee: Node<'t>, ctx: &Ctx<'t>) {
        let Some(func) = &ctx.func else { return };
        if func.nested || ctx.qual.len() != 1 || func.name != "__getattr__" || !ctx.guards.is_empty() {
            return;
        }
        if !last_name(callee, self.src).to_lowercase().contains("deprecat") {
            return;
        }
        let Some(param) = func.params.first().map(|p| p.name.as_str()) else { return };
        let args = Args::of(call, self.src);
        let passes_name = args
            .positional
            .iter()
            .chain(args.keywords.iter().map(|(_, v)| v))
            .any(|a| a.kind() == "identifier" && text(*a, self.src) == param);
        if passes_name {
            self.facts.deprecated_namespace.get_or_insert(line(call));
        }
    }

    fn warn(&mut self, call: Node<'t>, ctx: &Ctx<'t>) {
        let args = Args::of(call, self.src);
        let mut message_node = args.get(0, "message");
        let mut category = args.get(1, "category").map(|c| self.category_name(c));
        // warnings.warn(DeprecationWarning("msg"))
        if let Some(m) = message_node.filter(|m| m.kind() == "call") {
            if let Some(f) = m.child_by_field_name("function") {
                let n = last_name(f, self.src);
                if n.ends_with("Warning") && category.is_none() {
                    category = Some(n.to_string());
                    message_node = Args::of(m, self.src).positional.first().copied();
                }
            }
        }
        let Some(category) = category.filter(|c| !c.is_empty()) else { return };
        if !category.ends_with("Warning") {
            return; // a variable category: a helper; nothing to say
        }
        if matches!(
            category.as_str(),
            "UserWarning"
                | "RuntimeWarning"
                | "SyntaxWarning"
                | "ImportWarning"
                | "UnicodeWarning"
                | "BytesWarning"
                | "ResourceWarning"
                | "EncodingWarning"
        ) {
            return;
        }
        let local = ctx.func.as_ref().map(|f| f.node);
        let Some(message) = message_node.and_then(|m| self.eval_message_at(m, local, call.start_byte())) else {
            self.facts.skipped += 1; // the message comes from a parameter: a helper
            return;
        };
        self.record_warning(
            ctx,
            call,
            SiteInfo { category, message, deprecated_in: None, removed_in: None, keyword: None, replacement: None },
        );
    }

    fn warn_deprecated(&mut self, call: Node<'t>, ctx: &Ctx<'t>) {
        let args = Args::of(call, self.src);
        let Some(since) = args.get(0, "since").and_then(|n| self.version_arg(n)) else {
            self.facts.skipped += 1;
            return;
        };
        let local = ctx.func.as_ref().map(|f| f.node);
        let name = args.kw("name").and_then(|n| self.literal(n));
        let obj_type = args.kw("obj_type").and_then(|n| self.literal(n));
        let removal = args.kw("removal").and_then(|n| self.version_arg(n));
        let alternative = args.kw("alternative").and_then(|n| self.literal(n));
        let pending = args.kw("pending").is_some_and(|n| text(n, self.src) == "True");
        let message = match args.kw("message").and_then(|n| self.eval_message_at(n, local, call.start_byte())) {
            Some(m) => m
                .replace("%(name)s", name.as_deref().unwrap_or("?"))
                .replace("%(since)s", &since)
                .replace("%(removal)s", removal.as_deref().unwrap_or("a later release"))
                .replace("%(obj_type)s", obj_type.as_deref().unwrap_or(""))
                .replace("%(alternative)s", alternative.as_deref().unwrap_or("")),
            None => {
                let Some(n) = &name else {
                    self.facts.skipped += 1;
                    return;
                };
                let mut m = match &obj_type {
                    Some(t) => format!("The {n} {t} was deprecated in {since}"),
                    None => format!("{n} was deprecated in {since}"),
                };
                match &removal {
                    Some(r) => m.push_str(&format!(" and will be removed in {r}.")),
                    None => m.push('.'),
                }
                if let Some(a) = &alternative {
                    m.push_str(&format!(" Use {a} instead."));
                }
                if let Some(add) = args.kw("addendum").and_then(|n| self.eval_message_at(n, local, call.start_byte())) {
                    m.push(' ');
                    m.push_str(&add);
                }
                m
            }
        };
        let keyword = match (&name, obj_type.as_deref()) {
            (Some(n), Some("parameter" | "keyword argument" | "argument" | "kwarg")) if is_identifier(n) => {
                Some(n.clone())
            }
            _ => None,
        };
        let category = if pending { "PendingDeprecationWarning" } else { "DeprecationWarning" };
        let replacement = alternative.map(|a| super::text::strip_name(&a).0).filter(|a| is_dotted_name(a));
        self.record_warning(
            ctx,
            call,
            SiteInfo {
                category: category.into(),
                message,
                deprecated_in: Some(since),
                removed_in: removal,
                keyword,
                replacement,
            },
        );
    }

    /// Turns a warning at `call` into sites, by where it sits: a function, a
    /// method, a module `__getattr__`, or module level.
    fn record_warning(&mut self, ctx: &Ctx<'t>, call: Node<'t>, info: SiteInfo) {
        let at = line(call);
        let message = clean(&info.message);
        let Some(func) = &ctx.func else {
            // Module level: importing the module warns.
            if ctx.module_scope() && ctx.guards.is_empty() && info.keyword.is_none() {
                self.facts.sites.push(Site {
                    target: Target::Module,
                    keyword: None,
                    kind: SiteKind::Warn { category: info.category, conditional: false },
                    message,
                    deprecated_in: info.deprecated_in,
                    removed_in: info.removed_in,
                    replacement: info.replacement,
                    line: at,
                    table: None,
                });
            } else {
                self.facts.skipped += 1;
            }
            return;
        };
        if func.nested {
            self.facts.skipped += 1;
            return;
        }
        // Module-level __getattr__(name): the guarded names are the symbols.
        if ctx.qual.len() == 1 && func.name == "__getattr__" {
            let param = func.params.first().map(|p| p.name.clone()).unwrap_or_default();
            let names = self.guarded_names(ctx, &param, Some(func.node), call.start_byte());
            if names.is_empty() {
                self.facts.skipped += 1;
                return;
            }
            for name in names {
                let message = fill_placeholder(&message, &param, &name);
                self.facts.sites.push(Site {
                    target: Target::Attr { module: self.input.module.clone(), name },
                    keyword: None,
                    kind: SiteKind::Warn { category: info.category.clone(), conditional: false },
                    message,
                    deprecated_in: info.deprecated_in.clone(),
                    removed_in: info.removed_in.clone(),
                    replacement: info.replacement.clone(),
                    line: at,
                    table: None,
                });
            }
            return;
        }
        // A method or function.
        let mut outer = ctx.clone();
        outer.qual.pop();
        outer.func = None;
        outer.in_class_body = ctx.class.is_some() && ctx.qual.len() >= 2;
        if !outer.in_class_body {
            outer.class = None;
        }
        let Some(mut target) = self.def_target(&outer, &func.name, Some(func)) else { return };
        let conditional = !ctx.guards.is_empty();
        let keyword = info.keyword.clone();
        let replacement = info.replacement.clone();
        if keyword.is_none() && conditional && !mentions_default_change(&message) {
            let keywords = self.guard_keyword(ctx, func, &message);
            if !keywords.is_empty() {
                for (kw, ctor, renamed) in keywords {
                    let target =
                        if ctor { Target::Def(ctx.qual[..ctx.qual.len() - 1].to_vec()) } else { target.clone() };
                    self.facts.sites.push(Site {
                        target,
                        keyword: Some(kw),
                        kind: SiteKind::Warn { category: info.category.clone(), conditional: false },
                        message: message.clone(),
                        deprecated_in: info.deprecated_in.clone(),
                        removed_in: info.removed_in.clone(),
                        replacement: renamed,
                        line: at,
                        table: None,
                    });
                }
                return;
            }
        }
        if keyword.is_none() && mentions_default_change(&message) {
            // A default that will change: the constructor of an estimator-like
            // class when the message names one of its parameters.
            if let Some(class) = &ctx.class {
                if ctx.qual.len() >= 2
                    && class
                        .init_params
                        .iter()
                        .any(|p| p.star == 0 && p.name != "self" && mentions_word(&message, &p.name))
                {
                    target = Target::Def(ctx.qual[..ctx.qual.len() - 1].to_vec());
                }
            }
        }
        let conditional = conditional && keyword.is_none();
        self.facts.sites.push(Site {
            target,
            keyword,
            kind: SiteKind::Warn { category: info.category, conditional },
            message,
            deprecated_in: info.deprecated_in,
            removed_in: info.removed_in,
            replacement,
            line: at,
            table: None,
        });
    }

    // ----- guards -----

    /// The attribute names a module `__getattr__(param)` guard selects:
    /// `param == "x"`, `param in ("x", "y")`, `param in TABLE` (a dict/set
    /// bound in the function or at module level). Innermost guard first.
    fn guarded_names(&self, ctx: &Ctx<'t>, param: &str, local: Option<Node<'t>>, before: usize) -> Vec<String> {
        for guard in ctx.guards.iter().rev() {
            if let Guard::Then(cond) = guard {
                let names = self.condition_names(*cond, param, local, before);
                if !names.is_empty() {
                    return names;
                }
            }
        }
        Vec::new()
    }

    fn condition_names(&self, cond: Node<'t>, param: &str, local: Option<Node<'t>>, before: usize) -> Vec<String> {
        match cond.kind() {
            "parenthesized_expression" => {
                cond.named_child(0).map(|n| self.condition_names(n, param, local, before)).unwrap_or_default()
            }
            "boolean_operator" => {
                let left = cond
                    .child_by_field_name("left")
                    .map(|n| self.condition_names(n, param, local, before))
                    .unwrap_or_default();
                let right = cond
                    .child_by_field_name("right")
                    .map(|n| self.condition_names(n, param, local, before))
                    .unwrap_or_default();
                let op = cond.child_by_field_name("operator").map(|n| text(n, self.src)).unwrap_or("");
                if op == "or" {
                    left.into_iter().chain(right).collect()
                } else if left.is_empty() {
                    right
                } else {
                    left
                }
            }
            "comparison_operator" => {
                let Some((a, op, b)) = self.comparison(cond) else { return Vec::new() };
                let is_param = |n: Node| n.kind() == "identifier" && text(n, self.src) == param;
                match op.as_str() {
                    "==" => {
                        let other = if is_param(a) {
                            b
                        } else if is_param(b) {
                            a
                        } else {
                            return Vec::new();
                        };
                        self.literal(other).into_iter().filter(|n| is_identifier(n)).collect()
                    }
                    "in" if is_param(a) => {
                        self.collection(b, local, before).into_iter().filter(|n| is_identifier(n)).collect()
                    }
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// Splits a two-operand comparison into (left, operator, right).
    fn comparison(&self, cond: Node<'t>) -> Option<(Node<'t>, String, Node<'t>)> {
        let operands = named_children(cond);
        if operands.len() != 2 {
            return None;
        }
        let (a, b) = (operands[0], operands[1]);
        let between = self.src.get(a.end_byte()..b.start_byte())?;
        let op = String::from_utf8_lossy(between).split_whitespace().collect::<Vec<_>>().join(" ");
        Some((a, op, b))
    }

    /// String items of a literal collection (dict keys), directly or through
    /// a name bound in the function (before `before`) or at module level.
    fn collection(&self, node: Node<'t>, local: Option<Node<'t>>, before: usize) -> Vec<String> {
        self.collection_depth(node, local, before, 0)
    }

    fn collection_depth(&self, node: Node<'t>, local: Option<Node<'t>>, before: usize, depth: u32) -> Vec<String> {
        if depth > 6 {
            return Vec::new();
        }
        match node.kind() {
            "list" | "tuple" | "set" => named_children(node).into_iter().filter_map(|n| self.literal(n)).collect(),
            "dictionary" => named_children(node)
                .into_iter()
                .filter(|p| p.kind() == "pair")
                .filter_map(|p| p.child_by_field_name("key").and_then(|k| self.literal(k)))
                .collect(),
            "dictionary_comprehension" => self.comprehension_table(node).into_iter().map(|(k, _, _)| k).collect(),
            "parenthesized_expression" => {
                node.named_child(0).map(|n| self.collection_depth(n, local, before, depth + 1)).unwrap_or_default()
            }
            "call" => {
                let f = node.child_by_field_name("function").map(|f| last_name(f, self.src)).unwrap_or("");
                if matches!(f, "frozenset" | "set" | "tuple" | "list" | "dict") {
                    Args::of(node, self.src)
                        .positional
                        .first()
                        .map(|a| self.collection_depth(*a, local, before, depth + 1))
                        .unwrap_or_default()
                } else {
                    Vec::new()
                }
            }
            "identifier" => match self.value_of(text(node, self.src), local, before) {
                Some((value, _)) => self.collection_depth(value, local, value.start_byte(), depth + 1),
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// The expression last assigned to `name` before `before`: in the
    /// function `local` first, then at module level. With the `+=` that
    /// follow the assignment.
    fn value_of(&self, name: &str, local: Option<Node<'t>>, before: usize) -> Option<(Node<'t>, Vec<Node<'t>>)> {
        if let Some(func) = local {
            let mut best: Option<Node> = None;
            let mut augments: Vec<Node> = Vec::new();
            for n in descendants(func, is_scope) {
                if n.start_byte() >= before {
                    continue;
                }
                let is_name =
                    |l: Option<Node>| l.is_some_and(|l| l.kind() == "identifier" && text(l, self.src) == name);
                match n.kind() {
                    "assignment" if is_name(n.child_by_field_name("left")) => {
                        if let Some(r) = n.child_by_field_name("right") {
                            if best.is_none_or(|b| b.start_byte() < r.start_byte()) {
                                best = Some(r);
                            }
                        }
                    }
                    "augmented_assignment"
                        if is_name(n.child_by_field_name("left"))
                            && n.child_by_field_name("operator").map(|o| text(o, self.src)) == Some("+=") =>
                    {
                        if let Some(r) = n.child_by_field_name("right") {
                            augments.push(r);
                        }
                    }
                    _ => {}
                }
            }
            if let Some(b) = best {
                augments.retain(|a| a.start_byte() > b.start_byte());
                augments.sort_by_key(|a| a.start_byte());
                return Some((b, augments));
            }
            // A parameter shadows module-level names.
            if parameters(func, self.src).iter().any(|p| p.name == name) {
                return None;
            }
        }
        self.consts.get(name).map(|n| (*n, Vec::new()))
    }

    /// The keyword argument a conditional warning is about: the guard tests
    /// whether the argument was passed (`x is not None`, `x is not
    /// lib.no_default`, `self.x != "deprecated"`, `"x" in kwargs`).
    /// Returns (keyword, applies to the class constructor, renamed to).
    fn guard_keyword(&self, ctx: &Ctx<'t>, func: &FuncCtx<'t>, message: &str) -> Vec<(String, bool, Option<String>)> {
        let mut analysis = GuardAnalysis::default();
        let mut guards_with_presence = 0;
        for guard in &ctx.guards {
            let before: std::collections::HashSet<String> = analysis.presence.iter().map(|(k, _)| k.clone()).collect();
            match guard {
                Guard::Then(cond) => self.analyse(*cond, true, ctx, func, &mut analysis, 0),
                Guard::Else(conds) => {
                    for c in conds {
                        self.analyse(*c, false, ctx, func, &mut analysis, 0);
                    }
                }
                Guard::Other => {}
            }
            if analysis.presence.iter().any(|(k, _)| !before.contains(k)) {
                guards_with_presence += 1;
            }
        }
        // Several arguments that must all be passed (`a is not None and b is
        // not None`, or nested guards): a combination is deprecated, not a
        // keyword.
        if analysis.combination || guards_with_presence > 1 {
            return Vec::new();
        }
        let mut presence: Vec<(String, bool)> = Vec::new();
        for p in analysis.presence {
            // A value test on a passed argument (`if axis == 1`) makes it a
            // change of behaviour, unless the message is about the keyword
            // itself ("The 'axis' keyword ... is deprecated").
            let value_only = analysis.value_checked.contains(&p.0) && !names_as_keyword(message, &p.0);
            if !value_only && !presence.contains(&p) {
                presence.push(p);
            }
        }
        let chosen: Vec<(String, bool)> = if presence.len() == 1 {
            presence
        } else {
            presence.into_iter().filter(|(k, _)| mentions_word(message, k)).collect()
        };
        let single = chosen.len() == 1;
        chosen
            .into_iter()
            .map(|(keyword, ctor)| {
                // Renamed: the message names another parameter as the new one.
                let others: Vec<&Param> = if ctor {
                    ctx.class.as_ref().map(|c| c.init_params.iter().collect()).unwrap_or_default()
                } else {
                    func.params.iter().collect()
                };
                let renamed = if single {
                    others
                        .iter()
                        .filter(|p| p.star == 0 && p.name != keyword && !matches!(p.name.as_str(), "self" | "cls"))
                        .find(|p| names_as_new(message, &p.name))
                        .map(|p| p.name.clone())
                } else {
                    None
                };
                (keyword, ctor, renamed)
            })
            .collect()
    }

    /// A reference to an argument: a parameter, `self.x` for a constructor
    /// parameter `x`, or `kwargs.get("x")` / `kwargs.pop("x")`.
    fn argument_ref(
        &self,
        node: Node<'t>,
        ctx: &Ctx<'t>,
        func: &FuncCtx<'t>,
    ) -> Option<(String, bool, Option<String>)> {
        match node.kind() {
            "identifier" => {
                let name = text(node, self.src);
                let p = func.params.iter().find(|p| p.name == name && p.star == 0)?;
                if matches!(name, "self" | "cls") {
                    return None;
                }
                let in_ctor = matches!(func.name.as_str(), "__init__" | "__new__") && ctx.class.is_some();
                Some((name.to_string(), in_ctor, p.default.clone()))
            }
            "attribute" => {
                let object = node.child_by_field_name("object")?;
                if text(object, self.src) != "self" {
                    return None;
                }
                let attr = last_name(node, self.src);
                let class = ctx.class.as_ref()?;
                let p = class.init_params.iter().find(|p| p.name == attr && p.star == 0)?;
                Some((attr.to_string(), true, p.default.clone()))
            }
            "call" => {
                let f = node.child_by_field_name("function")?;
                if f.kind() != "attribute" || !matches!(last_name(f, self.src), "get" | "pop") {
                    return None;
                }
                let object = text(f.child_by_field_name("object")?, self.src);
                func.params.iter().find(|p| p.star == 2 && p.name == object)?;
                let key = self.literal(*Args::of(node, self.src).positional.first()?)?;
                let in_ctor = matches!(func.name.as_str(), "__init__" | "__new__") && ctx.class.is_some();
                is_identifier(&key).then_some((key, in_ctor, Some("None".into())))
            }
            _ => None,
        }
    }

    fn analyse(
        &self,
        cond: Node<'t>,
        positive: bool,
        ctx: &Ctx<'t>,
        func: &FuncCtx<'t>,
        out: &mut GuardAnalysis,
        depth: u32,
    ) {
        if depth > 16 {
            return;
        }
        match cond.kind() {
            "parenthesized_expression" => {
                if let Some(n) = cond.named_child(0) {
                    self.analyse(n, positive, ctx, func, out, depth + 1);
                }
            }
            "not_operator" => {
                if let Some(n) = cond.child_by_field_name("argument") {
                    self.analyse(n, !positive, ctx, func, out, depth + 1);
                }
            }
            "boolean_operator" => {
                let op = cond.child_by_field_name("operator").map(|o| text(o, self.src)).unwrap_or("");
                let start = out.presence.len();
                if let Some(n) = cond.child_by_field_name("left") {
                    self.analyse(n, positive, ctx, func, out, depth + 1);
                }
                let middle = out.presence.len();
                if let Some(n) = cond.child_by_field_name("right") {
                    self.analyse(n, positive, ctx, func, out, depth + 1);
                }
                let conjunction = (op == "and") == positive;
                if conjunction && middle > start && out.presence.len() > middle {
                    out.combination = true;
                }
            }
            "identifier" | "attribute" | "call" => {
                if let Some((name, ctor, default)) = self.argument_ref(cond, ctx, func) {
                    // `if x:` with a None/False default, or `if kwargs.get("x")`.
                    let unset_default = default.as_deref().is_some_and(|d| matches!(d, "None" | "False"));
                    if positive && (unset_default || cond.kind() == "call") {
                        out.presence.push((name, ctor));
                    }
                }
            }
            "comparison_operator" => {
                let Some((a, op, b)) = self.comparison(cond) else { return };
                // "x" in kwargs
                if matches!(op.as_str(), "in" | "not in") {
                    if let (Some(key), "identifier") = (self.literal(a), b.kind()) {
                        let container = text(b, self.src);
                        if func.params.iter().any(|p| p.star == 2 && p.name == container) && is_identifier(&key) {
                            if (op == "in") == positive {
                                let in_ctor =
                                    matches!(func.name.as_str(), "__init__" | "__new__") && ctx.class.is_some();
                                out.presence.push((key, in_ctor));
                            }
                            return;
                        }
                    }
                }
                let (reference, other) = match (self.argument_ref(a, ctx, func), self.argument_ref(b, ctx, func)) {
                    (Some(r), _) => (r, b),
                    (None, Some(r)) => (r, a),
                    (None, None) => return,
                };
                let (name, ctor, default) = reference;
                let other_text = text(other, self.src);
                let lower = other_text.to_lowercase();
                let default_like = default.as_deref() == Some(other_text)
                    || other_text == "None"
                    || ["no_default", "nodefault", "novalue", "sentinel", "deprecated", "unset", "_default", "warn"]
                        .iter()
                        .any(|w| lower.contains(w));
                let differs = matches!(op.as_str(), "is not" | "!=");
                let equals = matches!(op.as_str(), "is" | "==");
                if default_like && ((differs && positive) || (equals && !positive)) {
                    out.presence.push((name, ctor));
                } else if !default_like || !(differs || equals) {
                    out.value_checked.push(name);
                }
            }
            _ => {}
        }
    }

    // ----- raise AttributeError in module __getattr__ -----

    fn raise(&mut self, stmt: Node<'t>, ctx: &Ctx<'t>) {
        if !self.sites_possible {
            return;
        }
        let Some(func) = &ctx.func else { return };
        if func.nested || ctx.qual.len() != 1 || func.name != "__getattr__" {
            return;
        }
        let Some(call) = stmt.named_child(0).filter(|n| n.kind() == "call") else { return };
        let Some(f) = call.child_by_field_name("function") else { return };
        if !matches!(last_name(f, self.src), "AttributeError" | "ImportError" | "ModuleNotFoundError") {
            return;
        }
        let Some(message_node) = Args::of(call, self.src).positional.first().copied() else { return };
        let Some(message) = self.eval_message_at(message_node, Some(func.node), call.start_byte()) else { return };
        let lower = message.to_lowercase();
        let removal_like =
            ["remov", "deprecat", "private", "no longer", "not available", "renamed", "moved", "expired"]
                .iter()
                .any(|w| lower.contains(w));
        if !removal_like || lower.contains("experimental") {
            return;
        }
        let param = func.params.first().map(|p| p.name.clone()).unwrap_or_default();
        let names = self.guarded_names(ctx, &param, Some(func.node), call.start_byte());
        if names.is_empty() {
            // `if name in TABLE: raise AttributeError(f"... {TABLE[name]}")`
            // with TABLE imported: a template for the table's entries.
            if let Some(Guard::Then(cond)) = ctx.guards.last() {
                if let Some((a, op, b)) = self.comparison(*cond) {
                    if op == "in" && text(a, self.src) == param && b.kind() == "identifier" {
                        self.facts.templates.push(TableTemplate {
                            table: text(b, self.src).to_string(),
                            param: param.clone(),
                            message,
                        });
                    }
                }
            }
            return;
        }
        for name in names {
            let message = fill_placeholder(&message, &param, &name);
            self.facts.sites.push(Site {
                target: Target::Attr { module: self.input.module.clone(), name },
                keyword: None,
                kind: SiteKind::Fixed(EntryKind::Removed),
                message,
                deprecated_in: None,
                removed_in: None,
                replacement: None,
                line: line(call),
                table: None,
            });
        }
    }

    // ----- values -----

    fn category_name(&self, node: Node<'t>) -> String {
        match node.kind() {
            "identifier" | "attribute" => last_name(node, self.src).to_string(),
            "parenthesized_expression" => node.named_child(0).map(|n| self.category_name(n)).unwrap_or_default(),
            "conditional_expression" => node.named_child(0).map(|n| self.category_name(n)).unwrap_or_default(),
            _ => String::new(),
        }
    }

    /// A plain string literal (no interpolation).
    fn literal(&self, node: Node<'t>) -> Option<String> {
        match node.kind() {
            "string" if !named_children(node).iter().any(|c| c.kind() == "interpolation") => {
                Some(string_body(node, self.src))
            }
            "concatenated_string" => {
                let mut out = String::new();
                for part in named_children(node) {
                    out.push_str(&self.literal(part)?);
                }
                Some(out)
            }
            "parenthesized_expression" => node.named_child(0).and_then(|n| self.literal(n)),
            _ => None,
        }
    }

    fn version_arg(&self, node: Node<'t>) -> Option<String> {
        let v = self.literal(node)?;
        let v = v.trim().to_string();
        (version_token(&v).as_deref() == Some(v.as_str())).then_some(v)
    }

    fn eval_message(&self, node: Node<'t>, local: Option<Node<'t>>) -> Option<String> {
        self.eval_message_at(node, local, node.start_byte())
    }

    /// The text of a message expression, cleaned; `None` when it holds no
    /// literal text at all (a message passed in by the caller).
    fn eval_message_at(&self, node: Node<'t>, local: Option<Node<'t>>, before: usize) -> Option<String> {
        self.eval_with(node, local, before, &HashMap::new(), 0).map(|m| clean(&m)).filter(|m| !m.is_empty())
    }

    fn placeholder(&self, node: Node<'t>) -> String {
        let t = clean(text(node, self.src));
        if t.len() > 60 {
            "{...}".to_string()
        } else {
            format!("{{{t}}}")
        }
    }

    fn eval_with(
        &self,
        node: Node<'t>,
        local: Option<Node<'t>>,
        before: usize,
        bound: &HashMap<String, String>,
        depth: u32,
    ) -> Option<String> {
        if depth > 12 {
            return None;
        }
        let eval = |n: Node<'t>| self.eval_with(n, local, before, bound, depth + 1);
        match node.kind() {
            "string" => Some(string_body(node, self.src)),
            "concatenated_string" => Some(named_children(node).into_iter().map(|s| string_body(s, self.src)).collect()),
            "parenthesized_expression" => node.named_child(0).and_then(eval),
            "conditional_expression" => node.named_child(0).and_then(eval),
            "binary_operator" => {
                let op = node.child_by_field_name("operator").map(|o| text(o, self.src)).unwrap_or("");
                let left = node.child_by_field_name("left")?;
                let right = node.child_by_field_name("right")?;
                match op {
                    "+" => {
                        let (l, r) = (eval(left), eval(right));
                        if l.is_none() && r.is_none() {
                            return None;
                        }
                        Some(
                            l.unwrap_or_else(|| self.placeholder(left)) + &r.unwrap_or_else(|| self.placeholder(right)),
                        )
                    }
                    "%" => eval(left),
                    _ => None,
                }
            }
            "call" => {
                let func = node.child_by_field_name("function")?;
                let args = Args::of(node, self.src);
                if func.kind() == "attribute" {
                    let object = func.child_by_field_name("object")?;
                    match last_name(func, self.src) {
                        "format" => {
                            let template = eval(object)?;
                            let positional: Vec<Option<String>> = args.positional.iter().map(|a| eval(*a)).collect();
                            let keywords: Vec<(String, Option<String>)> =
                                args.keywords.iter().map(|(k, v)| (k.clone(), eval(*v))).collect();
                            return Some(format_template(&template, &positional, &keywords));
                        }
                        "strip" | "rstrip" | "lstrip" => return eval(object),
                        _ => {}
                    }
                }
                if matches!(last_name(func, self.src), "dedent" | "cleandoc" | "str" | "_" | "gettext") {
                    return args.positional.first().and_then(|a| eval(*a));
                }
                None
            }
            "identifier" => {
                let name = text(node, self.src);
                if let Some(v) = bound.get(name) {
                    return Some(v.clone());
                }
                let (value, augments) = self.value_of(name, local, before)?;
                let mut out = self.eval_with(value, local, value.start_byte(), bound, depth + 1)?;
                for a in augments {
                    out.push_str(
                        &self
                            .eval_with(a, local, a.start_byte(), bound, depth + 1)
                            .unwrap_or_else(|| self.placeholder(a)),
                    );
                }
                Some(out)
            }
            _ => None,
        }
    }
}

#[derive(Default)]
struct GuardAnalysis {
    presence: Vec<(String, bool)>,
    value_checked: Vec<String>,
    /// Two arguments tested together (`and`).
    combination: bool,
}

/// `str.format` with the arguments whose values are known; unknown fields
/// stay as written.
fn format_template(template: &str, positional: &[Option<String>], keywords: &[(String, Option<String>)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut chars = template.char_indices().peekable();
    let mut next_auto = 0;
    while let Some((i, c)) = chars.next() {
        if c == '{' {
            if chars.peek().map(|&(_, c)| c) == Some('{') {
                chars.next();
                out.push('{');
                continue;
            }
            let Some(close) = template[i..].find('}') else {
                out.push_str(&template[i..]);
                break;
            };
            let field = &template[i + 1..i + close];
            let name = field.split(['!', ':']).next().unwrap_or("");
            let value = if name.is_empty() {
                let v = positional.get(next_auto).cloned().flatten();
                next_auto += 1;
                v
            } else if let Ok(index) = name.parse::<usize>() {
                positional.get(index).cloned().flatten()
            } else {
                keywords.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.clone())
            };
            match value {
                Some(v) => out.push_str(&v),
                None => out.push_str(&template[i..=i + close]),
            }
            while chars.peek().is_some_and(|&(j, _)| j <= i + close) {
                chars.next();
            }
        } else if c == '}' && chars.peek().map(|&(_, c)| c) == Some('}') {
            chars.next();
            out.push('}');
        } else {
            out.push(c);
        }
    }
    out
}

struct SiteInfo {
    category: String,
    message: String,
    deprecated_in: Option<String>,
    removed_in: Option<String>,
    keyword: Option<String>,
    replacement: Option<String>,
}

/// Whether the message names `param` as the new name: "renamed to `param`",
/// "use 'param' instead", "in favor of `param`".
fn names_as_new(message: &str, param: &str) -> bool {
    let lower = message.to_lowercase();
    let param = param.to_lowercase();
    ["'", "\"", "`", "``"].iter().any(|q| {
        let quoted = format!("{q}{param}{q}");
        [
            format!("renamed to {quoted}"),
            format!("use {quoted} instead"),
            format!("in favor of {quoted}"),
            format!("in favour of {quoted}"),
        ]
        .iter()
        .any(|pattern| lower.contains(pattern.as_str()))
    }) || lower.contains(&format!("use {param}= instead"))
        || lower.contains(&format!("renamed to {param}"))
}

/// Whether the message speaks of `param` as a keyword: "The 'axis'
/// keyword", "the `disp` argument", "parameter 'x'".
fn names_as_keyword(message: &str, param: &str) -> bool {
    let lower = message.to_lowercase();
    let param = param.to_lowercase();
    let nouns = ["keyword", "parameter", "argument", "kwarg", "option", "flag"];
    ["'", "\"", "`", "``", ""].iter().any(|q| {
        let quoted = format!("{q}{param}{q}");
        nouns.iter().any(|n| {
            lower.contains(&format!("{quoted} {n}")) || (!q.is_empty() && lower.contains(&format!("{n} {quoted}")))
        })
    })
}

/// Where the message first quotes `name` as code (`'name'`, `"name"`, `` `name` ``).
fn quoted_at(message: &str, name: &str) -> Option<usize> {
    [format!("'{name}'"), format!("\"{name}\""), format!("`{name}`")]
        .iter()
        .filter_map(|q| message.find(q.as_str()))
        .min()
}

/// A `__getattr__` message with its f-string placeholder for the attribute
/// name (`{name}` or `{name!r}`) filled in.
fn fill_placeholder(message: &str, param: &str, name: &str) -> String {
    message.replace(&format!("{{{param}}}"), name).replace(&format!("{{{param}!r}}"), &format!("'{name}'"))
}
