"""What a judge says about one explanation, and when that contradicts a label.

Reads and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from imhi.schema import Label, labels_of
from imhi.tasks import TaskSpec


@dataclass(frozen=True)
class Verdict:
    """The label an explanation supports (multi-label: the labels it asserts), the labels it
    denies (multi-label), and why (the sentence read, or a probability)."""

    label: Label | None
    reason: str
    absent: tuple[str, ...] = field(default=())
    error: str | None = None  # the judge could not answer (a failed LLM call)
    usage: dict[str, int] = field(default_factory=dict, compare=False)  # tokens of an LLM judge's call


def contradicts(task: TaskSpec, verdict: Verdict | None, gold: Label) -> bool:
    """True when ``verdict`` reads a label other than ``gold``. No verdict is never a
    contradiction. Multi-label: a label asserted outside the gold set, a gold label denied, or
    "none applies" against a non-empty gold set."""
    if verdict is None or (verdict.label is None and not verdict.absent):
        return False
    if not task.multi_label:
        return verdict.label is not None and labels_of(verdict.label) != labels_of(gold)
    have, said = set(labels_of(gold)), labels_of(verdict.label) if verdict.label is not None else None
    if said is not None and (set(said) - have or (not said and have)):
        return True
    return bool(set(verdict.absent) & have)


def describe(verdict: Verdict) -> str:
    """A short human reading of a verdict: "'no' (…sentence…)"."""
    said = verdict.label if verdict.label is not None else "—"
    denied = f", denies {list(verdict.absent)}" if verdict.absent else ""
    return f"{said!r}{denied} ({verdict.reason})"


class Judge(Protocol):
    """Reads explanations of one task alone and names the label each supports, or None."""

    name: str
    batched: bool  # True: costly, run over a batch of rows (classifier, LLM); False: per row

    def read(self, task: TaskSpec, explanations: list[str]) -> list[Verdict | None]: ...

    def close(self) -> None: ...
