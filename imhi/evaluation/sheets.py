"""Human-evaluation sheets: blinded export (XLSX + CSV + key) and scoring of filled sheets.

Export reads several ``generations.jsonl`` files (one per system) and writes
``sheet.xlsx`` (an Instructions sheet first, then Ratings with 0–3 cell validation),
``sheet.csv`` (the same rows) and ``key.json`` (item → system, post id, task; keep it
away from annotators). Scoring reads filled sheets (XLSX or CSV) from several
annotators and the key; writes ``human_eval.json`` and ``human_eval.md`` with means per
system and aspect, Krippendorff's alpha (ordinal) and pairwise Spearman correlations.
"""

from __future__ import annotations

import csv
import itertools
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import Field

from imhi.config import Strict
from imhi.io import InputError, read_jsonl, write_json, write_text

ASPECTS = ("fluency", "completeness", "reliability", "overall")
GUIDE = {
    "fluency": "Is the explanation well-formed, readable English (or Chinese) without garbled text?",
    "completeness": "Does the explanation cover the evidence in the post that bears on the answer?",
    "reliability": "Is the explanation true to the post and consistent with the stated label?",
    "overall": "Taken together, how useful is this answer to a mental-health professional?",
}
SCALE = "0 = unacceptable, 1 = poor, 2 = acceptable, 3 = good"
RATINGS = "Ratings"
FIXED = ("item", "task", "post", "response")


class SheetConfig(Strict):
    """How many posts per task go to annotators, and the random seed."""

    per_task: int = Field(default=20, ge=1)
    seed: int = 0
    aspects: list[str] = Field(default_factory=lambda: list(ASPECTS))


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


def export_sheet(systems: dict[str, Path], out_dir: Path, cfg: SheetConfig | None = None) -> Path:
    """Write the blinded sheet (XLSX + CSV) and its key; posts common to all systems only."""
    cfg = cfg or SheetConfig()
    data = _load_systems(systems)
    common = set.intersection(*(set(rows) for rows in data.values()))
    if not common:
        raise InputError(", ".join(map(str, systems.values())), "the systems share no post ids")
    rng = random.Random(cfg.seed)
    first = next(iter(data.values()))
    ids = stratified_ids({i: first[i] for i in common}, cfg.per_task, rng)
    items = [(name, rid) for rid in ids for name in data]
    rng.shuffle(items)
    key, rows = {}, []
    for n, (name, rid) in enumerate(items, start=1):
        item = f"item-{n:04d}"
        row = data[name][rid]
        key[item] = {"system": name, "id": rid, "task": row["task"]}
        rows.append([item, row["task"], row.get("query", ""), row["prediction"]])
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "key.json", key)
    _write_csv(out_dir / "sheet.csv", [*FIXED, *cfg.aspects], rows)
    return _write_xlsx(out_dir / "sheet.xlsx", rows, cfg.aspects)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows([*r, *[""] * (len(header) - len(r))] for r in rows)


def _write_xlsx(path: Path, rows: list[list[Any]], aspects: list[str]) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    guide = wb.active
    guide.title = "Instructions"
    guide.append(["Rate each response on every aspect with a whole number: " + SCALE])
    guide.append(["Systems are hidden behind item ids; do not try to guess them. Leave no cell empty."])
    for aspect in aspects:
        guide.append([aspect, GUIDE.get(aspect, "")])
    guide["A1"].font = Font(bold=True)
    sheet = wb.create_sheet(RATINGS)
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
    wb.save(path)
    return path


def read_filled(path: Path, aspects: list[str], key: dict[str, Any]) -> dict[str, dict[str, int]]:
    """item → aspect → rating from one annotator's sheet; every cell checked."""
    path = Path(path)
    header, rows, where = _rows(path)
    for col in ["item", *aspects]:
        if col not in header:
            raise InputError(path, f"{where}: missing column", row=1, field=col)
    out: dict[str, dict[str, int]] = {}
    for r, values in rows:
        cells = dict(zip(header, values, strict=False))
        item = str(cells.get("item") or "").strip()
        if item not in key:
            raise InputError(path, f"{where}: unknown item '{item}' (not in the key)", row=r, field="item")
        out[item] = {a: _rating(cells.get(a), path, where, r, a) for a in aspects}
    missing = sorted(set(key) - set(out))
    if missing:
        raise InputError(path, f"{where}: {len(missing)} items not rated, first: {missing[0]}")
    return out


def _rating(value: Any, path: Path, where: str, row: int, col: str) -> int:
    try:
        number = float(str(value).strip())
    except ValueError:
        number = float("nan")
    if value in (None, "") or number != number or number != int(number) or not 0 <= number <= 3:
        raise InputError(path, f"{where}: '{value}' is not a whole number from 0 to 3", row=row, field=col)
    return int(number)


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[Any]]], str]:
    if not path.is_file():
        raise InputError(path, "file not found")
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            data = list(csv.reader(fh))
        where = "csv"
    else:
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        if RATINGS not in wb.sheetnames:
            raise InputError(path, f"no sheet named '{RATINGS}'")
        data = [list(r) for r in wb[RATINGS].iter_rows(values_only=True)]
        where = f"sheet '{RATINGS}'"
    header = [str(h).strip() if h is not None else "" for h in (data[0] if data else [])]
    body = [(i, r) for i, r in enumerate(data[1:], start=2) if any(v not in (None, "") for v in r)]
    return header, body, where


def score_sheets(sheets: list[Path], key_path: Path, out_dir: Path,
                 aspects: list[str] | None = None) -> dict[str, Any]:
    """Unblind filled sheets; means per system × aspect and inter-annotator agreement."""
    import json

    aspects = aspects or list(ASPECTS)
    key = json.loads(Path(key_path).read_text(encoding="utf-8"))
    ratings = [read_filled(p, aspects, key) for p in sheets]
    means: dict[str, dict[str, float]] = defaultdict(dict)
    for system in sorted({v["system"] for v in key.values()}):
        items = [i for i, v in key.items() if v["system"] == system]
        for a in aspects:
            vals = [r[i][a] for r in ratings for i in items]
            means[system][a] = sum(vals) / len(vals)
    result = {"annotators": [str(p) for p in sheets], "items": len(key), "means": dict(means),
              "agreement": agreement(ratings, sorted(key), aspects)}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "human_eval.json", result)
    write_text(out_dir / "human_eval.md", _markdown(result, aspects))
    return result


def agreement(ratings: list[dict[str, dict[str, int]]], items: list[str],
              aspects: list[str]) -> dict[str, dict[str, Any]]:
    """Krippendorff's alpha (ordinal) and pairwise Spearman rho between annotators, per aspect."""
    import krippendorff
    from scipy.stats import spearmanr

    out: dict[str, dict[str, Any]] = {}
    for a in aspects:
        matrix = [[r[i][a] for i in items] for r in ratings]
        entry: dict[str, Any] = {"alpha": None, "spearman": {}}
        if len(ratings) >= 2 and len({v for row in matrix for v in row}) > 1:
            entry["alpha"] = float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal"))
        for (x, rx), (y, ry) in itertools.combinations(enumerate(matrix, start=1), 2):
            rho = spearmanr(rx, ry).statistic
            entry["spearman"][f"{x}-{y}"] = None if rho != rho else float(rho)
        out[a] = entry
    return out


def _markdown(result: dict[str, Any], aspects: list[str]) -> str:
    lines = ["# Human evaluation", "", f"{len(result['annotators'])} annotators, {result['items']} items.",
             "", "| system | " + " | ".join(aspects) + " |", "|" + "---|" * (len(aspects) + 1)]
    for system, m in result["means"].items():
        lines.append(f"| {system} | " + " | ".join(f"{m[a]:.2f}" for a in aspects) + " |")
    lines += ["", "| aspect | Krippendorff alpha | pairwise Spearman |", "|---|---|---|"]
    for a in aspects:
        ag = result["agreement"][a]
        alpha = "–" if ag["alpha"] is None else f"{ag['alpha']:.3f}"
        rhos = ", ".join(f"{k}: {'–' if v is None else f'{v:.2f}'}" for k, v in ag["spearman"].items())
        lines.append(f"| {a} | {alpha} | {rhos or '–'} |")
    return "\n".join(lines) + "\n"
