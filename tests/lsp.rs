//! `recode lsp` driven over stdio by a scripted client: diagnostics on open
//! and change, hover with release notes, quick fixes, fix-all, the model
//! command (against a loopback OpenAI-compatible endpoint), cancellation,
//! settings, re-resolution, and shutdown.

use std::path::PathBuf;
use std::time::Duration;

use recode_e2e::lsp_client::{apply_edits, uri, LspClient, PATIENCE};
use recode_e2e::{binary, fixtures, StaticServer};
use serde_json::{json, Value};

/// A copy of the LSP sample project in a temporary directory.
fn sample_project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap().join("project");
    std::fs::create_dir(&root).unwrap();
    for name in ["pyproject.toml", "app.py"] {
        std::fs::copy(fixtures().join("lsp/project").join(name), root.join(name)).unwrap();
    }
    (dir, root)
}

fn editor_capabilities() -> Value {
    json!({
        "general": {"positionEncodings": ["utf-16"]},
        "window": {"workDoneProgress": true},
        "workspace": {"workspaceEdit": {"documentChanges": true}, "didChangeWatchedFiles": {"dynamicRegistration": false}},
        "textDocument": {"codeAction": {"codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix", "source.fixAll"]}}}}
    })
}

fn open(client: &mut LspClient, uri: &str, text: &str) {
    client.notify("textDocument/didOpen", json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}));
}

/// The edits of a versioned workspace edit for `uri`, checking the version.
fn versioned_edits(edit: &Value, uri: &str, version: i64) -> Vec<Value> {
    let change = &edit["documentChanges"][0];
    assert_eq!(change["textDocument"]["uri"], uri, "{edit}");
    assert_eq!(change["textDocument"]["version"], version, "{edit}");
    change["edits"].as_array().unwrap().clone()
}

/// A loopback OpenAI-compatible endpoint answering every completion with
/// `answer` after `delay`; its API base.
fn fake_model(answer: &str, delay: Duration) -> String {
    recode_e2e::fake_openai_after(delay, answer, "").0
}

const CONCAT_ANSWER: &str = "\n`DataFrame.append` was removed in pandas 2.0; `pd.concat` joins frames.\n</think>\n<answer>\n```python\nmore = pd.concat([frame, frame])\n```\n</answer>";

fn notes_server() -> StaticServer {
    let page = std::fs::read(fixtures().join("notes/numpy-2.0.0-notes.rst")).unwrap();
    StaticServer::start(vec![("/numpy/numpy/main/doc/source/release/2.0.0-notes.rst".into(), page)])
}

#[test]
fn version_flag() {
    let output = std::process::Command::new(binary("recode")).args(["lsp", "--version"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn diagnostics_hover_fixes_and_the_model_over_stdio() {
    let (_dir, root) = sample_project();
    let cache = tempfile::tempdir().unwrap();
    let notes = notes_server();
    let model = fake_model(CONCAT_ANSWER, Duration::ZERO);
    let mut client = LspClient::start(&root, cache.path(), &[("RECODE_NOTES_BASE", notes.base.as_str()), ("RECODE_OFFLINE", "0")]);
    let init = client.initialize(&root, editor_capabilities(), json!({"model": model, "debounceMs": 20}));
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-16");
    assert_eq!(init["capabilities"]["textDocumentSync"]["change"], 2, "incremental sync");
    assert_eq!(init["serverInfo"]["name"], "recode");

    let path = root.join("app.py");
    let file = uri(&path);
    let mut text = std::fs::read_to_string(&path).unwrap();
    open(&mut client, &file, &text);
    let diagnostics = client.diagnostics(&file, 1);
    assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
    let float = diagnostics.iter().find(|d| d["message"].as_str().unwrap().contains("float_")).unwrap();
    assert_eq!(float["code"], "RC001");
    assert_eq!(float["range"], json!({"start": {"line": 7, "character": 11}, "end": {"line": 7, "character": 20}}));
    assert_eq!(float["severity"], 1, "removed at the pinned version: an error");
    assert_eq!(float["tags"], json!([2]), "DiagnosticTag::Deprecated");
    assert_eq!(float["source"], "recode");
    assert!(float["codeDescription"]["href"].as_str().unwrap().starts_with("https://numpy.org/"), "{float}");
    let append = diagnostics.iter().find(|d| d["message"].as_str().unwrap().contains("append")).unwrap();
    assert_eq!(append["range"]["start"], json!({"line": 6, "character": 11}));

    // An incremental edit: a line above, and a character with two UTF-16 units.
    client.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": file, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": "# 𝄞 tuned\n"}
        ]}),
    );
    text.insert_str(0, "# 𝄞 tuned\n");
    let diagnostics = client.diagnostics(&file, 2);
    let float = diagnostics.iter().find(|d| d["message"].as_str().unwrap().contains("float_")).unwrap();
    assert_eq!(float["range"]["start"], json!({"line": 8, "character": 11}));
    let server_text = client.request("recode/documentText", json!({"uri": file}));
    assert_eq!(server_text, json!({"version": 2, "text": text}));

    // Hover: versions, where the version came from, the note, the release notes.
    let hover = client.request("textDocument/hover", json!({"textDocument": {"uri": file}, "position": {"line": 8, "character": 15}}));
    let markdown = hover["contents"]["value"].as_str().unwrap();
    assert!(markdown.contains("**recode RC001** `numpy.float_`"), "{markdown}");
    assert!(markdown.contains("- removed or changed in numpy 2.0"), "{markdown}");
    assert!(markdown.contains("- used: numpy 2.1.0 ([tool.recode.pins] in "), "{markdown}");
    assert!(markdown.contains("**From the release notes**"), "{markdown}");
    assert!(markdown.contains(&format!("{}/numpy/numpy/main/doc/source/release/2.0.0-notes.rst", notes.base)), "{markdown}");
    let nothing = client.request("textDocument/hover", json!({"textDocument": {"uri": file}, "position": {"line": 1, "character": 0}}));
    assert_eq!(nothing, Value::Null);

    // The quick fix for np.float_, pinned to version 2.
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": file}, "range": float["range"], "context": {"diagnostics": [float], "only": ["quickfix"]}}),
    );
    let quickfix = actions.as_array().unwrap().iter().find(|a| a["isPreferred"] == true).unwrap_or_else(|| panic!("{actions}"));
    assert_eq!(quickfix["kind"], "quickfix");
    let fixed = apply_edits(&text, &versioned_edits(&quickfix["edit"], &file, 2), true);
    assert!(fixed.contains("return np.float64(more.sum())"), "{fixed}");

    // Fix all: every deterministic fix, nothing else.
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": file}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "context": {"diagnostics": [], "only": ["source.fixAll"]}}),
    );
    let fix_all = &actions[0];
    assert_eq!(fix_all["kind"], "source.fixAll.recode");
    assert_eq!(apply_edits(&text, &versioned_edits(&fix_all["edit"], &file, 2), true), fixed);

    // The model: offered for `append`, run on request, validated, applied to version 2.
    let append = diagnostics.iter().find(|d| d["message"].as_str().unwrap().contains("append")).unwrap();
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": file}, "range": append["range"], "context": {"diagnostics": [append]}}),
    );
    let model_action = actions.as_array().unwrap().iter().find(|a| a["command"]["command"] == "recode.migrateWithModel").unwrap_or_else(|| panic!("{actions}"));
    assert!(model_action["title"].as_str().unwrap().contains("with local model"));
    let command = &model_action["command"];
    let answer = client.request("workspace/executeCommand", json!({"command": command["command"], "arguments": command["arguments"]}));
    assert_eq!(answer, Value::Null);
    assert!(client.unseen.iter().any(|m| m["method"] == "window/workDoneProgress/create"), "progress was created");
    let begin = client.unseen.iter().find(|m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "begin").expect("progress began");
    assert_eq!(begin["params"]["value"]["cancellable"], true);
    assert!(client.unseen.iter().any(|m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "end"), "progress ended");
    assert_eq!(client.applied_edits.len(), 1, "messages: {:?}", client.messages);
    let edits = versioned_edits(&client.applied_edits[0]["edit"], &file, 2);
    let migrated = apply_edits(&text, &edits, true);
    assert!(migrated.contains("    more = pd.concat([frame, frame])\n"), "{migrated}");

    let status = client.shutdown();
    assert!(status.success(), "{status:?}");
}

#[test]
fn utf8_positions_when_the_client_offers_them() {
    let (_dir, root) = sample_project();
    let cache = tempfile::tempdir().unwrap();
    let mut client = LspClient::start(&root, cache.path(), &[]);
    let init = client.initialize(&root, json!({"general": {"positionEncodings": ["utf-8", "utf-16"]}}), Value::Null);
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-8");
    let file = uri(&root.join("app.py"));
    open(&mut client, &file, "s = 'é𝄞'; import numpy as np; x = np.float_\n");
    let diagnostics = client.diagnostics(&file, 1);
    // Columns count bytes: é is 2, 𝄞 is 4.
    assert_eq!(diagnostics[0]["range"]["start"], json!({"line": 0, "character": 38}));
    // A change sent without a range replaces the text; an edit past the line's end is clamped to it.
    client.notify("textDocument/didChange", json!({"textDocument": {"uri": file, "version": 2}, "contentChanges": [
        {"text": "import numpy as np\n"},
        {"range": {"start": {"line": 0, "character": 99}, "end": {"line": 0, "character": 120}}, "text": "; y = np.float_"}
    ]}));
    let diagnostics = client.diagnostics(&file, 2);
    assert_eq!(diagnostics[0]["range"]["start"], json!({"line": 0, "character": 24}));
    assert_eq!(client.request("recode/documentText", json!({"uri": file}))["text"], "import numpy as np; y = np.float_\n");
}

#[test]
fn settings_change_what_is_shown_and_a_bad_setting_is_a_message() {
    let (_dir, root) = sample_project();
    let cache = tempfile::tempdir().unwrap();
    let mut client = LspClient::start(&root, cache.path(), &[]);
    client.initialize(&root, editor_capabilities(), json!({"libraries": ["pandas"], "severity": {"removed": "hint"}}));
    let file = uri(&root.join("app.py"));
    open(&mut client, &file, &std::fs::read_to_string(root.join("app.py")).unwrap());
    let diagnostics = client.diagnostics(&file, 1);
    assert_eq!(diagnostics.len(), 1, "only pandas: {diagnostics:?}");
    assert_eq!(diagnostics[0]["severity"], 4);
    // Fix-all leaves the hidden libraries' findings alone; pandas' `append` has no deterministic fix.
    let actions = client.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": file}, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "context": {"diagnostics": [], "only": ["source.fixAll"]}}),
    );
    assert_eq!(actions, json!([]), "a fix-all of hidden findings");

    // Pins from the settings win over [tool.recode.pins]: below 2.0, float_ is fine.
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"recode": {"pins": {"numpy": "1.26.4"}, "pandas": null}}}));
    let message = client.wait_for(PATIENCE, |m| m["method"] == "window/showMessage").expect("a message about the bad setting");
    assert!(message["params"]["message"].as_str().unwrap().contains("unknown field `pandas`"), "{message}");
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"recode": {"pins": {"numpy": "1.26.4"}}}}));
    let published = client
        .wait_for(PATIENCE, |m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["diagnostics"].as_array().unwrap().len() == 1
            && m["params"]["diagnostics"][0]["message"].as_str().unwrap().contains("append") && m["params"]["diagnostics"][0]["severity"] == 1)
        .expect("re-published with the new settings");
    assert_eq!(published["params"]["version"], 1);
}

#[test]
fn a_changed_pyproject_is_resolved_again() {
    let (_dir, root) = sample_project();
    let pyproject = std::fs::read_to_string(root.join("pyproject.toml")).unwrap();
    std::fs::write(root.join("pyproject.toml"), pyproject.replace("numpy = \"2.1.0\"", "numpy = \"1.26.4\"")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut client = LspClient::start(&root, cache.path(), &[]);
    client.initialize(&root, editor_capabilities(), Value::Null);
    let file = uri(&root.join("app.py"));
    open(&mut client, &file, &std::fs::read_to_string(root.join("app.py")).unwrap());
    let diagnostics = client.diagnostics(&file, 1);
    assert!(diagnostics.iter().all(|d| !d["message"].as_str().unwrap().contains("float_")), "{diagnostics:?}");

    std::fs::write(root.join("pyproject.toml"), pyproject).unwrap();
    let republished = client.wait_for(PATIENCE, |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["diagnostics"].as_array().unwrap().iter().any(|d| d["message"].as_str().unwrap().contains("float_"))
    });
    assert!(republished.is_some(), "no diagnostics after pyproject.toml changed; unseen: {:?}", client.unseen);
}

#[test]
fn the_model_can_be_cancelled_and_its_failures_are_messages() {
    let (_dir, root) = sample_project();
    let cache = tempfile::tempdir().unwrap();
    let slow = fake_model(CONCAT_ANSWER, Duration::from_secs(20));
    let mut client = LspClient::start(&root, cache.path(), &[]);
    client.initialize(&root, editor_capabilities(), json!({"model": slow}));
    let file = uri(&root.join("app.py"));
    open(&mut client, &file, &std::fs::read_to_string(root.join("app.py")).unwrap());
    let diagnostics = client.diagnostics(&file, 1);
    let append = diagnostics.iter().find(|d| d["message"].as_str().unwrap().contains("append")).unwrap().clone();
    let model_command = |client: &mut LspClient| {
        let actions = client.request("textDocument/codeAction", json!({"textDocument": {"uri": file}, "range": append["range"], "context": {"diagnostics": [append]}}));
        actions.as_array().unwrap().iter().find(|a| a["command"]["command"] == "recode.migrateWithModel").unwrap()["command"].clone()
    };
    let command = model_command(&mut client);

    // $/cancelRequest answers the request at once, and nothing is applied.
    let started = std::time::Instant::now();
    let id = client.send_request("workspace/executeCommand", json!({"command": command["command"], "arguments": command["arguments"]}));
    std::thread::sleep(Duration::from_millis(300));
    client.notify("$/cancelRequest", json!({"id": id}));
    let response = client.response(id);
    assert_eq!(response["error"]["code"], -32800, "{response}");
    assert!(started.elapsed() < Duration::from_secs(10), "cancelled late: {:?}", started.elapsed());
    // The server keeps answering.
    assert_eq!(client.request("recode/documentText", json!({"uri": file}))["version"], 1);

    // An endpoint that is not there: a message, no crash.
    client.notify("workspace/didChangeConfiguration", json!({"settings": {"model": "http://127.0.0.1:9/v1", "samples": 1}}));
    let command = model_command(&mut client);
    client.request("workspace/executeCommand", json!({"command": command["command"], "arguments": command["arguments"]}));
    let message = client.messages.iter().find(|m| m["params"]["message"].as_str().unwrap().contains("could not migrate")).cloned();
    let message = message.unwrap_or_else(|| panic!("no message: {:?}", client.messages));
    assert!(message["params"]["message"].as_str().unwrap().contains("127.0.0.1:9"), "{message}");
    assert!(client.applied_edits.is_empty());
    assert!(client.shutdown().success());
}

#[test]
fn closing_a_document_clears_its_diagnostics() {
    let (_dir, root) = sample_project();
    let cache = tempfile::tempdir().unwrap();
    let mut client = LspClient::start(&root, cache.path(), &[]);
    client.initialize(&root, editor_capabilities(), Value::Null);
    let file = uri(&root.join("app.py"));
    open(&mut client, &file, &std::fs::read_to_string(root.join("app.py")).unwrap());
    assert_eq!(client.diagnostics(&file, 1).len(), 2);
    client.notify("textDocument/didClose", json!({"textDocument": {"uri": file}}));
    let cleared = client.wait_for(PATIENCE, |m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["diagnostics"] == json!([]));
    assert!(cleared.is_some());
}

/// A random position: sometimes past the line's end or past the last line,
/// sometimes inside a surrogate pair.
fn random_position(rng: &mut impl rand::Rng, text: &str) -> Value {
    let lines = text.split('\n').count();
    let line = rng.random_range(0..lines + 2);
    let width = text.split('\n').nth(line).map_or(0, |l| l.encode_utf16().count());
    json!({"line": line, "character": rng.random_range(0..width + 4)})
}

fn random_insertion(rng: &mut impl rand::Rng) -> String {
    const PIECES: &[&str] = &["x", " ", "\n", "é", "𝄞", "np.float_", "import numpy as np\n", "frame.append(frame)", "(", "\"\"\"", "\t", "#", "\r\n"];
    match rng.random_range(0..100) {
        // A huge insertion.
        0 => "y = np.float_(1)  # 𝄞 padding\n".repeat(rng.random_range(1000..4000)),
        1..=25 => String::new(),
        _ => (0..rng.random_range(1..12)).map(|_| PIECES[rng.random_range(0..PIECES.len())]).collect(),
    }
}

#[test]
fn thousands_of_random_edits_and_malformed_messages_keep_the_texts_equal() {
    use rand::{Rng, SeedableRng};

    let (_dir, root) = sample_project();
    let cache = tempfile::tempdir().unwrap();
    let mut client = LspClient::start(&root, cache.path(), &[]);
    client.initialize(&root, editor_capabilities(), json!({"debounceMs": 10}));
    let file = uri(&root.join("app.py"));
    let mut text = std::fs::read_to_string(root.join("app.py")).unwrap();
    open(&mut client, &file, &text);
    let mut rng = rand_pcg::Pcg64::seed_from_u64(0x5eed);
    let mut version = 1;
    const BATCHES: usize = 20;
    const EDITS_PER_BATCH: usize = 150;
    for batch in 0..BATCHES {
        for _ in 0..EDITS_PER_BATCH {
            version += 1;
            let mut changes = Vec::new();
            for _ in 0..rng.random_range(1..4) {
                let (start, end) = (random_position(&mut rng, &text), random_position(&mut rng, &text));
                let new_text = random_insertion(&mut rng);
                // The client's mirror, with the server's reading of a
                // reversed range (start and end swapped).
                let (a, b) = (recode_e2e::lsp_client::offset(&text, &start, true), recode_e2e::lsp_client::offset(&text, &end, true));
                text.replace_range(a.min(b)..a.max(b), &new_text);
                changes.push(json!({"range": {"start": start, "end": end}, "text": new_text}));
            }
            // Keep the text from growing without bound.
            if text.len() > 400_000 {
                let keep = (0..=1000).rev().find(|&at| text.is_char_boundary(at)).unwrap();
                text.truncate(keep);
                changes.push(json!({"text": text}));
            }
            client.notify("textDocument/didChange", json!({"textDocument": {"uri": file, "version": version}, "contentChanges": changes}));
        }
        // Malformed messages: a body that is not JSON, an unknown method,
        // bad parameters, a change to a document that is not open.
        let garbage = b"{\"jsonrpc\": \"2.0\", \"id\": 9999, \"method\": ";
        client.send_raw(format!("Content-Length: {}\r\n\r\n", garbage.len()).as_bytes());
        client.send_raw(garbage);
        let unknown = client.send_request("recode/noSuchMethod", json!({}));
        assert_eq!(client.response(unknown)["error"]["code"], -32601);
        let bad = client.send_request("textDocument/hover", json!({"textDocument": 5}));
        assert_eq!(client.response(bad)["error"]["code"], -32602);
        client.notify("textDocument/didChange", json!({"textDocument": {"uri": "file:///nowhere.py", "version": 1}, "contentChanges": [{"text": "x"}]}));
        client.notify("textDocument/didChange", json!({"textDocument": {"uri": file}}));

        let server = client.request("recode/documentText", json!({"uri": file}));
        assert_eq!(server["version"], version, "batch {batch}");
        assert!(server["text"] == text, "batch {batch}: the server's text differs from the client's");
        let hover = client.send_request("textDocument/hover", json!({"textDocument": {"uri": file}, "position": random_position(&mut rng, &text)}));
        assert!(client.response(hover).get("error").is_none(), "hover fails in batch {batch}");
    }
    // The last version's diagnostics arrive, and no older version came after a newer one.
    client.diagnostics(&file, version);
    let versions: Vec<i64> = client
        .unseen
        .iter()
        .filter(|m| m["method"] == "textDocument/publishDiagnostics")
        .map(|m| m["params"]["version"].as_i64().unwrap())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "published out of order: {versions:?}");
    assert!(client.shutdown().success());
}

#[test]
fn the_embedded_model_runs_off_the_async_runtime() {
    let (_dir, root) = sample_project();
    let model = tempfile::tempdir().unwrap();
    recode_e2e::tiny_model::tiny_model_dir(model.path());
    let cache = tempfile::tempdir().unwrap();
    let mut client = LspClient::start(&root, cache.path(), &[]);
    client.initialize(&root, editor_capabilities(), json!({"model": model.path(), "samples": 1}));
    let file = uri(&root.join("app.py"));
    open(&mut client, &file, &std::fs::read_to_string(root.join("app.py")).unwrap());
    let diagnostics = client.diagnostics(&file, 1);
    let append = diagnostics.iter().find(|d| d["message"].as_str().unwrap().contains("append")).unwrap().clone();
    let actions = client.request("textDocument/codeAction", json!({"textDocument": {"uri": file}, "range": append["range"], "context": {"diagnostics": [append]}}));
    let command = actions.as_array().unwrap().iter().find(|a| a["command"]["command"] == "recode.migrateWithModel").unwrap()["command"].clone();
    client.request("workspace/executeCommand", json!({"command": command["command"], "arguments": command["arguments"]}));
    // The tiny model's context (512 tokens) is too short for the prompt: the
    // embedded backend was reached and said so, in a message.
    let message = client.messages.iter().find(|m| m["params"]["message"].as_str().unwrap().contains("could not migrate")).cloned();
    let message = message.unwrap_or_else(|| panic!("no message: {:?}", client.messages))["params"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("context length is 512"), "{message}");
    assert!(client.applied_edits.is_empty());
    assert!(client.shutdown().success());
}

#[test]
fn each_workspace_folder_resolves_its_own_versions() {
    let (_new_dir, new) = sample_project();
    let (_old_dir, old) = sample_project();
    let pyproject = std::fs::read_to_string(old.join("pyproject.toml")).unwrap();
    std::fs::write(old.join("pyproject.toml"), pyproject.replace("numpy = \"2.1.0\"", "numpy = \"1.26.4\"")).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let mut client = LspClient::start(&new, cache.path(), &[]);
    client.request(
        "initialize",
        json!({"processId": null, "capabilities": editor_capabilities(),
               "workspaceFolders": [{"uri": uri(&new), "name": "new"}, {"uri": uri(&old), "name": "old"}]}),
    );
    client.notify("initialized", json!({}));
    let source = std::fs::read_to_string(new.join("app.py")).unwrap();
    let (new_file, old_file) = (uri(&new.join("app.py")), uri(&old.join("app.py")));
    open(&mut client, &new_file, &source);
    open(&mut client, &old_file, &source);
    let flags_float = |diagnostics: &[Value]| diagnostics.iter().any(|d| d["message"].as_str().unwrap().contains("float_"));
    assert!(flags_float(&client.diagnostics(&new_file, 1)), "numpy 2.1.0 removed float_");
    assert!(!flags_float(&client.diagnostics(&old_file, 1)), "numpy 1.26.4 still has float_");
}
