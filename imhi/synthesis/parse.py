"""Parse a teacher reply into (stated label, explanation).

Reads and writes nothing. The reply should look like ``<label sentence> Reasoning:
<explanation>`` (any language's marker, see imhi.tasks.REASONING_MARKERS); without a
marker the first sentence is taken as the label sentence. Parser changes never touch the
teacher cache: replies are stored raw and parsed again on every run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imhi.schema import Label
from imhi.tasks import TaskSpec, split_reasoning

LEADS = re.compile(r"^\s*(?:\*\*|#+\s*)?(?:answer|label|回答|答案)\s*[:：]\s*", re.IGNORECASE)
ECHO = re.compile(r"^\s*(?:the correct answer is|正确答案是)\s*[:：]\s*", re.IGNORECASE)
FIRST_SENTENCE = re.compile(r"^(.+?[.!?。！？])(\s+|$)(.*)$", re.DOTALL)


@dataclass
class Parsed:
    """What a reply says: the label sentence, the label read from it, the explanation."""

    sentence: str
    label: Label | None
    explanation: str
    marker: bool  # True when an explicit "Reasoning:" marker separated the two


def _clean(text: str) -> str:
    text = text.replace("**", "").strip()
    text = LEADS.sub("", text)
    return ECHO.sub("", text).strip()


def parse_reply(task: TaskSpec, text: str | None) -> Parsed:
    """Split and read a reply; ``label`` is None when the sentence names no known label."""
    text = _clean(text or "")
    sentence, explanation = split_reasoning(text)
    marker = explanation is not None
    if explanation is None:
        m = FIRST_SENTENCE.match(text)
        sentence, explanation = (m.group(1), m.group(3)) if m else (text, "")
    sentence = sentence.strip()
    label = task.parse_label_sentence(sentence) if sentence else None
    return Parsed(sentence=sentence, label=label, explanation=explanation.strip(), marker=marker)


def same_label(a: Label | None, b: Label | None) -> bool:
    """Label equality that ignores order for multi-label values."""
    if a is None or b is None:
        return False
    if isinstance(a, list) or isinstance(b, list):
        return sorted(a if isinstance(a, list) else [a]) == sorted(b if isinstance(b, list) else [b])
    return a == b
