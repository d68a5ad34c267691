#!/usr/bin/env python3
"""Times `recode check` against `ruff check --select NPY` on the same corpus,
in one run, alternating the two, and prints lines/s for each and the ratio.

Usage: python3 benches/check_vs_ruff.py [--runs N] [--threads N] [--corpus DIR]

The default corpus is a copy of this Python's standard library plus the
site-packages of a benchmark venv holding NumPy, pandas, SciPy, scikit-learn
and matplotlib (real code that uses NumPy heavily). The copy lives outside
any site-packages path so neither tool's default excludes apply. Both tools
get the same thread count (RAYON_NUM_THREADS; Ruff uses rayon too).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("RECODE_BENCH_DIR", "/tmp/recode-bench"))
LIBS = ["numpy", "pandas", "scipy", "scikit-learn", "matplotlib", "ruff"]


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def bench_venv():
    venv = WORK / "venv"
    if not (venv / "bin" / "ruff").exists():
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(venv / "bin" / "pip"), "install", "-q", *LIBS])
    return venv


def corpus(venv):
    target = WORK / "corpus"
    if target.exists():
        return target
    site = next((venv / "lib").glob("python3*/site-packages"))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.dylib", "test", "tests")
    shutil.copytree(stdlib, target / "stdlib", ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.pyc", "*.so"))
    for name in ["numpy", "pandas", "scipy", "sklearn", "matplotlib"]:
        shutil.copytree(site / name, target / "site" / name, ignore=ignore)
    return target


def count_lines(root):
    files = lines = 0
    for path in root.rglob("*.py"):
        files += 1
        with open(path, "rb") as f:
            lines += f.read().count(b"\n")
    return files, lines


def timed(cmd, env):
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--corpus", type=Path)
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    venv = bench_venv()
    root = args.corpus or corpus(venv)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    run(["cargo", "build", "--release", "-q", "-p", "recode", "--bin", "recode"], cwd=ROOT)
    recode = target / "release" / "recode"
    ruff = venv / "bin" / "ruff"
    version = subprocess.run([str(ruff), "--version"], capture_output=True, text=True).stdout.strip()

    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    env.pop("VIRTUAL_ENV", None)
    files, lines = count_lines(root)
    # Pin versions so recode reports at NumPy 2 semantics, like NPY201; compare
    # detection alone (Ruff neither fetches release notes nor reads installs).
    recode_cmd = [str(recode), "check", "--format", "json", "-q", "--no-notes", "--no-harvest",
                  "--pin", "numpy==2.1", "--pin", "pandas==2.2", str(root)]
    ruff_cmd = [str(ruff), "check", "--select", "NPY", "--no-cache", "--exit-zero", "-q",
                "--output-format", "concise", "--isolated", str(root)]
    # Warm the page cache and check both run.
    for cmd in (recode_cmd, ruff_cmd):
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL)

    recode_times, ruff_times = [], []
    for _ in range(args.runs):
        recode_times.append(timed(recode_cmd, env))
        ruff_times.append(timed(ruff_cmd, env))
    r, f = statistics.median(recode_times), statistics.median(ruff_times)
    print(f"corpus: {root} ({files} files, {lines} lines), {args.threads} threads, median of {args.runs} runs")
    print(f"recode check      : {r:.3f} s  {lines / r / 1e6:.2f} M lines/s")
    print(f"{version:18}: {f:.3f} s  {lines / f / 1e6:.2f} M lines/s")
    print(f"ratio (ruff time / recode time): {f / r:.2f}x")


if __name__ == "__main__":
    main()
