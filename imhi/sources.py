"""Source readers: csv, tsv, jsonl, parquet, Hugging Face datasets, OpenAI chat JSONL and
the IMHI release format → :class:`imhi.schema.Post` records.

Reads the files a recipe names; writes nothing. Every bad row is an
:class:`imhi.io.InputError` naming the file, row and field. Row numbers are 1-based
record numbers (the header of a csv is not counted). The readers are a plain dict,
``SOURCES``, keyed by format name.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from imhi.config import Strict
from imhi.io import InputError, read_jsonl
from imhi.schema import Label, Post, Provenance
from imhi.tables import read_table
from imhi.tasks import TaskSpec, load_task, load_tasks, normalize, split_reasoning

Format = Literal["csv", "tsv", "jsonl", "parquet", "hf", "openai_chat", "imhi"]


class ColumnMap(Strict):
    """Which columns hold the post, the label, an id and a reference explanation."""

    text: str = "text"
    label: str | None = "label"
    id: str | None = None
    explanation: str | None = None
    task: str | None = Field(default=None, description="per-row task name (mixed-task files)")
    split: str | None = Field(default=None, description="per-row split: train/valid/test")


class SourceSpec(Strict):
    """One labelled source in a recipe."""

    name: str
    format: Format
    path: str = Field(description="file, folder (HF load_from_disk) or hub id")
    task: str | None = Field(default=None, description="task of every row (imhi: inferred)")
    tasks: list[str] | None = Field(default=None, description="imhi format: candidate tasks")
    split: Literal["train", "valid", "test"] | None = None
    hf_split: str | None = None
    columns: ColumnMap = Field(default_factory=ColumnMap)
    label_map: dict[str, str | list[str]] = Field(default_factory=dict)
    label_columns: dict[str, str] | list[str] | Literal["task"] | None = Field(
        default=None, description="0/1 multi-label columns: {column: label}, [columns named "
        "after labels], or 'task' (every column named after one of the task's labels)")
    label_sep: str | None = Field(default=None, description="split a multi-label cell on this")
    reference_column: str = "gpt-3.5-turbo"
    encoding: str = Field(default="utf-8", description="text encoding of a csv/tsv/jsonl file "
                          "(e.g. latin-1, cp1252, gb18030)")
    limit: int | None = None
    splits: list[Literal["train", "valid", "test"]] | None = Field(
        default=None, description="keep only the rows of these splits (from columns.split or split)")


Row = dict[str, Any]


def resolve(path: str, base_dir: Path | None) -> Path:
    """A recipe path relative to ``base_dir`` (absolute paths pass through; None: the working folder)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() or base_dir is None else base_dir / p


def data_root(data_dir: str | None, recipe_dir: Path | None, default: Path | None) -> Path | None:
    """The one place a recipe's relative data paths start (``imhi build``, ``imhi data``, eval
    test sets): ``data_dir``, itself relative to the recipe's folder, else ``default`` (the
    recipe's folder for build recipes, the working folder, None, for eval recipes)."""
    return resolve(data_dir, recipe_dir) if data_dir else default


def _table_rows(spec: SourceSpec, path: Path) -> Iterator[Row]:
    if spec.format != "parquet":
        yield from read_table(path, "\t" if spec.format == "tsv" else ",", spec.encoding)
        return
    import pandas as pd

    if not path.is_file():
        raise InputError(path, "file not found", field="path")
    try:
        frame = pd.read_parquet(path)
    except (ValueError, OSError) as exc:
        raise InputError(path, f"cannot read parquet: {exc}") from exc
    yield from frame.to_dict(orient="records")


def _jsonl_rows(spec: SourceSpec, path: Path) -> Iterator[Row]:
    if not path.is_file():
        raise InputError(path, "file not found", field="path")
    yield from read_jsonl(path, spec.encoding)


def _hf_rows(spec: SourceSpec, path: Path) -> Iterator[Row]:
    import datasets

    try:
        if path.exists():
            ds: Any = datasets.load_from_disk(str(path))
        else:
            ds = datasets.load_dataset(spec.path, split=spec.hf_split)
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as exc:
        raise InputError(spec.path, f"cannot load Hugging Face dataset: {exc}", field="path") \
            from exc
    if isinstance(ds, datasets.DatasetDict):
        if spec.hf_split is None:
            raise InputError(spec.path, f"a DatasetDict needs hf_split (one of {list(ds)})",
                             field="hf_split")
        ds = ds[spec.hf_split]
    yield from ds


SOURCES: dict[str, Callable[[SourceSpec, Path], Iterator[Row]]] = {
    "csv": _table_rows, "tsv": _table_rows, "parquet": _table_rows, "jsonl": _jsonl_rows,
    "hf": _hf_rows, "openai_chat": _jsonl_rows, "imhi": _table_rows,
}


def _cell(row: Row, column: str, path: Path, n: int) -> Any:
    if column not in row:
        raise InputError(path, f"missing column '{column}' (columns: {', '.join(map(str, row))})",
                         row=n, field=column)
    return row[column]


def _text(value: Any, path: Path, n: int, field: str) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise InputError(path, "empty post text", row=n, field=field)
    return text


def _label_columns(spec: SourceSpec, task: TaskSpec) -> dict[str, str]:
    if spec.label_columns == "task":
        return {name: name for name in task.label_names}
    if isinstance(spec.label_columns, list):
        return {name: name for name in spec.label_columns}
    return dict(spec.label_columns or {})


def _raw_label(spec: SourceSpec, task: TaskSpec, row: Row, path: Path, n: int) -> Any:
    if spec.label_columns:
        out = []
        for column, label in _label_columns(spec, task).items():
            value = str(_cell(row, column, path, n)).strip()
            if value not in ("0", "1", "0.0", "1.0", "True", "False", "true", "false"):
                raise InputError(path, f"expected 0/1, got '{value}'", row=n, field=column)
            if value in ("1", "1.0", "True", "true"):
                out.append(label)
        return out
    if spec.columns.label is None:
        raise InputError(path, "no label column configured", field="columns.label")
    value = _cell(row, spec.columns.label, path, n)
    if spec.label_sep and isinstance(value, str):
        return [v.strip() for v in value.split(spec.label_sep) if v.strip()]
    return value


def _map_label(spec: SourceSpec, task: TaskSpec, raw: Any, path: Path, n: int) -> Label:
    """label_map first (many raw labels → one), then the task's names and aliases."""
    field = "label_columns" if spec.label_columns else str(spec.columns.label)
    values = raw if isinstance(raw, list) else [raw]
    mapped: list[str] = []
    for value in values:
        key = str(value).strip()
        target = spec.label_map.get(key, key)
        mapped.extend(target if isinstance(target, list) else [target])
    if not task.multi_label and len(mapped) == 1:
        return task.check_label(mapped[0], where=path, row=n, field=field)
    return task.check_label(mapped, where=path, row=n, field=field)


def _post(spec: SourceSpec, task: str, n: int, path: Path, text: str, label: Label,
          explanation: str | None, row_id: Any = None) -> Post:
    rid = f"{spec.name}-{row_id if row_id not in (None, '') else n}"
    return Post(id=rid, source=spec.name, task=task, text=text, label=label,
                explanation=explanation or None, split=spec.split,
                provenance=Provenance(file=str(path), row=n, split=spec.split))


def _table_post(spec: SourceSpec, task: TaskSpec, row: Row, path: Path, n: int) -> Post:
    text = _text(_cell(row, spec.columns.text, path, n), path, n, spec.columns.text)
    label = _map_label(spec, task, _raw_label(spec, task, row, path, n), path, n)
    expl = _cell(row, spec.columns.explanation, path, n) if spec.columns.explanation else None
    rid = _cell(row, spec.columns.id, path, n) if spec.columns.id else None
    post = _post(spec, task.name, n, path, text, label, expl, rid)
    if spec.columns.split:
        post.split = _row_split(_cell(row, spec.columns.split, path, n), path, n, spec.columns.split)
        post.provenance.split = post.split
    return post


SPLIT_NAMES = {"train": "train", "valid": "valid", "validation": "valid", "val": "valid",
               "dev": "valid", "test": "test"}


def _row_split(value: Any, path: Path, n: int, field: str) -> str:
    split = SPLIT_NAMES.get(str(value).strip().lower())
    if split is None:
        raise InputError(path, f"unknown split '{value}' (train, valid or test)", row=n, field=field)
    return split


def _chat_post(spec: SourceSpec, task: TaskSpec, row: Row, path: Path, n: int) -> Post:
    messages = row.get("messages")
    if not isinstance(messages, list):
        raise InputError(path, "expected a 'messages' list", row=n, field="messages")
    turns = [m for m in messages if isinstance(m, dict)]
    replies = [i for i, m in enumerate(turns) if m.get("role") == "assistant"]
    # the last reply and the user message it answers (not a later one)
    users = [m.get("content") for m in turns[:replies[-1]] if m.get("role") == "user"] if replies else []
    if not users:
        raise InputError(path, "needs a user and an assistant message", row=n, field="messages")
    sentence, explanation = split_reasoning(str(turns[replies[-1]].get("content", "")))
    label = task.parse_label_sentence(sentence)
    if label is None:
        raise InputError(path, f"cannot read a '{task.name}' label from '{sentence[:80]}'",
                         row=n, field="messages[assistant].content")
    text = _text(users[-1], path, n, "messages[user].content")
    return _post(spec, task.name, n, path, text, label, explanation)


_POST_PREFIX = re.compile(r"^\s*(consider this post\s*:|post\s*:)\s*", re.I)


def split_imhi_query(query: str) -> tuple[str, str] | None:
    """IMHI ``query`` → (post, question); the question follows the last 'Question:'."""
    head, sep, question = query.rpartition("Question:")
    if not sep:
        return None
    post = _POST_PREFIX.sub("", head).strip()
    if len(post) >= 2 and post[0] == '"' and post[-1] == '"':
        post = post[1:-1]
    return post.strip(), question.strip()


def question_index(tasks: dict[str, TaskSpec]) -> dict[str, list[str]]:
    """Normalised question wordings (and released variants) → the names of the tasks that ask it
    (the keys of ``tasks``), in the order of ``tasks``."""
    index: dict[str, list[str]] = {}
    for name, task in tasks.items():
        for q in [task.question, *task.question_variants]:
            names = index.setdefault(normalize(q), [])
            if name not in names:
                names.append(name)
    return index


def _imhi_post(spec: SourceSpec, tasks: dict[str, TaskSpec], index: dict[str, list[str]], row: Row,
               path: Path, n: int) -> Post:
    query = str(_cell(row, "query", path, n))
    parts = split_imhi_query(query)
    if parts is None:
        raise InputError(path, "no 'Question:' in the query", row=n, field="query")
    text, question = parts
    names = index.get(normalize(question), [])
    if len(names) != 1:
        problem = (f"matches several tasks ({', '.join(sorted(names))}); name one with `task:`"
                   if names else "matches no task")
        raise InputError(path, f"question '{question[:90]}' {problem}", row=n, field="query")
    name = names[0]
    reference = str(_cell(row, spec.reference_column, path, n))
    sentence, explanation = split_reasoning(reference)
    label = tasks[name].parse_label_sentence(sentence)
    if label is None:
        raise InputError(path, f"cannot read a '{name}' label from '{sentence[:90]}'",
                         row=n, field=spec.reference_column)
    return _post(spec, name, n, path, _text(text, path, n, "query"), label, explanation)


def _task_picker(spec: SourceSpec, path: Path,
                 prompts: str | Path | None) -> Callable[[Row, int], TaskSpec]:
    """The task of a row: the source's ``task``, or the row's ``columns.task`` cell."""
    if spec.task is not None:
        task = load_task(spec.task, prompts)
        return lambda row, n: task
    column = spec.columns.task
    if column is None:
        raise InputError(spec.name, f"source '{spec.name}' needs `task` or `columns.task`",
                         field="task")

    def pick(row: Row, n: int) -> TaskSpec:
        name = str(_cell(row, column, path, n)).strip()
        try:
            return load_task(name, prompts)
        except InputError as exc:
            raise InputError(path, str(exc), row=n, field=column) from None
    return pick


def read_source(spec: SourceSpec, base_dir: Path | None = None,
                prompts: str | Path | None = None) -> list[Post]:
    """Read one source into posts (every row validated; errors name file, row, field)."""
    path = resolve(spec.path, base_dir)
    rows = SOURCES[spec.format](spec, path)
    if spec.format == "imhi":
        tasks = load_tasks(spec.tasks, prompts) if spec.tasks else load_tasks(root=prompts)
        if spec.task:
            tasks = {spec.task: load_task(spec.task, prompts)}
        index = question_index(tasks)
        make = lambda row, n: _imhi_post(spec, tasks, index, row, path, n)  # noqa: E731
    else:
        reader = _chat_post if spec.format == "openai_chat" else _table_post
        pick = _task_picker(spec, path, prompts)
        make = lambda row, n: reader(spec, pick(row, n), row, path, n)  # noqa: E731
    posts = []
    for n, row in enumerate(rows, start=1):
        if spec.limit is not None and n > spec.limit:
            break
        post = make(row, n)
        if spec.splits is None or post.split in spec.splits:
            posts.append(post)
    return posts



def text_key(text: str) -> str:
    """Duplicate key of a post: NFKC, lowercase, whitespace and punctuation collapsed."""
    return re.sub(r"[\W_]+", " ", normalize(text)).strip()


def find_duplicates(posts: list[Post]) -> list[list[Post]]:
    """Groups of posts (same task) whose texts are equal after :func:`text_key`."""
    groups: dict[tuple[str, str], list[Post]] = {}
    for post in posts:
        groups.setdefault((post.task, text_key(post.text)), []).append(post)
    return [g for g in groups.values() if len(g) > 1]


def find_leakage(train: list[Post], test: list[Post]) -> list[tuple[Post, Post]]:
    """(train, test) pairs of the same task whose texts are equal after :func:`text_key`."""
    seen = {(p.task, text_key(p.text)): p for p in train}
    return [(seen[(p.task, text_key(p.text))], p) for p in test
            if (p.task, text_key(p.text)) in seen]
