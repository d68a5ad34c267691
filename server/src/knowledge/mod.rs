//! What changed in which library, and when: the bundled API-update catalog,
//! deprecations harvested from installed packages, and release notes.

pub mod catalog;
pub mod harvest;
pub mod notes;

pub use catalog::{Catalog, CatalogError, Entry, EntryKind, EntrySource, LibraryInfo, SymbolPattern};
