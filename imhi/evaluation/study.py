"""A human-evaluation study from whatever files hold its ratings: import and score.

Reads ratings in one of ``FORMATS``: ``table`` (CSV/TSV/XLSX/JSONL in the long, wide or
lists layout of imhi.evaluation.ratings; ``NAME=FILE`` names the system of a file),
``sheet`` (sheets exported by ``imhi sheet export`` and filled, with their ``key.json``),
``label-studio`` (a Label Studio JSON export, with the key). Import writes ``ratings.csv``
(the long form); scoring writes ``human_eval.json``, ``human_eval.md`` and
``human_eval.png`` through imhi.evaluation.human.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from imhi.config import unknown_name
from imhi.evaluation.human import ScoreConfig, score_ratings
from imhi.evaluation.labelstudio import read_export
from imhi.evaluation.ratings import ImportSpec, Ratings, read_ratings, to_ratings, write_ratings
from imhi.evaluation.sheets import filled_records, read_key
from imhi.io import InputError


def _split(source: str) -> tuple[str | None, Path]:
    """``NAME=FILE`` → (NAME, FILE); a plain path → (None, FILE)."""
    name, sep, path = source.partition("=")
    if sep and name and not Path(source).exists():
        return name.strip(), Path(path)
    return None, Path(source)


def _tables(sources: list[str], key: dict[str, Any] | None, spec: ImportSpec) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for source in sources:
        system, path = _split(source)
        records += read_ratings(path, system, spec)
    return records


def _sheets(sources: list[str], key: dict[str, Any] | None, spec: ImportSpec) -> list[dict[str, Any]]:
    if key is None:
        raise InputError(", ".join(sources), "filled sheets need their key (--key key.json)")
    return filled_records([Path(s) for s in sources], key, spec)


def _label_studio(sources: list[str], key: dict[str, Any] | None, spec: ImportSpec) -> list[dict[str, Any]]:
    return [r for source in sources for r in read_export(Path(source), key, spec)]


FORMATS: dict[str, Callable[[list[str], dict[str, Any] | None, ImportSpec], list[dict[str, Any]]]] = {
    "table": _tables, "sheet": _sheets, "label-studio": _label_studio}


def load_study(sources: list[str], fmt: str = "auto", spec: ImportSpec | None = None,
               key: Path | None = None) -> Ratings:
    """Every rating of a study in the long form; ``auto``: Label Studio for ``.json`` files, filled
    sheets when a key is given, else tables."""
    spec = spec or ImportSpec()
    if not sources:
        raise InputError("(command line)", "no ratings files given")
    if fmt == "auto":
        fmt = "label-studio" if all(s.lower().endswith(".json") for s in sources) else \
            "sheet" if key is not None else "table"
    if fmt not in FORMATS:
        raise InputError("--format", unknown_name("format", fmt, ["auto", *FORMATS]))
    records = FORMATS[fmt](sources, read_key(key) if key is not None else None, spec)
    return to_ratings(records, spec, list(sources))


def import_study(sources: list[str], out_dir: Path, fmt: str = "auto", spec: ImportSpec | None = None,
                 key: Path | None = None) -> Ratings:
    """Read the ratings and write ``<out>/ratings.csv`` (score it with ``imhi sheet score``)."""
    ratings = load_study(sources, fmt, spec, key)
    write_ratings(ratings, out_dir / "ratings.csv")
    return ratings


def score_study(sources: list[str], out_dir: Path, fmt: str = "auto", spec: ImportSpec | None = None,
                key: Path | None = None, cfg: ScoreConfig | None = None) -> dict[str, Any]:
    """Read the ratings and score them: ``human_eval.json``, ``human_eval.md``, ``human_eval.png``."""
    return score_ratings(load_study(sources, fmt, spec, key), out_dir, cfg)
