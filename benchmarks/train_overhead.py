"""Overhead of an ``imhi train`` stage against a plain TRL SFTTrainer script, in one run.

Reads an ``imhi build`` dataset folder (default: the bundled sample's build); writes
``<out>/train_overhead.json`` and prints a table. Both sides train the same model (SmolLM2-135M
by default; ``--quantization 4bit`` for NF4 QLoRA), the same rows for one epoch, with the same LoRA and SFTConfig
settings; each run is a fresh subprocess so peak memory is its own. Throughput is TRL's count
of trained (non-padding) tokens over the Trainer's train_runtime.

    .venv/bin/python benchmarks/train_overhead.py --repeats 2
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SFT = {"num_train_epochs": 1, "per_device_train_batch_size": 4, "learning_rate": 5e-4,
       "lr_scheduler_type": "constant", "max_length": 384, "logging_steps": 5, "save_strategy": "no",
       "seed": 42, "report_to": "none", "completion_only_loss": True, "bf16": False,
       "gradient_checkpointing": False, "use_cpu": True, "disable_tqdm": True}
LORA = {"r": 8, "alpha": 16, "dropout": 0.05, "target_modules": "all-linear"}


def run_imhi(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """One stage through imhi.training (the code `imhi train` runs)."""
    from imhi.training import TrainRecipe, run_stage

    sft = {k: v for k, v in SFT.items() if k not in ("seed", "save_strategy")}
    sft["save_steps"] = 10_000  # imhi always checkpoints by steps; keep it out of the timing
    recipe = TrainRecipe.model_validate({
        "name": "bench", "output_root": str(out), "seed": 42, "lora": LORA,
        "model": {"path": args.model, "quantization": args.quantization},
        "stages": [{"data": [{"path": args.data, "tasks": args.tasks}], "sft": sft}]})
    result = run_stage(recipe, 0, None)
    return {k: result.metrics[k] for k in ("num_tokens", "train_runtime", "tokens_per_s", "peak_rss_mib",
                                           "train_loss", "train_rows")}


def run_trl(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The plain TRL script a user would write: transformers + bitsandbytes + peft + SFTTrainer."""
    import random
    import resource

    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, set_seed
    from trl import SFTConfig, SFTTrainer

    from imhi.models import ModelRef, materialize  # only to find the converted GGUF folder

    folder = materialize(ModelRef(path=args.model))
    rows = [json.loads(line) for line in Path(args.data, "train.jsonl").read_text().splitlines() if line]
    rows = [r for r in rows if not args.tasks or r["task"] in args.tasks]
    random.Random(42).shuffle(rows)  # imhi shuffles its mix the same way
    data = Dataset.from_list([{"prompt": [m for m in r["messages"] if m["role"] != "assistant"],
                               "completion": [m for m in r["messages"] if m["role"] == "assistant"][-1:]}
                              for r in rows])
    quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                               bnb_4bit_compute_dtype=torch.float32) if args.quantization == "4bit" else None
    tok = AutoTokenizer.from_pretrained(folder)
    tok.padding_side = "right"
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, quantization_config=quant)
    if quant is not None:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    set_seed(42)
    model = get_peft_model(model, LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                                             target_modules=LORA["target_modules"], task_type="CAUSAL_LM"))
    trainer = SFTTrainer(model=model, args=SFTConfig(output_dir=str(out / "trl"), **SFT), train_dataset=data,
                         processing_class=tok)
    metrics = trainer.train().metrics
    tokens = int(trainer._total_train_tokens)
    return {"num_tokens": tokens, "train_runtime": metrics["train_runtime"],
            "tokens_per_s": round(tokens / metrics["train_runtime"], 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "train_loss": metrics["train_loss"], "train_rows": len(rows)}


def child(args: argparse.Namespace) -> None:
    """Run one side in this process and print its figures as the last line (JSON)."""
    with tempfile.TemporaryDirectory() as tmp:
        fn = run_imhi if args.child == "imhi" else run_trl
        print(json.dumps(fn(args, Path(tmp))))


def _child_cpu() -> float:
    """User + system CPU seconds of every finished child so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def parent(args: argparse.Namespace) -> None:
    """Alternate imhi / TRL subprocesses ``repeats`` times; report medians and the ratio."""
    runs: dict[str, list[dict[str, Any]]] = {"imhi": [], "trl": []}
    for i in range(args.repeats):
        for side in (("imhi", "trl") if i % 2 == 0 else ("trl", "imhi")):
            cmd = [sys.executable, __file__, "--child", side, "--data", args.data, "--model", args.model,
                   "--quantization", args.quantization, *(["--tasks", *args.tasks] if args.tasks else [])]
            t0, cpu0 = time.perf_counter(), _child_cpu()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
            if proc.returncode != 0:
                sys.exit(f"{side} run failed:\n{proc.stderr[-3000:]}")
            figures = json.loads(proc.stdout.strip().splitlines()[-1])
            figures["process_s"] = round(time.perf_counter() - t0, 1)
            # CPU seconds of the whole child (load + train): robust to other jobs sharing the cores.
            figures["process_cpu_s"] = round(_child_cpu() - cpu0, 1)
            runs[side].append(figures)
            print(f"run {i + 1} {side}: {figures}", flush=True)
    summary = {side: {k: statistics.median(r[k] for r in rs) for k in ("tokens_per_s", "peak_rss_mib",
                                                                       "num_tokens", "process_s",
                                                                       "process_cpu_s")}
               for side, rs in runs.items()}
    ratio = summary["imhi"]["tokens_per_s"] / summary["trl"]["tokens_per_s"]
    # each repeat's two runs ran back to back: their ratio cancels slow drifts of a shared machine
    paired = [a["tokens_per_s"] / b["tokens_per_s"] for a, b in zip(runs["imhi"], runs["trl"], strict=True)]
    mem = summary["imhi"]["peak_rss_mib"] / summary["trl"]["peak_rss_mib"]
    report = {"settings": {"model": args.model, "quantization": args.quantization, "data": args.data,
                           "sft": SFT, "lora": LORA}, "runs": runs, "median": summary,
              "imhi_over_trl_tokens_per_s": round(ratio, 4), "imhi_over_trl_peak_rss": round(mem, 4),
              "paired_ratios": [round(r, 4) for r in paired],
              "imhi_over_trl_paired_median": round(statistics.median(paired), 4)}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "train_overhead.json").write_text(json.dumps(report, indent=2))
    print("\n| side | tokens/s | peak RSS MiB | tokens | process s | process CPU s |\n"
          "|---|---:|---:|---:|---:|---:|")
    for side, s in summary.items():
        print(f"| {side} | {s['tokens_per_s']:.1f} | {s['peak_rss_mib']:.0f} | {s['num_tokens']:.0f} | "
              f"{s['process_s']:.1f} | {s['process_cpu_s']:.1f} |")
    print(f"\nimhi/TRL throughput {ratio:.3f} (goal ≥ 0.95; median of the per-repeat ratios "
          f"{statistics.median(paired):.3f}), peak memory {mem:.3f}")


def main() -> None:
    """Parse arguments; run as the parent (both sides) or as one child side."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "runs" / "build" / "sample-reference" / "dataset"))
    ap.add_argument("--tasks", nargs="*", default=None)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--quantization", default="none", choices=["none", "4bit"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "runs" / "bench"))
    ap.add_argument("--child", choices=["imhi", "trl"], default=None)
    args = ap.parse_args()
    child(args) if args.child else parent(args)


if __name__ == "__main__":
    main()
