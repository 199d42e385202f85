"""Human-evaluation sheets round-trip: export, fill programmatically, score, check by hand."""

from __future__ import annotations

import json
from pathlib import Path

import krippendorff
import pytest
from openpyxl import load_workbook

from imhi.evaluation.human import ScoreConfig
from imhi.evaluation.ratings import ImportSpec
from imhi.evaluation.sheets import ASPECTS, SheetConfig, export_sheet, score_sheets
from imhi.io import InputError, write_jsonl

V0 = Path(__file__).parent / "data" / "sheets_v0"
FAST = ScoreConfig(bootstrap=20)


def _system(path: Path, name: str, posts: range = range(6)) -> Path:
    rows = [{"id": f"{task}-{i}", "task": task, "query": f"post {i}", "label": "yes" if i % 2 else "no",
             "answer": "a", "prediction": f"{name} says {i}", "model": name}
            for task in ("dr", "dreaddit") for i in posts]
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
    res = score_sheets(sheets, exported / "key.json", tmp_path / "out", cfg=FAST)
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


def test_sheets_exported_before_issue_16_score_the_same(tmp_path: Path) -> None:
    expected = json.loads((V0 / "expected_human_eval.json").read_text())
    sheets = [V0 / "annotator1.xlsx", V0 / "annotator2.xlsx", V0 / "annotator3.csv"]
    res = score_sheets(sheets, V0 / "key.json", tmp_path / "out", cfg=FAST)
    assert res["items"] == expected["items"] == 20
    for system, per in expected["means"].items():
        for aspect, value in per.items():
            assert res["means"][system][aspect] == pytest.approx(value, abs=1e-12)
    for aspect, ag in expected["agreement"].items():
        assert res["agreement"][aspect]["alpha"] == pytest.approx(ag["alpha"], abs=1e-12)
        assert res["agreement"][aspect]["spearman"] == pytest.approx(ag["spearman"], abs=1e-12)


def _fill_sheet(ws, key: dict, annotator: int, skip: int = 0) -> None:
    header = [c.value for c in ws[1]]
    for row in list(ws.iter_rows(min_row=2))[skip:]:
        n = int(row[0].value.split("-")[1])
        for j, aspect in enumerate(ASPECTS):
            row[header.index(aspect)].value = (2 if key[row[0].value]["system"] == "tuned" else 1) + \
                (n * 3 + j + annotator) % 3 // 2


def test_one_workbook_many_annotators_own_orders(tmp_path: Path) -> None:
    systems = {"base": _system(tmp_path / "a.jsonl", "base"), "tuned": _system(tmp_path / "b.jsonl", "tuned")}
    cfg = SheetConfig(per_task=4, seed=1, annotators=3, shuffle_per_annotator=True)
    export_sheet(systems, tmp_path / "sheet", cfg)
    key = json.loads((tmp_path / "sheet" / "key.json").read_text())
    wb = load_workbook(tmp_path / "sheet" / "sheet.xlsx")
    assert wb.sheetnames == ["Instructions", "Ratings 1", "Ratings 2", "Ratings 3"]
    orders = [[c.value for c in wb[f"Ratings {k}"]["A"][1:]] for k in (1, 2, 3)]
    assert all(sorted(o) == sorted(key) for o in orders) and len({tuple(o) for o in orders}) == 3
    assert all((tmp_path / "sheet" / f"sheet_{k}.csv").is_file() for k in (1, 2, 3))
    for k in (1, 2, 3):
        _fill_sheet(wb[f"Ratings {k}"], key, k)
    wb.save(tmp_path / "filled.xlsx")
    res = score_sheets([tmp_path / "filled.xlsx"], tmp_path / "sheet" / "key.json", tmp_path / "out", cfg=FAST)
    assert res["annotators"] == ["1", "2", "3"]
    for k in (1, 2, 3):  # the same ratings as three separate one-sheet files
        single = load_workbook(tmp_path / "filled.xlsx")
        for other in {1, 2, 3} - {k}:
            del single[f"Ratings {other}"]
        single.save(tmp_path / f"ann{k}.xlsx")
    split = score_sheets([tmp_path / f"ann{k}.xlsx" for k in (1, 2, 3)], tmp_path / "sheet" / "key.json",
                         tmp_path / "out2", cfg=FAST)
    assert split["means"] == res["means"]
    assert split["agreement"]["overall"]["alpha"] == pytest.approx(res["agreement"]["overall"]["alpha"])


def test_unbalanced_study_export_and_score(tmp_path: Path) -> None:
    systems = {"base": _system(tmp_path / "a.jsonl", "base", range(6)),
               "tuned": _system(tmp_path / "b.jsonl", "tuned", range(3, 9)),
               "other": _system(tmp_path / "c.jsonl", "other", range(20, 23))}
    export_sheet(systems, tmp_path / "sheet", SheetConfig(per_task=20, seed=2, annotators=2))
    key = json.loads((tmp_path / "sheet" / "key.json").read_text())
    per_system = {s: {v["id"] for v in key.values() if v["system"] == s} for s in systems}
    assert {len(v) for v in per_system.values()} == {12, 6}
    assert len(per_system["base"] & per_system["tuned"]) == 6 and not per_system["other"] & per_system["base"]
    with pytest.raises(InputError, match="share no post ids"):
        export_sheet(systems, tmp_path / "x", SheetConfig(shared_only=True))
    wb = load_workbook(tmp_path / "sheet" / "sheet.xlsx")
    _fill_sheet(wb["Ratings 1"], key, 1)
    _fill_sheet(wb["Ratings 2"], key, 2, skip=5)  # annotator 2 rated a subset
    wb["Ratings 1"]["E3"] = None  # and annotator 1 left a cell empty
    wb.save(tmp_path / "filled.xlsx")
    with pytest.raises(InputError, match=r"row 3, field 'fluency': sheet 'Ratings 1': missing rating"):
        score_sheets([tmp_path / "filled.xlsx"], tmp_path / "sheet" / "key.json", tmp_path / "out", cfg=FAST)
    res = score_sheets([tmp_path / "filled.xlsx"], tmp_path / "sheet" / "key.json", tmp_path / "out",
                       spec=ImportSpec(allow_missing=True), cfg=FAST)
    assert res["missing"] == 5 * 4 + 1 and res["ratings"] == 2 * len(key) * 4 - res["missing"]
    shared = {(c["a"], c["b"]): c["n"] for c in res["comparisons"]["overall"]}
    assert shared[("base", "tuned")] == 6 and shared[("base", "other")] == 0
    assert res["agreement_by_system"]["other"]["overall"]["n_items"] == 6
