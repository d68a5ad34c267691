#!/usr/bin/env python3
"""Seconds per GRPO step: recode-train against TRL's GRPOTrainer with PEFT
DoRA, on the same model, prompt, group size, lengths and thread count, in
one run, and the ratio.

Usage: python3 benches/grpo_vs_trl.py [--threads 2] [--steps 4] [--group 8]
           [--new-tokens 64] [--rank 64] [--model GGUF] [--recode-train PATH]

The setting (the brief's): SmolLM2-135M-Instruct, DoRA r 64 / alpha 64 on
q_proj and v_proj, one prompt x `--group` samples per step, `--new-tokens`
new tokens (EOS ignored so both engines generate exactly that many), f32,
`--threads` CPU threads, GRPO with the KL term (beta 0.04), one optimiser
step per generation, sampling at temperature 1 until EOS or the token limit
(the mean completion lengths of both are printed: compare like with like).
The prompt is one row of the shared training data (`--row`) rendered by
recode's own prompt code with one worked example: recode-train trains on a
one-row data file, and TRL gets the text `recode-train prompt` prints for
that row.

Both engines start from the same weights: the GGUF (Q4_1) dequantised to
f32. TRL gets them as a Hugging Face directory written by transformers'
GGUF loader (the `gguf` package); recode-train reads the GGUF itself.

recode-train scores with its own reward (format + ES*), TRL with the
format reward in Python; either costs microseconds next to generation and
the backward pass. The first step of each engine is a warm-up and is not counted; the
median of the remaining steps is reported.

Requirements: a built recode-train (`cargo build --release -p recode-train`;
default target/release/recode-train, then target/debug/recode-train), the
default model fetched (`recode model fetch`), and a venv with torch,
transformers, trl, peft, gguf and datasets, which this script creates under
$RECODE_BENCH_DIR (default /tmp/recode-bench) unless --python names one.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("RECODE_BENCH_DIR", "/tmp/recode-bench"))
DATA = ROOT.parent / "shared" / "data" / "recode-train" / "train.jsonl"

TRL_SNIPPET = r"""
import json, re, sys, time, statistics
import torch
args = json.loads(sys.argv[1])
torch.set_num_threads(args["threads"])
torch.manual_seed(0)
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

tokenizer = AutoTokenizer.from_pretrained(args["hf_dir"])
model = AutoModelForCausalLM.from_pretrained(args["hf_dir"], torch_dtype=torch.float32)
prompt = open(args["prompt_file"], encoding="utf-8").read()
dataset = Dataset.from_list([{"prompt": prompt}] * (args["steps"] + 1))

FORMAT = re.compile(r"^\s*(?:.*?)</think>\s*<answer>.*?</answer>\s*$", re.S)
def format_reward(completions, **kwargs):
    return [1.0 if FORMAT.match(c) else -1.0 for c in completions]

class StepTimer(TrainerCallback):
    def __init__(self):
        self.times, self.lengths, self.started = [], [], None
    def on_step_begin(self, *a, **k):
        self.started = time.perf_counter()
    def on_step_end(self, *a, **k):
        self.times.append(time.perf_counter() - self.started)
    def on_log(self, args, state, control, logs=None, **k):
        if logs and "completions/mean_length" in logs:
            self.lengths.append(float(logs["completions/mean_length"]))

config = GRPOConfig(
    output_dir=args["out"], use_cpu=True, bf16=False, fp16=False,
    per_device_train_batch_size=args["group"], num_generations=args["group"],
    generation_batch_size=args["group"], max_completion_length=args["new_tokens"],
    temperature=1.0, beta=0.04, num_iterations=1, learning_rate=5e-5,
    max_steps=args["steps"] + 1, logging_steps=1, save_strategy="no", report_to=[],
    # Checkpointing turns the KV cache off during generation (every token
    # recomputes the whole prefix); recode-train keeps its cache, so must TRL.
    gradient_checkpointing=False,
    dataloader_num_workers=0, seed=0,
)
peft = LoraConfig(r=args["rank"], lora_alpha=args["rank"], target_modules=["q_proj", "v_proj"],
                  use_dora=True, lora_dropout=0.0, task_type="CAUSAL_LM")
timer = StepTimer()
trainer = GRPOTrainer(model=model, reward_funcs=format_reward, args=config, train_dataset=dataset,
                      processing_class=tokenizer, peft_config=peft, callbacks=[timer])
trainer.train()
print(json.dumps({"step_seconds": timer.times, "completion_lengths": timer.lengths}))
"""

CONVERT_SNIPPET = r"""
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
gguf_dir, gguf_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, torch_dtype=torch.float32)
# transformers marks a model read from GGUF as quantized and refuses to save
# it; the weights are plain f32 by now, so move them to a plain model.
model = AutoModelForCausalLM.from_config(loaded.config, torch_dtype=torch.float32)
model.load_state_dict(loaded.state_dict())
tokenizer.save_pretrained(out)
model.save_pretrained(out)
import json, pathlib
config = pathlib.Path(out) / "config.json"
fields = json.loads(config.read_text())
fields.pop("quantization_config", None)
config.write_text(json.dumps(fields, indent=2))
"""


def run(cmd, **kw):
    print("+", " ".join(str(c) for c in cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def python_env(given):
    if given:
        return Path(given)
    venv = WORK / "trl-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(py), "-m", "pip", "install", "--quiet", "--no-cache-dir",
             "torch", "transformers", "trl", "peft", "gguf", "datasets", "accelerate"])
    return py


def default_model():
    out = subprocess.run([str(recode_binary("recode")), "model", "path"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("the default model is not fetched: run `recode model fetch`\n" + out.stderr)
    return Path(out.stdout.strip())


def recode_binary(name, given=None):
    if given:
        return Path(given)
    for profile in ("release", "debug"):
        for target in (os.environ.get("CARGO_TARGET_DIR"), ROOT / "target"):
            if target and (Path(target) / profile / name).exists():
                return Path(target) / profile / name
    sys.exit(f"no built {name}: cargo build --release -p {'recode-train' if name == 'recode-train' else 'recode'}")


def trl_steps(py, hf_dir, prompt_file, a):
    with tempfile.TemporaryDirectory() as out:
        params = {"hf_dir": str(hf_dir), "prompt_file": str(prompt_file), "threads": a.threads,
                  "steps": a.steps, "group": a.group, "new_tokens": a.new_tokens, "rank": a.rank, "out": out}
        env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), MKL_NUM_THREADS=str(a.threads),
                   TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        res = run([str(py), "-c", TRL_SNIPPET, json.dumps(params)], capture_output=True, text=True, env=env)
        result = json.loads([l for l in res.stdout.splitlines() if l.startswith("{")][-1])
        return result["step_seconds"][1:], result["completion_lengths"][1:]


def recode_steps(trainer, model, data_file, a):
    """`recode-train train` on the one-row data file: `--steps` + 1 steps of
    one prompt x `--group` samples; step times and lengths from metrics.jsonl."""
    with tempfile.TemporaryDirectory() as out:
        config = Path(out) / "bench.toml"
        config.write_text(f"""algorithm = "grpo"
[model]
path = "{model}"
[adapter]
dora = true
r = {a.rank}
alpha = {a.rank}
targets = ["q_proj", "v_proj"]
[data]
file = "{data_file}"
val_fraction = 0.0
k_examples = 1
[rollout]
group_size = {a.group}
prompts_per_step = 1
temperature = 1.0
max_new_tokens = {a.new_tokens}
[grpo]
beta = 0.04
[optimizer]
steps = {a.steps + 1}
warmup_steps = 0
grad_accumulation = {a.accumulation}
[run]
checkpoint_every = 1000
""", encoding="utf-8")
        run_dir = Path(out) / "run"
        run([str(trainer), "train", "--config", str(config), "--out", str(run_dir)],
            env=dict(os.environ, RAYON_NUM_THREADS=str(a.threads)), stdout=subprocess.DEVNULL)
        rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines() if l.strip()]
        return [r["step_seconds"] for r in rows][1:], [r["completion_len_mean"] for r in rows][1:]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--group", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--rank", type=int, default=64)
    p.add_argument("--model", help="GGUF (default: the fetched default model)")
    p.add_argument("--python", help="a python with torch/transformers/trl/peft/gguf/datasets")
    p.add_argument("--recode-train")
    p.add_argument("--row", type=int, default=0, help="the training row (line) to use as the prompt")
    p.add_argument("--accumulation", type=int, default=1,
                   help="recode-train's backward micro-batches per step (memory; the same work)")
    a = p.parse_args()

    model = Path(a.model) if a.model else default_model()
    trainer = recode_binary("recode-train", a.recode_train)
    py = python_env(a.python)
    WORK.mkdir(parents=True, exist_ok=True)
    hf_dir = WORK / "smollm2-hf-f32"
    if not (hf_dir / "config.json").exists():
        run([str(py), "-c", CONVERT_SNIPPET, str(model.parent), model.name, str(hf_dir)])
    data_file = WORK / "grpo-row.jsonl"
    data_file.write_text(DATA.read_text(encoding="utf-8").splitlines()[a.row] + "\n", encoding="utf-8")
    prompt_file = WORK / "grpo-prompt.txt"
    prompt = subprocess.run([str(trainer), "prompt", "--file", str(data_file), "--k-examples", "1"],
                            check=True, capture_output=True, text=True).stdout
    prompt_file.write_text(prompt, encoding="utf-8")

    recode, recode_lengths = recode_steps(trainer, model, data_file, a)
    trl, trl_lengths = trl_steps(py, hf_dir, prompt_file, a)
    r, t = statistics.median(recode), statistics.median(trl)
    print(json.dumps({
        "setting": {"threads": a.threads, "group": a.group, "new_tokens": a.new_tokens, "rank": a.rank,
                    "targets": ["q_proj", "v_proj"], "dora": True, "dtype": "f32", "timed_steps": a.steps},
        "recode_train_seconds_per_step": r, "trl_seconds_per_step": t,
        "recode_steps": recode, "trl_steps": trl,
        "recode_completion_lengths": recode_lengths, "trl_completion_lengths": trl_lengths,
        "speedup_vs_trl": t / r,
    }, indent=2))


if __name__ == "__main__":
    main()
