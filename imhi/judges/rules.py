"""The ``rules`` judge: an explanation's own conclusion, read with the task's phrases.

Reads and writes nothing. The conclusion is the last sentence and every sentence with a
concluding word ("therefore", "overall", "the assigned label", "因此", "综上"); they are read
from the end with :func:`imhi.judges.mentions.read`, and the first that names a label gives the
verdict. An explanation that concludes nothing gets no verdict: that is not a failure.
"""

from __future__ import annotations

import re

from imhi.judges.mentions import NONE_LABEL, read
from imhi.judges.verdict import Verdict
from imhi.tasks import TaskSpec

_SENTENCES = re.compile(r"(?<=[.!?])[\"'”’)]*\s+|\n+|(?<=[。！？；])")
_EN_CUE = re.compile(
    r"\b(?:therefore|thus|hence|overall|in conclusion|in summary|to summari[sz]e|in sum|all in all|"
    r"consequently|as a result|accordingly|in short|so(?= (?:it|the|this|there|they|he|she|i|we)\b)|"
    r"based on (?:this|these|the)|(?:this|these|which|it) (?:suggests?|indicates?|implies|imply|shows?|"
    r"points? to|means?)|label|classif|categori[sz]|falls? (?:under|into)|conclu)", re.I)
_ZH_CUE = re.compile(r"因此|所以|综上|总之|总的来说|总体(?:来看|而言|上)|由此可见|可见|故而|判断为|归为|属于|说明|表明")


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences and lines."""
    return [s.strip() for s in _SENTENCES.split(text or "") if s and s.strip(" \t\n.-*0123456789")]


def conclusion(task: TaskSpec, text: str) -> Verdict | None:
    """The label the explanation concludes, or None when it concludes none."""
    parts = sentences(text)
    cue = _ZH_CUE if task.language == "zh" else _EN_CUE
    # in a two-label task the last sentence concludes even without a cue; with more labels
    # a last sentence that only names one is too often evidence, not the conclusion
    last_counts = len(task.labels) == 2 and not task.multi_label
    for i in range(len(parts) - 1, -1, -1):
        if not cue.search(parts[i]) and not (last_counts and i == len(parts) - 1):
            continue
        found = read(task, parts[i])
        verdict = _verdict(task, found.present, found.absent, parts[i])
        if verdict is not None:
            return verdict
    return None


def _verdict(task: TaskSpec, present: frozenset[str], absent: frozenset[str], sentence: str) -> Verdict | None:
    reason = sentence if len(sentence) <= 200 else sentence[:197] + "…"
    if not task.multi_label:
        return Verdict(next(iter(present)), reason) if len(present) == 1 else None
    said = sorted(present - {NONE_LABEL}, key=task.label_names.index)
    if said:
        return Verdict(said, reason, tuple(sorted(absent - present, key=task.label_names.index)))
    if NONE_LABEL in present:
        return Verdict([], reason)
    return Verdict(None, reason, tuple(sorted(absent, key=task.label_names.index))) if absent else None


class RulesJudge:
    """Free, per row: :func:`conclusion` on each explanation."""

    name = "rules"
    batched = False

    def read(self, task: TaskSpec, explanations: list[str]) -> list[Verdict | None]:
        return [conclusion(task, text) for text in explanations]

    def close(self) -> None:
        return None
