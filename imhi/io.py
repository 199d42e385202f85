"""File helpers: JSONL read/write (atomic, appendable), strict YAML, sha256; the errors every
layer raises at its boundary (``InputError``, ``ServiceError``, ``TooLittle``).

Reads and writes whatever path it is given; imports nothing from imhi.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml


class InputError(ValueError):
    """Bad input at a boundary; the message names the file, row and field."""

    def __init__(self, file: str | os.PathLike[str], message: str, row: int | None = None,
                 field: str | None = None) -> None:
        self.file, self.row, self.field = str(file), row, field
        where = self.file
        if row is not None:
            where += f", row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")


class ServiceError(RuntimeError):
    """A service the run needs failed (the teacher endpoint unreachable, a batch upload refused
    or a batch failed): one line naming it and the cause; finished work is kept and a rerun
    continues. Exit code 3."""

    exit_code = 3


class TooLittle(RuntimeError):
    """The run finished but produced too little (no rows kept, fewer than ``min_kept``, a model
    with no answers, a training stage with no rows): a warning, never a success. Exit code 4."""

    exit_code = 4


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key '{key}'", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | os.PathLike[str]) -> Any:
    """Load a YAML file, rejecting duplicate keys; errors name the file and line."""
    p = Path(path)
    if not p.is_file():
        raise InputError(p, "file not found")
    try:
        with p.open(encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_StrictLoader)  # noqa: S506 - strict SafeLoader subclass
    except yaml.YAMLError as exc:
        raise InputError(p, f"invalid YAML: {exc}") from exc


def dump_yaml(data: Any) -> str:
    """YAML text of plain data, keys in insertion order, unicode kept."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def read_jsonl(path: str | os.PathLike[str], encoding: str = "utf-8") -> Iterator[dict[str, Any]]:
    """Yield one dict per non-empty line; a malformed line names file and row (1-based)."""
    p = Path(path)
    with p.open("rb") as fh:
        for row, raw in enumerate(fh, start=1):
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                column = len(raw[:exc.start].decode(encoding, errors="replace")) + 1
                raise InputError(p, f"column {column}: byte 0x{raw[exc.start]:02x} is not valid {encoding}; "
                                 "set the source's encoding", row=row, field="encoding") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(p, f"malformed JSON: {exc.msg}", row=row) from exc
            if not isinstance(obj, dict):
                raise InputError(p, "each line must be a JSON object", row=row)
            yield obj


def read_jsonl_tolerant(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read an append-only JSONL log, ignoring a torn last line left by a crash."""
    p = Path(path)
    if not p.exists():
        return []
    out: list[dict[str, Any]] = []
    lines = p.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # an interrupted write: the row will be redone
            raise InputError(p, "malformed JSON", row=i + 1) from None
    return out


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically (temp file + rename); return the number of rows."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(_dumps(row) + "\n")
            n += 1
    os.replace(tmp, p)
    return n


def append_jsonl(path: str | os.PathLike[str], row: dict[str, Any]) -> None:
    """Append one row and flush it to disk, so an interrupted run keeps it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a", encoding="utf-8") as fh:
        fh.write(_dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, p)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write pretty JSON atomically."""
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_text(text: str) -> str:
    """Hex sha256 of a string (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave the objects that exist now (imported libraries, a loaded model, the posts) out of the
    garbage collector's full passes while the block runs, each of which walks the whole heap (on
    a 2,000-row teacher build they cost 0.4–0.9 s). Unfrozen afterwards, so nothing stays
    uncollectable."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
