//! The protocol side: tower-lsp-server handlers over the engine.
//!
//! Handlers never block the protocol loop: analysis, fixes and release
//! notes run on tokio's blocking pool, the model on a thread of its own. A `didChange` applies its
//! edits before its first `.await`, so changes apply in the order they came.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_lsp_server::jsonrpc::{Error as RpcError, Result as RpcResult};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use super::actions::{self, EditStyle, ModelFixArgs, MIGRATE_WITH_MODEL};
use super::config::{LibraryFilter, SeverityLevels, Settings};
use super::diagnostics::to_diagnostic;
use super::document::Document;
use super::hover;
use super::projects::{self, Project, Projects};
use super::watcher::Watcher;
use crate::analysis::{new_parser, ColumnUnit, Finding};
use crate::knowledge::notes::{NoteQuery, NotesConfig, ReleaseNotes, Retrieved, DEFAULT_BUDGET_CHARS};
use crate::knowledge::Catalog;
use crate::migrate::{fix_finding_with_model, ModelCandidates};
use crate::model::{self, CancelToken, LoadOptions, SamplingParams};
use crate::vocab::PromptConfig;

/// How long a hover waits for release notes that are not cached yet.
const HOVER_WAITS_FOR_NOTES: std::time::Duration = std::time::Duration::from_millis(1500);

/// One analysed version of a document, with what it was analysed with.
pub struct Analysis {
    pub document: Document,
    pub project: Arc<Project>,
    /// Every finding of the text (fixes are planned against all of them).
    pub findings: Vec<Finding>,
    /// Which libraries' findings are shown, and fixed by a fix-all.
    pub libraries: LibraryFilter,
    pub severity: SeverityLevels,
}

impl Analysis {
    /// The findings shown, with their indexes in `findings`.
    pub fn shown(&self) -> impl Iterator<Item = (usize, &Finding)> {
        self.findings.iter().enumerate().filter(|(_, finding)| self.libraries.shows(&finding.library))
    }
}

struct OpenDocument {
    document: Document,
    path: Option<PathBuf>,
    analysis: Option<Arc<Analysis>>,
    /// The (version, project generation) last published.
    published: Option<(i32, u64)>,
}

/// What the client said it can do, read once at `initialize`.
#[derive(Debug, Clone, Copy)]
struct ClientAbilities {
    unit: ColumnUnit,
    versioned_edits: bool,
    work_done_progress: bool,
    watched_files_registration: bool,
}

struct State {
    documents: Mutex<HashMap<Uri, OpenDocument>>,
    projects: Projects,
    settings: RwLock<Arc<Settings>>,
    folders: RwLock<Vec<PathBuf>>,
    abilities: OnceLock<ClientAbilities>,
    bundled: Arc<Catalog>,
    /// Serialises the last check and the publication of diagnostics, so an
    /// older result never overtakes a newer one.
    publishing: tokio::sync::Mutex<()>,
    watcher: OnceLock<Watcher>,
    /// Running model fixes by progress token, for the progress's cancel button.
    running: Mutex<HashMap<String, CancelToken>>,
    progress_tokens: AtomicU64,
}

/// Release notes are fetched with a blocking HTTP client, which must be
/// neither built nor dropped on the async runtime: it is built on a
/// blocking thread on first use and lives as long as the process.
fn release_notes() -> &'static ReleaseNotes {
    static NOTES: OnceLock<ReleaseNotes> = OnceLock::new();
    NOTES.get_or_init(|| ReleaseNotes::new(NotesConfig::from_env()))
}

pub struct Backend {
    client: Client,
    state: Arc<State>,
}

impl Backend {
    pub fn new(client: Client, bundled: Catalog) -> Backend {
        let state = State {
            documents: Mutex::default(),
            projects: Projects::default(),
            settings: RwLock::new(Arc::new(Settings::default())),
            folders: RwLock::default(),
            abilities: OnceLock::new(),
            bundled: Arc::new(bundled),
            publishing: tokio::sync::Mutex::new(()),
            watcher: OnceLock::new(),
            running: Mutex::default(),
            progress_tokens: AtomicU64::new(0),
        };
        Backend { client, state: Arc::new(state) }
    }

    /// `recode/documentText`: the server's copy of an open document, so a
    /// client (or a test) can check that the two agree.
    pub async fn document_text(&self, params: TextDocumentIdentifier) -> RpcResult<DocumentText> {
        let documents = self.state.documents.lock().unwrap_or_else(|p| p.into_inner());
        let open = documents.get(&params.uri).ok_or_else(|| RpcError::invalid_params(format!("{} is not open", params.uri.as_str())))?;
        Ok(DocumentText { version: open.document.version(), text: open.document.text().to_string() })
    }

    /// `window/workDoneProgress/cancel`: the progress's cancel button.
    pub async fn cancel_progress(&self, params: WorkDoneProgressCancelParams) {
        if let NumberOrString::String(token) = &params.token {
            if let Some(cancel) = self.state.running.lock().unwrap_or_else(|p| p.into_inner()).get(token) {
                cancel.cancel();
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocumentText {
    pub version: i32,
    pub text: String,
}

impl State {
    fn abilities(&self) -> ClientAbilities {
        *self.abilities.get().unwrap_or(&ClientAbilities {
            unit: ColumnUnit::Utf16,
            versioned_edits: false,
            work_done_progress: false,
            watched_files_registration: false,
        })
    }

    fn settings(&self) -> Arc<Settings> {
        self.settings.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn snapshot(&self, uri: &Uri) -> Option<(Document, Option<PathBuf>)> {
        let documents = self.documents.lock().unwrap_or_else(|p| p.into_inner());
        documents.get(uri).map(|open| (open.document.clone(), open.path.clone()))
    }

    fn current_version(&self, uri: &Uri) -> Option<i32> {
        self.documents.lock().unwrap_or_else(|p| p.into_inner()).get(uri).map(|open| open.document.version())
    }

    fn root_of(&self, path: Option<&PathBuf>) -> PathBuf {
        let folders = self.folders.read().unwrap_or_else(|p| p.into_inner()).clone();
        match path {
            Some(path) => projects::root_of(path, &folders),
            None => folders.first().cloned().or_else(|| std::env::current_dir().ok()).unwrap_or_else(|| PathBuf::from(".")),
        }
    }

    /// The project a document belongs to, loading it on first use.
    async fn project_for(&self, client: &Client, path: Option<&PathBuf>) -> Option<Arc<Project>> {
        let root = self.root_of(path);
        match self.projects.get(&root, self.settings(), self.bundled.clone()).await {
            Ok((project, loaded_now)) => {
                if loaded_now {
                    if let Some(watcher) = self.watcher.get() {
                        watcher.watch_project(&root, project.resolution.environment.as_deref());
                    }
                    for problem in &project.problems {
                        client.log_message(MessageType::WARNING, format!("recode: {problem}")).await;
                    }
                }
                Some(project)
            }
            Err(error) => {
                client.show_message(MessageType::ERROR, format!("recode: {error}")).await;
                None
            }
        }
    }

    /// Analyses `document` on a blocking thread.
    async fn analyse(&self, client: &Client, document: Document, path: Option<PathBuf>) -> Option<Arc<Analysis>> {
        let project = self.project_for(client, path.as_ref()).await?;
        let settings = self.settings();
        let analysis = tokio::task::spawn_blocking(move || {
            let analyzer = project.analyzer();
            let findings = analyzer.analyze(&mut new_parser(), document.text(), &project.resolution.versions);
            Analysis { document, project, findings, libraries: settings.libraries.clone(), severity: settings.severity.clone() }
        })
        .await;
        match analysis {
            Ok(analysis) => Some(Arc::new(analysis)),
            Err(error) => {
                tracing::error!("the analysis failed: {error}");
                None
            }
        }
    }

    /// The analysis of a document's current version: the published one, or
    /// a new one.
    async fn current_analysis(&self, client: &Client, uri: &Uri) -> Option<Arc<Analysis>> {
        let (document, path, cached) = {
            let documents = self.documents.lock().unwrap_or_else(|p| p.into_inner());
            let open = documents.get(uri)?;
            (open.document.clone(), open.path.clone(), open.analysis.clone())
        };
        if let Some(cached) = cached.filter(|a| a.document.version() == document.version()) {
            return Some(cached);
        }
        self.analyse(client, document, path).await
    }

    /// Checks the document and publishes its diagnostics, unless the
    /// document has moved past `expected` (a newer check is on its way) or a
    /// newer result was published already.
    async fn check(&self, client: &Client, uri: &Uri, expected: Option<i32>) {
        let Some((document, path)) = self.snapshot(uri) else { return };
        if expected.is_some_and(|v| v != document.version()) {
            return;
        }
        let Some(analysis) = self.analyse(client, document, path).await else { return };
        let _publishing = self.publishing.lock().await;
        let version = analysis.document.version();
        let stamp = (version, analysis.project.generation);
        let diagnostics = {
            let mut documents = self.documents.lock().unwrap_or_else(|p| p.into_inner());
            let Some(open) = documents.get_mut(uri) else { return };
            if open.document.version() != version || open.published.is_some_and(|published| published > stamp) {
                return;
            }
            open.published = Some(stamp);
            let unit = self.abilities().unit;
            let diagnostics: Vec<Diagnostic> =
                analysis.shown().map(|(_, finding)| to_diagnostic(finding, &analysis.document, unit, &analysis.severity)).collect();
            open.analysis = Some(analysis);
            diagnostics
        };
        client.publish_diagnostics(uri.clone(), diagnostics, Some(version)).await;
    }

    /// Checks every open document again (settings or a project changed).
    fn recheck_all(self: &Arc<Self>, client: &Client) {
        let uris: Vec<Uri> = self.documents.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        for uri in uris {
            let (state, client) = (self.clone(), client.clone());
            tokio::spawn(async move { state.check(&client, &uri, None).await });
        }
    }

    /// Forgets the projects whose version sources changed and checks their
    /// open documents again.
    fn environment_changed(self: &Arc<Self>, client: &Client, roots: &[PathBuf]) {
        for root in roots {
            tracing::info!("re-resolving {}", root.display());
            self.projects.forget(root);
        }
        self.recheck_all(client);
    }
}

/// `watcher` events arrive in bursts (an install touches many files): wait
/// until they settle, then re-resolve each project once.
async fn follow_environment_changes(state: Arc<State>, client: Client, mut changed: tokio::sync::mpsc::UnboundedReceiver<PathBuf>) {
    const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);
    while let Some(first) = changed.recv().await {
        let mut roots = vec![first];
        while let Ok(Some(more)) = tokio::time::timeout(SETTLE, changed.recv()).await {
            if !roots.contains(&more) {
                roots.push(more);
            }
        }
        state.environment_changed(&client, &roots);
    }
}

fn to_position(position: Position) -> crate::analysis::Position {
    crate::analysis::Position { line: position.line as usize, column: position.character as usize }
}

fn client_abilities(capabilities: &ClientCapabilities) -> ClientAbilities {
    let offers_utf8 = capabilities
        .general
        .as_ref()
        .and_then(|g| g.position_encodings.as_ref())
        .is_some_and(|encodings| encodings.contains(&PositionEncodingKind::UTF8));
    let workspace = capabilities.workspace.as_ref();
    ClientAbilities {
        unit: if offers_utf8 { ColumnUnit::Utf8 } else { ColumnUnit::Utf16 },
        versioned_edits: workspace
            .and_then(|w| w.workspace_edit.as_ref())
            .and_then(|e| e.document_changes)
            .unwrap_or(false),
        work_done_progress: capabilities.window.as_ref().and_then(|w| w.work_done_progress).unwrap_or(false),
        watched_files_registration: workspace
            .and_then(|w| w.did_change_watched_files.as_ref())
            .and_then(|d| d.dynamic_registration)
            .unwrap_or(false),
    }
}

fn path_of(uri: &Uri) -> Option<PathBuf> {
    uri.to_file_path().map(|p| p.into_owned())
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> RpcResult<InitializeResult> {
        let abilities = client_abilities(&params.capabilities);
        let _ = self.state.abilities.set(abilities);
        let mut folders: Vec<PathBuf> = params.workspace_folders.iter().flatten().filter_map(|f| path_of(&f.uri)).collect();
        #[allow(deprecated)] // rootUri: what clients without workspace folders send
        if folders.is_empty() {
            folders.extend(params.root_uri.as_ref().and_then(path_of));
        }
        *self.state.folders.write().unwrap_or_else(|p| p.into_inner()) = folders;
        let options = params.initialization_options.unwrap_or(Value::Null);
        match Settings::from_json(&options) {
            Ok(settings) => *self.state.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings),
            Err(error) => self.client.show_message(MessageType::ERROR, format!("{error}; using the defaults")).await,
        }
        let encoding = match abilities.unit {
            ColumnUnit::Utf8 => PositionEncodingKind::UTF8,
            ColumnUnit::Utf16 => PositionEncodingKind::UTF16,
        };
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(encoding),
                text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::INCREMENTAL),
                    ..TextDocumentSyncOptions::default()
                })),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                    code_action_kinds: Some(vec![CodeActionKind::QUICKFIX, actions::fix_all_kind()]),
                    ..CodeActionOptions::default()
                })),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: vec![MIGRATE_WITH_MODEL.to_string()],
                    ..ExecuteCommandOptions::default()
                }),
                workspace: Some(WorkspaceServerCapabilities {
                    workspace_folders: Some(WorkspaceFoldersServerCapabilities {
                        supported: Some(true),
                        change_notifications: Some(OneOf::Left(true)),
                    }),
                    file_operations: None,
                }),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo { name: "recode".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        match Watcher::new(sender.clone()) {
            Ok(watcher) => {
                let _ = self.state.watcher.set(watcher);
            }
            Err(error) => tracing::warn!("file watching is off: {error}"),
        }
        tokio::spawn(follow_environment_changes(self.state.clone(), self.client.clone(), receiver));
        if self.state.abilities().watched_files_registration {
            let globs = [
                "**/pyproject.toml", "**/requirements*.txt", "**/*.lock", "**/pylock.toml", "**/environment.yml",
                "**/site-packages/*.dist-info",
            ];
            let options = DidChangeWatchedFilesRegistrationOptions {
                watchers: globs.iter().map(|g| FileSystemWatcher { glob_pattern: GlobPattern::String(g.to_string()), kind: None }).collect(),
            };
            let registration = Registration {
                id: "recode-version-sources".into(),
                method: "workspace/didChangeWatchedFiles".into(),
                register_options: Some(serde_json::to_value(options).expect("the options serialise")),
            };
            if let Err(error) = self.client.register_capability(vec![registration]).await {
                tracing::warn!("the client refused to watch files: {error}");
            }
        }
    }

    async fn shutdown(&self) -> RpcResult<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let item = params.text_document;
        let open = OpenDocument {
            document: Document::new(item.text, item.version),
            path: path_of(&item.uri),
            analysis: None,
            published: None,
        };
        self.state.documents.lock().unwrap_or_else(|p| p.into_inner()).insert(item.uri.clone(), open);
        let (state, client) = (self.state.clone(), self.client.clone());
        tokio::spawn(async move { state.check(&client, &item.uri, Some(item.version)).await });
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let version = params.text_document.version;
        {
            let unit = self.state.abilities().unit;
            let mut documents = self.state.documents.lock().unwrap_or_else(|p| p.into_inner());
            let Some(open) = documents.get_mut(&uri) else {
                tracing::warn!("didChange for {}, which is not open", uri.as_str());
                return;
            };
            for change in params.content_changes {
                let range = change.range.map(|r| (to_position(r.start), to_position(r.end)));
                open.document.apply(range, &change.text, unit);
            }
            open.document.set_version(version);
        }
        let (state, client) = (self.state.clone(), self.client.clone());
        let debounce = self.state.settings().debounce;
        tokio::spawn(async move {
            tokio::time::sleep(debounce).await;
            state.check(&client, &uri, Some(version)).await;
        });
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.state.documents.lock().unwrap_or_else(|p| p.into_inner()).remove(&uri);
        let _publishing = self.state.publishing.lock().await;
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        match Settings::from_json(&params.settings) {
            Ok(settings) => {
                *self.state.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
                self.state.projects.forget_all();
                self.state.recheck_all(&self.client);
            }
            Err(error) => self.client.show_message(MessageType::ERROR, format!("{error}; the previous settings stay")).await,
        }
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        {
            let mut folders = self.state.folders.write().unwrap_or_else(|p| p.into_inner());
            let removed: Vec<PathBuf> = params.event.removed.iter().filter_map(|f| path_of(&f.uri)).collect();
            folders.retain(|f| !removed.contains(f));
            folders.extend(params.event.added.iter().filter_map(|f| path_of(&f.uri)));
        }
        self.state.projects.forget_all();
        self.state.recheck_all(&self.client);
    }

    async fn did_change_watched_files(&self, params: DidChangeWatchedFilesParams) {
        let roots = self.state.projects.roots();
        let changed: Vec<PathBuf> = params
            .changes
            .iter()
            .filter_map(|change| path_of(&change.uri))
            .flat_map(|path| roots.iter().filter(|root| path.starts_with(root)).cloned().collect::<Vec<_>>())
            .collect();
        if !changed.is_empty() {
            self.state.environment_changed(&self.client, &changed);
        }
    }

    async fn hover(&self, params: HoverParams) -> RpcResult<Option<Hover>> {
        let uri = params.text_document_position_params.text_document.uri;
        let Some(analysis) = self.state.current_analysis(&self.client, &uri).await else { return Ok(None) };
        let unit = self.state.abilities().unit;
        let at = analysis.document.offset(to_position(params.text_document_position_params.position), unit);
        let hovered: Vec<usize> =
            analysis.shown().filter(|(_, finding)| finding.start_byte <= at && at <= finding.end_byte).map(|(index, _)| index).collect();
        let Some(&first) = hovered.first() else { return Ok(None) };
        let range = {
            let f = &analysis.findings[first];
            super::diagnostics::lsp_range(&analysis.document, f.start_byte, f.end_byte, unit)
        };
        // Release notes come from the cache at once; a page fetched for the
        // first time may take long, so the hover does not wait for it (the
        // fetch goes on and fills the cache for the next hover).
        let for_notes = analysis.clone();
        let wanted = hovered.clone();
        let retrieval = tokio::task::spawn_blocking(move || {
            let notes = release_notes();
            wanted
                .iter()
                .map(|&i| {
                    let finding = &for_notes.findings[i];
                    let entry = &for_notes.project.catalog.entries()[finding.entry];
                    let installed = finding.installed.as_ref().map(|i| &i.version);
                    if notes.sources().get(&entry.library).is_none() {
                        return Retrieved::default();
                    }
                    notes.retrieve(&NoteQuery::for_entry(entry, installed, DEFAULT_BUDGET_CHARS))
                })
                .collect::<Vec<Retrieved>>()
        });
        let retrieved = match tokio::time::timeout(HOVER_WAITS_FOR_NOTES, retrieval).await {
            Ok(Ok(retrieved)) => retrieved,
            Ok(Err(error)) => {
                tracing::error!("retrieving release notes failed: {error}");
                vec![Retrieved::default(); hovered.len()]
            }
            Err(_) => {
                let fetching = Retrieved { warnings: vec!["still being fetched; hover again in a moment".into()], ..Retrieved::default() };
                vec![fetching; hovered.len()]
            }
        };
        let markdown = hovered
            .iter()
            .zip(&retrieved)
            .map(|(&i, notes)| hover::render(&analysis.findings[i], &notes.entries, &notes.warnings))
            .collect::<Vec<_>>()
            .join("\n\n---\n\n");
        Ok(Some(Hover { contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: markdown }), range: Some(range) }))
    }

    async fn code_action(&self, params: CodeActionParams) -> RpcResult<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let Some(analysis) = self.state.current_analysis(&self.client, &uri).await else { return Ok(None) };
        let abilities = self.state.abilities();
        let style = EditStyle { unit: abilities.unit, versioned: abilities.versioned_edits };
        let bytes = analysis.document.offset(to_position(params.range.start), abilities.unit)
            ..analysis.document.offset(to_position(params.range.end), abilities.unit);
        let only = params.context.only;
        let model_fixes = self.state.settings().model_fixes;
        let actions = tokio::task::spawn_blocking(move || actions::code_actions(&uri, &analysis, bytes, only.as_deref(), style, model_fixes))
            .await
            .map_err(|e| RpcError { message: format!("code actions failed: {e}").into(), ..RpcError::internal_error() })?;
        Ok(Some(actions))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> RpcResult<Option<Value>> {
        if params.command != MIGRATE_WITH_MODEL {
            return Err(RpcError::invalid_params(format!("unknown command {}", params.command)));
        }
        let args: ModelFixArgs = params
            .arguments
            .into_iter()
            .next()
            .and_then(|a| serde_json::from_value(a).ok())
            .ok_or_else(|| RpcError::invalid_params(format!("{MIGRATE_WITH_MODEL} takes {{uri, version, symbol, startByte}}")))?;
        self.migrate_with_model(args).await;
        Ok(None)
    }
}

/// Cancels the generation when the request is dropped (`$/cancelRequest`).
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Backend {
    async fn migrate_with_model(&self, args: ModelFixArgs) {
        let state = &self.state;
        let Some(analysis) = state.current_analysis(&self.client, &args.uri).await else {
            self.client.show_message(MessageType::WARNING, "recode: the document is not open").await;
            return;
        };
        if analysis.document.version() != args.version {
            self.client.show_message(MessageType::INFO, "recode: the document changed since the fix was offered; ask again").await;
            return;
        }
        let Some(index) = analysis.findings.iter().position(|f| f.symbol == args.symbol && f.start_byte == args.start_byte) else {
            self.client.show_message(MessageType::INFO, format!("recode: `{}` is no longer flagged here", args.symbol)).await;
            return;
        };
        let settings = state.settings();
        let cancel = CancelToken::new();
        let _cancel_on_drop = CancelOnDrop(cancel.clone());
        let token = format!("recode/model/{}", state.progress_tokens.fetch_add(1, Ordering::SeqCst));
        let progress = if state.abilities().work_done_progress
            && self.client.create_work_done_progress(NumberOrString::String(token.clone())).await.is_ok()
        {
            state.running.lock().unwrap_or_else(|p| p.into_inner()).insert(token.clone(), cancel.clone());
            let title = format!("recode: migrating `{}` with the local model", args.symbol);
            Some(self.client.progress(NumberOrString::String(token.clone()), title).with_cancel_button().with_message("loading the model").begin().await)
        } else {
            None
        };

        // Loading and generating block, on a thread of their own: the
        // embedded backend refuses every thread of the runtime, its blocking
        // pool included. The progress hears of each step.
        let (steps, mut step_updates) = tokio::sync::mpsc::unbounded_channel::<String>();
        let task_analysis = analysis.clone();
        let task_cancel = cancel.clone();
        let run = move || -> Result<crate::migrate::Validated, String> {
            let analysis = task_analysis;
            let options = LoadOptions {
                progress: {
                    let steps = steps.clone();
                    Arc::new(move |line: &str| {
                        let _ = steps.send(line.to_string());
                    })
                },
                ..LoadOptions::default()
            };
            let generator = model::shared(&settings.model, &options).map_err(|e| e.to_string())?;
            let _ = steps.send(format!("generating with {}", generator.describe()));
            let notes = |finding: &Finding| {
                let entry = &analysis.project.catalog.entries()[finding.entry];
                let notes = release_notes();
                notes.sources().get(&entry.library)?;
                let installed = finding.installed.as_ref().map(|i| &i.version);
                let text = notes.retrieve(&NoteQuery::for_entry(entry, installed, DEFAULT_BUDGET_CHARS)).text();
                (!text.is_empty()).then_some(text)
            };
            // As `recode migrate` does by default: a local model (small) gets
            // one worked example to stay in the answer format (DESIGN §4),
            // an endpoint none.
            let is_endpoint = matches!(settings.model, crate::model::ModelSpec::Endpoint { .. });
            let candidates = ModelCandidates {
                generator: generator.as_ref(),
                prompt: PromptConfig::new(usize::from(!is_endpoint)),
                sampling: SamplingParams { temperature: 0.7, top_p: 0.95, max_tokens: 512, seed: Some(0), ..SamplingParams::default() },
                notes: &notes,
                cancel: task_cancel,
            };
            let project = &analysis.project;
            let analyzer = project.analyzer();
            fix_finding_with_model(
                &analyzer,
                &mut new_parser(),
                analysis.document.text(),
                &project.resolution.versions,
                &analysis.findings,
                index,
                &candidates,
                settings.samples,
            )
        };
        let (done, task) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new().name("recode-model".into()).spawn(move || {
            let _ = done.send(run());
        });
        if let Err(error) = spawned {
            self.client.show_message(MessageType::ERROR, format!("recode: cannot start the model thread: {error}")).await;
            return;
        }
        tokio::pin!(task);
        let result = loop {
            tokio::select! {
                result = &mut task => break result,
                Some(step) = step_updates.recv() => {
                    if let Some(progress) = &progress {
                        progress.report_with_message(step, None).await;
                    }
                }
            }
        };
        state.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&token);
        if let Some(progress) = progress {
            progress.finish().await;
        }
        let validated = match result {
            Ok(Ok(validated)) => validated,
            Ok(Err(_)) if cancel.is_cancelled() => return,
            Ok(Err(why)) => {
                self.client.show_message(MessageType::WARNING, format!("recode: the model could not migrate `{}`: {why}", args.symbol)).await;
                return;
            }
            Err(_) => {
                self.client.show_message(MessageType::ERROR, "recode: the model stopped without an answer (see the log)").await;
                return;
            }
        };
        if state.current_version(&args.uri) != Some(args.version) {
            self.client.show_message(MessageType::INFO, "recode: the document changed while the model worked; ask again").await;
            return;
        }
        let abilities = state.abilities();
        let style = EditStyle { unit: abilities.unit, versioned: abilities.versioned_edits };
        let edit = actions::workspace_edit(&args.uri, &analysis, validated.edits.edits(), style);
        match self.client.apply_edit(edit).await {
            Ok(response) if response.applied => {}
            Ok(response) => {
                let why = response.failure_reason.unwrap_or_else(|| "no reason given".into());
                self.client.show_message(MessageType::WARNING, format!("recode: the editor did not apply the model's fix: {why}")).await;
            }
            Err(error) => tracing::warn!("workspace/applyEdit failed: {error}"),
        }
    }
}
