#!/usr/bin/env python3
"""Decode and prompt speed of recode's embedded model backend (mistralrs)
against llama.cpp (llama-cpp-python) on the same GGUF, prompt and thread
count, in one run, and the ratio.

Usage: python3 benches/decode_vs_llamacpp.py [--threads N] [--tokens N]
           [--model GGUF] [--prompt-file FILE] [--recode PATH]

What it measures, for each engine, from one greedy generation of --tokens
tokens (EOS ignored where the engine allows it, so both decode the same
number of tokens):

- prompt tokens/s: prompt tokens / time to the first sampled token;
- decode tokens/s: tokens after the first / time from the first to the last.

recode reports its split with `recode model run --json` (the embedded
backend times its own sampler). llama.cpp reports its own counters
(llama_perf_context: prompt eval and eval). Each engine runs once per
invocation, after one untimed warm-up generation in the same process for
llama.cpp (recode is timed in a fresh process, as a user's first call).

Requirements: a built `recode` (prefer `cargo build --release`; the
default is target/release/recode, then target/debug/recode), the default
model fetched (`recode model fetch`), and a benchmark venv with
llama-cpp-python, which this script creates under $RECODE_BENCH_DIR
(default /tmp/recode-bench); pip builds llama.cpp from source there, which
needs a C/C++ compiler and takes several minutes the first time. Both
engines get the same thread count: RAYON_NUM_THREADS for recode (candle's
CPU kernels run on rayon), n_threads / n_threads_batch for llama.cpp.

llama.cpp is built for the machine's CPU (GGML_NATIVE); candle's quantized
CPU kernels use AVX2/FMA only when the crate is compiled with those target
features, so compare against `RUSTFLAGS="-C target-cpu=native" cargo build
--release` as well as the portable build.

Measured on the 2-core development machine (SmolLM2-135M Q4_1, 37-token
prompt, 128 tokens, 2 threads; recode / llama.cpp, one run each):
release + target-cpu=native: prompt 66.9 / 322.3 tok/s (0.21), decode
43.3 / 102.9 tok/s (0.42); dev profile (dependencies at opt-level 2, no
target-cpu): prompt 24.4 / 271.9 (0.09), decode 15.7 / 102.9 (0.15). The
greedy texts of both engines agree.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("RECODE_BENCH_DIR", "/tmp/recode-bench"))

LLAMA_SNIPPET = r"""
import json, sys, llama_cpp
model, prompt_file, threads, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
prompt = open(prompt_file, encoding="utf-8").read()
llm = llama_cpp.Llama(model_path=model, n_ctx=4096, n_threads=threads, n_threads_batch=threads,
                      n_batch=512, verbose=False, seed=0)
ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
def generate():
    llm.reset()
    llama_cpp.llama_perf_context_reset(llm._ctx.ctx)
    out = []
    for token in llm.generate(ids, temp=0.0, top_k=1, reset=True):
        out.append(token)
        if len(out) >= tokens:
            break
    perf = llama_cpp.llama_perf_context(llm._ctx.ctx)
    return out, perf
generate()  # warm-up
out, perf = generate()
print(json.dumps({
    "prompt_tokens": len(ids),
    "prompt_seconds": perf.t_p_eval_ms / 1000.0,
    "prompt_evaluated": perf.n_p_eval,
    "decode_seconds": perf.t_eval_ms / 1000.0,
    "decode_tokens": perf.n_eval,
    "text": llm.detokenize(out).decode("utf-8", "replace"),
}))
"""


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def bench_venv():
    venv = WORK / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if subprocess.run([str(python), "-c", "import llama_cpp"], capture_output=True).returncode != 0:
        log("installing llama-cpp-python (builds llama.cpp from source; several minutes)")
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "llama-cpp-python"], check=True)
    return python


def find_recode(given):
    if given:
        return Path(given)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ["release", "debug"]:
        path = target / profile / "recode"
        if path.exists():
            return path
    sys.exit("no recode binary: build one with `cargo build --release`")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--model", help="GGUF file (default: the fetched default model)")
    parser.add_argument("--prompt-file", default=str(ROOT / "fixtures/model/prompt.chatml"))
    parser.add_argument("--recode", help="the recode binary")
    args = parser.parse_args()

    recode = find_recode(args.recode)
    model = args.model or subprocess.run([str(recode), "model", "path"], check=True, capture_output=True, text=True).stdout.strip()
    python = bench_venv()
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    log(f"model {model}; {args.threads} threads; {args.tokens} tokens; recode {recode}")

    # recode: stop strings that never occur keep it from stopping early only
    # if the model does not emit EOS; report what it actually decoded.
    out = subprocess.run(
        [str(recode), "model", "run", "--model", model, "--prompt-file", args.prompt_file,
         "--max-tokens", str(args.tokens), "--json"],
        check=True, capture_output=True, text=True, env=env)
    ours = json.loads(out.stdout)
    timing = ours["timing"]
    r_prompt = ours["prompt_tokens"] / timing["prefill_seconds"]
    r_decode = timing["decode_tokens"] / timing["decode_seconds"]

    out = subprocess.run([str(python), "-c", LLAMA_SNIPPET, model, args.prompt_file, str(args.threads), str(args.tokens)],
                         check=True, capture_output=True, text=True, env=env)
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    l_prompt = theirs["prompt_evaluated"] / theirs["prompt_seconds"]
    l_decode = theirs["decode_tokens"] / theirs["decode_seconds"]

    print(f"prompt: {ours['prompt_tokens']} tokens (recode) / {theirs['prompt_tokens']} tokens (llama.cpp)")
    print(f"decoded: {timing['decode_tokens'] + 1} tokens (recode) / {theirs['decode_tokens']} tokens (llama.cpp)")
    print(f"{'':10} {'prompt tok/s':>14} {'decode tok/s':>14}")
    print(f"{'recode':10} {r_prompt:14.1f} {r_decode:14.1f}")
    print(f"{'llama.cpp':10} {l_prompt:14.1f} {l_decode:14.1f}")
    print(f"{'ratio':10} {r_prompt / l_prompt:14.2f} {r_decode / l_decode:14.2f}   (recode / llama.cpp; >1: recode faster)")
    same = ours["completions"][0]["text"].strip()[:60] == theirs["text"].strip()[:60]
    print(f"first 60 characters of the greedy text agree: {same}")


if __name__ == "__main__":
    main()
