"""Correctness metrics: hand-checked F1 values equal scikit-learn's; unparsed counts as wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sklearn.metrics import f1_score

from imhi.evaluation.metrics import score_task
from imhi.evaluation.report import compare
from imhi.evaluation.score import MetricsConfig, score_generations
from imhi.io import InputError, write_jsonl


def test_single_label_hand_checked() -> None:
    gold = ["yes", "yes", "yes", "no", "no", "no"]
    pred = ["yes", "yes", "no", "no", "no", None]  # one unparsed → wrong
    s = score_task(gold, pred, ["yes", "no"], False, n_boot=200)
    # by hand: yes P=2/2 R=2/3 F=0.8; no: P=2/3 R=2/3 F=2/3; accuracy 4/6
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert s["weighted_f1"] == pytest.approx(0.5 * 0.8 + 0.5 * 2 / 3)
    assert s["micro_f1"] == pytest.approx(4 / 6 * 2 * (4 / 5) / (4 / 6 + 4 / 5))  # P=4/5 (1 unparsed)
    y = ["yes", "yes", "yes", "no", "no", "no"]
    p = ["yes", "yes", "no", "no", "no", "unparsed"]
    for avg in ("weighted", "micro", "macro"):
        assert s[f"{avg}_f1"] == pytest.approx(f1_score(y, p, labels=["yes", "no"], average=avg))
    assert s["unparsed_rate"] == pytest.approx(1 / 6)
    assert s["confusion"]["matrix"] == [[2, 1, 0], [0, 2, 1]]
    lo, hi = s["ci95"]["accuracy"]
    assert 0 <= lo <= s["accuracy"] <= hi <= 1


def test_multi_label_hand_checked() -> None:
    labels = ["a", "b", "c"]
    gold = [["a"], ["a", "b"], [], ["c"]]
    pred = [["a"], ["b"], None, ["a", "c"]]
    s = score_task(gold, pred, labels, True, n_boot=0)
    # a: tp1 fp1 fn1 → F=0.5; b: tp1 → 1; c: tp1 → 1; micro: tp3 fp1 fn1 → 0.75
    assert s["macro_f1"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert s["micro_f1"] == pytest.approx(0.75)
    assert s["accuracy"] == pytest.approx(1 / 4)  # only post 1: unparsed is wrong even for gold []
    # samples: 1, 2/3, 0 (sklearn: empty vs empty → zero_division=0), 2/3
    assert s["samples_f1"] == pytest.approx((1 + 2 / 3 + 0 + 2 / 3) / 4)
    assert "confusion" not in s


def _gens(path: Path) -> Path:
    rows = []
    preds = ["Yes, the poster suffers from depression. Reasoning: sad and tired",
             "No, the poster does not suffer from depression. Reasoning: fine",
             "I am not sure.", "yes. Reasoning: hopeless"]
    for i, (pred, gold) in enumerate(zip(preds, ["yes", "no", "yes", "no"], strict=True)):
        rows.append({"id": str(i), "task": "dr", "query": "q", "label": gold,
                     "answer": f"{gold}. Reasoning: ref", "prediction": pred, "model": "m1"})
    write_jsonl(path, rows)
    return path


def test_score_generations_writes_scores_report_plots(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    scores = score_generations(_gens(tmp_path / "g.jsonl"), out, MetricsConfig(n_boot=50))
    assert scores["dr"]["n"] == 4 and scores["dr"]["accuracy"] == pytest.approx(0.5)
    assert scores["dr"]["unparsed_rate"] == pytest.approx(0.25)
    assert json.loads((out / "scores.json").read_text())["dr"]["accuracy"] == pytest.approx(0.5)
    report = (out / "report.md").read_text()
    assert "| dr | 4 |" in report and (out / "f1_bars.png").stat().st_size > 0
    assert (out / "confusion" / "dr.png").is_file()
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["parse_status"] for p in preds] == ["template", "template", "unparsed", "template"]
    other = tmp_path / "eval2"
    score_generations(_gens(tmp_path / "g.jsonl"), other, MetricsConfig(n_boot=0, plots=False))
    table = compare({"stage1": out, "stage2": other}, tmp_path / "cmp")
    assert "| stage1 |" in table.read_text() and (tmp_path / "cmp" / "heatmap.png").is_file()


def test_unchanged_scores_are_read_back_and_changes_recompute(tmp_path: Path) -> None:
    gens, out = _gens(tmp_path / "g.jsonl"), tmp_path / "eval"
    cfg = MetricsConfig(n_boot=0, plots=False)
    first = score_generations(gens, out, cfg)
    (out / "scores.json").write_text(json.dumps({"dr": {**first["dr"], "accuracy": 0.123}}))
    # same rows, labels and settings: the stored scores come back (a marker proves no recompute)
    assert score_generations(gens, out, cfg)["dr"]["accuracy"] == 0.123
    # another setting, or another answer, computes again
    assert score_generations(gens, out, cfg.model_copy(update={"n_boot": 10}))["dr"]["accuracy"] == 0.5
    (out / "scores.json").write_text(json.dumps({"dr": {**first["dr"], "accuracy": 0.123}}))
    rows = [json.loads(x) for x in gens.read_text().splitlines()]
    rows[2]["prediction"] = "Yes, the poster suffers from depression. Reasoning: tired"
    write_jsonl(gens, rows)
    assert score_generations(gens, out, cfg.model_copy(update={"n_boot": 10}))["dr"]["accuracy"] == 0.75


def test_bad_gold_label_names_row(tmp_path: Path) -> None:
    path = _gens(tmp_path / "g.jsonl")
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    rows[2]["label"] = "maybe"
    write_jsonl(path, rows)
    with pytest.raises(InputError, match=r"row 3, field 'label'.*unknown label 'maybe'"):
        score_generations(path, tmp_path / "o")


def test_vectorised_bootstrap_equals_sklearn_per_resample() -> None:
    import numpy as np

    from imhi.evaluation.metrics import METRICS, bootstrap_single, encode

    rng = np.random.default_rng(3)
    labels = ["a", "b", "c"]
    gold = [labels[i] for i in rng.integers(0, 3, 60)]
    pred = [None if r < 0.1 else labels[int(r * 10) % 3] for r in rng.random(60)]
    y, p, classes = encode(gold, pred, labels, False)
    names = ["accuracy", "weighted_f1", "micro_f1", "macro_f1"]
    fast = bootstrap_single(y, p, classes, names, n_boot=300, seed=5)
    idx = np.random.default_rng(5).integers(0, len(y), (300, len(y)))
    for name in names:
        slow = [METRICS[name](y[i], p[i], classes, False) for i in idx]
        assert fast[name] == pytest.approx(list(np.percentile(slow, [2.5, 97.5])), abs=1e-12)
