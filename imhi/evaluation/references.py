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
from imhi.sources import split_imhi_query
from imhi.tables import read_table
from imhi.tasks import TaskSpec, split_reasoning

REFERENCE_COLUMN = "gpt-3.5-turbo"


def read_reference_csv(path: Path, tasks: dict[str, TaskSpec], column: str = REFERENCE_COLUMN,
                       encoding: str = "utf-8") -> list[dict[str, Any]]:
    """Rows {id, task, query, answer, label, explanation} of an IMHI-format CSV file."""
    path = Path(path)
    records = read_table(path, encoding=encoding)
    columns = list(records[0]) if records else []
    for col in ("query", column):
        if records and col not in columns:
            raise InputError(path, f"missing column (columns: {', '.join(columns)})", field=col)
    table = question_table(tasks)
    return [_reference_row(path, i, r["query"], r[column], tasks, table, column)
            for i, r in enumerate(records, start=1)]


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
    post = split_imhi_query(query)
    return {"id": f"{path.stem}-{row}", "task": name, "text": post[0] if post else None, "query": query,
            "answer": answer,
            "label": found.label, "explanation": split_reasoning(answer)[1] or "",
            "parse_step": found.step}
