"""Judges: read an explanation alone and name the label it supports (consistency checks).

Reads nothing itself (a classifier judge reads its model folder, an LLM judge calls a cached
teacher); writes nothing. ``JUDGES`` is the registry: kind → recipe spec class, whose
``make()`` builds the judge. A recipe lists them under ``filters.judge`` (a bare name such as
``rules`` stands for ``{kind: rules}``); the build, reference builds, ``imhi data inspect``
and ``imhi eval`` (agreement of an answer with its own explanation) all use them.

Kinds: ``rules`` (free, per row: the explanation's conclusion read with the task's phrases),
``classifier`` (the encoder of ``imhi train-extractor``, batched, a verdict only at or above
a probability threshold), ``llm`` (a second model call, its reply read by the same steps).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from imhi.config import Strict, unknown_name
from imhi.judges.classifier import ClassifierJudge, ExtractorClassifier
from imhi.judges.llm import LLMJudge, read_reply
from imhi.judges.rules import RulesJudge, conclusion
from imhi.judges.verdict import Judge, Verdict, contradicts, describe
from imhi.teacher import Teacher, TeacherConfig

# (teacher config or None for the build's own teacher) → a cached teacher, and whether the
# judge owns it (closes it); given by the caller, who knows the cache file.
TeacherFactory = Callable[[TeacherConfig | None], tuple[Teacher, bool]]


class RulesSpec(Strict):
    """``rules``: free; the explanation's own conclusion (negation-aware)."""

    kind: Literal["rules"] = "rules"

    def make(self, teachers: TeacherFactory | None = None) -> Judge:
        return RulesJudge()


class ClassifierSpec(Strict):
    """``classifier``: the explanation → label encoders of ``imhi train-extractor``."""

    kind: Literal["classifier"] = "classifier"
    path: str = Field(description="the train-extractor output folder (one sub-folder per task)")
    threshold: float = Field(default=0.9, gt=0, le=1, description="a verdict only at or above this probability")
    batch_size: int = Field(default=64, ge=1)

    def make(self, teachers: TeacherFactory | None = None) -> Judge:
        return ClassifierJudge(Path(self.path), self.threshold, self.batch_size)


class LLMSpec(Strict):
    """``llm``: a second model call per explanation (opt-in: it costs a request a row)."""

    kind: Literal["llm"] = "llm"
    teacher: TeacherConfig | None = Field(default=None, description="default: the build's teacher")

    def make(self, teachers: TeacherFactory | None = None) -> Judge:
        if teachers is None:
            raise ValueError("the llm judge needs a teacher here: set filters.judge[…].teacher")
        return LLMJudge(*teachers(self.teacher))


JUDGES: dict[str, type[RulesSpec] | type[ClassifierSpec] | type[LLMSpec]] = {
    "rules": RulesSpec, "classifier": ClassifierSpec, "llm": LLMSpec}


def _known_kind(value: Any) -> Any:
    """A bare name means ``{kind: name}``; an unknown kind lists the known ones."""
    if isinstance(value, str):
        value = {"kind": value}
    if isinstance(value, dict) and value.get("kind", "rules") not in JUDGES:
        raise ValueError(unknown_name("judge", str(value.get("kind")), list(JUDGES)))
    return value


JudgeSpec = Annotated[RulesSpec | ClassifierSpec | LLMSpec, Field(discriminator="kind"),
                      BeforeValidator(_known_kind)]


def make_judges(specs: list[Any], teachers: TeacherFactory | None = None) -> list[Judge]:
    """The judges of a recipe's ``filters.judge`` list, in order."""
    return [spec.make(teachers) for spec in specs]


__all__ = ["JUDGES", "ClassifierSpec", "ExtractorClassifier", "Judge", "JudgeSpec", "LLMSpec", "RulesSpec",
           "TeacherFactory", "Verdict", "conclusion", "contradicts", "describe", "make_judges", "read_reply"]
