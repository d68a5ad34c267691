//! Name bindings per Python scope, as far as detection needs them.

use std::collections::HashMap;

/// What a name evidently refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A module or an object reached through a module: a canonical dotted path.
    Path(String),
    /// An instance of the class at this canonical dotted path.
    Instance(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    Module,
    Function,
    Class,
}

#[derive(Debug)]
pub struct Scope {
    pub kind: ScopeKind,
    /// `None` marks a name bound to something detection knows nothing about,
    /// which shadows any outer binding.
    bindings: HashMap<String, Option<Value>>,
    /// Modules star-imported here (`from numpy import *`).
    pub star_imports: Vec<String>,
    pub parent: Option<usize>,
}

/// All scopes of one file; a scope refers to its parent by index.
#[derive(Debug, Default)]
pub struct Scopes {
    scopes: Vec<Scope>,
}

impl Scopes {
    pub fn push(&mut self, kind: ScopeKind, parent: Option<usize>) -> usize {
        self.scopes.push(Scope { kind, bindings: HashMap::new(), star_imports: Vec::new(), parent });
        self.scopes.len() - 1
    }

    pub fn get_mut(&mut self, id: usize) -> &mut Scope {
        &mut self.scopes[id]
    }

    /// Binds `name` in scope `id`. Inside a conditional branch an unknown
    /// value does not replace a known one: `try: import numpy as np /
    /// except ImportError: np = None` leaves `np` meaning NumPy.
    pub fn bind(&mut self, id: usize, name: &str, value: Option<Value>, in_branch: bool) {
        let bindings = &mut self.scopes[id].bindings;
        if value.is_none() && in_branch && matches!(bindings.get(name), Some(Some(_))) {
            return;
        }
        bindings.insert(name.to_string(), value);
    }

    /// Resolves `name` from scope `id` outwards, skipping enclosing class
    /// scopes as Python does. `star_symbol` says whether a star-imported
    /// module provides the name.
    pub fn lookup(&self, id: usize, name: &str, star_symbol: impl Fn(&str) -> bool) -> Option<Value> {
        let mut current = Some(id);
        let mut first = true;
        while let Some(scope_id) = current {
            let scope = &self.scopes[scope_id];
            if first || scope.kind != ScopeKind::Class {
                if let Some(bound) = scope.bindings.get(name) {
                    return bound.clone();
                }
                for module in &scope.star_imports {
                    let path = format!("{module}.{name}");
                    if star_symbol(&path) {
                        return Some(Value::Path(path));
                    }
                }
            }
            first = false;
            current = scope.parent;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_scopes_are_skipped_from_nested_functions() {
        let mut scopes = Scopes::default();
        let module = scopes.push(ScopeKind::Module, None);
        let class = scopes.push(ScopeKind::Class, Some(module));
        let method = scopes.push(ScopeKind::Function, Some(class));
        scopes.bind(module, "np", Some(Value::Path("numpy".into())), false);
        scopes.bind(class, "np", None, false);
        assert_eq!(scopes.lookup(class, "np", |_| false), None);
        assert_eq!(scopes.lookup(method, "np", |_| false), Some(Value::Path("numpy".into())));
    }

    #[test]
    fn unknown_in_branch_keeps_known_binding() {
        let mut scopes = Scopes::default();
        let module = scopes.push(ScopeKind::Module, None);
        scopes.bind(module, "np", Some(Value::Path("numpy".into())), false);
        scopes.bind(module, "np", None, true);
        assert!(scopes.lookup(module, "np", |_| false).is_some());
        scopes.bind(module, "np", None, false);
        assert!(scopes.lookup(module, "np", |_| false).is_none());
    }

    #[test]
    fn star_import_provides_known_symbols_only() {
        let mut scopes = Scopes::default();
        let module = scopes.push(ScopeKind::Module, None);
        scopes.get_mut(module).star_imports.push("numpy".into());
        let known = |p: &str| p == "numpy.float_";
        assert_eq!(scopes.lookup(module, "float_", known), Some(Value::Path("numpy.float_".into())));
        assert_eq!(scopes.lookup(module, "print", known), None);
    }
}
