"""Evaluation throughput, in one run.

1. Extraction + metrics: posts/s of label extraction (rule steps) and scikit-learn metrics
   (with and without bootstrap intervals) over every reference answer of the shared IMHI
   test and complete sets, each scored as if a model had written it.
2. Generation: new tokens/s of SmolLM2-135M-Instruct (local transformers, greedy) on a
   sample of IMHI test queries, batches of 24, sorted by prompt length vs unsorted.

Usage: ``python benchmarks/eval_throughput.py [--data ../shared/data/imhi] [--gen-posts 48]
[--max-new-tokens 32] [--out runs/bench/eval_throughput.json]``. Reads the shared data;
writes the JSON figures (and prints them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from imhi.evaluation.references import read_reference_csv  # noqa: E402
from imhi.evaluation.score import MetricsConfig, compute_scores  # noqa: E402
from imhi.generation import GenerationConfig, LocalGenerator  # noqa: E402
from imhi.io import write_json  # noqa: E402
from imhi.judges.extract import extract_many  # noqa: E402
from imhi.models import ModelRef  # noqa: E402
from imhi.tasks import load_tasks  # noqa: E402

FILES = {"DR": ["dr"], "dreaddit": ["dreaddit"], "SAD": ["sad"], "Irf": ["irf_tb", "irf_pb"],
         "MultiWD": [f"multiwd_{d}" for d in
                     ("spiritual", "physical", "intellectual", "social", "vocational", "emotional")]}


def load_references(data: Path) -> list[dict[str, Any]]:
    """Every reference row of test/ and complete/ with its gold label and task."""
    rows = []
    for kind in ("test", "complete"):
        for name, tasks in FILES.items():
            for r in read_reference_csv(data / kind / f"{name}.csv", load_tasks(tasks)):
                rows.append({**r, "prediction": r["answer"], "model": "reference"})
    return rows


def bench_scoring(rows: list[dict[str, Any]], n_boot: int) -> dict[str, Any]:
    """Seconds and posts/s for extraction + metrics over ``rows``."""
    tasks = load_tasks(sorted({r["task"] for r in rows}))
    t0 = time.perf_counter()
    found = extract_many([(tasks[r["task"]], r["prediction"]) for r in rows])
    for r, ex in zip(rows, found, strict=True):
        r["pred_label"], r["parse_status"] = ex.label, ex.step
    t1 = time.perf_counter()
    scores = compute_scores(rows, tasks, MetricsConfig(n_boot=n_boot, plots=False))
    t2 = time.perf_counter()
    unparsed = sum(r["pred_label"] is None for r in rows)
    return {"posts": len(rows), "n_boot": n_boot, "extract_s": round(t1 - t0, 3),
            "metrics_s": round(t2 - t1, 3), "posts_per_s": round(len(rows) / (t2 - t0), 1),
            "extract_posts_per_s": round(len(rows) / (t1 - t0), 1), "unparsed": unparsed,
            "accuracy_min": min(s["accuracy"] for s in scores.values())}


def bench_generation(rows: list[dict[str, Any]], n: int, max_new: int, max_chars: int,
                     seed: int = 0) -> dict[str, Any]:
    """New tokens/s with length-sorted vs unsorted batches of 24 on SmolLM2 (queries ≤ max_chars)."""
    pool = [r for r in rows if r["id"].startswith(("DR", "dreaddit", "SAD")) and len(r["query"]) <= max_chars]
    sample = random.Random(seed).sample(pool, n)
    gen = LocalGenerator(ModelRef(path="smollm2"))
    gen.generate(["warm-up"], 2)
    out: dict[str, Any] = {"posts": n, "batch_size": 24, "max_new_tokens": max_new, "max_chars": max_chars,
                           "prompt_chars": [min(len(r["query"]) for r in sample),
                                            max(len(r["query"]) for r in sample)]}
    for sort in (True, False):
        cfg = GenerationConfig(model=ModelRef(path="smollm2"), batch_size=24, max_new_tokens=max_new,
                               sort_by_length=sort)
        t0 = time.perf_counter()
        stats = gen.run(sample, cfg, lambda row, text: None)
        took = time.perf_counter() - t0
        out["sorted" if sort else "unsorted"] = {"seconds": round(took, 2), "new_tokens": stats.new_tokens,
                                                 "tokens_per_s": round(stats.new_tokens / took, 1),
                                                 "posts_per_s": round(n / took, 2)}
    return out


def main() -> None:
    here = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=here / ".." / "shared" / "data" / "imhi")
    ap.add_argument("--gen-posts", type=int, default=48)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--no-generation", action="store_true", help="only the extraction + metrics figures")
    ap.add_argument("--max-chars", type=int, default=1500, help="longest query in the generation sample")
    ap.add_argument("--out", type=Path, default=here / "runs" / "bench" / "eval_throughput.json")
    args = ap.parse_args()
    rows = load_references(args.data)
    result: dict[str, Any] = {"cpu_count": os.cpu_count(),
                              "scoring": [bench_scoring([dict(r) for r in rows], b) for b in (0, 1000)]}
    print(json.dumps(result, indent=2), flush=True)
    if args.no_generation:
        write_json(args.out, result)
        return
    result["generation"] = bench_generation(rows, args.gen_posts, args.max_new_tokens, args.max_chars)
    write_json(args.out, result)
    print(json.dumps(result["generation"], indent=2))


if __name__ == "__main__":
    main()
