//! Public names: where a definition can be reached from, by following the
//! re-exports of the scanned modules (`from .mod import name`, `from .mod
//! import *` honouring a literal `__all__`, `from . import mod`), and which of
//! those paths a user writes: the shortest public one.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use super::scan::{AllNames, Binding, FileFacts};

/// A definition: the module that defines it and its top-level name there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct DefKey {
    pub module: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Resolved {
    Def(DefKey),
    Module(String),
}

#[derive(Default)]
struct ModuleFacts {
    is_package: bool,
    bindings: Vec<Binding>,
    defs: HashSet<String>,
    all: AllNames,
}

/// The re-export graph of the scanned modules.
pub(crate) struct Names {
    modules: HashMap<String, ModuleFacts>,
    namespaces: HashMap<String, Rc<HashMap<String, Resolved>>>,
    best: HashMap<DefKey, String>,
    /// `@set_module("numpy")`: where the library itself says a definition lives.
    declared: HashMap<DefKey, String>,
}

pub(crate) fn is_public(path: &str) -> bool {
    path.split('.').all(|part| !part.starts_with('_') || (part.starts_with("__") && part.ends_with("__")))
}

/// Orders candidate paths: public first, then fewest components, then
/// shortest, then alphabetical.
fn rank(path: &str) -> (bool, usize, usize, String) {
    (!is_public(path), path.split('.').count(), path.len(), path.to_string())
}

impl Names {
    /// Builds the graph from every scanned file; a module's `.py` and `.pyi`
    /// are merged.
    pub(crate) fn new<'a>(files: impl IntoIterator<Item = (&'a str, bool, &'a FileFacts)>) -> Names {
        let mut modules: HashMap<String, ModuleFacts> = HashMap::new();
        let mut declared = HashMap::new();
        for (module, is_package, facts) in files {
            for (name, public) in &facts.set_module {
                if is_public(public) && public.split('.').next() == module.split('.').next() {
                    declared
                        .insert(DefKey { module: module.to_string(), name: name.clone() }, format!("{public}.{name}"));
                }
            }
            let m = modules.entry(module.to_string()).or_default();
            m.is_package |= is_package;
            m.bindings.extend(facts.bindings.iter().cloned());
            m.defs.extend(facts.defs.iter().cloned());
            match (&m.all, &facts.all) {
                (_, AllNames::Absent) => {}
                (AllNames::Literal(_), AllNames::Unknown) => {}
                (AllNames::Literal(old), AllNames::Literal(new)) => {
                    let mut merged = old.clone();
                    merged.extend(new.iter().cloned());
                    m.all = AllNames::Literal(merged);
                }
                (_, other) => m.all = other.clone(),
            }
        }
        let mut names = Names { modules, namespaces: HashMap::new(), best: HashMap::new(), declared };
        let all_modules: Vec<String> = {
            let mut v: Vec<String> = names.modules.keys().cloned().collect();
            v.sort();
            v
        };
        names.resolve_namespaces(&all_modules);
        // Every package `__init__` that re-exports a definition of its own
        // distribution (same top-level module) offers a path.
        let mut best: HashMap<DefKey, String> = HashMap::new();
        let mut offer = |key: &DefKey, path: String| {
            let better = match best.get(key) {
                Some(current) => rank(&path) < rank(current),
                None => true,
            };
            if better {
                best.insert(key.clone(), path);
            }
        };
        for m in &all_modules {
            // A package, or a public module re-exporting a private one's
            // definitions (`numpy/lib/user_array.py` for `_user_array_impl`).
            let is_package = names.modules.get(m).is_some_and(|f| f.is_package);
            let top = m.split('.').next().unwrap_or(m);
            if let Some(ns) = names.namespaces.get(m) {
                for (name, resolved) in ns.iter() {
                    if let Resolved::Def(key) = resolved {
                        let same_distribution = key.module.split('.').next() == Some(top);
                        let shim = is_public(m) && !is_public(&key.module);
                        if same_distribution && (is_package || shim) {
                            offer(key, format!("{m}.{name}"));
                        }
                    }
                }
            }
        }
        names.best = best;
        names
    }

    pub(crate) fn has_module(&self, module: &str) -> bool {
        self.modules.contains_key(module)
    }

    /// Whether a package `__init__` re-exports the definition under a public path.
    pub(crate) fn is_exported(&self, module: &str, name: &str) -> bool {
        let key = DefKey { module: module.to_string(), name: name.to_string() };
        self.declared.contains_key(&key) || self.best.get(&key).is_some_and(|p| is_public(p))
    }

    /// Every module's namespace, to a fixpoint: own definitions first
    /// (they win over imports), then imports and star imports applied until
    /// nothing changes, so import cycles (common in large packages) resolve
    /// as far as the code allows.
    fn resolve_namespaces(&mut self, all_modules: &[String]) {
        let mut spaces: HashMap<String, HashMap<String, Resolved>> = HashMap::new();
        for m in all_modules {
            let facts = &self.modules[m];
            let own = facts
                .defs
                .iter()
                .map(|d| (d.clone(), Resolved::Def(DefKey { module: m.clone(), name: d.clone() })))
                .collect();
            spaces.insert(m.clone(), own);
        }
        // Modules are resolved in dependency order (Tarjan's strongly
        // connected components come out sources first); the modules of an
        // import cycle are iterated together to a fixpoint.
        let index: HashMap<&str, usize> = all_modules.iter().enumerate().map(|(i, m)| (m.as_str(), i)).collect();
        let edges: Vec<Vec<usize>> = all_modules
            .iter()
            .map(|m| {
                let mut out: Vec<usize> = self.modules[m]
                    .bindings
                    .iter()
                    .filter_map(|b| match b {
                        Binding::Star { module } | Binding::From { module, .. } => index.get(module.as_str()).copied(),
                        Binding::Module { .. } => None,
                    })
                    .collect();
                out.sort_unstable();
                out.dedup();
                out
            })
            .collect();
        for component in strongly_connected(&edges) {
            for _round in 0..20 {
                let mut changed = false;
                for &i in &component {
                    changed |= self.apply_bindings(&all_modules[i], &mut spaces);
                }
                if !changed || component.len() == 1 && _round >= 1 {
                    break;
                }
            }
        }
        self.namespaces = spaces.into_iter().map(|(k, v)| (k, Rc::new(v))).collect();
    }

    /// Applies a module's imports to its namespace; whether it changed.
    fn apply_bindings(&self, m: &str, spaces: &mut HashMap<String, HashMap<String, Resolved>>) -> bool {
        let facts = &self.modules[m];
        let mut updates: Vec<(String, Resolved)> = Vec::new();
        for binding in &facts.bindings {
            match binding {
                Binding::Star { module: source } => {
                    let Some(source_ns) = spaces.get(source).filter(|_| source != m) else { continue };
                    match &self.modules[source].all {
                        AllNames::Literal(list) => {
                            for name in list {
                                if let Some(r) = source_ns.get(name) {
                                    updates.push((name.clone(), r.clone()));
                                } else {
                                    let sub = format!("{source}.{name}");
                                    if self.modules.contains_key(&sub) {
                                        updates.push((name.clone(), Resolved::Module(sub)));
                                    }
                                }
                            }
                        }
                        _ => {
                            for (name, r) in source_ns.iter().filter(|(n, _)| !n.starts_with('_')) {
                                updates.push((name.clone(), r.clone()));
                            }
                        }
                    }
                }
                Binding::Module { name, module: target } => {
                    if self.modules.contains_key(target) {
                        updates.push((name.clone(), Resolved::Module(target.clone())));
                    }
                }
                Binding::From { name, module: source, attr } => {
                    let Some(source_ns) = spaces.get(source) else { continue };
                    if let Some(r) = source_ns.get(attr) {
                        updates.push((name.clone(), r.clone()));
                    } else {
                        let sub = format!("{source}.{attr}");
                        if self.modules.contains_key(&sub) {
                            updates.push((name.clone(), Resolved::Module(sub)));
                        }
                    }
                }
            }
        }
        let ns = spaces.get_mut(m).expect("every module has a namespace");
        let mut changed = false;
        for (name, resolved) in updates {
            if facts.defs.contains(&name) {
                continue;
            }
            if ns.get(&name) != Some(&resolved) {
                ns.insert(name, resolved);
                changed = true;
            }
        }
        changed
    }

    /// The path users write for `qual` defined in `module`
    /// (`numpy.lib._function_base_impl` + `["trapz"]` → `numpy.trapz`).
    pub(crate) fn public_path(&self, module: &str, qual: &[String]) -> String {
        let Some(first) = qual.first() else { return module.to_string() };
        let key = DefKey { module: module.to_string(), name: first.clone() };
        let own = format!("{module}.{first}");
        let head = match (self.declared.get(&key), self.best.get(&key)) {
            (Some(declared), _) => declared.clone(),
            (None, Some(best)) if rank(best) < rank(&own) => best.clone(),
            _ => own,
        };
        let mut path = head;
        for part in &qual[1..] {
            path.push('.');
            path.push_str(part);
        }
        path
    }

    /// Resolves a dotted expression as written in `module` (`NDFrame`,
    /// `generic.NDFrame`, `Axes.plot`) to its definition: the defining
    /// module and the qualified name there.
    pub(crate) fn resolve(&self, module: &str, dotted: &str) -> Option<(String, Vec<String>)> {
        let mut parts = dotted.split('.');
        let first = parts.next()?;
        let mut current = self.namespaces.get(module)?.get(first)?.clone();
        let mut tail: Vec<String> = Vec::new();
        for part in parts {
            match &current {
                Resolved::Module(m) => {
                    let ns = self.namespaces.get(m)?;
                    current = match ns.get(part) {
                        Some(r) => r.clone(),
                        None => {
                            let sub = format!("{m}.{part}");
                            if self.modules.contains_key(&sub) {
                                Resolved::Module(sub)
                            } else {
                                return None;
                            }
                        }
                    };
                }
                Resolved::Def(_) => tail.push(part.to_string()),
            }
        }
        match current {
            Resolved::Def(key) => {
                let mut qual = vec![key.name];
                qual.extend(tail);
                Some((key.module, qual))
            }
            Resolved::Module(_) => None,
        }
    }

    /// The modules whose namespace binds `name` imported from `module`
    /// (who re-exports a table).
    pub(crate) fn importers(&self, module: &str, name: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .modules
            .iter()
            .filter(|(_, m)| {
                m.bindings
                    .iter()
                    .any(|b| matches!(b, Binding::From { module: s, attr, .. } if s == module && attr == name))
            })
            .map(|(k, _)| k.clone())
            .collect();
        out.sort();
        out
    }
}

/// Tarjan's strongly connected components, iteratively; components come out
/// in reverse topological order (every component after those it points to).
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, position in its edge list)
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = call.last_mut() {
            if *pos < edges[v].len() {
                let w = edges[v][*pos];
                *pos += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(parent, _)) = call.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut component = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        component.push(w);
                        if w == v {
                            break;
                        }
                    }
                    component.sort_unstable();
                    out.push(component);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_come_sources_first() {
        // 0 → 1 → 2 → 1, 3 → 0
        let edges = vec![vec![1], vec![2], vec![1], vec![0]];
        let c = strongly_connected(&edges);
        assert_eq!(c, vec![vec![1, 2], vec![0], vec![3]]);
    }
}
