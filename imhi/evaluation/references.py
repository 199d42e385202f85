"""Reference test sets in the IMHI release format → evaluation rows with a gold label.

Reads ``query`` / ``gpt-3.5-turbo`` CSV files (IMHI test, complete and expert sets);
writes nothing. The question at the end of each query picks the task; the gold label
is read from the reference answer with the rule steps of :mod:`.extract` (it exists
only there). A row whose question or label cannot be read is an error naming the
file, row and field — never a silent default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imhi.io import InputError
from imhi.judges.extract import (
    DEFAULT_STEPS,
    AmbiguousTask,
    extract,
    question_table,
    task_of_query,
)
from imhi.tasks import TaskSpec, split_reasoning

REFERENCE_COLUMN = "gpt-3.5-turbo"


def read_reference_csv(path: Path, tasks: dict[str, TaskSpec],
                       column: str = REFERENCE_COLUMN) -> list[dict[str, Any]]:
    """Rows {id, task, query, answer, label, explanation} of an IMHI-format CSV file."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("query", column):
        if col not in df.columns:
            raise InputError(path, f"missing column (columns: {', '.join(df.columns)})", field=col)
    table = question_table(tasks)
    rows = []
    for i, (query, answer) in enumerate(zip(df["query"], df[column], strict=True), start=1):
        rows.append(_reference_row(path, i, query, answer, tasks, table, column))
    return rows


def _reference_row(path: Path, row: int, query: str, answer: str, tasks: dict[str, TaskSpec],
                   table: list[tuple[str, list[str]]], column: str) -> dict[str, Any]:
    try:
        name = task_of_query(query, table)
    except AmbiguousTask as exc:
        raise InputError(path, str(exc), row=row, field="query") from None
    if name is None:
        raise InputError(path, "the question at the end of the query matches no task", row=row,
                         field="query")
    found = extract(tasks[name], answer, DEFAULT_STEPS)
    if found.label is None:
        raise InputError(path, f"cannot read a '{name}' label from the reference answer", row=row,
                         field=column)
    return {"id": f"{path.stem}-{row}", "task": name, "query": query, "answer": answer,
            "label": found.label, "explanation": split_reasoning(answer)[1] or "",
            "parse_step": found.step}
