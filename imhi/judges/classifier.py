"""The explanation → label classifiers of ``imhi train-extractor``, and the ``classifier`` judge.

Reads ``<folder>/<task>/`` (a fine-tuned encoder with the label names in its config, written
by :mod:`imhi.evaluation.classifier`); writes nothing. torch and transformers are imported
lazily, so the rest of :mod:`imhi.judges` runs without them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imhi.judges.verdict import Verdict
from imhi.logs import adopt_library_logs
from imhi.schema import Label
from imhi.tasks import TaskSpec


class ExtractorClassifier:
    """Predict labels from explanations with the per-task models under one folder."""

    def __init__(self, folder: Path, batch_size: int = 64, max_length: int = 128) -> None:
        self.folder, self.batch_size, self.max_length = Path(folder), batch_size, max_length
        self._models: dict[str, tuple[Any, Any]] = {}

    def has(self, task: str) -> bool:
        """True when the folder holds a classifier for ``task``."""
        return (self.folder / task / "config.json").is_file()

    def _model(self, task: str) -> tuple[Any, Any] | None:
        if task not in self._models:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            adopt_library_logs()
            if not self.has(task):
                return None  # no classifier for this task: its unread answers stay unparsed
            path = self.folder / task
            self._models[task] = (AutoTokenizer.from_pretrained(path),
                                  AutoModelForSequenceClassification.from_pretrained(path).eval())
        return self._models[task]

    def probabilities(self, task: str, texts: list[str]) -> tuple[list[str], list[list[float]]] | None:
        """(label names, one probability per label per text); None when the task has no
        classifier. Single-label: a softmax over the labels; multi-label: one sigmoid each."""
        import torch

        loaded = self._model(task)
        if loaded is None:
            return None
        tok, model = loaded
        names = [model.config.id2label[i] for i in range(model.config.num_labels)]
        multi = model.config.problem_type == "multi_label_classification"
        probs: list[list[float]] = []
        for i in range(0, len(texts), self.batch_size):
            enc = tok(texts[i:i + self.batch_size], truncation=True, max_length=self.max_length,
                      padding=True, return_tensors="pt")
            with torch.inference_mode():
                logits = model(**enc).logits.float()
            probs += (logits.sigmoid() if multi else logits.softmax(-1)).tolist()
        return names, probs

    def predict(self, task: str, texts: list[str]) -> list[Label | None]:
        """Labels for ``texts`` (None for every text when the task has no classifier)."""
        got = self.probabilities(task, texts)
        if got is None:
            return [None] * len(texts)
        names, probs = got
        if self.multi_label(task):
            return [[n for n, p in zip(names, row, strict=True) if p > 0.5] for row in probs]
        return [names[max(range(len(row)), key=row.__getitem__)] for row in probs]

    def multi_label(self, task: str) -> bool:
        loaded = self._model(task)
        return bool(loaded and loaded[1].config.problem_type == "multi_label_classification")


class ClassifierJudge:
    """Batched: a verdict where the classifier is at least ``threshold`` sure of a label."""

    name = "classifier"
    batched = True

    def __init__(self, folder: Path, threshold: float, batch_size: int = 64) -> None:
        self.clf = ExtractorClassifier(folder, batch_size=batch_size)
        self.threshold = threshold

    def read(self, task: TaskSpec, explanations: list[str]) -> list[Verdict | None]:
        got = self.clf.probabilities(task.name, explanations) if explanations else None
        if got is None:
            return [None] * len(explanations)
        names, probs = got
        return [self._verdict(task, names, row) for row in probs]

    def _verdict(self, task: TaskSpec, names: list[str], row: list[float]) -> Verdict | None:
        t = self.threshold
        if task.multi_label:
            said = [n for n, p in zip(names, row, strict=True) if p >= t]
            denied = tuple(n for n, p in zip(names, row, strict=True) if p <= 1 - t)
            why = ", ".join(f"{n} {p:.2f}" for n, p in zip(names, row, strict=True) if p >= 0.5)
            return Verdict(said, f"classifier p≥{t}: {why or 'none'}", denied) if said or denied else None
        best = max(range(len(row)), key=row.__getitem__)
        return Verdict(names[best], f"classifier p={row[best]:.2f}") if row[best] >= t else None

    def close(self) -> None:
        self.clf._models.clear()
