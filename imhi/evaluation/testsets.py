"""Test sets for ``imhi eval``: IMHI-format CSV, built pair JSONL, or a labelled CSV asked zero-shot.

Reads the test file a recipe names (relative paths start at the recipe's ``data_dir``, see
:func:`imhi.sources.data_root`); writes nothing (the CLI writes the rows to the run
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
from imhi.sources import resolve
from imhi.tables import read_table
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
    encoding: str = Field(default="utf-8", description="text encoding of the file (e.g. latin-1)")


def json_query(task: TaskSpec, text: str) -> str:
    """A zero-shot strict-JSON classification prompt for one text."""
    labels = ", ".join(json.dumps(n, ensure_ascii=False) for n in task.label_names)
    return (f"{task.description.strip()}\n\nStatement: \"{text.strip()}\"\n\nQuestion: {task.question}\n"
            f"Answer with JSON only, no other text: {{\"label\": <one of {labels}>, "
            f"\"confidence\": <a number from 0 to 1>}}")


def _labelled(ts: TestSet, path: Path, tasks: dict[str, TaskSpec]) -> list[dict[str, Any]]:
    records = read_table(path, encoding=ts.encoding)
    columns = list(records[0]) if records else []
    for col in (ts.text_column, ts.label_column):
        if records and col not in columns:
            raise InputError(path, f"missing column (columns: {', '.join(columns)})", field=col)
    rows = []
    for name, task in tasks.items():
        for i, record in enumerate(records, start=1):
            text, raw = record[ts.text_column], record[ts.label_column]
            label = task.check_label(raw, where=path, row=i, field=ts.label_column)
            rows.append({"id": f"{ts.name}-{name}-{i}", "task": name, "text": text,
                         "query": json_query(task, text), "label": label,
                         "answer": json.dumps({"label": label, "confidence": 1.0})})
    return rows


def _pairs(ts: TestSet, path: Path, tasks: dict[str, TaskSpec] | None) -> list[dict[str, Any]]:
    rows = []
    for i, row in enumerate(read_jsonl(path, ts.encoding), start=1):
        for key in ("id", "task", "query", "label"):
            if row.get(key) in (None, ""):
                raise InputError(path, "missing value", row=i, field=key)
        if tasks is None or row["task"] in tasks:
            rows.append({**row, "id": f"{ts.name}-{row['id']}"})
    return rows


def read_test_set(ts: TestSet, prompts: str | None = None, base_dir: Path | None = None) -> list[dict[str, Any]]:
    """Rows of one test set (limit applied per task); [] for an absent optional file. A relative
    path starts at ``base_dir`` (see :func:`imhi.sources.data_root`; None: the working folder)."""
    path = resolve(ts.path, base_dir)
    if not path.is_file():
        if ts.optional:
            return []
        raise InputError(path, f"test set '{ts.name}' not found", field="path")
    tasks = load_tasks(ts.tasks, prompts) if ts.tasks else None
    if ts.format == "pairs":
        rows = _pairs(ts, path, tasks)
    elif ts.format == "labelled_csv":
        if tasks is None:
            raise InputError(path, "a labelled_csv test set must list its tasks", field="tasks")
        rows = _labelled(ts, path, tasks)
    else:
        rows = read_reference_csv(path, tasks or load_tasks(None, prompts), ts.reference_column, ts.encoding)
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
