"""Correctness metrics through scikit-learn: accuracy and weighted/micro/macro F1.

Reads and writes nothing. ``METRICS`` is the registry (name → function of encoded
gold and predictions). Unparsed predictions count as wrong: in single-label tasks
they become a class outside the label set (a miss for the gold class, never a
default class); in multi-label tasks a row with only an ``unparsed`` indicator. Bootstrap 95%
intervals resample posts; confusion matrices have an ``unparsed`` column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from imhi.schema import Label, labels_of

UNPARSED_CLASS = "unparsed"
Encoded = tuple[np.ndarray, np.ndarray, list[int]]
Metric = Callable[[np.ndarray, np.ndarray, list[int], bool], float]


def encode(gold: Sequence[Label], pred: Sequence[Label | None], labels: list[str],
           multi_label: bool) -> Encoded:
    """Integer classes (single-label) or indicator matrices (multi-label) over ``labels``."""
    if multi_label:
        from sklearn.preprocessing import MultiLabelBinarizer

        # an extra last column marks unparsed answers: never gold, so they are always wrong
        mlb = MultiLabelBinarizer(classes=[*labels, UNPARSED_CLASS])
        y = mlb.fit_transform([labels_of(g) for g in gold])
        p = mlb.transform([labels_of(x) if x is not None else [UNPARSED_CLASS] for x in pred])
        return y, p, list(range(len(labels)))
    index = {name: i for i, name in enumerate(labels)}
    unparsed = len(labels)
    y = np.array([index[g if isinstance(g, str) else g[0]] for g in gold], dtype=int)
    p = np.array([index.get(x if isinstance(x, str) else (x[0] if x else ""), unparsed)
                  if x is not None else unparsed for x in pred], dtype=int)
    return y, p, list(range(len(labels)))


def _f1(average: str) -> Metric:
    def metric(y: np.ndarray, p: np.ndarray, classes: list[int], multi: bool) -> float:
        from sklearn.metrics import f1_score

        return float(f1_score(y, p, labels=classes, average=average, zero_division=0))
    metric.__doc__ = f"F1 with average='{average}' over the task's labels."
    return metric


def accuracy(y: np.ndarray, p: np.ndarray, classes: list[int], multi: bool) -> float:
    """Exact-match accuracy (subset accuracy for multi-label tasks)."""
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y, p))


def samples_f1(y: np.ndarray, p: np.ndarray, classes: list[int], multi: bool) -> float:
    """Per-post F1 averaged over posts (multi-label only; NaN for single-label tasks)."""
    if not multi:
        return float("nan")
    from sklearn.metrics import f1_score

    return float(f1_score(y, p, labels=classes, average="samples", zero_division=0))


METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "weighted_f1": _f1("weighted"),
    "micro_f1": _f1("micro"),
    "macro_f1": _f1("macro"),
    "samples_f1": samples_f1,
}


def bootstrap_ci(y: np.ndarray, p: np.ndarray, classes: list[int], multi: bool, metric: Metric,
                 n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over posts resampled with replacement."""
    rng = np.random.default_rng(seed)
    n = len(y)
    values = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        values[b] = metric(y[idx], p[idx], classes, multi)
    lo, hi = np.nanpercentile(values, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return float(lo), float(hi)


def _count_metrics(cm: np.ndarray, classes: list[int]) -> dict[str, np.ndarray]:
    """sklearn's single-label formulas (zero_division=0) from stacked confusion matrices (B, K, K)."""
    diag = np.diagonal(cm, axis1=1, axis2=2)
    tp = diag[:, classes].astype(float)
    support = cm[:, classes, :].sum(2).astype(float)
    predicted = cm[:, :, classes].sum(1).astype(float)
    denom = support + predicted  # 2tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    total = support.sum(1)
    micro_den = denom.sum(1)
    return {
        "accuracy": diag.sum(1) / cm.sum((1, 2)),
        "macro_f1": f1.mean(1),
        "weighted_f1": np.divide((f1 * support).sum(1), total, out=np.zeros_like(total), where=total > 0),
        "micro_f1": np.divide(2 * tp.sum(1), micro_den, out=np.zeros_like(micro_den), where=micro_den > 0),
    }


def bootstrap_single(y: np.ndarray, p: np.ndarray, classes: list[int], names: list[str],
                     n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict[str, list[float]]:
    """Vectorised percentile bootstrap of single-label metrics: one confusion matrix per resample."""
    k = max(int(y.max(initial=0)), int(p.max(initial=0)), len(classes)) + 1
    idx = np.random.default_rng(seed).integers(0, len(y), (n_boot, len(y)))
    flat = (y[idx] * k + p[idx]) + (np.arange(n_boot) * k * k)[:, None]
    cm = np.bincount(flat.ravel(), minlength=n_boot * k * k).reshape(n_boot, k, k)
    values = _count_metrics(cm, classes)
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {m: [float(v) for v in np.percentile(values[m], q)] for m in names if m in values}


def confusion(gold: Sequence[Label], pred: Sequence[Label | None], labels: list[str]) -> dict[str, Any]:
    """Confusion matrix (rows gold, columns predicted incl. ``unparsed``), single-label tasks."""
    from sklearn.metrics import confusion_matrix

    cols = [*labels, UNPARSED_CLASS]
    y = [g if isinstance(g, str) else g[0] for g in gold]
    p = [x if isinstance(x, str) and x in labels else UNPARSED_CLASS for x in pred]
    m = confusion_matrix(y, p, labels=cols)
    return {"labels": labels, "columns": cols, "matrix": m[: len(labels)].tolist()}


def score_task(gold: Sequence[Label], pred: Sequence[Label | None], labels: list[str],
               multi_label: bool, metrics: Sequence[str] = tuple(METRICS), n_boot: int = 1000,
               seed: int = 0) -> dict[str, Any]:
    """All metrics for one task, with bootstrap intervals and (single-label) a confusion matrix."""
    y, p, classes = encode(gold, pred, labels, multi_label)
    out: dict[str, Any] = {"n": len(gold), "unparsed_rate": _rate(pred), "multi_label": multi_label}
    ci: dict[str, list[float]] = {}
    fast = bootstrap_single(y, p, classes, list(metrics), n_boot, seed) if (
        n_boot > 0 and len(gold) > 1 and not multi_label) else {}
    for name in metrics:
        if name == "samples_f1" and not multi_label:
            continue
        out[name] = METRICS[name](y, p, classes, multi_label)
        if name in fast:
            ci[name] = fast[name]
        elif n_boot > 0 and len(gold) > 1:
            ci[name] = list(bootstrap_ci(y, p, classes, multi_label, METRICS[name], n_boot, seed))
    out["ci95"] = ci
    if not multi_label:
        out["confusion"] = confusion(gold, pred, labels)
    return out


def _rate(pred: Sequence[Label | None]) -> float:
    return float(sum(x is None for x in pred) / len(pred)) if pred else 0.0
