"""The training run's ``report.html``: per stage the data mix, the loss (and eval loss) curves
from the stage's Trainer log, and the stage × task table with each change from the previous
stage highlighted.

Reads the recipe's dataset files, each stage's ``log.jsonl`` and ``metrics.json`` (via the
stage results) and the stage × task scores; writes ``<run>/report.html`` through :mod:`imhi.html`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from imhi import html
from imhi.io import read_jsonl_tolerant
from imhi.schema import labels_of
from imhi.training.data import read_pairs, split_file
from imhi.training.recipe import TrainRecipe
from imhi.training.stages import StageResult

LOWER_IS_BETTER = {"unparsed_rate"}
LOG_COLUMNS = [("stage", "cat"), ("step", "num"), ("epoch", "num"), ("loss", "num"), ("eval_loss", "num"),
               ("learning_rate", "num"), ("grad_norm", "num")]


def write_train_page(recipe: TrainRecipe, results: list[StageResult], scores: dict[str, dict[str, dict[str, Any]]],
                     metrics: tuple[str, ...]) -> Path:
    """``report.html`` of a training run; ``scores``: stage → task → metric (eval_table.json)."""
    logs = {r.name: read_jsonl_tolerant(r.folder / "log.jsonl") for r in results}
    sections = [
        {"title": "Stages", "blocks": [_stages(results, logs)]},
        {"title": "Data mix per stage", "blocks": [_mix(recipe)]},
        {"title": "Loss", "blocks": _curves(logs)},
        {"title": f"Every task after every stage ({recipe.evaluation.split} split)",
         "blocks": _score_tables(scores, metrics)},
        {"title": "Trainer log", "blocks": [html.rows_block(
            "log", LOG_COLUMNS, [{**line, "stage": name} for name, lines in logs.items() for line in lines])]},
    ]
    last = list(scores.values())[-1] if scores else {}
    headline = {f"{t} {m}": v[m] for t, v in last.items() for m in metrics[:2] if isinstance(v.get(m), float)}
    page = {"title": f"Train: {recipe.name}", "kind": "train", "headline": headline, "sections": sections,
            "subtitle": f"{len(results)} stages on {recipe.model.path}"}
    return html.write_page(recipe.run_dir() / "report.html", page)


def _stages(results: list[StageResult], logs: dict[str, list[dict[str, Any]]]) -> html.Block:
    def last(name: str, key: str) -> Any:
        values = [line[key] for line in logs[name] if isinstance(line.get(key), int | float)]
        return values[-1] if values else None

    return html.table(["stage", "start", "tasks", "train rows", "steps", "last loss", "last eval loss", "wall s"],
                      [[r.name, r.metrics.get("start"), ", ".join(r.tasks), r.metrics.get("train_rows"),
                        last(r.name, "step"), last(r.name, "loss"), last(r.name, "eval_loss"),
                        r.metrics.get("wall_s")] for r in results])


def _mix(recipe: TrainRecipe) -> html.Block:
    """Rows per stage, dataset, task and label (after skip and limit, before weight)."""
    rows = []
    for i, stage in enumerate(recipe.stages):
        for spec in stage.data:
            pairs = read_pairs(split_file(spec.path, "train"), spec.tasks)[spec.skip:]
            pairs = pairs[: spec.limit] if spec.limit else pairs
            counts = Counter((p.task, lab) for p in pairs for lab in labels_of(p.label))
            rows += [[recipe.stage_name(i), spec.path, task, lab, n, spec.weight]
                     for (task, lab), n in sorted(counts.items())]
    return html.table(["stage", "dataset", "task", "label", "rows", "weight"], rows)


def _curves(logs: dict[str, list[dict[str, Any]]]) -> list[html.Block]:
    """Loss and eval loss against the step, one panel per stage (matplotlib, inline SVG)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [html.text("matplotlib is not installed (pip install 'imhi[eval]'): no curves; see the log below.")]
    fig, axes = plt.subplots(1, max(len(logs), 1), figsize=(4.2 * max(len(logs), 1), 3), squeeze=False)
    for ax, (name, lines) in zip(axes[0], logs.items(), strict=False):
        for key, style in (("loss", "-o"), ("eval_loss", "--s")):
            pts = [(line["step"], line[key]) for line in lines if isinstance(line.get(key), int | float)]
            if pts:
                ax.plot(*zip(*pts, strict=True), style, markersize=3, label=key)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("loss")
    fig.tight_layout()
    return [html.svg(fig, "training loss (and eval loss where the recipe evaluates) per logging step")]


def _score_tables(scores: dict[str, dict[str, dict[str, Any]]], metrics: tuple[str, ...]) -> list[html.Block]:
    """One stage × task table per metric; a cell better than the previous stage's is marked
    ``up``, a worse one ``down``."""
    if not scores:
        return [html.text("No evaluation after the stages (evaluation disabled or no validation split).")]
    tasks = list(dict.fromkeys(t for per in scores.values() for t in per))
    blocks: list[html.Block] = [html.text("Green: better than after the previous stage; red: worse.")]
    for metric in metrics:
        rows, marks, prev = [], [], None
        for r, (stage, per) in enumerate(scores.items()):
            values = [per.get(t, {}).get(metric) for t in tasks]
            rows.append([stage, *values])
            for c, (now, before) in enumerate(zip(values, prev or [None] * len(tasks), strict=True)):
                if isinstance(now, int | float) and isinstance(before, int | float) and now != before:
                    better = (now < before) if metric in LOWER_IS_BETTER else (now > before)
                    marks.append([r, c + 1, "up" if better else "down"])
            prev = values
        blocks += [html.text(metric), html.table(["stage", *tasks], rows, marks)]
    return blocks
