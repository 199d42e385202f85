"""Reports: ``report.md`` and plots for one run; a comparison across models or stages.

Reads ``scores.json`` dicts; writes ``report.md``, ``f1_bars.png``,
``confusion/<task>.png`` and, for comparisons, ``comparison.md``, ``comparison.csv``
and ``heatmap.png``. matplotlib runs with the Agg backend (no display needed).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from imhi.io import InputError, write_text

COLUMNS = ("accuracy", "weighted_f1", "micro_f1", "macro_f1", "samples_f1")
EXTRA = ("agreement", "bertscore_f1", "bartscore_f1")


def _fmt(value: Any, ci: list[float] | None = None) -> str:
    if value is None:
        return "–"
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    return f"{text} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else text


def score_table(scores: dict[str, Any]) -> str:
    """A markdown table: one row per task (and pooled dataset), metrics with 95% intervals."""
    extra = [c for c in EXTRA if any(c in s for s in scores.values())]
    head = ["task", "n", *COLUMNS, "unparsed", *extra]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task, s in scores.items():
        cells = [task, str(s["n"])]
        cells += [_fmt(s.get(c), s.get("ci95", {}).get(c)) for c in COLUMNS]
        cells += [f"{s['unparsed_rate']:.1%}", *(_fmt(s.get(c)) for c in extra)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def readings_table(scores: dict[str, Any]) -> str:
    """Strict reading (what the benchmark counts) beside the lenient one (the full extraction
    ladder), with the unparsed rate of each; empty when no task has a lenient reading."""
    rows = {t: s for t, s in scores.items() if "lenient" in s}
    if not rows:
        return ""
    lines = ["| task | template | strict macro F1 | strict unparsed | lenient macro F1 | lenient unparsed |",
             "|---|---|---|---|---|---|"]
    for task, s in rows.items():
        lax = s["lenient"]
        lines.append(f"| {task} | {s.get('template', '–')} | {_fmt(s.get('macro_f1'))} | {s['unparsed_rate']:.1%} | "
                     f"{_fmt(lax.get('macro_f1'))} | {lax['unparsed_rate']:.1%} |")
    return "\n".join(lines)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_f1_bars(scores: dict[str, Any], path: Path) -> Path:
    """Bar chart of weighted F1 per task with the bootstrap interval as error bars."""
    plt = _pyplot()
    names = list(scores)
    vals = [scores[n].get("weighted_f1", 0.0) for n in names]
    cis = [scores[n].get("ci95", {}).get("weighted_f1", [v, v]) for n, v in zip(names, vals, strict=True)]
    pairs = list(zip(vals, cis, strict=True))
    err = [[max(v - c[0], 0) for v, c in pairs], [max(c[1] - v, 0) for v, c in pairs]]
    fig, ax = plt.subplots(figsize=(max(4, 0.7 * len(names)), 3.5))
    ax.bar(names, vals, yerr=err, capsize=3, color="#4878a8")
    ax.set_ylim(0, 1)
    ax.set_ylabel("weighted F1")
    ax.tick_params(axis="x", rotation=60)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_confusion(conf: dict[str, Any], title: str, path: Path) -> Path:
    """Heat map of one confusion matrix (rows gold, columns predicted incl. unparsed)."""
    fig = confusion_figure(conf, title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path


def confusion_figure(conf: dict[str, Any], title: str) -> Any:
    """The matplotlib figure of :func:`plot_confusion` (the caller saves and closes it)."""
    plt = _pyplot()
    m = conf["matrix"]
    fig, ax = plt.subplots(figsize=(1 + 0.6 * len(conf["columns"]), 1 + 0.5 * len(conf["labels"])))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(conf["columns"])), conf["columns"], rotation=60, ha="right")
    ax.set_yticks(range(len(conf["labels"])), conf["labels"])
    for i, row in enumerate(m):
        for j, v in enumerate(row):
            ax.text(j, i, str(v), ha="center", va="center", fontsize=7)
    ax.set_title(title)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    fig.tight_layout()
    return fig


def write_report(scores: dict[str, Any], out_dir: Path, title: str, plots: bool = True) -> Path:
    """report.md with the score table, unparsed rates and links to the plots."""
    parts = [f"# {title}", "", score_table(scores), "",
             "Unparsed answers count as wrong; intervals are 95% bootstrap intervals over posts.", ""]
    if readings := readings_table(scores):
        parts += ["## Strict and lenient readings", "", "Strict: the extraction steps the benchmark counts (the "
                  "template's). Lenient: every step of the ladder (JSON, answer sentence, label names).", "",
                  readings, ""]
    if plots and scores:
        plot_f1_bars(scores, out_dir / "f1_bars.png")
        parts += ["![weighted F1 per task](f1_bars.png)", ""]
        for task, s in scores.items():
            if "confusion" in s:
                rel = f"confusion/{task}.png"
                plot_confusion(s["confusion"], task, out_dir / rel)
                parts.append(f"![confusion {task}]({rel})")
    path = out_dir / "report.md"
    write_text(path, "\n".join(parts) + "\n")
    return path


def load_scores(path: Path) -> dict[str, Any]:
    """A scores.json file (or a folder holding one)."""
    import json

    p = Path(path)
    p = p / "scores.json" if p.is_dir() else p
    if not p.is_file():
        raise InputError(p, "scores.json not found")
    return json.loads(p.read_text(encoding="utf-8"))


def compare(runs: dict[str, Path], out_dir: Path, metric: str = "weighted_f1",
            published: dict[str, dict[str, float]] | None = None) -> Path:
    """One table (and heat map) of ``metric`` across several models or stages × tasks; rows of
    ``published`` (name → task → value, e.g. a paper's figures) follow, on the run's tasks only."""
    data = {name: load_scores(path) for name, path in runs.items()}
    tasks = sorted({t for s in data.values() for t in s})
    rows = [[name, *(data[name].get(t, {}).get(metric) for t in tasks)] for name in data]
    rows += [[name, *(vals.get(t) for t in tasks)] for name, vals in (published or {}).items()]
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "comparison.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([["run", *tasks], *rows])
    lines = [f"# Comparison ({metric})", "", "| run | " + " | ".join(tasks) + " |",
             "|" + "---|" * (len(tasks) + 1)]
    lines += ["| " + " | ".join([r[0], *(_fmt(v) for v in r[1:])]) + " |" for r in rows]
    _heatmap(rows, tasks, metric, out_dir / "heatmap.png")
    lines += ["", "![heat map](heatmap.png)"]
    write_text(out_dir / "comparison.md", "\n".join(lines) + "\n")
    return out_dir / "comparison.md"


def summary_table(runs: dict[str, Path], metrics: list[str]) -> str:
    """One long table across models: run × task rows, the metrics and the parse-success rate beside."""
    data = {name: load_scores(path) for name, path in runs.items()}
    cols = [m for m in metrics if m != "unparsed_rate"]
    lines = ["| run | task | n | " + " | ".join(cols) + " | parsed |", "|" + "---|" * (len(cols) + 4)]
    for name, scores in data.items():
        for task, s in scores.items():
            cells = [_fmt(s.get(m), s.get("ci95", {}).get(m)) for m in cols]
            lines.append(f"| {name} | {task} | {s['n']} | " + " | ".join(cells)
                         + f" | {1 - s['unparsed_rate']:.1%} |")
    return "\n".join(lines)


def _heatmap(rows: list[list[Any]], tasks: list[str], metric: str, path: Path) -> None:
    plt = _pyplot()
    import numpy as np

    m = np.array([[np.nan if v is None else v for v in r[1:]] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(1.5 + 0.7 * len(tasks), 1 + 0.45 * len(rows)))
    ax.imshow(m, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(tasks)), tasks, rotation=60, ha="right")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if not np.isnan(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7, color="w")
    ax.set_title(metric)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
