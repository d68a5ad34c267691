//! One walk over a tree-sitter tree: bindings are tracked in source order,
//! function bodies are visited after their enclosing scope is complete (as
//! they run later, seeing the final module-level names), and every reference
//! that resolves to a cataloged symbol becomes a finding.

use std::collections::VecDeque;

use tree_sitter::Node;

use super::finding::{self, Finding};
use super::scope::{ScopeKind, Scopes, Value};
use crate::env::Versions;
use crate::knowledge::{Catalog, Entry};

/// Deeper expressions than this are not analysed (the walk is recursive and
/// must never exhaust the stack on machine-generated or hostile input).
const MAX_DEPTH: usize = 400;

/// Exceptions whose handlers mark version-compatibility code.
const COMPAT_EXCEPTIONS: &[&str] = &["AttributeError", "ImportError", "ModuleNotFoundError"];

/// A function body waiting for its enclosing scope to be complete.
struct Deferred<'t> {
    body: Node<'t>,
    parameters: Vec<(String, Option<Value>)>,
    parent: usize,
    guarded: bool,
}

/// What a call passes, for entries that depend on it.
struct CallShape<'s> {
    first_string: Option<String>,
    keywords: Vec<&'s str>,
    has_keyword_splat: bool,
}

pub struct Visitor<'a, 't> {
    catalog: &'a Catalog,
    versions: &'a Versions,
    source: &'a str,
    scopes: Scopes,
    deferred: VecDeque<Deferred<'t>>,
    findings: Vec<Finding>,
    /// Inside code that only runs on some library versions.
    guard_depth: usize,
    /// Inside a conditional branch of the current scope.
    branch_depth: usize,
    depth: usize,
}

impl<'a, 't> Visitor<'a, 't> {
    pub fn new(catalog: &'a Catalog, versions: &'a Versions, source: &'a str) -> Self {
        Visitor {
            catalog,
            versions,
            source,
            scopes: Scopes::default(),
            deferred: VecDeque::new(),
            findings: Vec::new(),
            guard_depth: 0,
            branch_depth: 0,
            depth: 0,
        }
    }

    pub fn run(mut self, root: Node<'t>) -> Vec<Finding> {
        let module = self.scopes.push(ScopeKind::Module, None);
        self.eval(root, module);
        while let Some(function) = self.deferred.pop_front() {
            let scope = self.scopes.push(ScopeKind::Function, Some(function.parent));
            for (name, value) in function.parameters {
                self.scopes.bind(scope, &name, value, false);
            }
            self.guard_depth = usize::from(function.guarded);
            self.branch_depth = 0;
            self.eval(function.body, scope);
        }
        self.findings
    }

    fn text(&self, node: Node) -> &'a str {
        &self.source[node.byte_range()]
    }

    /// Visits `node`, reporting findings in it, and returns what it evidently is.
    fn eval(&mut self, node: Node<'t>, scope: usize) -> Option<Value> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        self.depth += 1;
        let value = self.eval_node(node, scope);
        self.depth -= 1;
        value
    }

    fn eval_node(&mut self, node: Node<'t>, scope: usize) -> Option<Value> {
        match node.kind() {
            "identifier" => {
                let value = self.lookup(scope, self.text(node));
                if let Some(Value::Path(path)) = &value {
                    self.report_reference(node, path);
                }
                value
            }
            "attribute" => {
                let object = self.eval(node.child_by_field_name("object")?, scope);
                let name = self.text(node.child_by_field_name("attribute")?);
                let value = self.member(object?, name);
                if let Value::Path(path) = &value {
                    self.report_reference(node, path);
                }
                Some(value)
            }
            "call" => self.eval_call(node, scope),
            // Annotations and parentheses are what they wrap.
            "type" | "parenthesized_expression" if node.named_child_count() == 1 => {
                self.eval(node.named_child(0)?, scope)
            }
            "import_statement" => {
                self.import(node, scope);
                None
            }
            "import_from_statement" => {
                self.import_from(node, scope);
                None
            }
            "assignment" => {
                self.assignment(node, scope);
                None
            }
            "augmented_assignment" => {
                self.eval_field(node, "right", scope);
                self.eval_field(node, "left", scope);
                None
            }
            "named_expression" => {
                let value = node.child_by_field_name("value").and_then(|v| self.eval(v, scope));
                if let Some(name) = node.child_by_field_name("name") {
                    let in_branch = self.branch_depth > 0;
                    self.scopes.bind(scope, self.text(name), value.clone(), in_branch);
                }
                value
            }
            "decorated_definition" => {
                self.eval_children(node, scope);
                None
            }
            "function_definition" => {
                self.function(node, scope);
                None
            }
            "class_definition" => {
                self.class(node, scope);
                None
            }
            "lambda" => {
                let inner = self.scopes.push(ScopeKind::Function, Some(scope));
                if let Some(parameters) = node.child_by_field_name("parameters") {
                    for (name, _) in self.parameters(parameters, scope) {
                        self.scopes.bind(inner, &name, None, false);
                    }
                }
                self.eval_field(node, "body", inner);
                None
            }
            "if_statement" | "conditional_expression" => {
                let guarded = self.is_version_guard(node);
                self.guard_depth += usize::from(guarded);
                self.branch_depth += 1;
                self.eval_children(node, scope);
                self.branch_depth -= 1;
                self.guard_depth -= usize::from(guarded);
                None
            }
            "for_statement" | "while_statement" => {
                self.eval_field(node, "right", scope);
                self.eval_field(node, "condition", scope);
                self.branch_depth += 1;
                if let Some(left) = node.child_by_field_name("left") {
                    self.bind_target(left, None, scope);
                }
                self.eval_field(node, "body", scope);
                self.eval_field(node, "alternative", scope);
                self.branch_depth -= 1;
                None
            }
            "try_statement" => {
                self.try_statement(node, scope);
                None
            }
            "with_statement" => {
                self.with_statement(node, scope);
                None
            }
            "list_comprehension" | "set_comprehension" | "dictionary_comprehension" | "generator_expression" => {
                let inner = self.scopes.push(ScopeKind::Function, Some(scope));
                let mut cursor = node.walk();
                let clauses: Vec<Node<'t>> = node.named_children(&mut cursor).collect();
                // The iterables and targets first, then the element and the filters.
                for clause in clauses.iter().filter(|c| c.kind() == "for_in_clause") {
                    self.eval_field(*clause, "right", inner);
                    if let Some(left) = clause.child_by_field_name("left") {
                        self.bind_target(left, None, inner);
                    }
                }
                for clause in clauses.iter().filter(|c| c.kind() != "for_in_clause") {
                    self.eval(*clause, inner);
                }
                None
            }
            "delete_statement" => {
                let mut cursor = node.walk();
                let targets: Vec<Node<'t>> = node.named_children(&mut cursor).collect();
                for target in targets {
                    self.bind_target(target, None, scope);
                }
                None
            }
            "keyword_argument" => {
                self.eval_field(node, "value", scope);
                None
            }
            "global_statement" | "nonlocal_statement" | "future_import_statement" | "string_content"
            | "comment" | "escape_sequence" | "integer" | "float" => None,
            _ => {
                self.eval_children(node, scope);
                None
            }
        }
    }

    fn eval_children(&mut self, node: Node<'t>, scope: usize) {
        let mut cursor = node.walk();
        let children: Vec<Node<'t>> = node.named_children(&mut cursor).collect();
        for child in children {
            self.eval(child, scope);
        }
    }

    fn eval_field(&mut self, node: Node<'t>, field: &str, scope: usize) -> Option<Value> {
        self.eval(node.child_by_field_name(field)?, scope)
    }

    fn lookup(&self, scope: usize, name: &str) -> Option<Value> {
        self.scopes.lookup(scope, name, |path| self.catalog.has_symbol(path))
    }

    /// `object.name`: a path grows; an attribute of an instance is a member
    /// of its class.
    fn member(&self, object: Value, name: &str) -> Value {
        let (Value::Path(base) | Value::Instance(base)) = object;
        Value::Path(self.catalog.canonical(&format!("{base}.{name}")))
    }

    /// What `node` evidently is, without reporting anything.
    fn resolve(&self, node: Node, scope: usize) -> Option<Value> {
        match node.kind() {
            "identifier" => self.lookup(scope, self.text(node)),
            "attribute" => {
                let object = self.resolve(node.child_by_field_name("object")?, scope)?;
                Some(self.member(object, self.text(node.child_by_field_name("attribute")?)))
            }
            _ => None,
        }
    }

    fn tracked(&self, dotted: &str) -> bool {
        let top = dotted.split('.').next().unwrap_or(dotted);
        self.catalog.library_of_module(top).is_some()
    }

    fn import(&mut self, node: Node<'t>, scope: usize) {
        let mut cursor = node.walk();
        let names: Vec<Node<'t>> = node.children_by_field_name("name", &mut cursor).collect();
        let in_branch = self.branch_depth > 0;
        for name in names {
            let (dotted_node, alias) = match name.kind() {
                "aliased_import" => (name.child_by_field_name("name"), name.child_by_field_name("alias")),
                _ => (Some(name), None),
            };
            let Some(dotted_node) = dotted_node else { continue };
            let dotted = dotted_text(self.text(dotted_node));
            let tracked = self.tracked(&dotted);
            if tracked {
                self.report_reference(dotted_node, &self.catalog.canonical(&dotted));
            }
            let (bound, value) = match alias {
                Some(alias) => (self.text(alias), tracked.then(|| Value::Path(self.catalog.canonical(&dotted)))),
                None => {
                    let top = dotted.split('.').next().unwrap_or_default();
                    (top_of(self.text(dotted_node)), tracked.then(|| Value::Path(top.to_string())))
                }
            };
            self.scopes.bind(scope, bound, value, in_branch);
        }
    }

    fn import_from(&mut self, node: Node<'t>, scope: usize) {
        let module = node
            .child_by_field_name("module_name")
            .filter(|m| m.kind() == "dotted_name")
            .map(|m| dotted_text(self.text(m)));
        let tracked = module.as_deref().is_some_and(|m| self.tracked(m));
        let module = module.map(|m| self.catalog.canonical(&m));
        if tracked {
            if let Some(module) = &module {
                if let Some(module_node) = node.child_by_field_name("module_name") {
                    self.report_reference(module_node, module);
                }
            }
        }
        let in_branch = self.branch_depth > 0;
        let mut cursor = node.walk();
        let children: Vec<Node<'t>> = node.named_children(&mut cursor).collect();
        if children.iter().any(|c| c.kind() == "wildcard_import") {
            if let (true, Some(module)) = (tracked, &module) {
                self.scopes.get_mut(scope).star_imports.push(module.clone());
            }
            return;
        }
        let mut cursor = node.walk();
        let names: Vec<Node<'t>> = node.children_by_field_name("name", &mut cursor).collect();
        for name in names {
            let (imported, alias) = match name.kind() {
                "aliased_import" => (name.child_by_field_name("name"), name.child_by_field_name("alias")),
                _ => (Some(name), None),
            };
            let Some(imported) = imported else { continue };
            let value = match (&module, tracked) {
                (Some(module), true) => {
                    let path = self.catalog.canonical(&format!("{module}.{}", dotted_text(self.text(imported))));
                    self.report_reference(imported, &path);
                    Some(Value::Path(path))
                }
                _ => None,
            };
            let bound = alias.unwrap_or(imported);
            self.scopes.bind(scope, self.text(bound), value, in_branch);
        }
    }

    fn assignment(&mut self, node: Node<'t>, scope: usize) {
        let right = node.child_by_field_name("right");
        let value = right.and_then(|r| self.eval(r, scope));
        let annotation = node.child_by_field_name("type").and_then(|t| self.eval(t, scope));
        let Some(left) = node.child_by_field_name("left") else { return };
        // `x: pd.DataFrame = ...` says what x is even when the value does not.
        let value = value.or(match annotation {
            Some(Value::Path(class)) => Some(Value::Instance(class)),
            _ => None,
        });
        if matches!(left.kind(), "pattern_list" | "tuple_pattern" | "list_pattern") {
            // `fig, ax = plt.subplots()`: the catalog may type tuple elements.
            let callee = right
                .filter(|r| r.kind() == "call")
                .and_then(|r| r.child_by_field_name("function"))
                .and_then(|f| self.resolve(f, scope));
            let mut cursor = left.walk();
            let elements: Vec<Node<'t>> = left.named_children(&mut cursor).collect();
            for (index, element) in elements.into_iter().enumerate() {
                let typed = match &callee {
                    Some(Value::Path(path)) => self
                        .catalog
                        .return_type(&format!("{path}[{index}]"))
                        .map(|t| Value::Instance(t.to_string())),
                    _ => None,
                };
                self.bind_target(element, typed, scope);
            }
        } else {
            self.bind_target(left, value, scope);
        }
    }

    fn bind_target(&mut self, target: Node<'t>, value: Option<Value>, scope: usize) {
        let in_branch = self.branch_depth > 0;
        match target.kind() {
            "identifier" => self.scopes.bind(scope, self.text(target), value, in_branch),
            "pattern_list" | "tuple_pattern" | "list_pattern" | "tuple" | "list" | "list_splat_pattern"
            | "parenthesized_expression" => {
                let mut cursor = target.walk();
                let elements: Vec<Node<'t>> = target.named_children(&mut cursor).collect();
                for element in elements {
                    self.bind_target(element, None, scope);
                }
            }
            // `obj.attr = ...` / `obj[i] = ...` bind nothing detection tracks,
            // but their object expressions are uses.
            _ => {
                self.eval(target, scope);
            }
        }
    }

    /// Names and annotated types of a parameter list; defaults and
    /// annotations are evaluated now, in the defining scope.
    fn parameters(&mut self, parameters: Node<'t>, scope: usize) -> Vec<(String, Option<Value>)> {
        let mut out = Vec::new();
        let mut cursor = parameters.walk();
        let children: Vec<Node<'t>> = parameters.named_children(&mut cursor).collect();
        for parameter in children {
            self.eval_field(parameter, "value", scope);
            let annotated = match parameter.child_by_field_name("type").and_then(|t| self.eval(t, scope)) {
                Some(Value::Path(class)) => Some(Value::Instance(class)),
                _ => None,
            };
            let name = match parameter.kind() {
                "identifier" => Some(parameter),
                "default_parameter" | "typed_default_parameter" => parameter.child_by_field_name("name"),
                _ => {
                    let mut inner = parameter.walk();
                    let found = parameter.named_children(&mut inner).find(|c| c.kind() == "identifier");
                    found.or_else(|| {
                        let mut inner = parameter.walk();
                        let splat = parameter
                            .named_children(&mut inner)
                            .find(|c| matches!(c.kind(), "list_splat_pattern" | "dictionary_splat_pattern"));
                        splat.and_then(|s| s.named_child(0))
                    })
                }
            };
            if let Some(name) = name.filter(|n| n.kind() == "identifier") {
                out.push((self.text(name).to_string(), annotated));
            }
        }
        out
    }

    fn function(&mut self, node: Node<'t>, scope: usize) {
        let parameters = match node.child_by_field_name("parameters") {
            Some(p) => self.parameters(p, scope),
            None => Vec::new(),
        };
        self.eval_field(node, "return_type", scope);
        if let Some(name) = node.child_by_field_name("name") {
            let in_branch = self.branch_depth > 0;
            self.scopes.bind(scope, self.text(name), None, in_branch);
        }
        if let Some(body) = node.child_by_field_name("body") {
            self.deferred.push_back(Deferred { body, parameters, parent: scope, guarded: self.guard_depth > 0 });
        }
    }

    fn class(&mut self, node: Node<'t>, scope: usize) {
        self.eval_field(node, "superclasses", scope);
        let inner = self.scopes.push(ScopeKind::Class, Some(scope));
        let outer_branch = std::mem::replace(&mut self.branch_depth, 0);
        self.eval_field(node, "body", inner);
        self.branch_depth = outer_branch;
        if let Some(name) = node.child_by_field_name("name") {
            let in_branch = self.branch_depth > 0;
            self.scopes.bind(scope, self.text(name), None, in_branch);
        }
    }

    fn try_statement(&mut self, node: Node<'t>, scope: usize) {
        let mut cursor = node.walk();
        let clauses: Vec<Node<'t>> = node.named_children(&mut cursor).skip(1).collect();
        let compat = clauses
            .iter()
            .any(|c| c.kind() == "except_clause" && self.catches_compat_error(*c));
        self.guard_depth += usize::from(compat);
        self.eval_field(node, "body", scope);
        self.guard_depth -= usize::from(compat);
        self.branch_depth += 1;
        for clause in clauses {
            let guarded = clause.kind() == "except_clause" && self.catches_compat_error(clause);
            self.guard_depth += usize::from(guarded);
            if clause.kind() == "except_clause" {
                self.eval_field(clause, "value", scope);
                if let Some(alias) = clause.child_by_field_name("alias") {
                    self.bind_target(alias, None, scope);
                }
                let mut inner = clause.walk();
                let blocks: Vec<Node<'t>> = clause.named_children(&mut inner).filter(|c| c.kind() == "block").collect();
                for block in blocks {
                    self.eval(block, scope);
                }
            } else {
                self.eval(clause, scope);
            }
            self.guard_depth -= usize::from(guarded);
        }
        self.branch_depth -= 1;
    }

    fn catches_compat_error(&self, clause: Node) -> bool {
        clause
            .child_by_field_name("value")
            .is_some_and(|value| self.names_compat_exception(value))
    }

    fn names_compat_exception(&self, node: Node) -> bool {
        match node.kind() {
            "identifier" => COMPAT_EXCEPTIONS.contains(&self.text(node)),
            "attribute" => node
                .child_by_field_name("attribute")
                .is_some_and(|a| COMPAT_EXCEPTIONS.contains(&self.text(a))),
            _ => {
                let mut cursor = node.walk();
                let found = node.named_children(&mut cursor).any(|c| self.names_compat_exception(c));
                found
            }
        }
    }

    fn with_statement(&mut self, node: Node<'t>, scope: usize) {
        let mut guarded = false;
        let mut targets = Vec::new();
        let mut items = Vec::new();
        collect_kind(node, "with_item", &mut items);
        for item in items {
            let Some(value) = item.child_by_field_name("value") else { continue };
            let (expression, target) = if value.kind() == "as_pattern" {
                let mut cursor = value.walk();
                let expression = value.named_children(&mut cursor).next();
                let target = value.child_by_field_name("alias").and_then(|a| a.named_child(0));
                (expression, target)
            } else {
                (Some(value), None)
            };
            if let Some(expression) = expression {
                guarded |= self.is_suppress_of_compat_error(expression, scope);
                self.eval(expression, scope);
            }
            targets.extend(target);
        }
        for target in targets {
            self.bind_target(target, None, scope);
        }
        self.guard_depth += usize::from(guarded);
        self.eval_field(node, "body", scope);
        self.guard_depth -= usize::from(guarded);
    }

    /// `with contextlib.suppress(AttributeError): ...`
    fn is_suppress_of_compat_error(&self, expression: Node, scope: usize) -> bool {
        if expression.kind() != "call" {
            return false;
        }
        let Some(function) = expression.child_by_field_name("function") else { return false };
        let named_suppress = match self.resolve(function, scope) {
            Some(Value::Path(p)) => p == "contextlib.suppress",
            _ => self.text(function).ends_with("suppress"),
        };
        named_suppress
            && expression
                .child_by_field_name("arguments")
                .is_some_and(|args| self.names_compat_exception(args))
    }

    /// An `if` (or conditional expression) whose condition asks whether an
    /// attribute exists or which version is installed marks compatibility code.
    fn is_version_guard(&self, node: Node) -> bool {
        let condition = match node.kind() {
            "if_statement" => node.child_by_field_name("condition"),
            _ => node.named_child(1),
        };
        condition.is_some_and(|c| self.mentions_version_check(c))
    }

    fn mentions_version_check(&self, node: Node) -> bool {
        match node.kind() {
            "call" => {
                let function = node.child_by_field_name("function").map(|f| self.text(f)).unwrap_or_default();
                let last = function.rsplit('.').next().unwrap_or_default();
                if matches!(last, "hasattr" | "Version" | "NumpyVersion" | "parse_version" | "parse") {
                    return true;
                }
            }
            "identifier" => {
                let name = self.text(node).to_ascii_lowercase();
                if name.contains("version") && !name.contains("version_info") {
                    return true;
                }
            }
            "attribute" if node.child_by_field_name("attribute").is_some_and(|a| self.text(a) == "__version__") => return true,
            _ => {}
        }
        let mut cursor = node.walk();
        let found = node.named_children(&mut cursor).any(|c| self.mentions_version_check(c));
        found
    }

    fn eval_call(&mut self, node: Node<'t>, scope: usize) -> Option<Value> {
        let callee = self.eval_field(node, "function", scope);
        let arguments = node.child_by_field_name("arguments");
        if let (Some(Value::Path(path)), Some(arguments)) = (&callee, arguments) {
            let shape = self.call_shape(arguments);
            self.report_conditional(node, path, &shape);
            let mut cursor = arguments.walk();
            let keywords: Vec<Node<'t>> =
                arguments.named_children(&mut cursor).filter(|a| a.kind() == "keyword_argument").collect();
            for keyword in keywords {
                if let Some(name) = keyword.child_by_field_name("name") {
                    self.report_keyword(name, path, self.text(name));
                }
            }
        }
        if let Some(arguments) = arguments {
            self.eval(arguments, scope);
        }
        match callee? {
            Value::Path(path) => self.catalog.return_type(&path).map(|t| Value::Instance(t.to_string())),
            Value::Instance(_) => None,
        }
    }

    fn call_shape(&self, arguments: Node<'t>) -> CallShape<'a> {
        let mut shape = CallShape { first_string: None, keywords: Vec::new(), has_keyword_splat: false };
        let mut cursor = arguments.walk();
        for (index, argument) in arguments.named_children(&mut cursor).enumerate() {
            match argument.kind() {
                "keyword_argument" => {
                    if let Some(name) = argument.child_by_field_name("name") {
                        shape.keywords.push(self.text(name));
                    }
                }
                "dictionary_splat" => shape.has_keyword_splat = true,
                "string" if index == 0 => shape.first_string = string_literal(self.text(argument)),
                _ => {}
            }
        }
        shape
    }

    /// Entries that apply to any reference of `path` (not keyword or
    /// call-shape entries).
    fn report_reference(&mut self, node: Node, path: &str) {
        self.report(node, path, |e| e.symbol.keyword.is_none() && e.argument.is_none() && e.unless_keyword.is_none());
    }

    /// Entries that apply to a call of `path` of a certain shape: a string
    /// first argument, or a missing keyword.
    fn report_conditional(&mut self, call: Node, path: &str, shape: &CallShape) {
        self.report(call, path, |e| {
            let conditional = e.symbol.keyword.is_none() && (e.argument.is_some() || e.unless_keyword.is_some());
            let argument_matches = e.argument.as_ref().is_none_or(|a| shape.first_string.as_ref() == Some(a));
            let keyword_missing = e
                .unless_keyword
                .as_ref()
                .is_none_or(|k| !shape.has_keyword_splat && !shape.keywords.contains(&k.as_str()));
            conditional && argument_matches && keyword_missing
        });
    }

    fn report_keyword(&mut self, name: Node, path: &str, keyword: &str) {
        self.report(name, path, |e| e.symbol.keyword.as_deref() == Some(keyword));
    }

    /// A finding at `node` for each entry of `path` that `applies` accepts,
    /// unless the code is guarded.
    fn report(&mut self, node: Node, path: &str, applies: impl Fn(&Entry) -> bool) {
        if self.guard_depth > 0 {
            return;
        }
        let catalog = self.catalog;
        for &index in catalog.entry_ids(path) {
            if applies(&catalog.entries()[index]) {
                self.push_finding(node, index);
            }
        }
    }

    fn push_finding(&mut self, node: Node, index: usize) {
        let entry = &self.catalog.entries()[index];
        let installed = self.versions.get(&entry.library);
        let version = installed.map(|i| &i.version);
        let Some(severity) = finding::severity_at(entry, version) else { return };
        let replacement = finding::applicable_replacement(entry, version);
        let message = finding::message(entry, installed, severity, replacement.as_deref());
        self.findings.push(Finding {
            start_byte: node.start_byte(),
            end_byte: node.end_byte(),
            entry: index,
            library: entry.library.clone(),
            symbol: entry.symbol.to_string(),
            kind: entry.kind,
            rule: entry.rule(),
            severity,
            deprecated_in: entry.deprecated_in.clone(),
            removed_in: entry.removed_in.clone(),
            installed: installed.cloned(),
            replacement,
            message,
            note: entry.note.clone(),
            link: entry.link.clone(),
        });
    }
}

fn collect_kind<'t>(node: Node<'t>, kind: &str, out: &mut Vec<Node<'t>>) {
    let mut cursor = node.walk();
    for child in node.named_children(&mut cursor) {
        if child.kind() == kind {
            out.push(child);
        } else if child.kind() == "with_clause" {
            collect_kind(child, kind, out);
        }
    }
}

/// A dotted name as written, without the white space Python allows in it.
fn dotted_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace() && *c != '\\').collect()
}

fn top_of(text: &str) -> &str {
    text.split('.').next().unwrap_or(text).trim()
}

/// The value of a plain string literal (no f-strings, no escapes needed).
fn string_literal(text: &str) -> Option<String> {
    let body = text.trim_start_matches(['r', 'R', 'u', 'U']);
    for quote in ["\"\"\"", "'''", "\"", "'"] {
        if let Some(inner) = body.strip_prefix(quote).and_then(|b| b.strip_suffix(quote)) {
            return (!inner.contains('\\')).then(|| inner.to_string());
        }
    }
    None
}
