"""The extractor's one set of defaults on small and large tasks, and the classifier as a judge.

Reads the IMHI release under ``--data`` (default ``../shared/data``) and the recipe
``evaluate/extractor.yaml``; writes ``<out>/imhi/`` (DR, dreaddit, SAD classifiers from the
IMHI train files), ``<out>/split/<task>/`` (a task trained on a seeded 80/20 split of a test file) and
``<out>/judge.json`` (flag rates and flagged rows); prints test accuracy and wall time per
task, then the share of val/test rows where the classifier contradicts the gold label with
probability ≥ each threshold, and a few flagged rows at ``--threshold``. Classifiers already
trained under ``--out`` are reused (delete the folder to retrain).

    .venv/bin/python benchmarks/extractor_defaults.py --out runs/extractor-bench
    .venv/bin/python benchmarks/extractor_defaults.py --set learning_rate=5e-5 --only imhi
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

from imhi.config import load_recipe
from imhi.evaluation.classifier import ExtractorConfig, read_examples, train_extractor
from imhi.judges.classifier import ExtractorClassifier
from imhi.tasks import load_tasks

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
JUDGED = {"dr": "DR", "dreaddit": "dreaddit", "sad": "SAD"}


def imhi_config(args: argparse.Namespace) -> ExtractorConfig:
    """The shipped recipe with its data paths under ``--data`` and ``--set`` overrides only."""
    cfg = load_recipe(ROOT / "evaluate" / "extractor.yaml", ExtractorConfig, args.set)
    fix = [str(args.data / p.split("shared/data/", 1)[1]) for p in cfg.train]
    evals = [str(args.data / p.split("shared/data/", 1)[1]) for p in cfg.eval]
    return cfg.model_copy(update={"train": fix, "eval": evals, "out": str(args.out / "imhi")})


def split_config(args: argparse.Namespace) -> ExtractorConfig:
    """Defaults (plus ``--set``) for one task trained on 80% of a test file, tested on 20%."""
    data = {"tasks": [args.split_task], "out": str(args.out / "split" / args.split_task),
            "split_from": [{"path": str(args.data / "imhi" / "test" / args.split_file), "test": 0.2,
                            "seed": 0}]}
    for item in args.set:
        key, value = item.split("=", 1)
        data[key] = json.loads(value) if value[:1] in "[{" else _number(value)
    return ExtractorConfig.model_validate(data)


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"none": None, "null": None}.get(text.lower(), text)


def train(cfg: ExtractorConfig) -> dict[str, Any]:
    """Train (or reuse) and print test accuracy and wall time per task."""
    report = train_extractor(cfg)
    for task, f in report["tasks"].items():
        tests = ", ".join(f"{k} {v:.3f}" for k, v in f["test"].items())
        print(f"{task:18} train {f.get('train_n')} val {f.get('val_n')} val_acc {f.get('val_accuracy')}"
              f" batch {f.get('batch_size')} steps {f.get('steps')}/{f.get('planned_steps')}"
              f" epochs {f.get('epochs')} wall {f.get('wall_s')} s | test: {tests}")
    for line in report["warnings"]:
        print("warning:", line)
    return report


def judge_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every val/test row of DR, dreaddit, SAD with the classifier's top label and probability."""
    tasks = load_tasks(list(JUDGED))
    clf = ExtractorClassifier(args.out / "imhi")
    rows = []
    for task, folder in JUDGED.items():
        for split, path in (("val", args.data / "imhi" / "train" / folder / "val.csv"),
                            ("test", args.data / "imhi" / "test" / f"{folder}.csv")):
            pairs = read_examples(path, tasks)
            names, probs = clf.probabilities(task, [p.text for p in pairs])
            for p, row in zip(pairs, probs, strict=True):
                best = max(range(len(row)), key=row.__getitem__)
                rows.append({"task": task, "split": split, "file": str(path.relative_to(args.data)),
                             "row": p.row, "gold": p.label, "pred": names[best], "p": row[best],
                             "text": p.text})
    return rows


def flag_table(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Flag rate per task/split and overall at each threshold."""
    groups: dict[str, list[dict[str, Any]]] = {"all": rows}
    for r in rows:
        groups.setdefault(f"{r['task']}/{r['split']}", []).append(r)
    return {g: {str(t): sum(r["pred"] != r["gold"] and r["p"] >= t for r in rs) / len(rs)
                for t in THRESHOLDS} for g, rs in groups.items()}


def judge(args: argparse.Namespace) -> None:
    """Print the flag-rate table and quote flagged rows at ``--threshold``."""
    rows = judge_rows(args)
    table = flag_table(rows)
    print(f"\nflag rate (top label ≠ gold with p ≥ t), {len(rows)} rows")
    print(f"{'group':16} {'n':>5} " + " ".join(f"{t:>6}" for t in THRESHOLDS))
    for g, rates in table.items():
        n = len(rows) if g == "all" else sum(f"{r['task']}/{r['split']}" == g for r in rows)
        print(f"{g:16} {n:>5} " + " ".join(f"{100 * rates[str(t)]:5.1f}%" for t in THRESHOLDS))
    flagged = [r for r in rows if r["pred"] != r["gold"] and r["p"] >= args.threshold]
    (args.out / "judge.json").write_text(json.dumps({"table": table, "threshold": args.threshold,
                                                     "flagged": flagged}, indent=1), encoding="utf-8")
    print(f"\n{len(flagged)} rows flagged at p ≥ {args.threshold}; {args.quote} of them (seeded sample):")
    for r in random.Random(0).sample(flagged, min(args.quote, len(flagged))):
        print(f"- {r['file']} row {r['row']}: gold {r['gold']}, predicted {r['pred']} (p={r['p']:.3f})\n"
              f"  …{r['text'][-200:]}")


def main() -> None:
    """Parse options and run the chosen parts."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "extractor-bench")
    ap.add_argument("--set", action="append", default=[], help="recipe override key=value")
    ap.add_argument("--only", choices=["imhi", "split", "judge"], action="append")
    ap.add_argument("--split-task", default="multiwd_emotional")
    ap.add_argument("--split-file", default="MultiWD.csv")
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--quote", type=int, default=5)
    args = ap.parse_args()
    parts = args.only or ["imhi", "split", "judge"]
    if "imhi" in parts:
        train(imhi_config(args))
    if "split" in parts:
        train(split_config(args))
    if "judge" in parts:
        judge(args)


if __name__ == "__main__":
    main()
