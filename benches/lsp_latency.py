#!/usr/bin/env python3
"""Time from `didChange` to `publishDiagnostics` in `recode lsp`.

Starts the recode binary's language server, opens a generated 10,000-line
Python file with findings (in a temporary project pinning NumPy 2 and
pandas 2), sends edits one at a time (each waits for the diagnostics of its
version) and prints the median and p99 latency, then the server's resident
memory (VmRSS) with no model loaded.

    python3 benches/lsp_latency.py [--binary target/release/recode] [--edits 200] [--debounce-ms 80]
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import queue

LINES = 10_000


def generate_source(lines):
    out = ["import numpy as np", "import pandas as pd", "", ""]
    i = 0
    while len(out) < lines:
        out.append(f"def step_{i}(frame, values):")
        out.append(f"    total_{i} = np.sum(values) + {i}")
        if i % 10 == 0:
            out.append(f"    scale_{i} = np.float_({i})")
        if i % 25 == 0:
            out.append("    frame = frame.append(frame)")
        out.append(f"    mean_{i} = frame['a'].mean() * total_{i}")
        out.append(f"    return mean_{i}")
        out.append("")
        i += 1
    return "\n".join(out[:lines]) + "\n"


class Server:
    def __init__(self, binary, root, env):
        self.process = subprocess.Popen(
            [binary, "lsp"], cwd=root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.messages = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = stream.read(length)
            self.messages.put((time.perf_counter(), json.loads(body)))

    def send(self, message):
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == self.next_id and "method" not in m)[1]

    def wait(self, wanted, timeout=120):
        deadline = time.perf_counter() + timeout
        while True:
            at, message = self.messages.get(timeout=max(0.0, deadline - time.perf_counter()))
            if "id" in message and "method" in message:  # a server request: accept it
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            if wanted(message):
                return at, message


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(here, "..", "target"))
    parser.add_argument("--binary", default=os.path.join(target, "release", "recode"))
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--debounce-ms", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not os.path.isfile(args.binary):
        sys.exit(f"{args.binary} is missing: build it (cargo build --release -p recode) or pass --binary")

    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "pyproject.toml"), "w") as f:
            f.write('[project]\nname = "bench"\n\n[tool.recode.pins]\nnumpy = "2.1.0"\npandas = "2.2.0"\n')
        source = generate_source(LINES)
        path = os.path.join(root, "big.py")
        with open(path, "w") as f:
            f.write(source)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "CONDA_PREFIX", "RECODE_LOG")}
        env.update(RECODE_OFFLINE="1", RECODE_CACHE_DIR=os.path.join(root, "cache"))
        server = Server(args.binary, root, env)
        uri = "file://" + path
        server.request("initialize", {
            "processId": os.getpid(), "rootUri": "file://" + root, "capabilities": {},
            "initializationOptions": {"debounceMs": args.debounce_ms},
        })
        server.notify("initialized", {})
        server.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": source}})
        _, first = server.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"].get("version") == 1)
        findings = len(first["params"]["diagnostics"])

        rng = random.Random(args.seed)
        lines = source.split("\n")
        latencies = []
        for version in range(2, args.edits + 2):
            line = rng.randrange(len(lines) - 1)
            end = len(lines[line])
            change = {"range": {"start": {"line": line, "character": end}, "end": {"line": line, "character": end}}, "text": "  # edited"}
            lines[line] += "  # edited"
            sent = time.perf_counter()
            server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]})
            at, message = server.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"].get("version") == version)
            assert len(message["params"]["diagnostics"]) == findings, "an edit in a comment changes no finding"
            latencies.append((at - sent) * 1000)

        rss = rss_mib(server.process.pid)
        server.request("shutdown", None)
        server.notify("exit", None)
        server.process.wait(timeout=10)

    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]
    print(f"binary: {args.binary}")
    print(f"{LINES} lines, {findings} findings, {len(latencies)} edits, debounce {args.debounce_ms} ms")
    print(f"didChange -> publishDiagnostics: median {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms")
    print(f"resident memory (no model loaded): {rss:.1f} MiB")


if __name__ == "__main__":
    main()
