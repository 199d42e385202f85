"""Ratings in one scored form, read from whatever layout a study keeps them in.

Reads rating tables (CSV, TSV, XLSX, JSONL), one file per system (``NAME=FILE``) or one for
all (a ``system`` column), in three layouts (``LAYOUTS``):

- ``long``: one row per rating: item, system, annotator, aspect, score;
- ``wide``: one row per item and system, one column per aspect and annotator, named
  ``ASPECT:ANNOTATOR`` (or ``ASPECT_ANNOTATOR``, ``ASPECT.ANNOTATOR``);
- ``lists``: one column per aspect whose cell lists every annotator's score, ``[3, 3, 2]``.

An item is the post being rated, shared by the systems that answered it: the ``item``,
``id`` or ``post_id`` column, else a hash of the post text (``post``, ``text``, ``query``).
Writes ``ratings.csv`` in the long form (item, system, annotator, aspect, score, task), the
form imhi.evaluation.human scores. Every score is checked against the scale; a score outside
it, a list of the wrong length or a missing rating is an error naming file, row and column
(missing ratings are kept as missing data with ``allow_missing``).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from imhi.config import Strict, unknown_name
from imhi.io import InputError

COLUMNS = ["item", "system", "annotator", "aspect", "score", "task"]
ITEM_COLUMNS = ("item", "id", "post_id")
TEXT_COLUMNS = ("post", "text", "query")
META = {*ITEM_COLUMNS, *TEXT_COLUMNS, "system", "task", "label", "gold", "response", "answer", "prediction"}
MISSING = {"", "nan", "none", "null", "na", "n/a", "-"}


class ImportSpec(Strict):
    """How to read a ratings file: layout, aspects, scale, columns, missing ratings."""

    layout: str = "auto"
    aspects: list[str] | None = Field(default=None, description="default: from the file")
    scale: tuple[int, int] = (0, 3)
    annotators: list[str] | None = Field(default=None, description="lists layout: names by position")
    item: str | None = Field(default=None, description="the column naming the post")
    system: str = "system"
    allow_missing: bool = False

    @field_validator("aspects", "annotators", mode="before")
    @classmethod
    def _names(cls, value: Any, info: ValidationInfo) -> Any:
        """``"a,b,c"`` → a list; for annotators a count ``"3"`` → ``["1", "2", "3"]``."""
        if isinstance(value, str):
            if info.field_name == "annotators" and value.strip().isdigit():
                return [str(k) for k in range(1, int(value) + 1)]
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("scale", mode="before")
    @classmethod
    def _scale(cls, value: Any) -> Any:
        if isinstance(value, str):
            m = re.fullmatch(r"\s*(-?\d+)\s*[-–:,]\s*(-?\d+)\s*", value)
            if not m or int(m[1]) >= int(m[2]):
                raise ValueError(f"scale '{value}' is not LOW-HIGH, e.g. 0-3")
            return int(m[1]), int(m[2])
        return value


def import_spec(**options: Any) -> ImportSpec:
    """An ImportSpec from command-line options (None = default); a bad value is one InputError line."""
    try:
        return ImportSpec(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError("--" + "-".join(map(str, err["loc"][:1])).replace("_", "-"), err["msg"]) from exc


@dataclass
class Ratings:
    """Long-form ratings (``COLUMNS``; score float, NaN = missing) with their aspects and scale."""

    frame: pd.DataFrame
    aspects: list[str]
    scale: tuple[int, int] = (0, 3)
    sources: list[str] = field(default_factory=list)


@dataclass
class Where:
    """The place a value came from, for error messages."""

    file: Path
    row: int
    field: str | None = None
    note: str = ""  # e.g. "sheet 'Ratings 2'", said before the message


def score_of(value: Any, scale: tuple[int, int], at: Where, allow_missing: bool) -> float:
    """A whole number on the scale, or NaN for a missing rating when that is allowed."""
    lo, hi = scale
    say = f"{at.note}: " if at.note else ""
    if value is None or (isinstance(value, float) and value != value) or str(value).strip().lower() in MISSING:
        if allow_missing:
            return float("nan")
        raise InputError(at.file, say + "missing rating (--allow-missing keeps it as missing data)",
                         row=at.row, field=at.field)
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if not math.isfinite(number) or number != int(number) or not lo <= number <= hi:
        raise InputError(at.file, say + f"'{value}' is not a whole number from {lo} to {hi}",
                         row=at.row, field=at.field)
    return float(number)


def read_table(path: Path) -> tuple[pd.DataFrame, int]:
    """All cells as text ('' when blank; lists kept from JSONL) and the file row of the first data row."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        sep = "\t" if suffix == ".tsv" else ","
        return pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False), 2
    if suffix in (".jsonl", ".json"):
        frame = pd.read_json(path, lines=suffix == ".jsonl", dtype=False)
        return frame.astype(object).where(frame.notna(), ""), 1
    if suffix in (".xlsx", ".xlsm"):
        sheets = pd.read_excel(path, sheet_name=None, dtype=object)
        frame = sheets.get("Ratings", next(iter(sheets.values())))
        return frame.where(frame.notna(), ""), 2
    raise InputError(path, f"unknown table type '{suffix}' (known: .csv, .tsv, .jsonl, .json, .xlsx)")


def item_ids(frame: pd.DataFrame, path: Path, spec: ImportSpec) -> list[str]:
    """The post each row rates: the item column, else a hash of the post text."""
    if spec.item is not None:
        if spec.item not in frame.columns:
            raise InputError(path, unknown_name("item column", spec.item, list(frame.columns)))
        return [str(v).strip() for v in frame[spec.item]]
    for col in ITEM_COLUMNS:
        if col in frame.columns:
            return [str(v).strip() for v in frame[col]]
    for col in TEXT_COLUMNS:
        if col in frame.columns:
            return ["post-" + hashlib.sha256(str(v).strip().encode()).hexdigest()[:10] for v in frame[col]]
    raise InputError(path, f"no item column: give --item COLUMN or a column named one of "
                           f"{', '.join(ITEM_COLUMNS + TEXT_COLUMNS)}")


def systems_of(frame: pd.DataFrame, path: Path, name: str | None, spec: ImportSpec) -> list[str]:
    """The system each row rates: the name given with the file, else the system column."""
    if name is not None:
        return [name] * len(frame)
    if spec.system not in frame.columns:
        raise InputError(path, f"no '{spec.system}' column: name the system as NAME=FILE or give --system COLUMN")
    return [str(v).strip() for v in frame[spec.system]]


def _long(frame: pd.DataFrame, path: Path, first: int, name: str | None, spec: ImportSpec) -> list[dict[str, Any]]:
    for col in ("annotator", "aspect", "score"):
        if col not in frame.columns:
            raise InputError(path, "missing column of the long layout", row=1, field=col)
    items, systems = item_ids(frame, path, spec), systems_of(frame, path, name, spec)
    tasks = frame["task"] if "task" in frame.columns else [""] * len(frame)
    out = []
    for n, (item, system, task, (_, row)) in enumerate(zip(items, systems, tasks, frame.iterrows(), strict=True)):
        aspect = str(row["aspect"]).strip()
        if spec.aspects is not None and aspect not in spec.aspects:
            raise InputError(path, unknown_name("aspect", aspect, spec.aspects), row=first + n, field="aspect")
        at = Where(path, first + n, "score")
        out.append({"item": item, "system": system, "annotator": str(row["annotator"]).strip(), "aspect": aspect,
                    "score": score_of(row["score"], spec.scale, at, spec.allow_missing), "task": str(task)})
    return out


def wide_columns(columns: list[str], aspects: list[str] | None) -> dict[str, tuple[str, str]]:
    """column → (aspect, annotator) for columns named ASPECT:ANNOTATOR (or _ . / | @ between)."""
    found: dict[str, tuple[str, str]] = {}
    for col in columns:
        if col in META:
            continue
        if aspects is not None:
            hit = next((a for a in aspects if re.fullmatch(re.escape(a) + r"\s*[:_./|@ ]\s*(.+)", col)), None)
            if hit:
                found[col] = (hit, col[len(hit):].strip().lstrip(":_./|@ ").strip())
            continue
        m = re.fullmatch(r"(.+?)\s*[:/|@]\s*(.+)", col) or re.fullmatch(r"(.+)[_.](.+)", col)
        if m:
            found[col] = (m[1].strip(), m[2].strip())
    if aspects is None:  # an inferred aspect needs two or more annotators' columns
        counts = pd.Series([a for a, _ in found.values()]).value_counts()
        found = {c: v for c, v in found.items() if counts.get(v[0], 0) >= 2}
    return found


def _wide(frame: pd.DataFrame, path: Path, first: int, name: str | None, spec: ImportSpec) -> list[dict[str, Any]]:
    cols = wide_columns([str(c) for c in frame.columns], spec.aspects)
    if not cols:
        raise InputError(path, "no rating columns named ASPECT:ANNOTATOR (give --aspects, or --layout)")
    items, systems = item_ids(frame, path, spec), systems_of(frame, path, name, spec)
    tasks = list(frame["task"]) if "task" in frame.columns else [""] * len(frame)
    out = []
    for n in range(len(frame)):
        for col, (aspect, annotator) in cols.items():
            score = score_of(frame[col].iloc[n], spec.scale, Where(path, first + n, col), spec.allow_missing)
            out.append({"item": items[n], "system": systems[n], "annotator": annotator, "aspect": aspect,
                        "score": score, "task": str(tasks[n])})
    return out


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple) or str(value).strip().startswith("[")


def list_columns(frame: pd.DataFrame, aspects: list[str] | None, path: Path) -> list[str]:
    """The aspect columns of the lists layout: those named, else every column whose cells are lists."""
    if aspects is not None:
        for a in aspects:
            if a not in frame.columns:
                raise InputError(path, unknown_name("aspect column", a, [str(c) for c in frame.columns]))
        return aspects
    cols = [str(c) for c in frame.columns if c not in META and (filled := [v for v in frame[c] if str(v).strip()])
            and all(_is_list(v) for v in filled)]
    if not cols:
        raise InputError(path, "no column of list-valued ratings such as [3, 3, 2] (give --aspects, or --layout)")
    return cols


def split_list(value: Any) -> list[Any] | None:
    """``[3, 3, 2]`` (text or list) → its elements; None for a blank cell."""
    if isinstance(value, list | tuple):
        return list(value)
    text = str(value).strip()
    if text.lower() in MISSING:
        return None
    inner = text.strip("[]() ")
    return [p.strip().strip("'\"") for p in re.split(r"[,;]", inner)] if inner else []


def _lists(frame: pd.DataFrame, path: Path, first: int, name: str | None, spec: ImportSpec) -> list[dict[str, Any]]:
    cols = list_columns(frame, spec.aspects, path)
    items, systems = item_ids(frame, path, spec), systems_of(frame, path, name, spec)
    tasks = list(frame["task"]) if "task" in frame.columns else [""] * len(frame)
    width = len(spec.annotators) if spec.annotators else _first_width(frame, cols)
    names = spec.annotators or [str(k) for k in range(1, width + 1)]
    out = []
    for n in range(len(frame)):
        for col in cols:
            at = Where(path, first + n, col)
            values = split_list(frame[col].iloc[n])
            if values is None:
                score_of(None, spec.scale, at, spec.allow_missing)  # raises unless allowed
                values = [None] * width
            if len(values) != width:
                raise InputError(path, f"{len(values)} ratings where {width} are expected (one per annotator)",
                                 row=at.row, field=col)
            out += [{"item": items[n], "system": systems[n], "annotator": who, "aspect": col, "task": str(tasks[n]),
                     "score": score_of(v, spec.scale, at, spec.allow_missing)} for who, v in zip(names, values,
                                                                                               strict=True)]
    return out


def _first_width(frame: pd.DataFrame, cols: list[str]) -> int:
    for col in cols:
        for value in frame[col]:
            values = split_list(value)
            if values:
                return len(values)
    return 0


def detect_layout(frame: pd.DataFrame) -> str:
    """long when annotator/aspect/score columns exist, lists when some cells are lists, else wide."""
    if {"annotator", "aspect", "score"} <= set(map(str, frame.columns)):
        return "long"
    if any(_is_list(v) for c in frame.columns if c not in META for v in frame[c].head(20) if str(v).strip()):
        return "lists"
    return "wide"


Reader = Callable[[pd.DataFrame, Path, int, "str | None", ImportSpec], list[dict[str, Any]]]
LAYOUTS: dict[str, Reader] = {"long": _long, "wide": _wide, "lists": _lists}


def read_ratings(path: Path, system: str | None, spec: ImportSpec) -> list[dict[str, Any]]:
    """Rating records of one table, in its layout (``spec.layout``; ``auto`` detects it)."""
    frame, first = read_table(Path(path))
    frame.columns = [str(c).strip() for c in frame.columns]
    layout = detect_layout(frame) if spec.layout == "auto" else spec.layout
    if layout not in LAYOUTS:
        raise InputError(path, unknown_name("layout", layout, ["auto", *LAYOUTS]))
    return LAYOUTS[layout](frame, Path(path), first, system, spec)


def to_ratings(records: list[dict[str, Any]], spec: ImportSpec, sources: list[str]) -> Ratings:
    """Records → Ratings; a rating given twice (item, system, annotator, aspect) is an error."""
    frame = pd.DataFrame(records, columns=COLUMNS)
    if frame.empty:
        raise InputError(", ".join(sources), "no ratings found")
    frame["score"] = frame["score"].astype(float)
    twice = frame.duplicated(["item", "system", "annotator", "aspect"])
    if twice.any():
        r = frame[twice].iloc[0]
        raise InputError(", ".join(sources), f"item '{r['item']}' of system '{r['system']}' is rated twice by "
                                             f"annotator '{r['annotator']}' on '{r['aspect']}'")
    aspects = spec.aspects or list(dict.fromkeys(frame["aspect"]))
    return Ratings(frame, aspects, spec.scale, sources)


def write_ratings(ratings: Ratings, path: Path) -> Path:
    """``ratings.csv``: the long form, one row per rating given (a missing rating has no row)."""
    frame = ratings.frame.dropna(subset=["score"]).copy()
    frame["score"] = frame["score"].astype(int)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, columns=COLUMNS)
    return path
