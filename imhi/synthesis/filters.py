"""Filters for explanations (teacher replies or reference explanations): each a named
function returning None (keep) or a reason.

Reads and writes nothing. ``FILTERS`` is the registry: a name → the function, its phase and
what it needs, so the pipeline names no filter. Phases: ``row`` (one candidate alone),
``late`` (after the judges and the quality scorer: ``consistency``, ``quality``) and ``set``
(against the explanations already kept, in post order, so a rerun keeps the same rows). A
recipe lists the names it applies, in order; an unknown name is an error listing the known ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from imhi.config import Strict, unknown_name
from imhi.judges import JudgeSpec, RulesSpec, Verdict, contradicts, describe
from imhi.schema import Label
from imhi.synthesis.dedup import NearDuplicateIndex
from imhi.synthesis.parse import same_label
from imhi.tasks import TaskSpec


def _known_filter(name: str) -> str:
    if name not in FILTERS:
        raise ValueError(unknown_name("filter", name, list(FILTERS)))
    return name


FilterName = Annotated[str, AfterValidator(_known_filter)]
DEFAULT_FILTERS = ["empty", "truncated", "no_reasoning", "correctness", "hedge", "prompt_echo",
                   "example_reference", "length", "consistency", "exact_duplicate", "near_duplicate"]


class FilterConfig(Strict):
    """Which filters run, their bounds, the judges, and how often a rejected row is regenerated."""

    use: list[FilterName] = Field(default_factory=lambda: list(DEFAULT_FILTERS))
    min_words: int = Field(default=8, ge=0, description="English words (Chinese: characters / 2)")
    max_words: int = Field(default=400, ge=1)
    near_duplicate_threshold: float = Field(default=0.85, gt=0, le=1)
    quality_threshold: float | None = Field(default=None, description="BARTScore gate (log-prob)")
    quality_checkpoint: str = Field(default="facebook/bart-large-cnn",
                                    description="BARTScore model: seq2seq or causal LM, hub id or folder")
    quality_kind: Literal["seq2seq", "causal"] = "seq2seq"
    regenerations: int = Field(default=2, ge=0, description="new tries for a rejected row")
    regen_temperature: float = Field(default=0.7, ge=0)
    judge: list[JudgeSpec] = Field(default_factory=lambda: [RulesSpec()],
                                   description="consistency judges (rules, classifier, llm); a row fails "
                                   "when any of them reads a label other than the gold")
    on_fail: Literal["drop", "flag"] | None = Field(
        default=None, description="reference builds: drop a row a filter rejects, or keep it marked with "
        "the reason (default: flag); teacher builds always drop (and regenerate)")

    @field_validator("judge")
    @classmethod
    def _one_of_each(cls, specs: list[JudgeSpec]) -> list[JudgeSpec]:
        kinds = [s.kind for s in specs]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"each judge kind at most once (got {kinds})")
        return specs


@dataclass
class Candidate:
    """One explanation under test: the post's gold label and what the teacher said."""

    id: str
    task: TaskSpec
    gold: Label
    raw: str
    stated: Label | None
    explanation: str
    marker: bool = True
    finish_reason: str | None = None
    verdicts: dict[str, Verdict | None] = field(default_factory=dict)  # judge name → what it read
    reference: str | None = None  # an expert/reference explanation of the same post, if any
    score: float | None = None


@dataclass
class Context:
    """Settings and the duplicate index shared by the filters of one task."""

    cfg: FilterConfig
    index: NearDuplicateIndex = field(default_factory=NearDuplicateIndex)


class Phrases:
    """A case-insensitive search for a ``|``-list of phrases, written in lower case.

    Python's regex engine tries every alternative at every position when they start with
    ``\\b`` or run case-insensitively (~250 µs an explanation for the three lists below). So the
    lower-cased text is searched with the leading ``\\b`` taken off each alternative, which lets
    the engine skip to positions where a phrase can start (~40 µs); a hit whose alternative
    wanted that boundary and lacks it, or text whose lower case changes length, is handed to
    the full pattern from there on, so the result is the full pattern's.
    """

    def __init__(self, pattern: str) -> None:
        self.full = re.compile(pattern, re.IGNORECASE)
        alts = _top_level(pattern)
        self.fast = re.compile("|".join(f"(?P<b{i}>{a[2:]})" if a.startswith(r"\b") else f"(?:{a})"
                                        for i, a in enumerate(alts)))

    def search(self, text: str) -> str | None:
        """The first phrase found (as written in ``text``), or None."""
        low = text.lower()
        if len(low) != len(text):
            m = self.full.search(text)
            return m.group(0) if m else None
        m = self.fast.search(low)
        if m is None:
            return None
        if m.lastgroup and m.start() and (low[m.start() - 1].isalnum() or low[m.start() - 1] == "_"):
            full = self.full.search(text, m.start())
            return full.group(0) if full else None
        return text[m.start():m.end()]


def _top_level(pattern: str) -> list[str]:
    """Split a pattern at the ``|`` that are outside any group."""
    out, depth, cur, esc = [], 0, "", False
    for ch in pattern:
        if esc:
            cur, esc = cur + ch, False
            continue
        if ch == "\\":
            esc = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    return [*out, cur]


HEDGES = Phrases(
    r"not (?:possible|able) to (?:determine|tell|say|know)|impossible to (?:determine|tell|say)|"
    r"cannot be (?:determined|concluded|inferred)|(?:can ?not|can't|unable to) (?:determine|conclude)|"
    r"not enough (?:information|evidence|context) to|insufficient (?:information|evidence)|"
    r"difficult to (?:determine|say)|hard to (?:determine|say)|no (?:clear )?way to (?:know|tell)|"
    r"无法(?:确定|判断|得知)|不能确定|难以(?:判断|确定)|信息不足")
ECHOES = Phrases(
    r"\bthe response\b|\bthe responses\b|\bthe post you (?:gave|provided|shared|sent)|"
    r"\bthe (?:given|provided|correct) (?:answer|label)\b|\bas an ai\b|\blanguage model\b|"
    r"\bthe (?:instructions?|prompt)\b|correct answer is|\byou (?:asked|provided|gave)\b|"
    r"作为(?:一个)?(?:ai|人工智能)|你提供的|给定的答案|正确答案是|回复中")
OTHER_EXAMPLES = Phrases(
    r"\b(?:same|similar) (?:reasoning|explanation|analysis|logic) as\b|"
    r"\b(?:first|second|third|previous|above|earlier|preceding|last|other) (?:example|sample|case)s?\b|"
    r"\bas in (?:the )?(?:example|previous|above)\b|\bexample (?:\d+|one|two|three)\b|"
    r"同上|上一个(?:例子|帖子|示例)|(?:第[一二三]|前面的|上面的)(?:个)?(?:例子|示例)|与示例",
)
TERMINAL = tuple(".!?。！？…)）]\"'”’」』*")


def _size(task: TaskSpec, text: str) -> int:
    if task.language == "zh":
        return len(re.sub(r"\s+", "", text)) // 2
    return len(text.split())


def empty(c: Candidate, ctx: Context) -> str | None:
    """An empty reply or an empty explanation."""
    if not c.raw.strip():
        return "empty reply"
    return None if c.explanation.strip() else "no explanation after the label sentence"


def truncated(c: Candidate, ctx: Context) -> str | None:
    """Cut off by the token limit, or ending mid-sentence."""
    if c.finish_reason == "length":
        return "reply hit the token limit (finish_reason=length)"
    text = c.explanation.rstrip()
    if text and not text.endswith(TERMINAL):
        return f"ends mid-sentence: '…{text[-30:]}'"
    return None


def no_reasoning(c: Candidate, ctx: Context) -> str | None:
    """A label sentence with no reasoning (no marker, or an explanation that only restates it)."""
    body = c.explanation.strip().rstrip(".。")
    if not c.marker and c.stated is not None and _size(c.task, body) < 3:
        return "label sentence without reasoning"
    if body and c.task.parse_label_sentence(body) is not None and _size(c.task, body) < 12:
        return "the explanation only restates the label"
    return None


def correctness(c: Candidate, ctx: Context) -> str | None:
    """The teacher's stated label equals the gold label."""
    if c.stated is None:
        return "no readable label sentence"
    return None if same_label(c.stated, c.gold) else f"teacher said {c.stated!r}, gold is {c.gold!r}"


def hedge(c: Candidate, ctx: Context) -> str | None:
    """Hedges that contradict a forced label ("not possible to determine")."""
    m = HEDGES.search(c.explanation)
    return f"hedge: '{m}'" if m else None


def prompt_echo(c: Candidate, ctx: Context) -> str | None:
    """Talk about the prompt or the response instead of the post."""
    m = ECHOES.search(c.explanation)
    return f"prompt echo: '{m}'" if m else None


def example_reference(c: Candidate, ctx: Context) -> str | None:
    """References to other (few-shot) examples."""
    m = OTHER_EXAMPLES.search(c.explanation)
    return f"refers to another example: '{m}'" if m else None


def length(c: Candidate, ctx: Context) -> str | None:
    """Explanation length within [min_words, max_words]."""
    n = _size(c.task, c.explanation)
    if n < ctx.cfg.min_words:
        return f"too short ({n} < {ctx.cfg.min_words} words)"
    return f"too long ({n} > {ctx.cfg.max_words} words)" if n > ctx.cfg.max_words else None


def consistency(c: Candidate, ctx: Context) -> str | None:
    """No judge reads a label other than the gold from the explanation alone (a judge that
    reads nothing gives no verdict: that is not a failure; a judge that failed is)."""
    for name, v in c.verdicts.items():
        if v is not None and v.error:
            return f"{name} judge failed: {v.error}"
    bad = [f"{name} judge read {describe(v)}" for name, v in c.verdicts.items()
           if v is not None and contradicts(c.task, v, c.gold)]
    return f"{'; '.join(bad)}; gold is {c.gold!r}" if bad else None


def contradicting(c: Candidate) -> list[str]:
    """The judges whose verdict contradicts the gold label."""
    return [n for n, v in c.verdicts.items() if v is not None and contradicts(c.task, v, c.gold)]


def quality(c: Candidate, ctx: Context) -> str | None:
    """Quality score (e.g. BARTScore vs expert references) at or above the threshold."""
    t = ctx.cfg.quality_threshold
    if t is None or c.score is None:
        return None
    return f"quality score {c.score:.3f} < {t}" if c.score < t else None


def exact_duplicate(c: Candidate, ctx: Context) -> str | None:
    """The same explanation (after normalisation) was already kept."""
    other = ctx.index.exact_match(c.explanation)
    return f"same explanation as {other}" if other else None


def near_duplicate(c: Candidate, ctx: Context) -> str | None:
    """A near-identical explanation (Jaccard of shingles ≥ threshold) was already kept."""
    ctx.index.threshold = ctx.cfg.near_duplicate_threshold
    hit = ctx.index.match(c.explanation)
    return f"near-duplicate of {hit[0]} (jaccard {hit[1]:.2f})" if hit else None


Filter = Callable[[Candidate, Context], str | None]
Phase = Literal["row", "late", "set"]


@dataclass(frozen=True)
class FilterEntry:
    """A filter, its phase, what it needs ("judges": verdicts; "scorer": a quality score) and
    an optional ``prepare`` run as soon as a candidate passes the row phase (e.g. its MinHash,
    while other replies are still in flight)."""

    fn: Filter
    phase: Phase = "row"
    needs: frozenset[str] = frozenset()
    prepare: Callable[[Candidate, Context], None] | None = None


def _prepare_near_duplicate(c: Candidate, ctx: Context) -> None:
    ctx.index.prepare(c.explanation)


FILTERS: dict[str, FilterEntry] = {
    "empty": FilterEntry(empty), "truncated": FilterEntry(truncated), "no_reasoning": FilterEntry(no_reasoning),
    "correctness": FilterEntry(correctness), "hedge": FilterEntry(hedge), "prompt_echo": FilterEntry(prompt_echo),
    "example_reference": FilterEntry(example_reference), "length": FilterEntry(length),
    "consistency": FilterEntry(consistency, "late", frozenset({"judges"})),
    "quality": FilterEntry(quality, "late", frozenset({"scorer"})),
    "exact_duplicate": FilterEntry(exact_duplicate, "set"),
    "near_duplicate": FilterEntry(near_duplicate, "set", prepare=_prepare_near_duplicate),
}


def in_phase(names: list[str], phase: Phase, have: frozenset[str] = frozenset({"judges", "scorer"})) -> list[str]:
    """The listed filters of a phase whose needs are met (quality without a scorer has no score
    to judge: it passes every row, so it is left out)."""
    return [n for n in names if FILTERS[n].phase == phase and FILTERS[n].needs <= have]


def needs(names: list[str], what: str) -> bool:
    """True when one of the named filters needs ``what`` ("judges", "scorer")."""
    return any(what in FILTERS[n].needs for n in names if n in FILTERS)


def prepare(c: Candidate, ctx: Context, names: list[str]) -> None:
    """Run the named filters' ``prepare`` steps for a candidate that passed the row phase."""
    for name in names:
        if FILTERS[name].prepare is not None:
            FILTERS[name].prepare(c, ctx)  # type: ignore[misc]


def first_failure(c: Candidate, ctx: Context, names: list[str]) -> tuple[str, str] | None:
    """Run the named filters in order; the first (name, reason) that rejects, or None."""
    for name in names:
        reason = FILTERS[name].fn(c, ctx)
        if reason:
            return name, reason
    return None
