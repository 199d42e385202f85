"""Score a generations file: extract labels, compute metrics, write scores and a report.

Reads ``generations.jsonl`` (rows {id, task, query, label, answer, prediction, model}, and
``prompt``, ``template``, ``strict_steps`` where the test row had them);
writes into ``out_dir``: ``predictions.jsonl`` (each row with its extracted label and
``parse_status``: the step that read it, or ``unparsed``; ``pred_label_lenient`` and
``parse_status_lenient`` the same under the lenient reading), ``scores.json``,
``report.md`` and plots (see :mod:`.report`).

Two readings of every answer: the strict one (what the benchmark counts: the row's template's
``strict_steps``, else ``metrics.steps``) gives the task's metrics; the lenient one (the full
extraction ladder, ``metrics.lenient_steps``) is scored beside it under ``scores[task]["lenient"]``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from imhi.config import Strict, unknown_name
from imhi.evaluation.agreement import agreement, agreement_judges, judge_rows
from imhi.evaluation.metrics import METRICS, score_task
from imhi.evaluation.report import load_scores, write_report
from imhi.evaluation.textscore import BartScoreConfig, BertScoreConfig, bartscore, bertscore
from imhi.io import InputError, read_jsonl, sha256_text, write_json, write_jsonl
from imhi.judges.extract import DEFAULT_STEPS, Classify, check_steps, extract_many
from imhi.tasks import TaskSpec, load_task, split_reasoning

REQUIRED = ("id", "task", "prediction")
LADDER = ("json", "template", "alias")  # the lenient reading (the classifier joins where one is given)
LENIENT = ("accuracy", "weighted_f1", "macro_f1", "unparsed_rate")  # metrics of the lenient reading


class MetricsConfig(Strict):
    """How generations are scored."""

    steps: list[str] = Field(default_factory=lambda: list(DEFAULT_STEPS), description="strict reading of rows "
                             "without a prompt template (a template's rows use its strict_steps)")
    lenient_steps: list[str] | None = Field(default=None, description="the lenient reading (default: json, "
                                            "template, alias, and classifier where `classifier` is set)")
    classifier: str | None = Field(default=None, description="folder from `imhi train-extractor`")
    metrics: list[str] = Field(default_factory=lambda: list(METRICS))
    n_boot: int = 1000
    seed: int = 0
    pool_groups: bool = True
    bertscore: BertScoreConfig | None = None
    bartscore: BartScoreConfig | None = None
    plots: bool = True
    prompts: str | None = None
    agreement: bool = Field(default=True, description="judge whether each answer's explanation supports the "
                            "label it states (rules judge; the classifier too where `classifier` is set)")
    agreement_threshold: float = Field(default=0.9, gt=0, le=1, description="classifier judge probability")

    @field_validator("steps", "lenient_steps")
    @classmethod
    def _known_steps(cls, steps: list[str] | None) -> list[str] | None:
        return None if steps is None else check_steps(steps)


def read_generations(path: Path) -> list[dict[str, Any]]:
    """Generation rows; a missing field or a null gold label names file, row and field."""
    if not Path(path).is_file():
        raise InputError(path, "file not found")
    rows = []
    for i, row in enumerate(read_jsonl(path), start=1):
        for key in REQUIRED:
            if not isinstance(row.get(key), str):
                raise InputError(path, "missing or non-string value", row=i, field=key)
        if row.get("label") is None:
            raise InputError(path, "missing gold label", row=i, field="label")
        row["_row"] = i
        rows.append(row)
    return rows


def lenient_steps(cfg: MetricsConfig) -> list[str]:
    """The steps of the lenient reading."""
    if cfg.lenient_steps is not None:
        return list(cfg.lenient_steps)
    return [*LADDER, "classifier"] if cfg.classifier else list(LADDER)


def _check_cfg(cfg: MetricsConfig) -> None:
    for field, steps in (("metrics.steps", cfg.steps), ("metrics.lenient_steps", cfg.lenient_steps or [])):
        try:
            check_steps(steps)
        except ValueError as exc:
            raise InputError(field, str(exc)) from exc
    for name in cfg.metrics:
        if name not in METRICS:
            raise InputError("metrics.metrics", unknown_name("metric", name, list(METRICS)))


def extract_rows(rows: list[dict[str, Any]], gen_path: Path, cfg: MetricsConfig) -> dict[str, TaskSpec]:
    """Canonical gold labels and extracted predictions, in place; returns the tasks used."""
    tasks: dict[str, TaskSpec] = {}
    for row in rows:
        if row["task"] not in tasks:
            tasks[row["task"]] = load_task(row["task"], cfg.prompts)
        task = tasks[row["task"]]
        row["label"] = task.check_label(row["label"], where=gen_path, row=row["_row"])
    classify = None
    if "classifier" in [*cfg.steps, *lenient_steps(cfg)] and cfg.classifier:
        from imhi.judges.classifier import ExtractorClassifier

        classify = ExtractorClassifier(Path(cfg.classifier)).predict
    _read(rows, tasks, lambda r: r.get("strict_steps") or cfg.steps, "", classify)
    _read(rows, tasks, lambda r: lenient_steps(cfg), "_lenient", classify)
    return tasks


def _read(rows: list[dict[str, Any]], tasks: dict[str, TaskSpec], steps_of: Callable[[dict[str, Any]], list[str]],
          suffix: str,
          classify: Classify | None) -> None:
    """Set ``pred_label<suffix>`` and ``parse_status<suffix>`` of each row, read by its steps."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(steps_of(row))].append(row)
    for steps, group in groups.items():
        found = extract_many([(tasks[r["task"]], r["prediction"]) for r in group], steps, classify)
        for row, ex in zip(group, found, strict=True):
            row["pred_label" + suffix], row["parse_status" + suffix] = ex.label, ex.step


def _explanations(rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    hyps = [split_reasoning(r["prediction"])[1] or r["prediction"] for r in rows]
    refs = [split_reasoning(r.get("answer") or "")[1] or (r.get("answer") or "") for r in rows]
    return hyps, refs


def explanation_scores(rows: list[dict[str, Any]], cfg: MetricsConfig) -> dict[str, dict[str, float]]:
    """Per-task mean BERTScore / BARTScore F between predicted and reference explanations."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    with_ref = [r for r in rows if r.get("answer")]
    if not with_ref or (cfg.bertscore is None and cfg.bartscore is None):
        return {}
    hyps, refs = _explanations(with_ref)
    for key, fn, sub in (("bertscore", bertscore, cfg.bertscore), ("bartscore", bartscore, cfg.bartscore)):
        if sub is None:
            continue
        items = fn(hyps, refs, sub)["items"]["f1"]  # type: ignore[operator]
        per_task: dict[str, list[float]] = defaultdict(list)
        for row, value in zip(with_ref, items, strict=True):
            per_task[row.get("_group", row["task"])].append(value)
            row[f"{key}_f1"] = value  # per answer too (predictions.jsonl, report.html)
        for task, values in per_task.items():
            out[task][f"{key}_f1"] = sum(values) / len(values)
    return dict(out)


def compute_scores(rows: list[dict[str, Any]], tasks: dict[str, TaskSpec], cfg: MetricsConfig) -> dict:
    """Metrics per task and (when ``pool_groups``) per dataset group of several tasks. A task asked
    by several test sets (other templates, say) is scored per test set: ``<task>@<test set>``."""
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row, key in zip(rows, score_groups(rows), strict=True):
        row["_group"] = key
        by_task[key].append(row)
    scores: dict[str, Any] = {}
    for name, group in by_task.items():
        t = tasks[group[0]["task"]]
        scores[name] = score_task([r["label"] for r in group], [r["pred_label"] for r in group],
                                  t.label_names, t.multi_label, cfg.metrics, cfg.n_boot, cfg.seed)
        scores[name]["model"] = group[0].get("model")
        lenient = score_task([r["label"] for r in group], [r["pred_label_lenient"] for r in group],
                             t.label_names, t.multi_label, [m for m in cfg.metrics if m in LENIENT], 0, cfg.seed)
        scores[name]["lenient"] = {k: lenient[k] for k in LENIENT if k in lenient}
        if group[0].get("template"):
            scores[name]["template"] = group[0]["template"]
    if cfg.pool_groups:
        scores.update(_group_scores(by_task, tasks, cfg))
    for task, values in explanation_scores(rows, cfg).items():
        scores[task].update(values)
    if cfg.agreement:
        judge_rows(rows, tasks, agreement_judges(cfg.classifier, cfg.agreement_threshold))
        for name, group in by_task.items():
            scores[name].update(agreement(group))
    return scores


def score_groups(rows: list[dict[str, Any]]) -> list[str]:
    """Each row's score key: its task, or ``<task>@<test set>`` where the rows ask that task through
    several test sets."""
    sets: dict[str, set[str | None]] = defaultdict(set)
    for r in rows:
        sets[r["task"]].add(r.get("test_set"))
    return [f"{r['task']}@{r['test_set']}" if len(sets[r["task"]]) > 1 and r.get("test_set") else r["task"]
            for r in rows]


def _group_scores(by_task: dict[str, list[dict[str, Any]]], tasks: dict[str, TaskSpec],
                  cfg: MetricsConfig) -> dict[str, Any]:
    """Pool the tasks of a dataset (Irf aspects, MultiWD dimensions) sharing one label set."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in by_task:
        if name in tasks and tasks[name].group and tasks[name].group != name:
            groups[tasks[name].group].append(name)
    out = {}
    for group, names in groups.items():
        labels = tasks[names[0]].label_names
        if len(names) < 2 or any(tasks[n].label_names != labels or tasks[n].multi_label for n in names):
            continue
        rows = [r for n in names for r in by_task[n]]
        out[group] = score_task([r["label"] for r in rows], [r["pred_label"] for r in rows], labels,
                                False, cfg.metrics, cfg.n_boot, cfg.seed)
        out[group].update({"model": rows[0].get("model"), "tasks": names})
    return out


def score_generations(gen_path: Path, out_dir: Path, cfg: MetricsConfig | None = None,
                      ids: set[str] | None = None) -> dict:
    """Score ``gen_path`` into ``out_dir`` (scores.json, predictions.jsonl, report.md, plots).

    ``ids``: score only these rows (the current test file; a file answered for a larger
    test set keeps its other rows for later). Scores of the same rows, read as the same labels,
    under the same metrics settings are read back from ``scores.key`` + ``scores.json`` instead
    of computed again (BERTScore and BARTScore take minutes on a CPU)."""
    cfg = cfg or MetricsConfig()
    _check_cfg(cfg)
    gen_path, out_dir = Path(gen_path), Path(out_dir)
    rows = read_generations(gen_path)
    if ids is not None:
        rows = [r for r in rows if r.get("id") in ids]
    if not rows:
        raise InputError(gen_path, "no generations to score")
    tasks = extract_rows(rows, gen_path, cfg)
    key = scores_key(rows, cfg)
    done = _scored(out_dir, key)
    if done is not None:
        return done
    scores = compute_scores(rows, tasks, cfg)
    write_jsonl(out_dir / "predictions.jsonl", ({k: v for k, v in r.items() if not k.startswith("_")} for r in rows))
    write_json(out_dir / "scores.json", scores)
    write_report(scores, out_dir, title=f"Evaluation of {rows[0].get('model') or gen_path.name}",
                 plots=cfg.plots)
    (out_dir / "scores.key").write_text(key + "\n", encoding="utf-8")  # last: marks the scores complete
    return scores


def scores_key(rows: list[dict[str, Any]], cfg: MetricsConfig) -> str:
    """Fingerprint of what the scores depend on: the rows with their extracted labels, the
    metrics settings and the version of this package."""
    from imhi import __version__

    payload = {"cfg": cfg.model_dump(mode="json"), "version": __version__,
               "rows": sorted(rows, key=lambda r: str(r.get("id")))}
    return sha256_text(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str))


def _scored(out_dir: Path, key: str) -> dict | None:
    """The scores already in ``out_dir`` if they were computed from the same rows and settings."""
    key_file = out_dir / "scores.key"
    if not (key_file.is_file() and (out_dir / "scores.json").is_file() and (out_dir / "report.md").is_file()):
        return None
    if key_file.read_text(encoding="utf-8").strip() != key:
        return None
    return load_scores(out_dir)
