//! The legacy code a model is given for a finding: the smallest enclosing
//! unit that makes sense (the statement, else the enclosing function or
//! class), with the imports it needs; the answer replaces exactly that range.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use tree_sitter::{Node, Tree};

use super::edit::Edit;
use super::syntax::{self, Imports, Names, Role};
use crate::analysis::Finding;

/// Statements that hold no other statement.
const SIMPLE_STATEMENTS: &[&str] = &[
    "expression_statement", "return_statement", "delete_statement", "raise_statement", "assert_statement",
    "pass_statement", "break_statement", "continue_statement", "global_statement", "nonlocal_statement",
    "import_statement", "import_from_statement", "future_import_statement", "print_statement", "exec_statement",
    "type_alias_statement",
];

/// Statements with a header and a body; a finding in the header makes the
/// whole statement the unit.
const COMPOUND_STATEMENTS: &[&str] =
    &["if_statement", "for_statement", "while_statement", "try_statement", "with_statement", "match_statement"];

const DEFINITIONS: &[&str] = &["function_definition", "class_definition"];

/// The code a model rewrites for one finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationUnit {
    /// Bytes of the file the answer replaces: whole lines from the start of
    /// the unit's first line (when only white space precedes it there) to the
    /// end of its last statement.
    pub range: Range<usize>,
    /// The unit's text with its first line's indentation removed from every
    /// line.
    pub code: String,
    /// The indentation removed from `code` (and put back on the answer).
    pub indent: String,
    /// Import statements elsewhere in the file that bind names the unit uses,
    /// in source order.
    pub imports: Vec<String>,
    /// The names whose values the flagged call is given (see
    /// [`passed_names`]), each with how often the unit reads it: a rewrite
    /// may restructure the call but must read each as often, or a value
    /// the code passed is lost.
    pub kept_reads: BTreeMap<String, usize>,
}

impl MigrationUnit {
    /// The edit that puts `answer` (code shaped like [`MigrationUnit::code`])
    /// in place of the unit.
    pub fn edit_for(&self, answer: &str) -> Edit {
        let answer = answer.trim_end_matches(['\n', '\r']);
        let newline = if self.code.contains("\r\n") { "\r\n" } else { "\n" };
        let mut out = String::with_capacity(answer.len() + self.indent.len() * 4);
        for (index, line) in answer.lines().enumerate() {
            if index > 0 {
                out.push_str(newline);
            }
            if !line.trim().is_empty() {
                out.push_str(&self.indent);
                out.push_str(line);
            }
        }
        Edit::new(self.range.clone(), out)
    }
}

/// The unit for `finding`: the smallest simple statement holding it; else
/// the smallest compound statement whose header holds it; else the
/// enclosing function or class definition (with its decorators).
pub fn select_range(tree: &Tree, source: &str, finding: &Finding, imports: &Imports) -> Option<MigrationUnit> {
    let root = tree.root_node();
    let node = root.descendant_for_byte_range(finding.start_byte, finding.end_byte)?;
    let unit = enclosing_unit(node)?;
    let start_node = match unit.parent() {
        Some(parent) if parent.kind() == "decorated_definition" && DEFINITIONS.contains(&unit.kind()) => parent,
        _ => unit,
    };
    let line_start = syntax::line_start(source, start_node.start_byte());
    let before = &source[line_start..start_node.start_byte()];
    let (start, indent) = if before.trim().is_empty() {
        (line_start, before.to_string())
    } else {
        (start_node.start_byte(), String::new())
    };
    let range = start..start_node.end_byte();
    let code = dedent(&source[range.clone()], &indent);
    let unit_imports = needed_imports(root, source, &range, imports);
    let unit_names = Names::read_within(root, source, &range);
    let kept_reads = passed_names(root, source, finding, imports)
        .into_iter()
        .map(|name| {
            let reads = unit_names.reads(&name);
            (name, reads)
        })
        .collect();
    Some(MigrationUnit { range, code, indent, imports: unit_imports, kept_reads })
}

/// The names a flagged call reads: in its arguments, and in the object a
/// flagged method is called on (`df` of `df.append(row)`). Left out are the
/// names imports bind (a rewrite may reach a module another way), names
/// bound inside the call (a lambda's parameters), and the value of a
/// flagged keyword (a removed parameter may go with its value). Empty when
/// the finding is not a call (a bare reference, an import).
fn passed_names(root: Node, source: &str, finding: &Finding, imports: &Imports) -> BTreeSet<String> {
    let Some((call, flagged_keyword)) = flagged_call(root, finding) else { return BTreeSet::new() };
    let left_out = flagged_keyword.and_then(|keyword| keyword.child_by_field_name("value")).map(|value| value.byte_range());
    let names = Names::read_within(call, source, &call.byte_range());
    names
        .iter()
        .filter(|(name, sites)| {
            let read = sites.iter().any(|site| {
                site.role == Role::Use && !site.in_import && !left_out.as_ref().is_some_and(|out| out.start <= site.range.start && site.range.end <= out.end)
            });
            let bound_inside = sites.iter().any(|site| site.role == Role::Bind);
            read && !bound_inside && !imports.bindings.iter().any(|binding| binding.name == *name)
        })
        .map(|(name, _)| name.to_string())
        .collect()
}

/// The call a finding flags, and the keyword argument when the finding is
/// one: the finding is the call itself (a call-shape entry), its callee, or
/// the name of one of its keyword arguments.
fn flagged_call<'t>(root: Node<'t>, finding: &Finding) -> Option<(Node<'t>, Option<Node<'t>>)> {
    let node = root.descendant_for_byte_range(finding.start_byte, finding.end_byte)?;
    if node.byte_range() != (finding.start_byte..finding.end_byte) {
        return None;
    }
    if node.kind() == "call" {
        return Some((node, None));
    }
    let parent = node.parent()?;
    match parent.kind() {
        "call" if syntax::is_field(parent, "function", node) => Some((parent, None)),
        "keyword_argument" if syntax::is_field(parent, "name", node) => {
            let call = parent.parent().filter(|list| list.kind() == "argument_list")?.parent()?;
            (call.kind() == "call").then_some((call, Some(parent)))
        }
        _ => None,
    }
}

fn enclosing_unit(node: Node) -> Option<Node> {
    // Every statement of a body is a statement: going up from a finding in
    // a body meets that statement before the body's owner.
    let mut current = Some(node);
    while let Some(n) = current {
        let kind = n.kind();
        if SIMPLE_STATEMENTS.contains(&kind) || COMPOUND_STATEMENTS.contains(&kind) || DEFINITIONS.contains(&kind) {
            return Some(n);
        }
        if kind == "decorated_definition" {
            return n.child_by_field_name("definition");
        }
        current = n.parent();
    }
    None
}

fn dedent(code: &str, indent: &str) -> String {
    if indent.is_empty() {
        return code.to_string();
    }
    let mut out = String::with_capacity(code.len());
    for piece in code.split_inclusive('\n') {
        out.push_str(piece.strip_prefix(indent).unwrap_or(piece));
    }
    out
}

/// Import statements outside `range` that bind a name used inside it.
fn needed_imports(root: Node, source: &str, range: &Range<usize>, imports: &Imports) -> Vec<String> {
    let mut used: Vec<&str> = Vec::new();
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if node.end_byte() <= range.start || node.start_byte() >= range.end {
            continue;
        }
        if node.kind() == "identifier" {
            used.push(syntax::text(source, node));
            continue;
        }
        let mut cursor = node.walk();
        stack.extend(node.named_children(&mut cursor));
    }
    let mut statements: Vec<Range<usize>> = imports
        .bindings
        .iter()
        .filter(|b| used.contains(&b.name.as_str()))
        .filter(|b| b.statement.end <= range.start || b.statement.start >= range.end)
        .map(|b| b.statement.clone())
        .collect();
    statements.sort_by_key(|r| r.start);
    statements.dedup();
    statements.into_iter().map(|r| source[r].to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{new_parser, Analyzer};
    use crate::migrate::tests::{catalog, versions};

    /// (unit code, indent, imports) for the first finding of `symbol`.
    fn unit(source: &str, symbol: &str) -> MigrationUnit {
        let catalog = catalog();
        let analyzer = Analyzer::new(&catalog);
        let mut parser = new_parser();
        let findings = analyzer.analyze(&mut parser, source, &versions());
        let finding = findings.iter().find(|f| f.symbol == symbol).unwrap_or_else(|| panic!("no {symbol} in {findings:?}"));
        let tree = syntax::parse(&mut parser, source).unwrap();
        let imports = Imports::read(tree.root_node(), source, &catalog);
        select_range(&tree, source, finding, &imports).unwrap()
    }

    #[test]
    fn statement_inside_a_function() {
        let source = "import pandas as pd\nimport os\n\ndef f(path):\n    df = pd.read_csv(path)\n    out = df.append(df)\n    return out\n";
        let u = unit(source, "pandas.DataFrame.append");
        assert_eq!(u.code, "out = df.append(df)");
        assert_eq!(u.indent, "    ");
        assert_eq!(&source[u.range.clone()], "    out = df.append(df)");
        assert_eq!(u.imports, Vec::<String>::new(), "`df` is local, nothing imported is used");
        let edit = u.edit_for("out = pd.concat([df, df])\n");
        assert_eq!(edit.replacement, "    out = pd.concat([df, df])");
    }

    #[test]
    fn multi_line_statement() {
        let source = "import numpy as np\n\ndef g(a):\n    x = np.histogram(\n        a,\n        normed=True,\n    )\n    return x\n";
        let u = unit(source, "numpy.histogram(normed=)");
        assert_eq!(u.code, "x = np.histogram(\n    a,\n    normed=True,\n)");
        assert_eq!(u.imports, ["import numpy as np"]);
        let edit = u.edit_for("x = np.histogram(\n    a,\n    density=True,\n)");
        assert_eq!(edit.replacement, "    x = np.histogram(\n        a,\n        density=True,\n    )");
    }

    #[test]
    fn decorator() {
        let source = "import numpy as np\n\n@np.vectorize(otypes=[np.float_])\ndef h(x):\n    return x\n\ny = 1\n";
        let u = unit(source, "numpy.float_");
        assert_eq!(u.code, "@np.vectorize(otypes=[np.float_])\ndef h(x):\n    return x");
        assert_eq!(u.indent, "");
        assert_eq!(u.imports, ["import numpy as np"]);
    }

    #[test]
    fn finding_inside_a_class_method() {
        let source = "from numpy import float_\n\nclass A:\n    def m(self, v):\n        if v:\n            return float_(v)\n        return 0\n";
        // The import is a finding too: its unit is the import statement.
        assert_eq!(unit(source, "numpy.float_").code, "from numpy import float_");
        let catalog = catalog();
        let analyzer = Analyzer::new(&catalog);
        let mut parser = new_parser();
        let findings = analyzer.analyze(&mut parser, source, &versions());
        let use_site = findings.iter().find(|f| source[f.start_byte..].starts_with("float_(v)")).unwrap();
        let tree = syntax::parse(&mut parser, source).unwrap();
        let imports = Imports::read(tree.root_node(), source, &catalog);
        let u = select_range(&tree, source, use_site, &imports).unwrap();
        assert_eq!(u.code, "return float_(v)");
        assert_eq!(u.indent, "            ");
        assert_eq!(u.imports, ["from numpy import float_"]);
    }

    #[test]
    fn header_of_a_compound_statement() {
        let source = "import numpy as np\nfor x in np.product([1, 2]):\n    print(x)\nz = 0\n";
        let u = unit(source, "numpy.product");
        assert_eq!(u.code, "for x in np.product([1, 2]):\n    print(x)");
    }

    fn kept(unit: &MigrationUnit) -> Vec<(&str, usize)> {
        unit.kept_reads.iter().map(|(name, &reads)| (name.as_str(), reads)).collect()
    }

    #[test]
    fn a_flagged_call_keeps_what_it_is_given() {
        // Arguments, at any depth; the module alias may go.
        let source = "import numpy as np\n\ndef f(a, b):\n    return np.in1d(a, b[0] + b.size) | a.all()\n";
        assert_eq!(kept(&unit(source, "numpy.in1d")), [("a", 2), ("b", 2)]);
        // The object a method is called on; keyword names and attributes are no reads.
        let source = "import pandas as pd\ndf = pd.read_csv('x')\nout = df.append(row, sort=order.sort)\n";
        assert_eq!(kept(&unit(source, "pandas.DataFrame.append")), [("df", 1), ("order", 1), ("row", 1)]);
        // A lambda's parameter is the call's own; what the lambda reads is not.
        let source = "import numpy as np\nm = np.in1d(list(map(lambda v: v + k, a)), b)\n";
        assert_eq!(kept(&unit(source, "numpy.in1d")), [("a", 1), ("b", 1), ("k", 1), ("list", 1), ("map", 1)]);
    }

    #[test]
    fn a_flagged_keyword_may_go_with_its_value() {
        let source = "import numpy as np\nh = np.histogram(a, normed=flag, bins=n)\n";
        assert_eq!(kept(&unit(source, "numpy.histogram(normed=)")), [("a", 1), ("n", 1)]);
    }

    #[test]
    fn what_is_not_a_call_keeps_nothing() {
        let source = "import numpy as np\nt = np.float_\nu = f(np.float_, a)\n";
        assert!(unit(source, "numpy.float_").kept_reads.is_empty());
        let source = "from numpy import float_\n";
        assert!(unit(source, "numpy.float_").kept_reads.is_empty());
    }

    #[test]
    fn top_level_expression() {
        let source = "import numpy as np\nnp.float_\nprint(1); np.product([1])\n";
        let u = unit(source, "numpy.float_");
        assert_eq!(u.code, "np.float_");
        assert_eq!(u.range, 19..28);
        let u = unit(source, "numpy.product");
        assert_eq!(u.code, "np.product([1])", "a statement after `;` alone");
        assert_eq!(u.indent, "");
    }
}
