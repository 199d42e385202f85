"""Audit released explanations with the synthesis filters (artifacts, length, duplicates).

Reads IMHI release CSVs (columns ``query`` and the reference column, default
``gpt-3.5-turbo``), e.g. ../shared/data/imhi/train/*/train.csv; writes nothing unless
--out is given (a JSON of counts and a few short examples per filter). Each filter runs
on every row independently (not first-failure), so the counts overlap.
Run: ``.venv/bin/python benchmarks/artifact_audit.py ../shared/data/imhi/train/*/train.csv``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imhi.io import InputError  # noqa: E402
from imhi.sources import question_index, split_imhi_query  # noqa: E402
from imhi.synthesis.filters import FILTERS, Candidate, Context, FilterConfig  # noqa: E402
from imhi.synthesis.parse import parse_reply  # noqa: E402
from imhi.tasks import TaskSpec, load_tasks, normalize  # noqa: E402

AUDITED = ["empty", "truncated", "no_reasoning", "hedge", "prompt_echo", "example_reference",
           "length", "exact_duplicate", "near_duplicate"]


def audit_file(path: Path, column: str = "gpt-3.5-turbo", examples: int = 3) -> dict[str, Any]:
    """Counts per filter (and unreadable rows) for one release file."""
    tasks = dataset_tasks(path)
    index = question_index(tasks)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    ctx = Context(FilterConfig())
    counts = dict.fromkeys([*AUDITED, "unreadable_label", "any"], 0)
    shown: dict[str, list[str]] = {k: [] for k in counts}
    for n, row in enumerate(frame.to_dict("records"), start=1):
        parts = split_imhi_query(row["query"])
        names = index.get(normalize(parts[1]), []) if parts else []
        if len(names) != 1:
            raise InputError(path, "question matches no single task", row=n, field="query")
        task = tasks[names[0]]
        parsed = parse_reply(task, row[column])
        cand = Candidate(id=f"row{n}", task=task, gold=parsed.label or "", raw=row[column],
                         stated=parsed.label, explanation=parsed.explanation, marker=parsed.marker)
        if parsed.label is None:
            _hit(counts, shown, "unreadable_label", parsed.sentence, examples)
        hits = {name: FILTERS[name].fn(cand, ctx) for name in AUDITED}
        if hits["exact_duplicate"]:
            hits["near_duplicate"] = None  # counted once, as exact
        for name, reason in hits.items():
            if reason:
                _hit(counts, shown, name, f"{reason} ⟨{_around(cand.explanation, reason)}⟩", examples)
        counts["any"] += any(hits.values())
        if not hits["exact_duplicate"] and not hits["near_duplicate"]:
            ctx.index.add(cand.id, cand.explanation)
    return {"file": str(path), "rows": len(frame), "counts": counts,
            "examples": {k: v for k, v in shown.items() if v}}


def dataset_tasks(path: Path) -> dict[str, TaskSpec]:
    """Tasks of the release dataset a file belongs to (its folder or file stem, e.g. DR, SAD)."""
    tasks = load_tasks()
    for name in (path.parent.name.lower(), path.stem.lower()):
        picked = {k: t for k, t in tasks.items() if t.dataset.lower() == name}
        if picked:
            return picked
    return tasks


def _around(text: str, reason: str, width: int = 45) -> str:
    """A short window of the explanation around the matched phrase (or its end)."""
    quoted = reason.split("'")
    i = text.find(quoted[1]) if len(quoted) > 2 else -1
    if i < 0:
        return "…" + text[-width:]
    return "…" + text[max(0, i - width):i + len(quoted[1]) + width] + "…"


def _hit(counts: dict[str, int], shown: dict[str, list[str]], name: str, text: str, k: int) -> None:
    counts[name] += 1
    if len(shown[name]) < k:
        shown[name].append(text[:200])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--column", default="gpt-3.5-turbo")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    results = [audit_file(p, args.column) for p in args.files]
    for res in results:
        print(f"\n{res['file']} ({res['rows']} rows)")
        for name, n in res["counts"].items():
            print(f"  {name:18s} {n:6d}  ({100 * n / max(1, res['rows']):.1f}%)")
        for name, ex in res["examples"].items():
            print(f"  e.g. {name}: " + " | ".join(ex))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
