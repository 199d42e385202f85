"""Importing ratings in any layout and scoring them; checked against a hand computation.

tests/data/lists_study/ is written by this project in the layout of a published release: one
CSV per system (post, gold label, the system's answer in a column named after it, one column
per aspect whose cell lists the three annotators' 0–3 scores). alpha-7b and beta-13b were
rated on the same 12 posts, gamma-chat on 6 others.
"""

from __future__ import annotations

import ast
import csv
import json
from itertools import permutations
from pathlib import Path

import krippendorff
import numpy as np
import pytest

from imhi.evaluation.human import ScoreConfig, score_ratings
from imhi.evaluation.ratings import ImportSpec, import_spec
from imhi.evaluation.study import load_study
from imhi.io import InputError

STUDY = Path(__file__).parent / "data" / "lists_study"
SYSTEMS = ("alpha-7b", "beta-13b", "gamma-chat")
ASPECTS = ("fluency", "completeness", "reliability", "overall")


def _cells(system: str) -> list[dict[str, str]]:
    with (STUDY / f"{system}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def hand_alpha(units: list[list[float | None]]) -> float:
    """Krippendorff's ordinal α from its definition (coincidences, ordinal δ²); None = no rating."""
    values = sorted({v for u in units for v in u if v is not None})
    o = {(c, k): 0.0 for c in values for k in values}
    for unit in units:
        got = [v for v in unit if v is not None]
        for i, j in permutations(range(len(got)), 2):
            o[got[i], got[j]] += 1 / (len(got) - 1)
    n_c = {c: sum(o[c, k] for k in values) for c in values}
    n = sum(n_c.values())

    def delta(c: float, k: float) -> float:
        lo, hi = min(c, k), max(c, k)
        return (sum(n_c[g] for g in values if lo <= g <= hi) - (n_c[c] + n_c[k]) / 2) ** 2

    observed = sum(o[c, k] * delta(c, k) for c in values for k in values)
    expected = sum(n_c[c] * n_c[k] * delta(c, k) for c in values for k in values)
    return 1 - (n - 1) * observed / expected


def test_lists_layout_one_import_one_score_equals_hand_computation(cli, tmp_path: Path) -> None:
    files = [f"{s}={STUDY / s}.csv" for s in SYSTEMS]
    code, out, err = cli("sheet", "import", *files, "--out", str(tmp_path / "study"))
    assert code == 0, err
    assert "360 ratings (0 missing) of 3 systems by 3 annotators" in out
    code, out, err = cli("sheet", "score", str(tmp_path / "study" / "ratings.csv"), "--out", str(tmp_path / "score"),
                         "--bootstrap", "50")
    assert code == 0, err
    res = json.loads((tmp_path / "score" / "human_eval.json").read_text())
    pooled: dict[str, list[list[float | None]]] = {a: [] for a in ASPECTS}
    for system in SYSTEMS:
        rows = _cells(system)
        for aspect in ASPECTS:
            lists = [ast.literal_eval(r[aspect]) for r in rows]
            flat = [v for scores in lists for v in scores]
            assert res["means"][system][aspect] == pytest.approx(sum(flat) / len(flat))
            assert res["agreement_by_system"][system][aspect]["alpha"] == pytest.approx(hand_alpha(lists))
            pooled[aspect] += lists
    for aspect in ASPECTS:
        assert res["agreement"][aspect]["alpha"] == pytest.approx(hand_alpha(pooled[aspect]))
        assert res["agreement"][aspect]["scope"] == "pooled"
    assert res["systems"] == {"alpha-7b": 12, "beta-13b": 12, "gamma-chat": 6}
    pairs = {(c["a"], c["b"]): c for c in res["comparisons"]["fluency"]}
    assert pairs["alpha-7b", "beta-13b"]["n"] == 12 and pairs["alpha-7b", "gamma-chat"]["n"] == 0
    md = (tmp_path / "score" / "human_eval.md").read_text()
    assert "| within beta-13b | 12 |" in md and "| pooled over all systems | 30 |" in md
    assert (tmp_path / "score" / "human_eval.png").stat().st_size > 10_000


def test_one_command_scores_the_files_directly(tmp_path: Path) -> None:
    ratings = load_study([f"{s}={STUDY / s}.csv" for s in SYSTEMS])
    assert len(ratings.frame) == 360 and ratings.aspects == list(ASPECTS)
    assert ratings.frame.groupby("system")["item"].nunique().to_dict() == {"alpha-7b": 12, "beta-13b": 12,
                                                                            "gamma-chat": 6}


def test_bootstrap_intervals_bracket_the_estimates(tmp_path: Path) -> None:
    ratings = load_study([f"{s}={STUDY / s}.csv" for s in SYSTEMS])
    res = score_ratings(ratings, tmp_path, ScoreConfig(bootstrap=300, seed=1))
    for system in SYSTEMS:
        m = res["means_ci"][system]["overall"]
        assert m["ci"][0] <= m["mean"] <= m["ci"][1] and m["n_items"] == res["systems"][system]
    assert res["agreement"]["overall"]["ci"][0] < res["agreement"]["overall"]["ci"][1]


def _write(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_long_and_wide_layouts_give_the_same_ratings(tmp_path: Path) -> None:
    long_rows = [["item", "system", "annotator", "aspect", "score"]]
    wide_rows = [["id", "system", "fluency:ann", "fluency:bob", "overall:ann", "overall:bob"]]
    for i in range(4):
        for system in ("s1", "s2"):
            scores = {("fluency", "ann"): i % 4, ("fluency", "bob"): (i + 1) % 4,
                      ("overall", "ann"): 3 - i % 4, ("overall", "bob"): 2}
            long_rows += [[f"p{i}", system, who, aspect, v] for (aspect, who), v in scores.items()]
            wide_rows.append([f"p{i}", system, *scores.values()])
    a = load_study([str(_write(tmp_path / "long.csv", long_rows))])
    b = load_study([str(_write(tmp_path / "wide.csv", wide_rows))])
    cols = ["item", "system", "annotator", "aspect", "score"]
    key = a.frame[cols].sort_values(cols).reset_index(drop=True)
    assert key.equals(b.frame[cols].sort_values(cols).reset_index(drop=True))
    assert b.aspects == ["fluency", "overall"] and set(b.frame["annotator"]) == {"ann", "bob"}


@pytest.mark.parametrize(("cell", "message"), [
    ("[3, 4, 2]", r"bad.csv, row 3, field 'reliability': '4' is not a whole number from 0 to 3"),
    ("[3, 2]", r"bad.csv, row 3, field 'reliability': 2 ratings where 3 are expected"),
    ("", r"bad.csv, row 3, field 'reliability': missing rating"),
    ("[3, , 2]", r"bad.csv, row 3, field 'reliability': missing rating"),
])
def test_bad_list_cells_name_file_row_column(tmp_path: Path, cell: str, message: str) -> None:
    rows = [["post", "label", "m", *ASPECTS],
            ["a post", "no", "ans", "[1, 1, 1]", "[2, 2, 2]", "[1, 2, 3]", "[0, 0, 0]"],
            ["b post", "yes", "ans", "[1, 1, 1]", "[2, 2, 2]", cell, "[0, 0, 0]"]]
    path = _write(tmp_path / "bad.csv", rows)
    with pytest.raises(InputError, match=message):
        load_study([f"m={path}"])


def test_missing_ratings_allowed_use_alpha_missing_data_form(tmp_path: Path) -> None:
    rows = [["post", "fluency"], ["p1", "[3, 3, ]"], ["p2", "[0, 1, 1]"], ["p3", ""], ["p4", "[2, null, 3]"],
            ["p5", "[1, 1, 0]"]]
    path = _write(tmp_path / "gaps.csv", rows)
    ratings = load_study([f"m={path}"], spec=ImportSpec(allow_missing=True))
    res = score_ratings(ratings, tmp_path / "out", ScoreConfig(bootstrap=20))
    assert res["missing"] == 5 and res["ratings"] == 10
    units = [[3, 3, None], [0, 1, 1], [2, None, 3], [1, 1, 0]]
    data = np.array([[np.nan if v is None else v for v in u] for u in units]).T
    assert res["agreement"]["fluency"]["alpha"] == pytest.approx(hand_alpha(units))
    assert res["agreement"]["fluency"]["alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))


def test_other_scale_and_named_annotators_from_the_command_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "five.csv", [["id", "system", "clarity"], ["1", "x", "[5, 4]"], ["2", "x", "[1, 2]"]])
    spec = import_spec(scale="1-5", annotators="ana,ben", aspects="clarity")
    ratings = load_study([str(path)], spec=spec)
    assert ratings.scale == (1, 5) and set(ratings.frame["annotator"]) == {"ana", "ben"}
    with pytest.raises(InputError, match="not a whole number from 0 to 3"):
        load_study([str(path)])


def test_user_errors_are_one_line(cli, tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", [["post", "fluency"], ["p", "[1]"]])
    code, _, err = cli("sheet", "import", f"m={path}", "--layout", "lits", "--out", str(tmp_path))
    assert code == 2 and "did you mean 'lists'" in err and "Traceback" not in err
    code, _, err = cli("sheet", "import", f"m={path}", "--scale", "3-0", "--out", str(tmp_path))
    assert code == 2 and "--scale" in err
    code, _, err = cli("sheet", "score", str(path), "--out", str(tmp_path))
    assert code == 2 and "no 'system' column" in err
