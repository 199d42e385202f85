"""Human-evaluation sheets round-trip: export, fill programmatically, score, check by hand."""

from __future__ import annotations

import json
from pathlib import Path

import krippendorff
import pytest
from openpyxl import load_workbook

from imhi.evaluation.sheets import ASPECTS, SheetConfig, export_sheet, score_sheets
from imhi.io import InputError, write_jsonl


def _system(path: Path, name: str) -> Path:
    rows = [{"id": f"{task}-{i}", "task": task, "query": f"post {i}", "label": "yes" if i % 2 else "no",
             "answer": "a", "prediction": f"{name} says {i}", "model": name}
            for task in ("dr", "dreaddit") for i in range(6)]
    write_jsonl(path, rows)
    return path


@pytest.fixture()
def exported(tmp_path: Path) -> Path:
    systems = {"base": _system(tmp_path / "a.jsonl", "base"), "tuned": _system(tmp_path / "b.jsonl", "tuned")}
    export_sheet(systems, tmp_path / "sheet", SheetConfig(per_task=4, seed=1))
    return tmp_path / "sheet"


def _fill(src: Path, dst: Path, key: dict, annotator: int) -> None:
    wb = load_workbook(src)
    ws = wb["Ratings"]
    header = [c.value for c in ws[1]]
    for row in ws.iter_rows(min_row=2):
        system = key[row[0].value]["system"]
        n = int(row[0].value.split("-")[1])
        for j, aspect in enumerate(ASPECTS):
            value = (2 if system == "tuned" else 1) + (n + j + annotator) % 2
            row[header.index(aspect)].value = value
    wb.save(dst)


def test_export_is_blinded_validated_and_stratified(exported: Path) -> None:
    key = json.loads((exported / "key.json").read_text())
    assert len(key) == 2 * 2 * 4  # 2 systems × 2 tasks × 4 posts
    wb = load_workbook(exported / "sheet.xlsx")
    assert wb.sheetnames == ["Instructions", "Ratings"]
    ws = wb["Ratings"]
    assert [c.value for c in ws[1]] == ["item", "task", "post", "response", *ASPECTS]
    assert all("base" not in str(c.value) and "tuned" not in str(c.value) for c in ws["A"])
    dv = ws.data_validations.dataValidation[0]
    assert (dv.type, dv.formula1, dv.formula2) == ("whole", "0", "3")
    assert str(dv.sqref) == f"E2:H{len(key) + 1}"
    posts = {(v["task"], v["id"]) for v in key.values()}
    labels = [int(i.split("-")[1]) % 2 for _, i in posts]
    assert labels.count(0) == labels.count(1)  # stratified across gold labels
    assert (exported / "sheet.csv").read_text().count("\n") == len(key) + 1


def test_round_trip_means_and_agreement(exported: Path, tmp_path: Path) -> None:
    key = json.loads((exported / "key.json").read_text())
    sheets = []
    for a in (1, 2):
        _fill(exported / "sheet.xlsx", tmp_path / f"ann{a}.xlsx", key, a)
        sheets.append(tmp_path / f"ann{a}.xlsx")
    res = score_sheets(sheets, exported / "key.json", tmp_path / "out")
    for system, base in (("base", 1), ("tuned", 2)):
        for j, aspect in enumerate(ASPECTS):
            vals = [base + (int(i.split("-")[1]) + j + a) % 2 for a in (1, 2)
                    for i, v in key.items() if v["system"] == system]
            assert res["means"][system][aspect] == pytest.approx(sum(vals) / len(vals))
    items = sorted(key)
    data = [[(2 if key[i]["system"] == "tuned" else 1) + (int(i.split("-")[1]) + a) % 2 for i in items]
            for a in (1, 2)]
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
    assert res["agreement"]["fluency"]["alpha"] == pytest.approx(expected)
    assert "1-2" in res["agreement"]["fluency"]["spearman"]
    assert "| tuned |" in (tmp_path / "out" / "human_eval.md").read_text()


def test_bad_cell_names_sheet_row_column(exported: Path, tmp_path: Path) -> None:
    key = json.loads((exported / "key.json").read_text())
    _fill(exported / "sheet.xlsx", tmp_path / "bad.xlsx", key, 1)
    wb = load_workbook(tmp_path / "bad.xlsx")
    wb["Ratings"]["F5"] = 7
    wb.save(tmp_path / "bad.xlsx")
    with pytest.raises(InputError, match=r"bad.xlsx, row 5, field 'completeness': sheet 'Ratings': '7'"):
        score_sheets([tmp_path / "bad.xlsx"], exported / "key.json", tmp_path / "out")
    wb["Ratings"]["F5"] = None
    wb.save(tmp_path / "bad.xlsx")
    with pytest.raises(InputError, match=r"row 5, field 'completeness'"):
        score_sheets([tmp_path / "bad.xlsx"], exported / "key.json", tmp_path / "out")
