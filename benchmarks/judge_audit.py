"""Audit of the ``rules`` consistency judge on the shared IMHI reference files, and its speed.

For every IMHI file (train/val of DR, dreaddit and SAD; test, complete and expert of all five
sets) the gold label is read from the reference's label sentence and the explanation is what
follows "Reasoning:". The judge reads the explanation alone; a row is *flagged* when its verdict
contradicts the gold label (:func:`imhi.judges.verdict.contradicts`). Prints, per file, the rows,
the verdict rate and the flagged rows, then the judge's speed: rows/s over the DR + dreaddit +
SAD train files, median of 3 runs of the judging only (the CSV reading is not timed).

Usage: ``python benchmarks/judge_audit.py [--data ../shared/data/imhi] [--out /tmp/audit/out.json]``.
Reads the shared data; writes every row (flagged and not, with the verdict and the sentence it
was read from) to the ``--out`` JSON file for reading by hand.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imhi.evaluation.references import read_reference_csv
from imhi.judges.rules import conclusion
from imhi.judges.verdict import contradicts
from imhi.tasks import TaskSpec, load_tasks

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "imhi"
SETS = {"DR": ["dr"], "dreaddit": ["dreaddit"], "SAD": ["sad"], "Irf": ["irf_tb", "irf_pb"],
        "MultiWD": [f"multiwd_{d}" for d in ("spiritual", "physical", "intellectual", "social", "vocational",
                                              "emotional")]}
OUT = Path(tempfile.gettempdir()) / "audit" / "out.json"  # /tmp/audit/out.json
SPEED_FILES = ("train/DR/train.csv", "train/dreaddit/train.csv", "train/SAD/train.csv")


@dataclass
class FileAudit:
    """One file's rows and what the judge made of them."""

    name: str  # relative to the data folder, e.g. "test/DR.csv"
    rows: list[dict[str, Any]]  # {row, task, label, explanation, verdict, reason, flagged}

    @property
    def verdicts(self) -> int:
        """Rows with a verdict."""
        return sum(r["reason"] is not None for r in self.rows)

    @property
    def flagged(self) -> list[dict[str, Any]]:
        """Rows whose verdict contradicts the gold label."""
        return [r for r in self.rows if r["flagged"]]


def files(data: Path) -> list[tuple[str, list[str]]]:
    """(file relative to ``data``, task names) of every IMHI file present, in a fixed order."""
    names = [(f"train/{s}/{part}.csv", SETS[s]) for s in ("DR", "dreaddit", "SAD") for part in ("train", "val")]
    names += [(f"{kind}/{s}.csv", SETS[s]) for kind in ("test", "complete", "expert") for s in SETS]
    return [(n, tasks) for n, tasks in names if (data / n).is_file()]


def load(data: Path, name: str, task_names: list[str]) -> tuple[dict[str, TaskSpec], list[dict[str, Any]]]:
    """The tasks and reference rows (gold label, explanation) of one file."""
    tasks = load_tasks(task_names)
    return tasks, read_reference_csv(data / name, tasks)


def audit_file(data: Path, name: str, task_names: list[str]) -> FileAudit:
    """Judge every row of one file; rows are numbered from 1 as the reference reader numbers them."""
    return judge_rows(name, *load(data, name, task_names))


def judge_rows(name: str, tasks: dict[str, TaskSpec], refs: list[dict[str, Any]]) -> FileAudit:
    """Judge reference rows already read from the file ``name``."""
    rows = []
    for i, ref in enumerate(refs, start=1):
        task = tasks[ref["task"]]
        verdict = conclusion(task, ref["explanation"] or "")
        rows.append({"row": i, "task": ref["task"], "label": ref["label"], "explanation": ref["explanation"],
                     "verdict": verdict.label if verdict else None, "reason": verdict.reason if verdict else None,
                     "flagged": contradicts(task, verdict, ref["label"])})
    return FileAudit(name, rows)


def audit(data: Path = DATA) -> list[FileAudit]:
    """Every IMHI file present under ``data``, judged."""
    return [audit_file(data, name, tasks) for name, tasks in files(data)]


def speed(data: Path = DATA, runs: int = 3) -> tuple[int, float]:
    """(rows, rows per second): the judge alone over the DR, dreaddit and SAD train files,
    median of ``runs`` runs."""
    items: list[tuple[TaskSpec, str]] = []
    for name, task_names in files(data):
        if name in SPEED_FILES:
            tasks, refs = load(data, name, task_names)
            items += [(tasks[r["task"]], r["explanation"] or "") for r in refs]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for task, text in items:
            conclusion(task, text)
        times.append(time.perf_counter() - start)
    return len(items), len(items) / statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Print the per-file audit and the speed; write every row to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared IMHI folder")
    parser.add_argument("--out", type=Path, default=OUT, help="every row, as JSON")
    args = parser.parse_args(argv)
    if not files(args.data):
        print(f"no IMHI files under {args.data}", file=sys.stderr)
        return 1
    audits = audit(args.data)
    for a in audits:
        n = len(a.rows)
        print(f"{a.name:26s} rows {n:5d}  verdict {a.verdicts / n:6.1%}  "
              f"flagged {len(a.flagged):4d} ({len(a.flagged) / n:.2%})")
    total = sum(len(a.rows) for a in audits)
    print(f"{'total':26s} rows {total:5d}  flagged {sum(len(a.flagged) for a in audits)}")
    rows, per_s = speed(args.data)
    print(f"speed: {per_s:,.0f} rows/s (judge only, {rows} rows of the DR, dreaddit and SAD train files, "
          "median of 3 runs)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({a.name: a.rows for a in audits}, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
