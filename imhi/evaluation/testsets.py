"""Test sets for ``imhi eval``: IMHI-format CSV, built pair JSONL, or a labelled CSV asked zero-shot.

Reads the test file a recipe names (relative paths start at the recipe's ``data_dir``, see
:func:`imhi.sources.data_root`); writes nothing (the CLI writes the rows to the run
folder). Every row becomes ``{id, task, query, answer, label, messages}``. Labelled CSV
sets (e.g. the safety set) are asked through a named prompt template per task
(:mod:`imhi.prompting.evalprompts`: strict JSON by default, or an answer sentence, or free text;
zero- or k-shot): such a row also carries ``prompt`` (the rendered chat messages), ``template``
and ``strict_steps`` (the extraction steps of the benchmark's strict reading). ``limit`` draws a
seeded sample per task stratified by label (``sample: first`` takes the first rows instead).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from imhi.config import Strict
from imhi.evaluation.references import read_reference_csv
from imhi.io import InputError, read_jsonl
from imhi.judges.extract import check_steps
from imhi.prompting import evalprompts
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
    limit: int | None = Field(default=None, ge=1, description="N rows per task, see `sample`")
    sample: Literal["stratified", "first"] = Field(default="stratified", description="how `limit` picks rows: "
                                                   "a seeded sample stratified by label, or the first N")
    seed: int = Field(default=0, description="seed of the stratified sample")
    prompt: evalprompts.PromptChoice | None = Field(default=None, description="labelled_csv: the prompt template "
                                        "(default: json, zero-shot)")
    optional: bool = Field(default=False, description="skip with a warning when the file is absent")
    text_column: str = "statement"
    label_column: str = "Safety type"
    reference_column: str = "gpt-3.5-turbo"
    encoding: str = Field(default="utf-8", description="text encoding of the file (e.g. latin-1)")


def _labelled(ts: TestSet, path: Path, tasks: dict[str, TaskSpec]) -> list[dict[str, Any]]:
    records = read_table(path, encoding=ts.encoding)
    columns = list(records[0]) if records else []
    for col in (ts.text_column, ts.label_column):
        if records and col not in columns:
            raise InputError(path, f"missing column (columns: {', '.join(columns)})", field=col)
    rows = []
    choice = ts.prompt or evalprompts.PromptChoice()
    for name, task in tasks.items():
        tpl = evalprompts.resolve(task, choice, f"test set '{ts.name}', prompt.template")
        try:
            check_steps(tpl.strict_steps)
        except ValueError as exc:
            raise InputError(f"test set '{ts.name}', prompt.strict_steps", str(exc)) from None
        for i, record in enumerate(records, start=1):
            text, raw = record[ts.text_column], record[ts.label_column]
            label = task.check_label(raw, where=path, row=i, field=ts.label_column)
            prompt = evalprompts.render(task, tpl, text)
            rows.append({"id": f"{ts.name}-{name}-{i}", "task": name, "text": text, "query": prompt[-1]["content"],
                         "label": label, "answer": evalprompts.reference(task, tpl, label),
                         "prompt": prompt, "template": tpl.name, "strict_steps": list(tpl.strict_steps)})
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
    if ts.prompt is not None and ts.format != "labelled_csv":
        raise InputError(path, f"test set '{ts.name}' ({ts.format}) carries its own queries; `prompt:` "
                         "applies to labelled_csv test sets", field="prompt")
    if ts.format == "pairs":
        rows = _pairs(ts, path, tasks)
    elif ts.format == "labelled_csv":
        if tasks is None:
            raise InputError(path, "a labelled_csv test set must list its tasks", field="tasks")
        rows = _labelled(ts, path, tasks)
    else:
        rows = read_reference_csv(path, tasks or load_tasks(None, prompts), ts.reference_column, ts.encoding)
        rows = [{**r, "id": f"{ts.name}-{r['id'].rsplit('-', 1)[-1]}"} for r in rows]
    return [{**r, "test_set": ts.name} for r in _limit(rows, ts.limit, ts.sample, ts.seed)]


def _limit(rows: list[dict[str, Any]], limit: int | None, sample: str = "stratified",
           seed: int = 0) -> list[dict[str, Any]]:
    """``limit`` rows per task, in file order: the first ones, or a seeded sample stratified by label
    (each label's share as in the file, largest remainders rounded up; each label's rows are drawn
    in one seeded order, so a larger limit keeps the rows a smaller one drew, their answers reused)."""
    if limit is None:
        return rows
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_task[r["task"]].append(i)
    keep: set[int] = set()
    for task, idx in by_task.items():
        keep.update(idx[:limit] if sample == "first" else _stratified(rows, idx, limit, f"{seed}:{task}"))
    return [r for i, r in enumerate(rows) if i in keep]


def _stratified(rows: list[dict[str, Any]], idx: list[int], limit: int, seed: str) -> list[int]:
    """Row indices drawn per label in proportion to the label's share (largest remainder)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i in idx:
        groups[json.dumps(rows[i]["label"], sort_keys=True)].append(i)
    n = min(limit, len(idx))
    quota = {k: n * len(g) / len(idx) for k, g in groups.items()}
    take = {k: int(q) for k, q in quota.items()}
    for k in sorted(groups, key=lambda k: (take[k] - quota[k], k))[:n - sum(take.values())]:
        take[k] += 1
    out: list[int] = []
    for k, g in groups.items():
        out += random.Random(f"{seed}:{k}").sample(g, len(g))[:take[k]]
    return out


def check_test_sets(test_sets: list[TestSet], prompts: str | None, base_dir: Path | None,
                    where: str | Path) -> tuple[list[str], list[Path]]:
    """Validate a recipe's test sets without loading any model: the tasks exist, the prompt
    templates resolve, and each file present reads (columns there, every label known to its
    tasks). Returns (error messages, absent files left unchecked)."""
    problems: list[str] = []
    absent: list[Path] = []
    for i, ts in enumerate(test_sets):
        try:
            load_tasks(ts.tasks, prompts) if ts.tasks else None
            path = resolve(ts.path, base_dir)
            if not path.is_file():
                absent.append(path)
                continue
            read_test_set(ts, prompts, base_dir)
        except InputError as exc:
            problems.append(f"{where}, test_sets.{i} ({ts.name}): {exc}")
    return problems, absent
