"""Reading ratings piece by piece, without scoring: each cell against the scale, the options as
typed on the command line, every table type and layout, and each error's file, row and column."""

from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from imhi.evaluation.ratings import (
    ImportSpec,
    Where,
    detect_layout,
    import_spec,
    read_ratings,
    read_table,
    score_of,
    split_list,
    to_ratings,
    wide_columns,
    write_ratings,
)
from imhi.io import InputError

AT = Where(Path("f.csv"), 7, "overall")


def _csv(path: Path, rows: list[list[object]], sep: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter=sep).writerows(rows)
    return path


def _scores(records: list[dict]) -> list[tuple]:
    return [(r["item"], r["system"], r["annotator"], r["aspect"], r["score"], r["task"]) for r in records]


@pytest.mark.parametrize(("value", "expected"), [("2", 2.0), (" 3 ", 3.0), ("0", 0.0), ("2.0", 2.0), (1, 1.0)])
def test_a_whole_number_on_the_scale_is_read(value: object, expected: float) -> None:
    assert score_of(value, (0, 3), AT, False) == expected


@pytest.mark.parametrize("value", ["2.5", 4, "-1", "abc", "inf"])
def test_anything_else_is_an_error_naming_file_row_column(value: object) -> None:
    with pytest.raises(InputError, match=rf"^f.csv, row 7, field 'overall': '{value}' is not a whole number from 0 to "
                                         r"3$"):
        score_of(value, (0, 3), AT, False)


@pytest.mark.parametrize("value", [None, float("nan"), "", " NaN ", "None", "null", "NA", "n/a", "-"])
def test_missing_ratings_every_spelling(value: object) -> None:
    with pytest.raises(InputError, match=r"^f.csv, row 7, field 'overall': missing rating \(--allow-missing keeps"):
        score_of(value, (0, 3), AT, False)
    assert math.isnan(score_of(value, (0, 3), AT, True))


def test_other_scales_and_the_note_before_the_message() -> None:
    assert score_of("5", (1, 5), AT, False) == 5.0
    with pytest.raises(InputError, match=r"'0' is not a whole number from 1 to 5$"):
        score_of("0", (1, 5), AT, False)
    with pytest.raises(InputError, match=r"row 3, field 'x': sheet 'Ratings 2': missing rating"):
        score_of("", (0, 3), Where(Path("w.xlsx"), 3, "x", "sheet 'Ratings 2'"), False)


def test_options_as_typed_on_the_command_line() -> None:
    spec = import_spec(aspects="fluency, overall,,", annotators="3", scale=" 1 – 5 ", layout=None)
    assert (spec.aspects, spec.annotators, spec.scale, spec.layout) == (
        ["fluency", "overall"], ["1", "2", "3"], (1, 5), "auto")
    assert import_spec(annotators="ana, ben").annotators == ["ana", "ben"]
    assert [import_spec(scale=s).scale for s in ("0-3", "0:4", "2,6", "-2-2")] == [(0, 3), (0, 4), (2, 6), (-2, 2)]
    assert ImportSpec(aspects=["a"], scale=(0, 1)).aspects == ["a"]
    for bad in ("3-0", "2-2", "x"):
        with pytest.raises(InputError, match=rf"^--scale: .*scale '{bad}' is not LOW-HIGH, e\.g\. 0-3$"):
            import_spec(scale=bad)
    with pytest.raises(InputError, match=r"^--allow-missing: "):
        import_spec(allow_missing="perhaps")


def test_every_table_type(tmp_path: Path) -> None:
    rows = [["item", "system", "fluency:a", "fluency:b"], ["p1", "m", "1", "2"]]
    csv_frame, first = read_table(_csv(tmp_path / "r.csv", rows))
    assert first == 2 and csv_frame.to_dict("records") == [{"item": "p1", "system": "m", "fluency:a": "1",
                                                            "fluency:b": "2"}]
    tsv_frame, _ = read_table(_csv(tmp_path / "r.tsv", rows, sep="\t"))
    assert tsv_frame.equals(csv_frame)
    (tmp_path / "r.jsonl").write_text(json.dumps({"item": "p1", "fluency": [1, 2], "note": None}) + "\n",
                                      encoding="utf-8")
    frame, first = read_table(tmp_path / "r.jsonl")
    assert first == 1 and frame.to_dict("records") == [{"item": "p1", "fluency": [1, 2], "note": ""}]
    (tmp_path / "r.json").write_text(json.dumps([{"item": "p1", "x": 1}]), encoding="utf-8")
    assert read_table(tmp_path / "r.json")[0].to_dict("records") == [{"item": "p1", "x": 1}]
    with pd.ExcelWriter(tmp_path / "r.xlsx") as writer:
        pd.DataFrame({"note": ["x"]}).to_excel(writer, sheet_name="Notes", index=False)
        pd.DataFrame({"item": ["p1"], "fluency:a": [1], "fluency:b": [None]}).to_excel(
            writer, sheet_name="Ratings", index=False)
    frame, first = read_table(tmp_path / "r.xlsx")
    assert first == 2 and frame.to_dict("records") == [{"item": "p1", "fluency:a": 1, "fluency:b": ""}]
    with pd.ExcelWriter(tmp_path / "other.xlsx") as writer:
        pd.DataFrame({"item": ["p9"]}).to_excel(writer, sheet_name="Sheet A", index=False)
    assert read_table(tmp_path / "other.xlsx")[0].to_dict("records") == [{"item": "p9"}]  # the first sheet
    (tmp_path / "r.ods").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match=r"r.ods: unknown table type '.ods' \(known: .csv, .tsv, .jsonl, .json, "
                                         r".xlsx\)$"):
        read_table(tmp_path / "r.ods")
    with pytest.raises(InputError, match=r"gone.csv: file not found$"):
        read_table(tmp_path / "gone.csv")


def test_items_and_systems(tmp_path: Path) -> None:
    both = _csv(tmp_path / "both.csv", [["post_id", "id", "post", "system", "overall:a", "overall:b"],
                                        [" x1 ", "y1", "text", " m1 ", "1", "2"]])
    assert {r["item"] for r in read_ratings(both, None, ImportSpec())} == {"y1"}  # id before post_id
    assert {r["item"] for r in read_ratings(both, None, ImportSpec(item="post_id"))} == {"x1"}
    assert {r["system"] for r in read_ratings(both, "named", ImportSpec())} == {"named"}
    assert {r["system"] for r in read_ratings(both, None, ImportSpec())} == {"m1"}
    text = _csv(tmp_path / "text.csv", [["text", "model", "overall:a", "overall:b"], [" a post ", "m2", "1", "2"]])
    got = read_ratings(text, None, ImportSpec(system="model"))
    assert {r["item"] for r in got} == {"post-" + hashlib.sha256(b"a post").hexdigest()[:10]}
    assert {r["system"] for r in got} == {"m2"}
    with pytest.raises(InputError, match=r"text.csv: no 'system' column: name the system as NAME=FILE or give "
                                         r"--system COLUMN$"):
        read_ratings(text, None, ImportSpec())
    with pytest.raises(InputError, match=r"text.csv: unknown item column 'txt'.*did you mean 'text'"):
        read_ratings(text, "m", ImportSpec(item="txt"))
    none = _csv(tmp_path / "none.csv", [["system", "overall:a", "overall:b"], ["m", "1", "2"]])
    with pytest.raises(InputError, match=r"none.csv: no item column: give --item COLUMN or a column named one of "
                                         r"item, id, post_id, post, text, query$"):
        read_ratings(none, None, ImportSpec())


def test_long_layout(tmp_path: Path) -> None:
    path = _csv(tmp_path / "long.csv", [["item", "system", "annotator", "aspect", "score", "task"],
                                        ["p1", "m", " ann ", " overall ", "2", "dr"],
                                        ["p1", "m", "bob", "overall", "3", "dr"]])
    assert _scores(read_ratings(path, None, ImportSpec())) == [("p1", "m", "ann", "overall", 2.0, "dr"),
                                                               ("p1", "m", "bob", "overall", 3.0, "dr")]
    with pytest.raises(InputError, match=r"long.csv, row 2, field 'aspect': unknown aspect 'overall' \(known: "
                                         r"fluency\)$"):
        read_ratings(path, None, ImportSpec(aspects=["fluency"]))
    bad = _csv(tmp_path / "bad.csv", [["item", "system", "annotator", "aspect", "score"], ["p1", "m", "a", "x", "9"]])
    with pytest.raises(InputError, match=r"bad.csv, row 2, field 'score': '9' is not a whole number"):
        read_ratings(bad, None, ImportSpec())
    short = _csv(tmp_path / "short.csv", [["item", "system", "annotator", "score"], ["p1", "m", "a", "1"]])
    with pytest.raises(InputError, match=r"short.csv, row 1, field 'aspect': missing column of the long layout$"):
        read_ratings(short, None, ImportSpec(layout="long"))


def test_wide_column_names() -> None:
    cols = ["item", "system", "label", "fluency:ann", "fluency / bob", "overall|ann", "overall@bob",
            "clarity_ann", "clarity.bob", "lonely:x", "notes"]
    assert wide_columns(cols, None) == {
        "fluency:ann": ("fluency", "ann"), "fluency / bob": ("fluency", "bob"), "overall|ann": ("overall", "ann"),
        "overall@bob": ("overall", "bob"), "clarity_ann": ("clarity", "ann"), "clarity.bob": ("clarity", "bob")}
    assert wide_columns(["my_aspect_ann", "my_aspect: bob", "other_x"], ["my_aspect"]) == {
        "my_aspect_ann": ("my_aspect", "ann"), "my_aspect: bob": ("my_aspect", "bob")}


def test_wide_layout(tmp_path: Path) -> None:
    path = _csv(tmp_path / "wide.csv", [["id", "system", "task", "overall:ann", "overall:bob"],
                                        ["p1", "m", "dr", "1", "2"], ["p2", "m", "sad", "3", "0"]])
    assert _scores(read_ratings(path, None, ImportSpec())) == [
        ("p1", "m", "ann", "overall", 1.0, "dr"), ("p1", "m", "bob", "overall", 2.0, "dr"),
        ("p2", "m", "ann", "overall", 3.0, "sad"), ("p2", "m", "bob", "overall", 0.0, "sad")]
    bad = _csv(tmp_path / "bad.csv", [["id", "system", "overall:ann", "overall:bob"], ["p1", "m", "1", "2"],
                                      ["p2", "m", "1", "7"]])
    with pytest.raises(InputError, match=r"bad.csv, row 3, field 'overall:bob': '7' is not"):
        read_ratings(bad, None, ImportSpec())
    lone = _csv(tmp_path / "lone.csv", [["id", "system", "overall"], ["p1", "m", "1"]])
    with pytest.raises(InputError, match=r"lone.csv: no rating columns named ASPECT:ANNOTATOR \(give --aspects, "
                                         r"or --layout\)$"):
        read_ratings(lone, None, ImportSpec(layout="wide"))


def test_split_list_cells() -> None:
    assert split_list("[3, 3, 2]") == ["3", "3", "2"] and split_list("(1; 2)") == ["1", "2"]
    assert split_list("['1', \"2\"]") == ["1", "2"] and split_list("[]") == [] and split_list((1, 2)) == [1, 2]
    assert split_list(" ") is None and split_list("null") is None and split_list("[3, , 2]") == ["3", "", "2"]


def test_lists_layout(tmp_path: Path) -> None:
    path = _csv(tmp_path / "l.csv", [["post", "label", "task", "fluency", "overall"],
                                     ["a", "no", "dr", "", "[1, 2]"], ["b", "yes", "dr", "[3, 0]", "[2, 2]"]])
    got = read_ratings(path, "m", ImportSpec(allow_missing=True))
    assert [(r["annotator"], r["aspect"], r["score"]) for r in got if r["score"] == r["score"]] == [
        ("1", "overall", 1.0), ("2", "overall", 2.0), ("1", "fluency", 3.0), ("2", "fluency", 0.0),
        ("1", "overall", 2.0), ("2", "overall", 2.0)]
    assert sum(1 for r in got if r["score"] != r["score"]) == 2 and {r["task"] for r in got} == {"dr"}
    named = read_ratings(path, "m", ImportSpec(allow_missing=True, annotators=["ana", "ben"], aspects=["overall"]))
    assert [r["annotator"] for r in named] == ["ana", "ben", "ana", "ben"]
    with pytest.raises(InputError, match=r"l.csv: unknown aspect column 'clarity'"):
        read_ratings(path, "m", ImportSpec(aspects=["clarity"]))
    with pytest.raises(InputError, match=r"l.csv, row 2, field 'fluency': missing rating"):
        read_ratings(path, "m", ImportSpec())
    with pytest.raises(InputError, match=r"row 2, field 'overall': 2 ratings where 3 are expected"):
        read_ratings(path, "m", ImportSpec(annotators="3", aspects=["overall"]))
    flat = _csv(tmp_path / "flat.csv", [["post", "fluency"], ["a", "2"]])
    with pytest.raises(InputError, match=r"flat.csv: no column of list-valued ratings such as \[3, 3, 2\]"):
        read_ratings(flat, "m", ImportSpec(layout="lists"))
    (tmp_path / "l.jsonl").write_text(json.dumps({"post": "a", "fluency": [3, 1]}) + "\n", encoding="utf-8")
    assert [r["score"] for r in read_ratings(tmp_path / "l.jsonl", "m", ImportSpec())] == [3.0, 1.0]


def test_layout_detection_and_unknown_layouts(tmp_path: Path) -> None:
    assert detect_layout(pd.DataFrame(columns=["item", "annotator", "aspect", "score"])) == "long"
    assert detect_layout(pd.DataFrame({"post": ["[no]"], "fluency": ["", ], "overall": ["[1, 2]"]})) == "lists"
    assert detect_layout(pd.DataFrame({"post": ["[no]"], "overall:a": ["1"]})) == "wide"  # a post in brackets
    path = _csv(tmp_path / "t.csv", [[" id ", " system ", " overall:a ", "overall:b"], ["p", "m", "1", "2"]])
    assert len(read_ratings(path, None, ImportSpec())) == 2  # header cells are trimmed
    with pytest.raises(InputError, match=r"t.csv: unknown layout 'lits'.*did you mean 'lists'"):
        read_ratings(path, None, ImportSpec(layout="lits"))


def test_to_ratings_and_the_long_file(tmp_path: Path) -> None:
    rec = [{"item": "p1", "system": "m", "annotator": "a", "aspect": a, "score": s, "task": "dr"}
           for a, s in (("overall", 2.0), ("fluency", float("nan")))]
    ratings = to_ratings(rec, ImportSpec(scale=(0, 4)), ["a.csv", "b.csv"])
    assert (ratings.aspects, ratings.scale, ratings.sources) == (["overall", "fluency"], (0, 4), ["a.csv", "b.csv"])
    assert to_ratings(rec, ImportSpec(aspects=["fluency", "overall"]), ["a.csv"]).aspects == ["fluency", "overall"]
    out = write_ratings(ratings, tmp_path / "deep" / "ratings.csv")
    assert out.read_text(encoding="utf-8").splitlines() == ["item,system,annotator,aspect,score,task",
                                                            "p1,m,a,overall,2,dr"]  # a missing rating has no row
    with pytest.raises(InputError, match=r"^a.csv, b.csv: item 'p1' of system 'm' is rated twice by annotator 'a' "
                                         r"on 'overall'$"):
        to_ratings([*rec, rec[0]], ImportSpec(), ["a.csv", "b.csv"])
    with pytest.raises(InputError, match=r"^a.csv, b.csv: no ratings found$"):
        to_ratings([], ImportSpec(), ["a.csv", "b.csv"])


def test_text_and_macro_workbooks_rows_below_the_first_and_missing_cells_in_every_layout(tmp_path: Path) -> None:
    _csv(tmp_path / "r.txt", [["item", "system", "annotator", "aspect", "score"], ["p1", "m", "a", "overall", "1"],
                              ["p2", "m", "a", "overall", ""], ["p3", "m", "a", "bad", "2"]])
    got = read_ratings(tmp_path / "r.txt", None, ImportSpec(allow_missing=True))
    assert [(r["item"], r["score"] == r["score"], r["task"]) for r in got] == [
        ("p1", True, ""), ("p2", False, ""), ("p3", True, "")]  # no task column: ''
    with pytest.raises(InputError, match=r"r.txt, row 3, field 'score': missing rating"):
        read_ratings(tmp_path / "r.txt", None, ImportSpec())
    with pytest.raises(InputError, match=r"r.txt, row 4, field 'aspect': unknown aspect 'bad'"):
        read_ratings(tmp_path / "r.txt", None, ImportSpec(aspects=["overall"], allow_missing=True))
    with pd.ExcelWriter(tmp_path / "r.xlsx") as writer:
        pd.DataFrame({"id": ["p1"], "system": ["m"], "overall_a": [1], "overall_b": [None]}).to_excel(
            writer, sheet_name="Ratings", index=False)
    (tmp_path / "r.xlsm").write_bytes((tmp_path / "r.xlsx").read_bytes())
    wide = read_ratings(tmp_path / "r.xlsm", None, ImportSpec(allow_missing=True, aspects=["overall"]))
    assert [(r["annotator"], r["score"] == r["score"], r["task"]) for r in wide] == [("a", True, ""), ("b", False, "")]
    lists = _csv(tmp_path / "l.csv", [["post", "fluency"], ["a", "[1, 2]"]])
    assert {r["task"] for r in read_ratings(lists, "m", ImportSpec())} == {""}
    assert detect_layout(pd.DataFrame(columns=["annotator", "aspect", "score"])) == "long"
    tab = _csv(tmp_path / "t.tsv", [["id", "system", "overall:a", "overall:b"], ["p,1", "m", "1", "2"]], sep="\t")
    assert {r["item"] for r in read_ratings(tab, None, ImportSpec())} == {"p,1"}  # a comma inside a TSV cell
