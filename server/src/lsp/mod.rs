//! `recode lsp`: the language server, over stdio.
//!
//! A thin shell over the engine: documents kept in step with the editor's
//! incremental changes (`document`), findings published as diagnostics
//! (`diagnostics`), release notes on hover (`hover`), deterministic and
//! model fixes as code actions (`actions`), settings (`config`), per-project
//! versions and catalogs (`projects`) re-resolved when their sources change
//! (`watcher`), and the protocol handlers (`server`).
//!
//! Besides the standard protocol the server answers `recode/documentText`
//! (`{uri}` → `{version, text}`: its copy of an open document, for clients
//! and tests that check the two agree).

mod actions;
mod config;
mod diagnostics;
mod document;
mod framing;
mod hover;
mod projects;
mod server;
mod watcher;

use anyhow::Context;
use tower_lsp_server::{LspService, Server};

pub use config::Settings;

/// Requests handled at once; a slow one (a model fix, release notes
/// fetched for a hover) must not hold up the edits queued behind it.
const CONCURRENT_REQUESTS: usize = 32;

/// Serves the protocol on stdin/stdout until the client says `exit`.
pub fn serve_stdio() -> anyhow::Result<()> {
    let bundled = crate::knowledge::Catalog::bundled().context("loading the bundled catalog")?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    runtime.block_on(async {
        let (service, socket) = LspService::build(|client| server::Backend::new(client, bundled))
            .custom_method("recode/documentText", server::Backend::document_text)
            .custom_method("window/workDoneProgress/cancel", server::Backend::cancel_progress)
            .finish();
        let (server_input, well_formed) = tokio::io::duplex(1 << 16);
        tokio::spawn(async move {
            if let Err(error) = framing::forward_well_formed(tokio::io::stdin(), well_formed).await {
                tracing::error!("reading stdin: {error}");
            }
        });
        Server::new(server_input, tokio::io::stdout(), socket)
            .concurrency_level(CONCURRENT_REQUESTS)
            .serve(service)
            .await;
    });
    // Blocking work still running (a model generating) must not keep the
    // process alive after `exit`.
    runtime.shutdown_background();
    Ok(())
}
