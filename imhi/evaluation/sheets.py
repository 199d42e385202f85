"""Human-evaluation sheets: blinded export and the reading of filled sheets.

Export reads several ``generations.jsonl`` files (one per system; systems may have answered
different posts) and writes ``key.json`` (item → system, post id, task; keep it away from
annotators) and, by ``format`` (``EXPORTERS``):

- ``xlsx``: ``sheet.xlsx`` (an Instructions sheet, then ``Ratings`` with 0–3 cell
  validation, or ``Ratings 1`` … ``Ratings N`` for N annotators, each in the same blinded
  order or, with ``shuffle_per_annotator``, its own) and ``sheet.csv`` (``sheet_1.csv`` …);
- ``label-studio``: ``label_studio/tasks.json`` and ``label_studio/config.xml``.

Reading takes filled sheets (XLSX with one or more rating sheets, or CSV) and the key and
yields rating records for imhi.evaluation.ratings; every cell is checked. Scoring lives in
imhi.evaluation.human; imhi.evaluation.study ties them together.
"""

from __future__ import annotations

import csv
import itertools
import random
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from imhi.config import Strict
from imhi.evaluation.human import ScoreConfig, score_ratings
from imhi.evaluation.labelstudio import labeling_config, write_project
from imhi.evaluation.ratings import ImportSpec, Where, score_of, to_ratings
from imhi.io import InputError, read_jsonl, write_json

ASPECTS = ("fluency", "completeness", "reliability", "overall")
GUIDE = {
    "fluency": "Is the explanation well-formed, readable English (or Chinese) without garbled text?",
    "completeness": "Does the explanation cover the evidence in the post that bears on the answer?",
    "reliability": "Is the explanation true to the post and consistent with the stated label?",
    "overall": "Taken together, how useful is this answer to a mental-health professional?",
}
SCALE = "0 = unacceptable, 1 = poor, 2 = acceptable, 3 = good"
SCALE_NAMES = {0: "unacceptable", 1: "poor", 2: "acceptable", 3: "good"}
RATINGS = "Ratings"
FIXED = ("item", "task", "post", "response")


class SheetConfig(Strict):
    """Posts per task, seed, aspects, annotators and the format of the export."""

    per_task: int = Field(default=20, ge=1)
    seed: int = 0
    aspects: list[str] = Field(default_factory=lambda: list(ASPECTS))
    annotators: int = Field(default=1, ge=1, description="one rating sheet (and CSV) per annotator")
    shuffle_per_annotator: bool = Field(default=False, description="each annotator gets their own order")
    shared_only: bool = Field(default=False, description="only posts every system answered")
    format: Literal["xlsx", "label-studio"] = "xlsx"


def _load_systems(systems: dict[str, Path]) -> dict[str, dict[str, dict[str, Any]]]:
    out = {}
    for name, path in systems.items():
        if not Path(path).is_file():
            raise InputError(path, f"generations of system '{name}' not found")
        out[name] = {r["id"]: r for r in read_jsonl(path)}
    return out


def stratified_ids(rows: dict[str, dict[str, Any]], per_task: int, rng: random.Random) -> list[str]:
    """Up to ``per_task`` ids per task, drawn round-robin across gold labels."""
    by_task: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for rid in sorted(rows):
        by_task[rows[rid]["task"]][str(rows[rid].get("label"))].append(rid)
    chosen: list[str] = []
    for task in sorted(by_task):
        pools = [rng.sample(ids, len(ids)) for _, ids in sorted(by_task[task].items())]
        picked = [x for group in itertools.zip_longest(*pools) for x in group if x is not None]
        chosen += picked[:per_task]
    return chosen


def sample_items(data: dict[str, dict[str, dict[str, Any]]], cfg: SheetConfig,
                 rng: random.Random) -> list[tuple[str, str]]:
    """(system, post id) pairs in blinded order: a stratified sample of the posts, each with every
    system that answered it (all systems' posts, or with ``shared_only`` those all answered)."""
    sets = [set(rows) for rows in data.values()]
    pool = set.intersection(*sets) if cfg.shared_only else set.union(*sets)
    if not pool:
        raise InputError(", ".join(data), "the systems share no post ids" if cfg.shared_only else "no posts")
    rows = {rid: next(d[rid] for d in data.values() if rid in d) for rid in pool}
    ids = stratified_ids(rows, cfg.per_task, rng)
    items = [(name, rid) for rid in ids for name in data if rid in data[name]]
    rng.shuffle(items)
    return items


def export_sheet(systems: dict[str, Path], out_dir: Path, cfg: SheetConfig | None = None) -> Path:
    """Write the blinded sheets (or Label Studio project files) and the key; returns the main file."""
    cfg = cfg or SheetConfig()
    data = _load_systems(systems)
    rng = random.Random(cfg.seed)
    key, rows = {}, []
    for n, (name, rid) in enumerate(sample_items(data, cfg, rng), start=1):
        item = f"item-{n:04d}"
        row = data[name][rid]
        key[item] = {"system": name, "id": rid, "task": row["task"]}
        rows.append({"item": item, "task": row["task"], "post": row.get("query", ""), "response": row["prediction"]})
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "key.json", key)
    return EXPORTERS[cfg.format](out_dir, rows, cfg)


def _export_label_studio(out_dir: Path, rows: list[dict[str, Any]], cfg: SheetConfig) -> Path:
    return write_project(out_dir, rows, labeling_config(cfg.aspects, GUIDE, (0, 3), SCALE_NAMES))


def _export_xlsx(out_dir: Path, rows: list[dict[str, Any]], cfg: SheetConfig) -> Path:
    table = [[r[c] for c in FIXED] for r in rows]
    if cfg.annotators == 1:
        _write_csv(out_dir / "sheet.csv", [*FIXED, *cfg.aspects], table)
        return _write_xlsx(out_dir / "sheet.xlsx", [(RATINGS, table)], cfg.aspects)
    sheets = []
    for k in range(1, cfg.annotators + 1):
        order = random.Random(f"{cfg.seed}/{k}").sample(table, len(table)) if cfg.shuffle_per_annotator else table
        _write_csv(out_dir / f"sheet_{k}.csv", [*FIXED, *cfg.aspects], order)
        sheets.append((f"{RATINGS} {k}", order))
    return _write_xlsx(out_dir / "sheet.xlsx", sheets, cfg.aspects)


EXPORTERS: dict[str, Callable[[Path, list[dict[str, Any]], SheetConfig], Path]] = {
    "xlsx": _export_xlsx, "label-studio": _export_label_studio}


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows([*r, *[""] * (len(header) - len(r))] for r in rows)


def _write_xlsx(path: Path, sheets: list[tuple[str, list[list[Any]]]], aspects: list[str]) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    guide = wb.active
    guide.title = "Instructions"
    guide.append(["Rate each response on every aspect with a whole number: " + SCALE])
    guide.append(["Systems are hidden behind item ids; do not try to guess them. Leave no cell empty."])
    if len(sheets) > 1:
        guide.append([f"Annotator k fills the sheet '{RATINGS} k' only."])
    for aspect in aspects:
        guide.append([aspect, GUIDE.get(aspect, "")])
    guide["A1"].font = Font(bold=True)
    for title, rows in sheets:
        _ratings_sheet(wb.create_sheet(title), rows, aspects)
    wb.save(path)
    return path


def _ratings_sheet(sheet: Any, rows: list[list[Any]], aspects: list[str]) -> None:
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    sheet.append([*FIXED, *aspects])
    for row in rows:
        sheet.append(row)
    first, last = get_column_letter(len(FIXED) + 1), get_column_letter(len(FIXED) + len(aspects))
    dv = DataValidation(type="whole", operator="between", formula1="0", formula2="3", allow_blank=False,
                        showErrorMessage=True, error="Enter a whole number from 0 to 3.",
                        errorTitle="Rating 0-3")
    sheet.add_data_validation(dv)
    dv.add(f"{first}2:{last}{len(rows) + 1}")
    for col, width in zip("ABCD", (11, 14, 70, 70), strict=True):
        sheet.column_dimensions[col].width = width
    for cells in sheet.iter_rows(min_row=2, min_col=3, max_col=4):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"


def rating_sheets(path: Path) -> list[tuple[str, list[str], list[tuple[int, list[Any]]]]]:
    """(where, header, numbered rows) of each rating sheet in a file: a CSV, or an XLSX's
    ``Ratings`` / ``Ratings 1`` … ``Ratings N`` sheets (one per annotator)."""
    if not path.is_file():
        raise InputError(path, "file not found")
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return [("csv", *_split(list(csv.reader(fh))))]
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    names = [n for n in wb.sheetnames if re.fullmatch(rf"{RATINGS}( \d+)?", n)]
    if not names:
        raise InputError(path, f"no sheet named '{RATINGS}' or '{RATINGS} 1'")
    return [(f"sheet '{n}'", *_split([list(r) for r in wb[n].iter_rows(values_only=True)])) for n in names]


def _split(data: list[list[Any]]) -> tuple[list[str], list[tuple[int, list[Any]]]]:
    header = [str(h).strip() if h is not None else "" for h in (data[0] if data else [])]
    body = [(i, r) for i, r in enumerate(data[1:], start=2) if any(v not in (None, "") for v in r)]
    return header, body


def sheet_records(path: Path, key: dict[str, Any], spec: ImportSpec, first: int = 1) -> list[dict[str, Any]]:
    """Rating records of every rating sheet in one filled file; annotators are numbered from ``first``."""
    path = Path(path)
    out: list[dict[str, Any]] = []
    for k, (where, header, rows) in enumerate(rating_sheets(path)):
        aspects = spec.aspects or [h for h in header if h and h not in FIXED]
        for col in ["item", *aspects]:
            if col not in header:
                raise InputError(path, f"{where}: missing column", row=1, field=col)
        seen = set()
        for r, values in rows:
            cells = dict(zip(header, values, strict=False))
            item = str(cells.get("item") or "").strip()
            if item not in key:
                raise InputError(path, f"{where}: unknown item '{item}' (not in the key)", row=r, field="item")
            seen.add(item)
            base = {"item": str(key[item]["id"]), "system": key[item]["system"], "task": key[item].get("task", ""),
                    "annotator": str(first + k)}
            out += [{**base, "aspect": a, "score": score_of(cells.get(a), spec.scale, Where(path, r, a, where),
                                                            spec.allow_missing)} for a in aspects]
        missing = sorted(set(key) - seen)
        if missing and not spec.allow_missing:
            raise InputError(path, f"{where}: {len(missing)} items not rated, first: {missing[0]} "
                                   "(--allow-missing scores the rest)")
    return out


def score_sheets(sheets: list[Path], key_path: Path, out_dir: Path, aspects: list[str] | None = None,
                 spec: ImportSpec | None = None, cfg: ScoreConfig | None = None) -> dict[str, Any]:
    """Unblind filled sheets (one file per annotator, or workbooks with one sheet each) and score them."""
    spec = spec or ImportSpec(aspects=aspects)
    records = filled_records([Path(p) for p in sheets], read_key(key_path), spec)
    return score_ratings(to_ratings(records, spec, [str(p) for p in sheets]), out_dir, cfg)


def filled_records(sheets: list[Path], key: dict[str, Any], spec: ImportSpec) -> list[dict[str, Any]]:
    """Rating records of several filled files; annotators numbered 1, 2, … across files and sheets."""
    records: list[dict[str, Any]] = []
    for path in sheets:
        records += sheet_records(path, key, spec, first=len({r["annotator"] for r in records}) + 1)
    return records


def read_key(path: Path) -> dict[str, Any]:
    """item → {system, id, task}: the key written by the export."""
    import json

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "key not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not JSON: {exc.msg}") from exc
