"""Label extraction: ordered named steps turn a generated answer into a label, or ``unparsed``.

Reads nothing from disk except an optional classifier folder per task (written by
``imhi train-extractor``); writes nothing. ``EXTRACTORS`` is the registry of steps:

- ``template``: the label sentence before "Reasoning:" matched against the task's answer
  sentences and released wordings (:meth:`TaskSpec.parse_label_sentence`), also its first
  sentence alone;
- ``alias``: label names, aliases, answer-sentence bodies and cues named in the label
  sentence, read by :mod:`.mentions` (negation-aware; a denied label of a two-label task
  asserts the other), accepted only when exactly one label is named;
- ``json``: a strict JSON answer ``{"label": ..., "confidence": ...}``;
- ``classifier``: a fine-tuned encoder reading the explanation (see :mod:`.classifier`).

An answer no step reads is ``unparsed``; it is never given a default class.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from imhi.config import unknown_name
from imhi.judges import mentions  # noqa: I001  (the package imports this module back)
from imhi.schema import Label
from imhi.sources import question_index
from imhi.tasks import TaskSpec, normalize, split_reasoning

UNPARSED = "unparsed"
Step = Callable[[TaskSpec, str], Label | None]
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")
_JSON_OBJECT = re.compile(r"\{.*?\}", re.S)


@dataclass
class Extraction:
    """The label read from an answer (None when unparsed) and the step that read it."""

    label: Label | None
    step: str

    @property
    def parsed(self) -> bool:
        return self.label is not None


def label_sentence(text: str) -> str:
    """The part of an answer before the reasoning marker."""
    head, _ = split_reasoning(text or "")
    return head


def first_sentence(text: str) -> str:
    """The first sentence or line of ``text``."""
    parts = [p for p in _SENTENCE_END.split(text.strip()) if p.strip()]
    return parts[0] if parts else ""


def step_template(task: TaskSpec, text: str) -> Label | None:
    """Answer sentence / released wording of the label sentence, then of its first sentence."""
    head = label_sentence(text)
    if not head:
        return None
    found = task.parse_label_sentence(head)
    if found is None:
        first = first_sentence(head)
        if first and first != head:
            found = task.parse_label_sentence(first)
    return found


def step_alias(task: TaskSpec, text: str) -> Label | None:
    """Exactly one label named (by name or alias) in the first sentence of the label part."""
    head = label_sentence(text)
    for part in (first_sentence(head), head):
        hits = set(mentions.read(task, part).present)
        if task.multi_label and hits:
            return sorted(hits - {mentions.NONE_LABEL}, key=task.label_names.index)
        if len(hits) == 1:
            return hits.pop()
    return None


def parse_json_answer(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (code fences allowed) that has a ``label`` key."""
    for match in _JSON_OBJECT.finditer(text or ""):
        try:
            obj = json.loads(match.group(0))
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and "label" in obj:
            return obj
    return None


def step_json(task: TaskSpec, text: str) -> Label | None:
    """Strict-JSON answers: ``{"label": "<name>" | [...], "confidence": 0..1}``."""
    obj = parse_json_answer(text)
    if obj is None:
        return None
    raw = obj["label"]
    values = raw if isinstance(raw, list) else [raw]
    names = [task.canonical(str(v)) for v in values]
    if any(n is None for n in names) or not names and not task.multi_label:
        return None
    if task.multi_label:
        return sorted({n for n in names if n}, key=task.label_names.index)
    return names[0] if len(names) == 1 else None


EXTRACTORS: dict[str, Step] = {"template": step_template, "alias": step_alias, "json": step_json}
DEFAULT_STEPS = ("template", "alias")


def check_steps(steps: Iterable[str]) -> list[str]:
    """The steps as given, or a ValueError naming the first unknown one ("did you mean")."""
    known = [*EXTRACTORS, "classifier"]
    for name in steps:
        if name not in known:
            raise ValueError(unknown_name("extraction step", name, known))
    return list(steps)


def extract(task: TaskSpec, text: str, steps: Iterable[str] = DEFAULT_STEPS) -> Extraction:
    """Run the rule steps in order; the first that reads a label wins."""
    for name in check_steps(steps):
        if name == "classifier":
            continue  # batched separately by extract_many
        found = EXTRACTORS[name](task, text)
        if found is not None:
            return Extraction(found, name)
    return Extraction(None, UNPARSED)


Classify = Callable[[str, list[str]], list[Label | None]]


def extract_many(items: list[tuple[TaskSpec, str]], steps: Iterable[str] = DEFAULT_STEPS,
                 classify: Classify | None = None) -> list[Extraction]:
    """Extract labels for many (task, answer) pairs; the classifier step runs batched per task."""
    steps = list(steps)
    out = [extract(task, text, steps) for task, text in items]
    if "classifier" not in steps or classify is None:
        return out
    by_task: dict[str, list[int]] = {}
    for i, ex in enumerate(out):
        if not ex.parsed:
            by_task.setdefault(items[i][0].name, []).append(i)
    for task_name, idx in by_task.items():
        texts = [split_reasoning(items[i][1])[1] or items[i][1] for i in idx]
        for i, label in zip(idx, classify(task_name, texts), strict=True):
            if label is not None:
                out[i] = Extraction(label, "classifier")
    return out


def question_table(tasks: dict[str, TaskSpec]) -> list[tuple[str, list[str]]]:
    """(normalised question wording, task names asking it), longest wording first."""
    return sorted(question_index(tasks).items(), key=lambda p: -len(p[0]))


class AmbiguousTask(ValueError):
    """The query's question is asked by several tasks: name the intended ones."""


def task_of_query(query: str, table: list[tuple[str, list[str]]]) -> str | None:
    """The task whose question ends the query (after the last "Question:", or the whole tail)."""
    tail = query.rsplit("Question:", 1)[-1] if "Question:" in query else query
    key = normalize(tail)
    match = next((names for wording, names in table if key == wording), None)
    if match is None:
        match = next((names for wording, names in table if wording and key.endswith(wording)), None)
    if match is None:
        return None
    if len(match) > 1:
        raise AmbiguousTask(f"the question is asked by several tasks ({', '.join(match)}); "
                            "list the intended task(s) for this test set")
    return match[0]
