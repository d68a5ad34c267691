//! What changed in which library, and when: the bundled API-update catalog.

pub mod catalog;
pub mod harvest;

pub use catalog::{Catalog, CatalogError, Entry, EntryKind, EntrySource, LibraryInfo, SymbolPattern};
