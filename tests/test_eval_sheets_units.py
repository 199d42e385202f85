"""Human-evaluation sheets piece by piece, without scoring: the blinded sample, what an annotator
sees in the workbook and CSV, and every error reading a filled sheet can raise (file, row, field)."""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from imhi.evaluation.ratings import ImportSpec
from imhi.evaluation.sheets import (
    GUIDE,
    SCALE,
    SheetConfig,
    export_sheet,
    filled_records,
    rating_sheets,
    read_key,
    sample_items,
    sheet_records,
    stratified_ids,
)
from imhi.io import InputError, write_jsonl


def _rows(task: str, labels: list[str | None]) -> dict[str, dict]:
    return {f"{task}-{i}": {"id": f"{task}-{i}", "task": task, "label": lab} for i, lab in enumerate(labels)}


def _system(path: Path, name: str, ids: list[str]) -> Path:
    write_jsonl(path, [{"id": i, "task": i.split("-")[0], "query": f"post {i}", "label": "yes",
                        "prediction": f"{name} on {i}"} for i in ids])
    return path


def test_stratified_ids_take_labels_in_turn_per_task() -> None:
    rows = {**_rows("b", ["yes", "yes", "yes", "no"]), **_rows("a", ["no", "no", "yes", None])}
    ids = stratified_ids(rows, 3, random.Random(4))
    assert [i.split("-")[0] for i in ids] == ["a", "a", "a", "b", "b", "b"]  # tasks in name order
    assert [rows[i]["label"] for i in ids[:3]] == [None, "no", "yes"]  # one of each label first, as str-sorted
    assert [rows[i]["label"] for i in ids[3:]] == ["no", "yes", "yes"]  # the rare label is never crowded out
    assert ids == stratified_ids(rows, 3, random.Random(4))  # seeded
    assert len(stratified_ids(rows, 1, random.Random(4))) == 2 and len(stratified_ids(rows, 9, random.Random(0))) == 8


def test_sample_items_every_system_of_a_post_or_the_shared_posts_only() -> None:
    a = {i: {"id": i, "task": "dr", "label": "no"} for i in ("dr-1", "dr-2")}
    b = {i: {"id": i, "task": "dr", "label": "no"} for i in ("dr-2", "dr-3")}
    items = sample_items({"a": a, "b": b}, SheetConfig(per_task=9), random.Random(0))
    assert sorted(items) == [("a", "dr-1"), ("a", "dr-2"), ("b", "dr-2"), ("b", "dr-3")]
    shared = sample_items({"a": a, "b": b}, SheetConfig(per_task=9, shared_only=True), random.Random(0))
    assert sorted(shared) == [("a", "dr-2"), ("b", "dr-2")]
    with pytest.raises(InputError, match=r"^a, b: no posts$"):
        sample_items({"a": {}, "b": {}}, SheetConfig(), random.Random(0))


def test_export_key_rows_and_csv(tmp_path: Path) -> None:
    systems = {"m1": _system(tmp_path / "1.jsonl", "m1", ["dr-1", "dr-2"]),
               "m2": _system(tmp_path / "2.jsonl", "m2", ["dr-2"])}
    main = export_sheet(systems, tmp_path / "s", SheetConfig(aspects=["fluency", "overall"]))
    assert main == tmp_path / "s" / "sheet.xlsx"
    key = read_key(tmp_path / "s" / "key.json")
    assert sorted(key) == ["item-0001", "item-0002", "item-0003"]
    assert sorted((v["system"], v["id"], v["task"]) for v in key.values()) == [
        ("m1", "dr-1", "dr"), ("m1", "dr-2", "dr"), ("m2", "dr-2", "dr")]
    with (tmp_path / "s" / "sheet.csv").open(encoding="utf-8", newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["item", "task", "post", "response", "fluency", "overall"]
    for item, task, post, response, *ratings in table[1:]:
        system, rid = key[item]["system"], key[item]["id"]
        assert (task, post, response) == ("dr", f"post {rid}", f"{system} on {rid}")
        assert ratings == ["", ""]  # blank cells to fill


def test_workbook_guides_the_annotator(tmp_path: Path) -> None:
    systems = {"m": _system(tmp_path / "1.jsonl", "m", ["dr-1", "dr-2", "dr-3"])}
    export_sheet(systems, tmp_path / "one", SheetConfig(aspects=["fluency", "reliability"]))
    wb = load_workbook(tmp_path / "one" / "sheet.xlsx")
    guide = [[c.value for c in row] for row in wb["Instructions"].iter_rows()]
    assert guide[0][0] == "Rate each response on every aspect with a whole number: " + SCALE
    assert wb["Instructions"]["A1"].font.bold
    assert guide[1][0].startswith("Systems are hidden behind item ids") and "Leave no cell empty." in guide[1][0]
    assert guide[2:] == [["fluency", GUIDE["fluency"]], ["reliability", GUIDE["reliability"]]]
    ws = wb["Ratings"]
    dv = ws.data_validations.dataValidation[0]
    assert (dv.operator, dv.allow_blank, dv.showErrorMessage) == ("between", False, True)
    assert (dv.error, dv.errorTitle) == ("Enter a whole number from 0 to 3.", "Rating 0-3")
    assert str(dv.sqref) == "E2:F4"
    assert [ws.column_dimensions[c].width for c in "ABCD"] == [11, 14, 70, 70]
    assert all(ws.cell(r, c).alignment.wrap_text and ws.cell(r, c).alignment.vertical == "top"
               for r in (2, 4) for c in (3, 4))
    assert not ws.cell(2, 2).alignment.wrap_text and not ws.cell(2, 5).alignment.wrap_text
    assert not ws.cell(1, 3).alignment.wrap_text and ws.freeze_panes == "A2"  # the header row stays one line
    export_sheet(systems, tmp_path / "two", SheetConfig(annotators=2))
    guide = [c.value for c in load_workbook(tmp_path / "two" / "sheet.xlsx")["Instructions"]["A"]]
    assert "Annotator k fills the sheet 'Ratings k' only." in guide
    assert [(tmp_path / "two" / f"sheet_{k}.csv").read_text() for k in (1, 2)] == \
        [(tmp_path / "two" / "sheet_1.csv").read_text()] * 2  # one order for both unless shuffled


def test_label_studio_export(tmp_path: Path) -> None:
    systems = {"m": _system(tmp_path / "1.jsonl", "m", ["dr-1"])}
    tasks = export_sheet(systems, tmp_path / "ls", SheetConfig(format="label-studio", aspects=["overall"]))
    assert tasks == tmp_path / "ls" / "label_studio" / "tasks.json"
    assert json.loads(tasks.read_text()) == [{"data": {"item": "item-0001", "task": "dr", "post": "post dr-1",
                                                       "response": "m on dr-1"}}]
    config = (tasks.parent / "config.xml").read_text()
    assert 'name="overall"' in config and (tmp_path / "ls" / "key.json").is_file()
    assert re.findall(r'<Choice value="(\d)"', config) == ["0", "1", "2", "3"]
    assert re.findall(r'<Choice value="(\d)" hint="(\w+)"/>', config) == [
        ("0", "unacceptable"), ("1", "poor"), ("2", "acceptable"), ("3", "good")]


def test_export_is_seeded_nests_its_folder_and_reruns(tmp_path: Path) -> None:
    systems = {m: _system(tmp_path / f"{m}.jsonl", m, [f"dr-{i}" for i in range(8)]) for m in ("m1", "m2")}
    cfg = SheetConfig(per_task=5, seed=3, annotators=2, shuffle_per_annotator=True)
    export_sheet(systems, tmp_path / "a" / "b", cfg)
    first = [(tmp_path / "a" / "b" / f).read_text() for f in ("key.json", "sheet_1.csv", "sheet_2.csv")]
    export_sheet(systems, tmp_path / "a" / "b", cfg)  # again into the same folder: the same files
    assert [(tmp_path / "a" / "b" / f).read_text() for f in ("key.json", "sheet_1.csv", "sheet_2.csv")] == first
    export_sheet(systems, tmp_path / "c", cfg.model_copy(update={"seed": 4}))
    assert (tmp_path / "c" / "key.json").read_text() != first[0]
    with pytest.raises(InputError, match=r"gone.jsonl: generations of system 'm3' not found$"):
        export_sheet({**systems, "m3": tmp_path / "gone.jsonl"}, tmp_path / "d", cfg)
    with pytest.raises(InputError, match=r"^m1, m3: the systems share no post ids$"):
        export_sheet({"m1": systems["m1"], "m3": _system(tmp_path / "m3.jsonl", "m3", ["dr-9"])}, tmp_path / "e",
                     SheetConfig(shared_only=True))


def test_export_without_a_query_and_an_aspect_without_a_guide(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "g.jsonl", [{"id": "dr-1", "task": "dr", "label": "no", "prediction": "p"}])
    export_sheet({"m": tmp_path / "g.jsonl"}, tmp_path / "s", SheetConfig(aspects=["empathy"]))
    with (tmp_path / "s" / "sheet.csv").open(encoding="utf-8", newline="") as fh:
        assert list(csv.reader(fh))[1] == ["item-0001", "dr", "", "p", ""]
    guide = load_workbook(tmp_path / "s" / "sheet.xlsx")["Instructions"]
    assert [c.value for c in guide[3]] == ["empathy", None]
    tasks = export_sheet({"m": tmp_path / "g.jsonl"}, tmp_path / "ls", SheetConfig(format="label-studio"))
    assert json.loads(tasks.read_text())[0]["data"]["post"] == ""  # Label Studio shows an empty text, not null


def _key() -> dict:
    return {"item-0001": {"system": "m1", "id": "dr-1", "task": "dr"},
            "item-0002": {"system": "m2", "id": "dr-1", "task": "dr"}}


def _csv(path: Path, rows: list[list[str]], header: tuple[str, ...] = ("item", "fluency", "overall")) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([list(header), *rows])
    return path


def test_rating_sheets_keep_file_row_numbers_and_skip_blank_rows(tmp_path: Path) -> None:
    path = _csv(tmp_path / "r.csv", [["item-0001", "1", "2"], ["", "", ""], ["item-0002", "3", "0"]])
    [(where, header, rows)] = rating_sheets(path)
    assert (where, header) == ("csv", ["item", "fluency", "overall"])
    assert rows == [(2, ["item-0001", "1", "2"]), (4, ["item-0002", "3", "0"])]
    wb = Workbook()
    wb.active.title = "Notes"
    for title in ("Ratings 2", "Ratings x", "Ratings"):
        wb.create_sheet(title).append([" item ", None])
    wb.save(tmp_path / "w.xlsx")
    assert [(w, h) for w, h, _ in rating_sheets(tmp_path / "w.xlsx")] == [
        ("sheet 'Ratings 2'", ["item", ""]), ("sheet 'Ratings'", ["item", ""])]
    del wb["Ratings 2"], wb["Ratings"]
    wb.save(tmp_path / "none.xlsx")
    with pytest.raises(InputError, match=r"none.xlsx: no sheet named 'Ratings' or 'Ratings 1'$"):
        rating_sheets(tmp_path / "none.xlsx")
    with pytest.raises(InputError, match=r"gone.csv: file not found$"):
        rating_sheets(tmp_path / "gone.csv")


def test_sheet_records_unblind_every_cell(tmp_path: Path) -> None:
    path = _csv(tmp_path / "r.csv", [["item-0002", "3", "0"], [" item-0001 ", "1", "2"]])
    got = sheet_records(path, _key(), ImportSpec(), first=4)
    assert got == [{"item": "dr-1", "system": "m2", "task": "dr", "annotator": "4", "aspect": "fluency", "score": 3.0},
                   {"item": "dr-1", "system": "m2", "task": "dr", "annotator": "4", "aspect": "overall", "score": 0.0},
                   {"item": "dr-1", "system": "m1", "task": "dr", "annotator": "4", "aspect": "fluency", "score": 1.0},
                   {"item": "dr-1", "system": "m1", "task": "dr", "annotator": "4", "aspect": "overall", "score": 2.0}]
    only = sheet_records(path, _key(), ImportSpec(aspects=["overall"]))
    assert [(r["aspect"], r["score"], r["annotator"]) for r in only] == [("overall", 0.0, "1"), ("overall", 2.0, "1")]


def test_sheet_record_errors_name_file_row_field(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"a.csv, row 1, field 'overall': csv: missing column$"):
        sheet_records(_csv(tmp_path / "a.csv", [["item-0001", "1"]], ("item", "fluency")), _key(),
                      ImportSpec(aspects=["fluency", "overall"]))
    with pytest.raises(InputError, match=r"b.csv, row 3, field 'item': csv: unknown item 'item-0009' \(not in"):
        sheet_records(_csv(tmp_path / "b.csv", [["item-0001", "1", "1"], ["item-0009", "1", "1"]]), _key(),
                      ImportSpec())
    short = _csv(tmp_path / "c.csv", [["item-0002", "1", "1"]])
    with pytest.raises(InputError, match=r"c.csv: csv: 1 items not rated, first: item-0001 \(--allow-missing"):
        sheet_records(short, _key(), ImportSpec())
    assert len(sheet_records(short, _key(), ImportSpec(allow_missing=True))) == 2


def test_annotators_numbered_across_files_and_sheets(tmp_path: Path) -> None:
    wb = Workbook()
    for k in (1, 2):
        ws = wb.create_sheet(f"Ratings {k}")
        ws.append(["item", "overall"])
        ws.append(["item-0001", k])
        ws.append(["item-0002", k])
    wb.save(tmp_path / "two.xlsx")
    one = _csv(tmp_path / "one.csv", [["item-0001", "3"], ["item-0002", "3"]], ("item", "overall"))
    got = filled_records([one, tmp_path / "two.xlsx", one], _key(), ImportSpec())
    assert [(r["annotator"], r["score"]) for r in got] == [("1", 3.0), ("1", 3.0), ("2", 1.0), ("2", 1.0),
                                                           ("3", 2.0), ("3", 2.0), ("4", 3.0), ("4", 3.0)]


def test_read_key_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"k.json: key not found$"):
        read_key(tmp_path / "k.json")
    (tmp_path / "k.json").write_text("{item", encoding="utf-8")
    with pytest.raises(InputError, match=r"k.json: not JSON: Expecting property name"):
        read_key(tmp_path / "k.json")
    (tmp_path / "k.json").write_text(json.dumps(_key()), encoding="utf-8")
    assert read_key(str(tmp_path / "k.json")) == _key()


def test_short_rows_blank_items_keys_without_tasks_and_empty_files(tmp_path: Path) -> None:
    key = {"item-0001": {"system": "m1", "id": "dr-1"}}  # a key written before keys named the task
    short = tmp_path / "short.csv"
    short.write_text("item,fluency,overall\nitem-0001,2\n", encoding="utf-8")  # the last cell left off
    got = sheet_records(short, key, ImportSpec(allow_missing=True))
    assert [(r["task"], r["aspect"], r["score"]) for r in got][0] == ("", "fluency", 2.0)
    assert got[1]["score"] != got[1]["score"]  # the missing rating is NaN
    blank = _csv(tmp_path / "blank.csv", [["", "1", "1"]])
    with pytest.raises(InputError, match=r"row 2, field 'item': csv: unknown item '' \(not in the key\)"):
        sheet_records(blank, key, ImportSpec())
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    assert rating_sheets(tmp_path / "empty.csv") == [("csv", [], [])]
    with pytest.raises(InputError, match=r"empty.csv, row 1, field 'item': csv: missing column$"):
        sheet_records(tmp_path / "empty.csv", key, ImportSpec())


def test_score_sheets_reads_only_the_aspects_asked_and_names_the_files(tmp_path: Path) -> None:
    from imhi.evaluation.human import ScoreConfig
    from imhi.evaluation.sheets import score_sheets

    (tmp_path / "key.json").write_text(json.dumps(_key()), encoding="utf-8")
    sheets = [_csv(tmp_path / f"a{k}.csv", [["item-0001", str(k), "3"], ["item-0002", "0", "3"]]) for k in (1, 2)]
    res = score_sheets(sheets, tmp_path / "key.json", tmp_path / "out", aspects=["fluency"],
                       cfg=ScoreConfig(bootstrap=0))
    assert list(res["means"]["m1"]) == ["fluency"] and res["means"]["m1"]["fluency"] == 1.5
    assert res["sources"] == [str(p) for p in sheets] and res["means_ci"]["m1"]["fluency"]["ci"] is None  # no bootstrap
    only_items = _csv(tmp_path / "none.csv", [["item-0001"], ["item-0002"]], ("item",))
    with pytest.raises(InputError, match=r"none.csv: no ratings found$"):
        score_sheets([only_items], tmp_path / "key.json", tmp_path / "out")
