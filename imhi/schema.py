"""Record types shared by every stage: posts, instruction pairs, generations.

Reads and writes nothing; imports nothing from imhi. Column names are fixed across
every file the project writes: id, source, task, text, label, explanation, query,
answer, teacher, model, prediction, parse_status (plus ``messages`` and
``provenance``). Multi-label tasks carry a list of labels.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Label = str | list[str]

RECORD_COLUMNS = (
    "id",
    "source",
    "task",
    "text",
    "label",
    "explanation",
    "query",
    "answer",
    "teacher",
    "model",
    "prediction",
    "parse_status",
)


class Provenance(BaseModel):
    """Where a record came from: file and row, and (after synthesis) teacher and prompt."""

    model_config = ConfigDict(extra="allow")

    file: str = ""
    row: int | None = None
    split: str | None = None
    teacher: str | None = None
    prompt_hash: str | None = None


class Post(BaseModel):
    """One labelled post as read from a source; ``explanation`` is a reference, if any."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str
    task: str
    text: str
    label: Label
    explanation: str | None = None
    split: str | None = None
    provenance: Provenance = Field(default_factory=Provenance)


class InstructionPair(BaseModel):
    """A training/evaluation pair: query (post + question) → answer (label + reasoning)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str
    task: str
    text: str
    label: Label
    explanation: str
    query: str
    answer: str
    messages: list[dict[str, str]]
    teacher: str | None = None
    provenance: Provenance = Field(default_factory=Provenance)
    flags: list[str] | None = None  # reference builds with on_fail: flag: why a filter or judge rejected it


def labels_of(label: Label) -> list[str]:
    """Return a label value as a list (single-label → one-element list)."""
    return list(label) if isinstance(label, list) else [label]


def record_dict(model: BaseModel) -> dict[str, Any]:
    """Plain JSON-ready dict of a record, without None-valued provenance noise."""
    return model.model_dump(mode="json", exclude_none=True)
