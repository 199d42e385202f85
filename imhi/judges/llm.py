"""The ``llm`` judge: a second model call per explanation, its reply read like a model's answer.

Reads and writes nothing itself; the teacher it calls caches every reply (SQLite) like the
teacher of a build. The reply is read by the extraction steps (answer template, then aliases,
negation-aware), then as a conclusion (:mod:`.rules`), so a natural answer ("The poster
suffers from depression.") counts, not only the exact answer sentence.
"""

from __future__ import annotations

import dataclasses

from imhi.judges.extract import extract
from imhi.judges.rules import conclusion
from imhi.judges.verdict import Verdict
from imhi.prompting import judge_messages
from imhi.tasks import TaskSpec
from imhi.teacher import Teacher

READ_STEPS = ("template", "alias")


def read_reply(task: TaskSpec, text: str) -> Verdict | None:
    """The label a judge's reply names, or None when no step reads one."""
    got = extract(task, text, READ_STEPS)
    short = " ".join(text.split())[:160]
    if got.label is not None:
        return Verdict(got.label, f"LLM replied: {short}")
    found = conclusion(task, text)
    return Verdict(found.label, f"LLM replied: {short}", found.absent) if found else None


class LLMJudge:
    """Batched: one chat request per explanation through a cached teacher."""

    name = "llm"
    batched = True

    def __init__(self, teacher: Teacher, owned: bool) -> None:
        self.teacher, self.owned = teacher, owned

    def read(self, task: TaskSpec, explanations: list[str]) -> list[Verdict | None]:
        if not explanations:
            return []
        replies = self.teacher.generate([judge_messages(task, e) for e in explanations],
                                        desc=f"{task.name} judge")
        out: list[Verdict | None] = []
        for r in replies:
            if not r.ok:
                out.append(Verdict(None, "LLM judge failed", error=r.error or "no reply", usage=r.usage))
                continue
            v = read_reply(task, r.text or "") or Verdict(None, f"LLM reply names no label: {(r.text or '')[:80]}")
            out.append(dataclasses.replace(v, usage=r.usage or {"requests": 1}))
        return out

    def close(self) -> None:
        if self.owned:
            self.teacher.close()
