"""Test sets for ``imhi eval``: IMHI-format CSV, built pair JSONL, or a labelled CSV asked zero-shot.

Reads the test file a recipe names; writes nothing (the CLI writes the rows to the run
folder). Every row becomes ``{id, task, query, answer, label, messages}``. Labelled CSV
sets (e.g. the safety set) get a strict-JSON zero-shot query per task: the model must
answer ``{"label": ..., "confidence": ...}`` and anything else is unparsed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from imhi.config import Strict
from imhi.evaluation.references import read_reference_csv
from imhi.io import InputError, read_jsonl
from imhi.tasks import TaskSpec, load_tasks


class TestSet(Strict):
    """One test file and how to read it."""

    __test__ = False  # not a pytest class

    name: str
    path: str
    format: Literal["imhi_csv", "pairs", "labelled_csv"] = "imhi_csv"
    tasks: list[str] | None = Field(default=None, description="tasks asked in this file (default: all)")
    limit: int | None = Field(default=None, description="first N rows per task")
    optional: bool = Field(default=False, description="skip with a warning when the file is absent")
    text_column: str = "statement"
    label_column: str = "Safety type"
    reference_column: str = "gpt-3.5-turbo"


def json_query(task: TaskSpec, text: str) -> str:
    """A zero-shot strict-JSON classification prompt for one text."""
    labels = ", ".join(json.dumps(n, ensure_ascii=False) for n in task.label_names)
    return (f"{task.description.strip()}\n\nStatement: \"{text.strip()}\"\n\nQuestion: {task.question}\n"
            f"Answer with JSON only, no other text: {{\"label\": <one of {labels}>, "
            f"\"confidence\": <a number from 0 to 1>}}")


def _labelled(ts: TestSet, tasks: dict[str, TaskSpec]) -> list[dict[str, Any]]:
    import pandas as pd

    path = Path(ts.path)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in (ts.text_column, ts.label_column):
        if col not in df.columns:
            raise InputError(path, f"missing column (columns: {', '.join(df.columns)})", field=col)
    rows = []
    for name, task in tasks.items():
        for i, (text, raw) in enumerate(zip(df[ts.text_column], df[ts.label_column], strict=True), start=1):
            label = task.check_label(raw, where=path, row=i, field=ts.label_column)
            rows.append({"id": f"{ts.name}-{name}-{i}", "task": name, "text": text,
                         "query": json_query(task, text), "label": label,
                         "answer": json.dumps({"label": label, "confidence": 1.0})})
    return rows


def _pairs(ts: TestSet, tasks: dict[str, TaskSpec] | None) -> list[dict[str, Any]]:
    rows = []
    for i, row in enumerate(read_jsonl(ts.path), start=1):
        for key in ("id", "task", "query", "label"):
            if row.get(key) in (None, ""):
                raise InputError(ts.path, "missing value", row=i, field=key)
        if tasks is None or row["task"] in tasks:
            rows.append({**row, "id": f"{ts.name}-{row['id']}"})
    return rows


def read_test_set(ts: TestSet, prompts: str | None = None) -> list[dict[str, Any]]:
    """Rows of one test set (limit applied per task); [] for an absent optional file."""
    path = Path(ts.path)
    if not path.is_file():
        if ts.optional:
            return []
        raise InputError(path, f"test set '{ts.name}' not found", field="path")
    tasks = load_tasks(ts.tasks, prompts) if ts.tasks else None
    if ts.format == "pairs":
        rows = _pairs(ts, tasks)
    elif ts.format == "labelled_csv":
        if tasks is None:
            raise InputError(path, "a labelled_csv test set must list its tasks", field="tasks")
        rows = _labelled(ts, tasks)
    else:
        rows = read_reference_csv(path, tasks or load_tasks(None, prompts), ts.reference_column)
        rows = [{**r, "id": f"{ts.name}-{r['id'].rsplit('-', 1)[-1]}"} for r in rows]
    return _limit(rows, ts.limit)


def _limit(rows: list[dict[str, Any]], limit: int | None) -> list[dict[str, Any]]:
    if limit is None:
        return rows
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        seen[r["task"]] = seen.get(r["task"], 0) + 1
        if seen[r["task"]] <= limit:
            out.append(r)
    return out
