//! What the rewrites need to know about a file's syntax tree: its imports,
//! where a name is used or bound, where a new import goes, and whether the
//! text parses.

use std::collections::HashMap;
use std::ops::Range;

use tree_sitter::{Node, Parser, Tree};

use crate::knowledge::Catalog;

/// Parses the whole of `source` (the analysis may have left the parser
/// limited to some ranges).
pub fn parse(parser: &mut Parser, source: &str) -> Option<Tree> {
    parser.set_included_ranges(&[]).expect("the whole text is a valid range");
    parser.parse(source, None)
}

/// ERROR and MISSING nodes of a tree, as (line, 1-based) of the first and the count.
pub fn syntax_errors(tree: &Tree) -> (usize, Option<usize>) {
    let root = tree.root_node();
    if !root.has_error() {
        return (0, None);
    }
    let mut count = 0;
    let mut first = None;
    let mut cursor = root.walk();
    let mut descend = true;
    loop {
        let node = cursor.node();
        if descend {
            if node.is_error() || node.is_missing() {
                count += 1;
                first.get_or_insert(node.start_position().row + 1);
            }
            if node.has_error() && cursor.goto_first_child() {
                continue;
            }
        }
        if cursor.goto_next_sibling() {
            descend = true;
            continue;
        }
        if !cursor.goto_parent() {
            break;
        }
        descend = false;
    }
    (count, first)
}

pub fn text<'s>(source: &'s str, node: Node) -> &'s str {
    &source[node.byte_range()]
}

/// A dotted name as written, without the white space and line
/// continuations Python allows in it.
pub fn dotted(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace() && *c != '\\').collect()
}

/// The dotted parent of a path (`a.b` of `a.b.c`), or `None` for a single name.
pub fn parent(path: &str) -> Option<&str> {
    path.rsplit_once('.').map(|(p, _)| p)
}

/// The last name of a dotted path.
pub fn last(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

pub fn top(path: &str) -> &str {
    path.split('.').next().unwrap_or(path)
}

/// Whether `prefix` is `path` or a dotted prefix of it.
pub fn is_prefix(prefix: &str, path: &str) -> bool {
    path == prefix || (path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'.'))
}

/// How a name is bound by an import statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportForm {
    /// `import a.b` (binds `a`, refers to `a`) or `import a.b as x`.
    Module { aliased: bool },
    /// `from m import n` or `from m import n as x`.
    From { module: String, aliased: bool },
}

/// A name bound by an import statement.
#[derive(Debug, Clone)]
pub struct ImportBinding {
    /// The name the import binds in its scope.
    pub name: String,
    /// The canonical dotted path the name refers to.
    pub path: String,
    pub form: ImportForm,
    /// The whole statement.
    pub statement: Range<usize>,
    pub top_level: bool,
}

/// Every import of a file, at any depth, and where each name is used or bound.
#[derive(Debug, Default)]
pub struct Imports {
    pub bindings: Vec<ImportBinding>,
    /// Canonical modules star-imported (`from numpy import *`).
    pub stars: Vec<String>,
    pub names: Names,
}

impl Imports {
    pub fn read(root: Node, source: &str, catalog: &Catalog) -> Imports {
        let mut imports = Imports { names: Names::read(root, source), ..Imports::default() };
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            match node.kind() {
                "import_statement" => imports.add_import(node, source, catalog),
                "import_from_statement" => imports.add_import_from(node, source, catalog),
                _ => {
                    let mut cursor = node.walk();
                    stack.extend(node.named_children(&mut cursor));
                }
            }
        }
        imports.bindings.sort_by_key(|b| b.statement.start);
        imports
    }

    fn add_import(&mut self, node: Node, source: &str, catalog: &Catalog) {
        let top_level = is_top_level(node);
        let mut cursor = node.walk();
        for name in node.children_by_field_name("name", &mut cursor) {
            let (dotted_node, alias) = match name.kind() {
                "aliased_import" => (name.child_by_field_name("name"), name.child_by_field_name("alias")),
                _ => (Some(name), None),
            };
            let Some(dotted_node) = dotted_node else { continue };
            let path = dotted(text(source, dotted_node));
            let (bound, path) = match alias {
                Some(alias) => (text(source, alias).to_string(), catalog.canonical(&path)),
                None => (top(&path).to_string(), top(&path).to_string()),
            };
            self.bindings.push(ImportBinding {
                name: bound,
                path,
                form: ImportForm::Module { aliased: alias.is_some() },
                statement: node.byte_range(),
                top_level,
            });
        }
    }

    fn add_import_from(&mut self, node: Node, source: &str, catalog: &Catalog) {
        let Some(module) = node.child_by_field_name("module_name").filter(|m| m.kind() == "dotted_name") else {
            return; // relative imports never name a cataloged library
        };
        let module = catalog.canonical(&dotted(text(source, module)));
        let top_level = is_top_level(node);
        let mut cursor = node.walk();
        if node.named_children(&mut cursor).any(|c| c.kind() == "wildcard_import") {
            self.stars.push(module);
            return;
        }
        let mut cursor = node.walk();
        for name in node.children_by_field_name("name", &mut cursor) {
            let (imported, alias) = match name.kind() {
                "aliased_import" => (name.child_by_field_name("name"), name.child_by_field_name("alias")),
                _ => (Some(name), None),
            };
            let Some(imported) = imported else { continue };
            let imported = dotted(text(source, imported));
            let bound = alias.map_or(imported.clone(), |a| text(source, a).to_string());
            self.bindings.push(ImportBinding {
                name: bound,
                path: catalog.canonical(&format!("{module}.{imported}")),
                form: ImportForm::From { module: module.clone(), aliased: alias.is_some() },
                statement: node.byte_range(),
                top_level,
            });
        }
    }

    /// The path `name` is bound to when every import that binds it agrees
    /// and nothing but imports binds it.
    pub fn unique_path(&self, name: &str) -> Option<&str> {
        let mut found = self.bindings.iter().filter(|b| b.name == name);
        let first = found.next()?;
        if found.any(|b| b.path != first.path) {
            return None;
        }
        let other_bindings = self.names.sites(name).iter().any(|site| site.role == Role::Bind && !site.in_import);
        (!other_bindings).then_some(first.path.as_str())
    }
}

fn is_top_level(node: Node) -> bool {
    node.parent().is_some_and(|p| p.kind() == "module")
}

/// What an identifier does where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Use,
    Bind,
}

/// One occurrence of a name as a name (not an attribute or keyword).
#[derive(Debug, Clone)]
pub struct NameSite {
    pub range: Range<usize>,
    pub role: Role,
    /// Part of an import statement.
    pub in_import: bool,
}

/// Where every name of a file is used or bound as a name (not as an
/// attribute or a keyword).
#[derive(Debug, Default)]
pub struct Names {
    sites: HashMap<String, Vec<NameSite>>,
}

impl Names {
    pub fn read(root: Node, source: &str) -> Names {
        Names::read_within(root, source, &root.byte_range())
    }

    /// The names of the identifiers that lie wholly inside `range`.
    pub fn read_within(root: Node, source: &str, range: &Range<usize>) -> Names {
        let mut sites: HashMap<String, Vec<NameSite>> = HashMap::new();
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            if node.end_byte() <= range.start || node.start_byte() >= range.end {
                continue;
            }
            if node.kind() == "identifier" {
                if node.start_byte() < range.start || node.end_byte() > range.end {
                    continue;
                }
                if let Some((role, in_import)) = role_of(node) {
                    let site = NameSite { range: node.byte_range(), role, in_import };
                    sites.entry(text(source, node).to_string()).or_default().push(site);
                }
                continue;
            }
            let mut cursor = node.walk();
            stack.extend(node.named_children(&mut cursor));
        }
        for list in sites.values_mut() {
            list.sort_by_key(|s| s.range.start);
        }
        Names { sites }
    }

    /// Every place `name` is used or bound, in source order.
    pub fn sites(&self, name: &str) -> &[NameSite] {
        self.sites.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every name with its sites, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[NameSite])> {
        self.sites.iter().map(|(name, sites)| (name.as_str(), sites.as_slice()))
    }

    /// How often `name` is read (used outside an import statement).
    pub fn reads(&self, name: &str) -> usize {
        self.sites(name).iter().filter(|s| s.role == Role::Use && !s.in_import).count()
    }

    /// Whether `name` appears as a name anywhere in the file.
    pub fn is_used(&self, name: &str) -> bool {
        !self.sites(name).is_empty()
    }

    /// Whether anything in the file binds `name` (an import, an assignment,
    /// a definition, a parameter, ...).
    pub fn is_bound(&self, name: &str) -> bool {
        self.sites(name).iter().any(|s| s.role == Role::Bind)
    }
}

pub fn is_field(parent: Node, field: &str, child: Node) -> bool {
    let mut cursor = parent.walk();
    let found = parent.children_by_field_name(field, &mut cursor).any(|c| c.id() == child.id());
    found
}

/// The role of an identifier, or `None` where it is not a name (an
/// attribute, a keyword, a part of a dotted module name).
fn role_of(node: Node) -> Option<(Role, bool)> {
    let Some(parent) = node.parent() else { return Some((Role::Use, false)) };
    match parent.kind() {
        "attribute" if is_field(parent, "attribute", node) => None,
        "keyword_argument" if is_field(parent, "name", node) => None,
        "function_definition" | "class_definition" if is_field(parent, "name", node) => Some((Role::Bind, false)),
        "parameters" | "lambda_parameters" | "global_statement" | "nonlocal_statement" => Some((Role::Bind, false)),
        "default_parameter" | "typed_default_parameter" if is_field(parent, "name", node) => Some((Role::Bind, false)),
        "typed_parameter" => {
            let first = parent.named_child(0).is_some_and(|c| c.id() == node.id());
            first.then_some((Role::Bind, false)).or(Some((Role::Use, false)))
        }
        "aliased_import" if is_field(parent, "alias", node) => Some((Role::Bind, true)),
        "dotted_name" => {
            let grand = parent.parent()?;
            let first = parent.named_child(0).is_some_and(|c| c.id() == node.id());
            match grand.kind() {
                "import_statement" if first => Some((Role::Bind, true)),
                "import_from_statement" if is_field(grand, "name", parent) => Some((Role::Bind, true)),
                // Module names and aliased names bind nothing.
                "import_statement" | "import_from_statement" | "aliased_import" | "future_import_statement" => None,
                _ => Some((Role::Use, false)),
            }
        }
        _ => Some((if is_target(node) { Role::Bind } else { Role::Use }, false)),
    }
}

/// Whether an identifier is (part of) an assignment, loop, `with`/`except`
/// or walrus target.
fn is_target(node: Node) -> bool {
    let mut child = node;
    let mut parent = node.parent();
    while let Some(p) = parent {
        match p.kind() {
            "parameters" | "lambda_parameters" => return true,
            "pattern_list" | "tuple_pattern" | "list_pattern" | "list_splat_pattern" | "dictionary_splat_pattern"
            | "tuple" | "list" | "parenthesized_expression" | "as_pattern_target" => {
                if p.kind() == "as_pattern_target" {
                    return true;
                }
                child = p;
                parent = p.parent();
            }
            "assignment" | "augmented_assignment" | "for_statement" | "for_in_clause" => {
                return is_field(p, "left", child);
            }
            "named_expression" => return is_field(p, "name", child),
            "except_clause" | "as_pattern" => return is_field(p, "alias", child),
            _ => return false,
        }
    }
    false
}

/// The line ending the file uses.
pub fn newline(source: &str) -> &'static str {
    match source.find('\n') {
        Some(i) if i > 0 && source.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

/// The start of the line holding `offset`.
pub fn line_start(source: &str, offset: usize) -> usize {
    source[..offset].rfind('\n').map_or(0, |i| i + 1)
}

/// The white space before the first character of the line holding `offset`.
pub fn indentation(source: &str, offset: usize) -> &str {
    let start = line_start(source, offset);
    let line = &source[start..];
    let end = line.find(|c: char| c != ' ' && c != '\t').unwrap_or(line.len());
    &line[..end]
}

/// Where a new top-level import goes, and the text that places a statement
/// there: after the leading docstring, `__future__` imports and imports.
pub fn import_insertion(root: Node, source: &str, statement: &str) -> (usize, String) {
    let nl = newline(source);
    let mut after: Option<usize> = None;
    let mut first_statement: Option<usize> = None;
    let mut seen_statement = false;
    let mut cursor = root.walk();
    for child in root.named_children(&mut cursor) {
        let docstring = child.kind() == "expression_statement"
            && child.named_child_count() == 1
            && child.named_child(0).is_some_and(|c| c.kind() == "string");
        match child.kind() {
            "comment" => continue,
            "import_statement" | "import_from_statement" | "future_import_statement" => after = Some(child.end_byte()),
            _ if docstring && !seen_statement => after = Some(child.end_byte()),
            _ => {
                first_statement = Some(child.start_byte());
                break;
            }
        }
        seen_statement = true;
    }
    match (after, first_statement) {
        (Some(end), _) => (end, format!("{nl}{statement}")),
        (None, Some(start)) => (line_start(source, start), format!("{statement}{nl}")),
        (None, None) => {
            if source.is_empty() || source.ends_with('\n') {
                (source.len(), format!("{statement}{nl}"))
            } else {
                (source.len(), format!("{nl}{statement}{nl}"))
            }
        }
    }
}

/// The smallest named node that spans exactly `range`, grown through
/// parents of the same span whose kind is in `through`.
pub fn node_at<'t>(root: Node<'t>, range: &Range<usize>, through: &[&str]) -> Option<Node<'t>> {
    let mut node = root.descendant_for_byte_range(range.start, range.end)?;
    if node.byte_range() != *range {
        return None;
    }
    while let Some(parent) = node.parent() {
        if parent.byte_range() == *range && through.contains(&parent.kind()) {
            node = parent;
        } else {
            break;
        }
    }
    Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::new_parser;

    fn tree(source: &str) -> Tree {
        parse(&mut new_parser(), source).unwrap()
    }

    #[test]
    fn imports_and_name_roles() {
        let source = "import numpy as np\nimport os.path\nfrom numpy import float_ as f, int8\nfrom scipy import *\n\
                      def g(a, b=1, *c, d: int = 2, **e):\n    x, (y, z) = a\n    for i in b: pass\n    return f(np.x)\n";
        let tree = tree(source);
        let root = tree.root_node();
        let imports = Imports::read(root, source, &Catalog::default());
        let names: Vec<(&str, &str)> = imports.bindings.iter().map(|b| (b.name.as_str(), b.path.as_str())).collect();
        assert_eq!(names, [("np", "numpy"), ("os", "os"), ("f", "numpy.float_"), ("int8", "numpy.int8")]);
        assert_eq!(imports.stars, ["scipy"]);
        assert_eq!(imports.unique_path("np"), Some("numpy"));
        let names = &imports.names;
        for bound in ["a", "b", "c", "d", "e", "x", "y", "z", "i", "g", "f", "np", "os", "int8"] {
            assert!(names.is_bound(bound), "{bound}");
        }
        // `float_` is only an imported name under an alias, `path` a module part.
        assert!(!names.is_used("float_"));
        assert!(!names.is_used("path"));
        let f_sites = names.sites("f");
        assert_eq!(f_sites.iter().map(|s| s.role).collect::<Vec<_>>(), [Role::Bind, Role::Use]);
        assert!(!names.is_bound("int"), "an annotation uses `int`");
    }

    #[test]
    fn insertion_points() {
        let t = |source: &str| {
            let tree = tree(source);
            let (at, text) = import_insertion(tree.root_node(), source, "import math");
            format!("{}{}{}", &source[..at], text, &source[at..])
        };
        assert_eq!(t("\"\"\"Doc.\"\"\"\nimport os\n\nx = 1\n"), "\"\"\"Doc.\"\"\"\nimport os\nimport math\n\nx = 1\n");
        assert_eq!(t("\"\"\"Doc.\"\"\"\n\nx = 1\n"), "\"\"\"Doc.\"\"\"\nimport math\n\nx = 1\n");
        assert_eq!(t("#!/usr/bin/env python\nx = 1\n"), "#!/usr/bin/env python\nimport math\nx = 1\n");
        assert_eq!(t("from __future__ import annotations\nx = 1\n"), "from __future__ import annotations\nimport math\nx = 1\n");
        assert_eq!(t(""), "import math\n");
        assert_eq!(t("x = 1\r\nimport os\r\n"), "import math\r\nx = 1\r\nimport os\r\n");
    }

    #[test]
    fn syntax_error_count() {
        assert!(syntax_errors(&tree("x = (1,\n")).0 > 0);
        assert_eq!(syntax_errors(&tree("x = 1\n")), (0, None));
    }
}
