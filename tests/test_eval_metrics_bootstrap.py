"""Bootstrap intervals, label encoding and score_task's shape, checked against a plain
reference written here (numpy + scikit-learn, one resample at a time)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from imhi.evaluation.metrics import METRICS, bootstrap_ci, bootstrap_single, encode, score_task

LABELS = ["a", "b", "c"]


def _data(n: int = 40, seed: int = 1) -> tuple[list[str], list[str | None]]:
    rng = np.random.default_rng(seed)
    gold = [LABELS[i] for i in rng.integers(0, 3, n)]
    pred = [None if r < 0.15 else (g if r < 0.7 else LABELS[int(r * 10) % 3]) for g, r in zip(gold, rng.random(n),
                                                                                             strict=True)]
    return gold, pred


def _reference(y: np.ndarray, p: np.ndarray, name: str, n_boot: int, seed: int, level: float,
               multi: bool = False) -> list[float]:
    """Percentile interval over resamples of posts drawn one resample at a time."""
    rng = np.random.default_rng(seed)
    values = [_metric(y[idx], p[idx], name) for idx in (rng.integers(0, len(y), len(y)) for _ in range(n_boot))]
    return list(np.percentile(values, [(1 - level) / 2 * 100, (1 + level) / 2 * 100]))


def _metric(y: np.ndarray, p: np.ndarray, name: str) -> float:
    """Accuracy or weighted / micro / macro F1 over classes 0-2 by their textbook formulas."""
    if name == "accuracy":
        return float(np.mean(y == p))
    tp = np.array([np.sum((y == c) & (p == c)) for c in range(3)], dtype=float)
    fp = np.array([np.sum((y != c) & (p == c)) for c in range(3)], dtype=float)
    fn = np.array([np.sum((y == c) & (p != c)) for c in range(3)], dtype=float)
    den = 2 * tp + fp + fn
    f1 = np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)
    if name == "macro_f1":
        return float(f1.mean())
    if name == "weighted_f1":
        support = tp + fn
        return float((f1 * support).sum() / support.sum()) if support.sum() else 0.0
    return float(2 * tp.sum() / den.sum()) if den.sum() else 0.0


def _as_metric(name: str):  # noqa: ANN202
    """The reference formula with the registry's signature (fast: no scikit-learn per resample)."""
    return lambda y, p, classes, multi: _metric(y, p, name)


def test_the_reference_formulas_equal_scikit_learn() -> None:
    gold, pred = _data()
    y, p, _ = encode(gold, pred, LABELS, False)
    assert _metric(y, p, "accuracy") == pytest.approx(accuracy_score(y, p))
    for avg in ("weighted", "micro", "macro"):
        assert _metric(y, p, f"{avg}_f1") == pytest.approx(f1_score(y, p, labels=[0, 1, 2], average=avg))


@pytest.mark.parametrize(("seed", "level"), [(0, 0.95), (7, 0.5)])
def test_vectorised_and_plain_bootstrap_equal_the_reference(seed: int, level: float) -> None:
    gold, pred = _data()
    y, p, classes = encode(gold, pred, LABELS, False)
    names = ["accuracy", "weighted_f1", "micro_f1", "macro_f1"]
    fast = bootstrap_single(y, p, classes, [*names, "samples_f1"], n_boot=300, seed=seed, level=level)
    assert list(fast) == names  # samples_f1 has no single-label formula
    for name in names:
        want = _reference(y, p, name, 300, seed, level)
        assert fast[name] == pytest.approx(want), name
        plain = bootstrap_ci(y, p, classes, False, _as_metric(name), 300, seed, level)
        assert list(plain) == pytest.approx(want), name
    assert list(bootstrap_ci(y, p, classes, False, METRICS["macro_f1"], 40, seed, level)) == \
        pytest.approx(_reference(y, p, "macro_f1", 40, seed, level))  # the registry's sklearn metric
    assert fast["accuracy"][0] < fast["accuracy"][1]


def test_default_bootstrap_is_1000_resamples_seed_0_level_95() -> None:
    gold, pred = _data(25, seed=3)
    y, p, classes = encode(gold, pred, LABELS, False)
    want = _reference(y, p, "macro_f1", 1000, 0, 0.95)
    assert bootstrap_single(y, p, classes, ["macro_f1"])["macro_f1"] == pytest.approx(want)
    assert list(bootstrap_ci(y, p, classes, False, _as_metric("macro_f1"))) == pytest.approx(want)


def test_score_task_intervals_come_from_the_bootstrap() -> None:
    gold, pred = _data()
    y, p, _ = encode(gold, pred, LABELS, False)
    s = score_task(gold, pred, LABELS, False, n_boot=200, seed=5)
    assert s["n"] == 40 and s["multi_label"] is False and "samples_f1" not in s
    assert s["unparsed_rate"] == pytest.approx(sum(x is None for x in pred) / 40)
    for name in ("accuracy", "weighted_f1", "micro_f1", "macro_f1"):
        assert s["ci95"][name] == pytest.approx(_reference(y, p, name, 200, 5, 0.95)), name
    only = score_task(gold, pred, LABELS, False, metrics=("accuracy",), n_boot=0)
    assert set(only) == {"n", "unparsed_rate", "multi_label", "accuracy", "ci95", "confusion"}
    assert only["ci95"] == {}
    assert score_task(["a"], ["a"], LABELS, False, n_boot=50)["ci95"] == {}  # one post: no interval


def test_multi_label_intervals_use_the_plain_bootstrap() -> None:
    gold = [["a"], ["a", "b"], ["c"], ["b"], ["a", "c"], ["b", "c"]] * 3
    pred = [["a"], ["b"], None, ["b"], ["a", "c"], ["c"]] * 3
    s = score_task(gold, pred, LABELS, True, n_boot=30, seed=2)
    assert s["multi_label"] is True and "confusion" not in s
    y, p, classes = encode(gold, pred, LABELS, True)
    rng = np.random.default_rng(2)
    values = []
    for _ in range(30):
        idx = rng.integers(0, len(y), len(y))
        values.append(f1_score(y[idx], p[idx], labels=classes, average="samples", zero_division=0))
    assert s["ci95"]["samples_f1"] == pytest.approx(list(np.nanpercentile(values, [2.5, 97.5])))
    assert set(s["ci95"]) == {"accuracy", "weighted_f1", "micro_f1", "macro_f1", "samples_f1"}


def test_encode_single_and_multi_label() -> None:
    y, p, classes = encode(["a", ["b"], "c", "a"], ["a", ["b", "c"], None, "zz"], LABELS, False)
    assert y.tolist() == [0, 1, 2, 0] and p.tolist() == [0, 1, 3, 3] and classes == [0, 1, 2]
    _, p, _ = encode(["a"], [[]], LABELS, False)
    assert p.tolist() == [3]  # an empty prediction is unparsed
    y, p, classes = encode([["a"], ["b", "c"], []], [["c"], None, []], LABELS, True)
    assert y.tolist() == [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    assert p.tolist() == [[0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]  # last column: unparsed
    assert classes == [0, 1, 2]


def test_a_label_nobody_uses_scores_zero_in_every_resample() -> None:
    gold = ["a", "b"] * 10
    pred = ["a", "b"] * 9 + ["b", None]  # "c" is neither gold nor predicted: F1 0 by zero_division
    y, p, classes = encode(gold, pred, LABELS, False)
    fast = bootstrap_single(y, p, classes, ["macro_f1", "weighted_f1", "micro_f1"], n_boot=100, seed=4)
    for name in fast:
        assert fast[name] == pytest.approx(_reference(y, p, name, 100, 4, 0.95)), name
    assert fast["macro_f1"][1] <= 2 / 3 + 1e-9  # c's 0 is averaged in


def test_score_task_defaults_and_edge_sizes() -> None:
    gold, pred = _data(30, seed=9)
    y, p, _ = encode(gold, pred, LABELS, False)
    s = score_task(gold, pred, LABELS, False)  # 1000 resamples, seed 0
    assert s["ci95"]["accuracy"] == pytest.approx(_reference(y, p, "accuracy", 1000, 0, 0.95))
    assert set(score_task(gold[:2], pred[:2], LABELS, False, n_boot=1)["ci95"]) == {
        "accuracy", "weighted_f1", "micro_f1", "macro_f1"}
    multi = score_task([["a"], ["b"]], [["a"], None], LABELS, True, n_boot=1)
    assert set(multi["ci95"]) == {"accuracy", "weighted_f1", "micro_f1", "macro_f1", "samples_f1"}
    first = score_task(gold, pred, LABELS, False, metrics=("samples_f1", "accuracy"), n_boot=0)
    assert "accuracy" in first and "samples_f1" not in first


def test_multi_label_macro_interval_leaves_the_unparsed_column_out() -> None:
    gold = [["a"], ["a", "b"], ["c"], ["b"]] * 4
    pred = [["a"], None, ["c"], ["b", "c"]] * 4
    s = score_task(gold, pred, LABELS, True, n_boot=20, seed=3)
    y, p, classes = encode(gold, pred, LABELS, True)
    rng = np.random.default_rng(3)
    values = [f1_score(y[i], p[i], labels=classes, average="macro", zero_division=0)
              for i in (rng.integers(0, len(y), len(y)) for _ in range(20))]
    assert s["ci95"]["macro_f1"] == pytest.approx(list(np.percentile(values, [2.5, 97.5])))
    assert s["macro_f1"] == pytest.approx(f1_score(y, p, labels=classes, average="macro", zero_division=0))


def test_confusion_reads_list_gold_and_counts_unknown_predictions_as_unparsed() -> None:
    s = score_task([["a"], "b", ["c"]], ["a", "zz", None], LABELS, False, n_boot=0)
    assert s["confusion"]["matrix"] == [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1]]


def test_samples_f1_is_nan_for_single_label_and_no_rows_have_no_unparsed_rate() -> None:
    from imhi.evaluation.metrics import _rate, samples_f1

    y, p, classes = encode(["a", "b"], ["a", "a"], LABELS, False)
    assert np.isnan(samples_f1(y, p, classes, False))
    assert _rate([]) == 0.0 and _rate([None, "a"]) == 0.5
