"""The ``rules`` judge: an explanation's own conclusion, read with the task's phrases.

Reads and writes nothing. The sentences are read from the end with
:func:`imhi.judges.mentions.read`. A concluding sentence has a concluding word ("therefore",
"overall", "this suggests", "the assigned label", "因此", "综上") or, in a two-label task, is the
last one. A label stated outright in a concluding sentence ("the appropriate label for this post
is work") decides. Otherwise the last concluding sentence that names a label gives the verdict,
unless a sentence after it names another label or denies this one, or the explanation says it
cannot decide ("not enough information to determine …"); with more than two labels only a
sentence that opens with a strong cue ("therefore", "overall") counts, since "this suggests work"
there is too often evidence. An explanation that concludes nothing gets no verdict: that is not a
failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from imhi.judges.mentions import NONE_LABEL, may_name, may_state, read
from imhi.judges.verdict import Verdict
from imhi.schema import labels_of
from imhi.tasks import TaskSpec

_SENTENCES = re.compile(r"(?<=[.!?])[\"'”’)]*\s+|(?<=[a-z][.!?])(?=[A-Z])|\n+|(?<=[。！？；])")
_PLAIN_SENTENCES = re.compile(r"(?<=[.!?])[\"'”’)]*\s+")  # the same where nothing else cuts (faster)
_GLUED = re.compile(r"\.[A-Z]")  # "… reach out.They mention …"
_EN_STRONG = re.compile(  # at the start of a sentence ("conclude" anywhere)
    r"\W*(?:therefore|thus|hence|overall|in conclusion|in summary|to summari[sz]e|in sum|all in all|"
    r"consequently|as a result|accordingly|in short|so|based on (?:this|these|the)|given)\b")
_EN_WEAK = re.compile(  # any concluding cue, also "this suggests …"
    r"\b(?:therefore|thus|hence|overall|in conclusion|in summary|to summari[sz]e|in sum|all in all|"
    r"consequently|as a result|accordingly|in short|so(?= (?:it|the|this|there|they|he|she|i|we)\b)|"
    r"based on (?:this|these|the)|(?:this|these|which|it) (?:suggests?|indicates?|implies|imply|shows?|"
    r"points? to|means?)|label|classif|categori[sz]|falls? (?:under|into)|conclu|"
    r"(?:exists?|present) in (?:the|this) post)")
_EN_UNDECIDED = re.compile(
    r"\b(?:(?:not enough|insufficient|limited|without (?:any )?(?:more|further|additional)) (?:information|context|"
    r"details|evidence)|(?:impossible|not possible|difficult|hard|unable|cannot|challenging) to (?:accurately |"
    r"definitively |confidently )?(?:determine|tell|say|assess|conclude)|cannot be determined)")
_ZH_STRONG = re.compile(r".*?(?:因此|所以|综上|总之|总的来说|总体(?:来看|而言|上)|由此可见|故而|判断为|归为|属于|"
                        r"可以认为|结论)")
_ZH_WEAK = re.compile(r"说明|表明|可见|显示")
_ZH_UNDECIDED = re.compile(r"无法(?:确定|判断)|不能确定|难以(?:判断|确定)|信息(?:不足|有限)")


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences and lines."""
    text = text or ""
    other = not text.isascii() or "\n" in text or "?" in text or "!" in text or _GLUED.search(text)
    cut = _SENTENCES if other else _PLAIN_SENTENCES
    return [s.strip() for s in cut.split(text) if s and s.strip(" \t\n.-*0123456789")]


def conclusion(task: TaskSpec, text: str) -> Verdict | None:
    """The label the explanation concludes, or None when it concludes none (module docstring)."""
    first: Verdict | None = None
    after = _After()
    parts = sentences(text)
    for i in range(len(parts) - 1, -1, -1):
        sentence = parts[i]
        settled = first is not None or after.undecided
        if settled and not may_state(task, sentence):
            continue  # only a statement could still change the verdict
        kind = _kind(task, sentence, i == len(parts) - 1)
        if kind is None and (settled or not may_name(task, sentence)):
            continue
        found = read(task, sentence)
        verdict = _verdict(task, found.present, found.absent, sentence)
        if verdict is not None and found.stated and kind is not None:
            return verdict
        if not settled and kind and verdict is not None and not after.contradicts(task, verdict):
            first = None if after.decide(task, text) else verdict
        elif not settled:
            after.add(found.present, found.absent)
    return first


@dataclass
class _After:
    """What the sentences after the one being read say (asserted and denied labels), and whether
    the explanation says it cannot decide (looked up once, when first needed)."""

    present: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)
    undecided: bool = False

    def add(self, present: frozenset[str], absent: frozenset[str]) -> None:
        """Note what one more sentence says."""
        self.present |= present
        self.absent |= absent

    def contradicts(self, task: TaskSpec, verdict: Verdict) -> bool:
        """A later sentence denies the verdict's label, or (one label per post) asserts another."""
        said = set(labels_of(verdict.label)) if verdict.label is not None else set()
        return bool(self.absent & said) or (not task.multi_label and bool(self.present - said))

    def decide(self, task: TaskSpec, text: str) -> bool:
        """Look up (once) whether the explanation says it cannot decide."""
        cue = _ZH_UNDECIDED if task.language == "zh" else _EN_UNDECIDED
        self.undecided = cue.search(text.lower()) is not None
        return self.undecided


def _kind(task: TaskSpec, sentence: str, last: bool) -> bool | None:
    """None for a sentence that does not conclude, True where a reading that states no label
    counts, False where only a statement would. A sentence with a concluding cue ("therefore",
    "this suggests", "因此") may conclude; in a two-label task so may the last sentence. With more
    labels only a strong cue ("therefore", "overall") counts: "this suggests work" there is too
    often evidence."""
    low = sentence.lower()
    zh = task.language == "zh"
    if (_ZH_STRONG if zh else _EN_STRONG).match(low) is not None or "conclu" in low:
        return True
    two = len(task.labels) == 2 and not task.multi_label
    if two and last:
        return True
    return two if (_ZH_WEAK if zh else _EN_WEAK).search(low) is not None else None


def _verdict(task: TaskSpec, present: frozenset[str], absent: frozenset[str], sentence: str) -> Verdict | None:
    """The verdict one sentence's reading gives: one label (one label per post), the labels
    asserted and denied, or "none applies" (multi-label); None when it names no label."""
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
        """One verdict (or None) per explanation."""
        return [conclusion(task, text) for text in explanations]

    def close(self) -> None:
        """Nothing to release."""
        return None
