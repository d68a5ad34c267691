//! recode's engine: environment resolution, API-change knowledge, and the pure
//! analysis that turns Python source plus resolved versions into findings.
//!
//! The LSP server and the command-line interface are thin shells over this
//! library; see ARCHITECTURE.md for the code map.

pub mod analysis;
pub mod cli;
pub mod env;
pub mod knowledge;
#[cfg(feature = "lsp")]
pub mod lsp;
pub mod migrate;
pub mod model;
pub mod vocab;
