"""The evaluation run's ``report.html``: per model × task the metrics with their intervals,
confusion matrices and explanation agreement; the comparison across models (and published
rows); a per-post viewer with each model's answer, the label read from it and how, its
explanation scores and the reference, filterable by "wrong", "unparsed" and "models disagree".

Reads each model folder's ``scores.json`` and ``predictions.jsonl`` (extra or missing fields are
shown or skipped); writes ``<run>/report.html`` through :mod:`imhi.html`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imhi import html
from imhi.evaluation.report import confusion_figure, load_scores
from imhi.io import read_jsonl
from imhi.judges.extract import UNPARSED
from imhi.schema import labels_of

METRICS = ("accuracy", "weighted_f1", "macro_f1", "micro_f1")
EXTRA = ("agreement", "bertscore_f1", "bartscore_f1")
ROW_SCORES = ("bertscore_f1", "bartscore_f1", "explanation_agrees", "explanation_verdicts")


def write_eval_page(run: Path, title: str, models: dict[str, Path], compare: list[str],
                    published: dict[str, dict[str, dict[str, float]]] | None = None,
                    tests: Path | None = None) -> Path:
    """``report.html`` of ``imhi eval``; ``models``: name → folder with scores.json and
    predictions.jsonl; ``published``: metric → ``{system: {task: value}}`` rows from papers;
    ``tests``: the test rows (their ``text``, the post alone, is shown where present)."""
    scores = {m: load_scores(f) for m, f in models.items() if (f / "scores.json").is_file()}
    preds = {m: list(read_jsonl(f / "predictions.jsonl")) for m, f in models.items()
             if (f / "predictions.jsonl").is_file()}
    sections = [
        {"title": "Metrics per model and task", "blocks": [_metrics(scores)]},
        {"title": "Comparison across models", "blocks": _comparison(scores, compare, published or {})},
        {"title": "Confusion matrices", "blocks": _confusions(scores)},
        {"title": "Every post", "blocks": [html.text(
            "One row per test post; filter 'any wrong', 'any unparsed' or 'models agree'; click a row for each "
            "model's whole answer, explanation scores and the reference."), _posts(preds, _texts(tests))]},
    ]
    headline = {f"{m} {t} weighted_f1": s["weighted_f1"] for m, per in scores.items() for t, s in per.items()
                if isinstance(s.get("weighted_f1"), float)}
    n = len({r.get("id") for rows in preds.values() for r in rows})
    page = {"title": title, "kind": "eval", "headline": headline, "sections": sections,
            "subtitle": f"{len(models)} models on {n} test posts"}
    return html.write_page(run / "report.html", page)


def _cell(s: dict[str, Any], key: str) -> str:
    value, ci = s.get(key), (s.get("ci95") or {}).get(key)
    if not isinstance(value, int | float):
        return "–"
    return f"{value:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{value:.3f}"


def _metrics(scores: dict[str, dict[str, Any]]) -> html.Block:
    extra = [c for c in EXTRA if any(c in s for per in scores.values() for s in per.values())]
    rows = [[m, t, s.get("n"), *(_cell(s, k) for k in METRICS), s.get("unparsed_rate"), *(s.get(k) for k in extra)]
            for m, per in scores.items() for t, s in per.items()]
    return html.table(["model", "task", "n", *(f"{k} [95% CI]" for k in METRICS), "unparsed", *extra], rows)


def _comparison(scores: dict[str, dict[str, Any]], metrics: list[str],
                published: dict[str, dict[str, dict[str, float]]]) -> list[html.Block]:
    tasks = list(dict.fromkeys(t for per in scores.values() for t in per))
    blocks: list[html.Block] = []
    for metric in metrics:
        rows = [[m, *(per.get(t, {}).get(metric) for t in tasks)] for m, per in scores.items()]
        rows += [[name, *(vals.get(t) for t in tasks)] for name, vals in published.get(metric, {}).items()]
        blocks += [html.text(metric), html.table(["model", *tasks], rows)]
    return blocks


def _confusions(scores: dict[str, dict[str, Any]]) -> list[html.Block]:
    blocks = [html.svg(confusion_figure(s["confusion"], f"{m}: {t}"), f"{m} on {t}: rows gold, columns read")
              for m, per in scores.items() for t, s in per.items() if s.get("confusion")]
    return blocks or [html.text("No single-label task: no confusion matrix.")]


def _result(row: dict[str, Any]) -> str:
    pred = row.get("pred_label")
    if pred is None or row.get("parse_status") == UNPARSED:
        return UNPARSED
    return "correct" if sorted(labels_of(pred)) == sorted(labels_of(row.get("label"))) else "wrong"


def _texts(tests: Path | None) -> dict[str, str]:
    if tests is None or not tests.is_file():
        return {}
    return {str(r.get("id")): r["text"] for r in read_jsonl(tests) if isinstance(r.get("text"), str)}


def _posts(preds: dict[str, list[dict[str, Any]]], texts: dict[str, str]) -> html.Block:
    """One row per post id across models: gold, each model's label, how it was read, the result."""
    rows: dict[str, dict[str, Any]] = {}
    details: dict[str, dict[str, Any]] = {}
    for model, lines in preds.items():
        for r in lines:
            pid = str(r.get("id"))
            row = rows.setdefault(pid, {"id": pid, "task": r.get("task"), "gold": r.get("label"),
                                        "post": texts.get(pid) or r.get("text") or r.get("query"),
                                        "reference": r.get("answer")})
            row.update({f"{model}: label": r.get("pred_label"), f"{model}: read by": r.get("parse_status"),
                        f"{model}: result": _result(r), f"{model}: answer": r.get("prediction")})
            detail = details.setdefault(pid, {})
            if r.get("prompt") or r.get("query"):
                detail.setdefault("prompt", r.get("prompt") or r.get("query"))
            detail.setdefault("scores", []).append({"model": model, **{k: r.get(k) for k in ROW_SCORES if k in r}})
    for row in rows.values():
        results = [v for k, v in row.items() if k.endswith(": result")]
        labels = {str(v) for k, v in row.items() if k.endswith(": label")}
        row["any wrong"] = "yes" if set(results) - {"correct"} else "no"
        row["any unparsed"] = "yes" if UNPARSED in results else "no"
        row["models agree"] = "yes" if len(labels) <= 1 else "no"
    columns = [("id", "id"), ("task", "cat"), ("gold", "cat")]
    for model in preds:
        columns += [(f"{model}: label", "cat"), (f"{model}: read by", "cat"), (f"{model}: result", "cat")]
    columns += [("any wrong", "cat"), ("any unparsed", "cat"), ("models agree", "cat"), ("post", "text")]
    columns += [(f"{model}: answer", "text") for model in preds] + [("reference", "text")]
    ids = list(rows)
    return html.rows_block("posts", columns, [rows[i] for i in ids], [details[i] for i in ids])


def write_sheet_page(out_dir: Path, ratings: Any) -> Path:
    """``report.html`` of ``imhi sheet score``: human_eval.md's tables and plot, and every rating
    (``ratings``: the frame with item, system, annotator, aspect, score) in a searchable table."""
    md = (out_dir / "human_eval.md").read_text(encoding="utf-8")
    records = ratings.to_dict("records")
    rows = html.rows_block("ratings", [("item", "id"), ("system", "cat"), ("annotator", "cat"), ("aspect", "cat"),
                                       ("score", "num")],
                           [{k: (None if v != v else v) for k, v in r.items()} for r in records])  # NaN → None
    plot = out_dir / "human_eval.png"
    figure = [{"title": "Means per system and aspect", "blocks": [html.image(plot, "95% bootstrap intervals")]}]
    sections = [*(figure if plot.is_file() else []), *html.from_markdown(md, out_dir),
                {"title": "Every rating", "blocks": [rows]}]
    page = {"title": "Human evaluation", "kind": "sheet", "sections": sections,
            "subtitle": f"{len(records)} ratings"}
    return html.write_page(out_dir / "report.html", page)


def write_extractor_page(out_dir: Path, report: dict[str, Any]) -> Path:
    """``report.html`` of ``imhi train-extractor``: per task the training figures and the accuracy
    on every evaluation file, the warnings (``report``: metrics.json)."""
    cols = ["train_n", "val_n", "val_accuracy", "batch_size", "steps", "epochs", "wall_s"]
    per_task = html.table(["task", *cols], [[t, *(f.get(c) for c in cols)] for t, f in report["tasks"].items()])
    per_file = html.table(["file", "task", "n", "accuracy"],
                          [[f, t, v.get("n"), v.get("accuracy")] for f, per in report["eval"].items()
                           for t, v in per.items()])
    warnings = [html.text(w) for w in report.get("warnings", [])] or [html.text("No warnings.")]
    page = {"title": f"Extractor: {out_dir}", "kind": "train-extractor", "sections": [
        {"title": "Training per task", "blocks": [per_task]},
        {"title": "Accuracy per evaluation file", "blocks": [per_file]},
        {"title": "Warnings", "blocks": warnings}],
        "headline": {f"{t} val_accuracy": f.get("val_accuracy") for t, f in report["tasks"].items()}}
    return html.write_page(out_dir / "report.html", page)
