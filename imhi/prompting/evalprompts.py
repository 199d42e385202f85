"""Evaluation prompts: named templates that turn a task and a post into the chat messages a model
is asked in ``imhi eval``.

Reads the task specs (``prompts/<task>/task.yaml``, ``examples.yaml`` for k-shot turns and
``templates.yaml`` for a task's own templates or wording); writes nothing. ``TEMPLATES`` holds the
defaults in each task language (English, Chinese), one entry per template: ``json`` (strict
JSON, the safety benchmark's form), ``sentence`` (one of the task's answer sentences) and
``free`` (answer sentence, then "Reasoning:" / "理由：" and an explanation). A task's
``templates.yaml`` may reword any of them or add its own named template; a recipe's test set
picks one by name and may override any field again (defaults ← task ← recipe). ``FORMATS`` is
the registry of answer formats: how a few-shot example's answer is written and which
extraction steps give the strict reading.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field

from imhi.config import unknown_name
from imhi.io import InputError
from imhi.schema import Label
from imhi.tasks import Example, TaskSpec, TemplateSpec

QUERY = 'Statement: "{text}"\n\nQuestion: {question}\n{instruction}'
DESCRIBED_QUERY = "{description}\n\n" + QUERY
DESCRIBED_QUERY_ZH = "{description}\n\n帖子：“{text}”\n\n问题：{question}\n{instruction}"


@dataclass(frozen=True)
class AnswerFormat:
    """How an answer in this format states a label, and how the benchmark reads it back."""

    answer: Callable[[TaskSpec, Example], str]  # a few-shot example's answer turn
    reference: Callable[[TaskSpec, Example], str]  # the gold answer of a test row (no explanation)
    strict_steps: tuple[str, ...]


def _json_answer(task: TaskSpec, ex: Example) -> str:
    return json.dumps({"label": ex.label, "confidence": 0.9}, ensure_ascii=False)


def _sentence_answer(task: TaskSpec, ex: Example) -> str:
    return task.label_sentence(ex.label)


def _free_answer(task: TaskSpec, ex: Example) -> str:
    return task.render_answer(ex.label, ex.explanation)


FORMATS: dict[str, AnswerFormat] = {
    "json": AnswerFormat(_json_answer, _json_answer, ("json",)),
    "sentence": AnswerFormat(_sentence_answer, _sentence_answer, ("template",)),
    "free": AnswerFormat(_free_answer, _sentence_answer, ("template", "alias")),
}

TEMPLATES: dict[str, dict[str, TemplateSpec]] = {  # the task's language → template name → defaults
    "en": {
        "json": TemplateSpec(format="json", query=DESCRIBED_QUERY, shots=0, instruction=(
            'Answer with JSON only, no other text: {{"label": <one of {labels}>, '
            '"confidence": <a number from 0 to 1>}}')),
        "sentence": TemplateSpec(format="sentence", query=DESCRIBED_QUERY, shots=0, instruction=(
            "Answer with exactly one of these sentences and nothing else:\n{sentences}")),
        "free": TemplateSpec(format="free", query=DESCRIBED_QUERY, shots=0, instruction=(
            'Answer with one of these sentences, then write "Reasoning:" and explain in two or three '
            "sentences what in the statement decides it:\n{sentences}")),
    },
    "zh": {
        "json": TemplateSpec(format="json", query=DESCRIBED_QUERY_ZH, shots=0, instruction=(
            '只输出 JSON，不要写任何别的文字：{{"label": <{labels} 中的一个>, "confidence": <0 到 1 之间的数>}}')),
        "sentence": TemplateSpec(format="sentence", query=DESCRIBED_QUERY_ZH, shots=0, instruction=(
            "从下面的句子里选一句作为回答，原样写出，不要写别的内容：\n{sentences}")),
        "free": TemplateSpec(format="free", query=DESCRIBED_QUERY_ZH, shots=0, instruction=(
            "先从下面的句子里选一句作为回答，再写“理由：”，用两三句话说明帖子里哪些内容决定了这个判断：\n"
            "{sentences}")),
    },
}


MULTI_LABEL: dict[str, dict[str, str]] = {  # a multi-label task's instruction, per language and format
    "en": {
        "json": ('Answer with JSON only, no other text: {{"label": [<every one of {labels} that applies; '
                 '[] if none does>], "confidence": <a number from 0 to 1>}}'),
        "sentence": ("Answer with one sentence in this form, naming every one of {labels} that applies, "
                     "and nothing else, e.g.:\n{sentences}"),
        "free": ("Answer with one sentence in this form, naming every one of {labels} that applies, then "
                 'write "Reasoning:" and explain in two or three sentences what in the statement decides it, '
                 "e.g.:\n{sentences}"),
    },
    "zh": {
        "json": ('只输出 JSON，不要写任何别的文字：{{"label": [<{labels} 中所有适用的项；都不适用时为 []>], '
                 '"confidence": <0 到 1 之间的数>}}'),
        "sentence": "按下面的句式写一句话作为回答，列出 {labels} 中所有适用的项，不要写别的内容，例如：\n{sentences}",
        "free": ("按下面的句式写一句话作为回答，列出 {labels} 中所有适用的项，再写“理由：”，用两三句话说明帖子里"
                 "哪些内容决定了这个判断，例如：\n{sentences}"),
    },
}


def _defaults(task: TaskSpec) -> dict[str, TemplateSpec]:
    """The default templates in the task's language, worded for several labels where the task has them."""
    defaults = TEMPLATES[task.language]
    if not task.multi_label:
        return defaults
    return {name: spec.model_copy(update={"instruction": MULTI_LABEL[task.language][name]})
            for name, spec in defaults.items()}


class PromptChoice(TemplateSpec):
    """A test set's ``prompt:``: a template by name, its fields overridden, and the seed of the shots."""

    template: str = "json"
    seed: int = Field(default=0, description="draws the k-shot examples")


@dataclass(frozen=True)
class Template:
    """A resolved template: every field set."""

    name: str
    format: str
    query: str
    instruction: str
    system_prompt: str | None
    shots: int
    strict_steps: tuple[str, ...]
    seed: int


def resolve(task: TaskSpec, choice: PromptChoice, where: str = "prompt.template") -> Template:
    """The template ``choice`` names for ``task``: defaults ← the task's templates.yaml ← the recipe."""
    defaults = _defaults(task)
    known = sorted({*defaults, *task.templates})
    if choice.template not in known:
        raise InputError(where, unknown_name(f"prompt template (task {task.name})", choice.template, known))
    spec = TemplateSpec()
    for layer in (defaults.get(choice.template), task.templates.get(choice.template), choice):
        if layer is not None:
            spec = spec.model_copy(update={k: v for k, v in layer.model_dump(include=set(TemplateSpec.model_fields))
                                           .items() if v is not None})
    fmt = spec.format or ""
    if fmt not in FORMATS:
        raise InputError(where, unknown_name(f"answer format of template '{choice.template}'", fmt, list(FORMATS)))
    return Template(name=choice.template, format=fmt, query=spec.query or defaults[fmt].query or "",
                    instruction=spec.instruction or defaults[fmt].instruction or "",
                    system_prompt=spec.system_prompt, shots=spec.shots or 0,
                    strict_steps=tuple(spec.strict_steps or FORMATS[fmt].strict_steps), seed=choice.seed)


def pick_shots(task: TaskSpec, k: int, seed: int) -> list[Example]:
    """``k`` examples from the task's pool, drawn with ``seed``, one label after another so that
    k ≥ the number of labels shows each label once."""
    if k > len(task.examples):
        raise InputError(f"task {task.name}", f"{k}-shot prompt, but examples.yaml holds only "
                         f"{len(task.examples)} examples", field="shots")
    rng = random.Random(f"{seed}:{task.name}:eval-shots")
    by_label: dict[str, list[Example]] = {}
    for ex in task.examples:
        by_label.setdefault(json.dumps(ex.label), []).append(ex)
    groups = [rng.sample(g, len(g)) for g in by_label.values()]
    rng.shuffle(groups)
    chosen: list[Example] = []
    while len(chosen) < k:
        for g in groups:
            if g and len(chosen) < k:
                chosen.append(g.pop())
    return chosen


def _sentences(task: TaskSpec) -> list[str]:
    """The answer sentences offered: one per label, or for several labels examples of the form."""
    if not task.multi_label:
        return [task.label_sentence(n) for n in task.label_names]
    return [task.label_sentence(task.label_names[:1]), task.label_sentence(task.label_names[:2]),
            *([task.none_answer] if task.none_answer else [])]


def _user(task: TaskSpec, tpl: Template, text: str) -> str:
    labels = ", ".join(json.dumps(n, ensure_ascii=False) for n in task.label_names)
    sentences = "\n".join(f"- {s}" for s in _sentences(task))
    try:
        instruction = tpl.instruction.format(labels=labels, sentences=sentences)
        return tpl.query.format(text=text.strip(), question=task.question, instruction=instruction,
                                description=task.description.strip())
    except (KeyError, IndexError, ValueError) as exc:
        raise InputError(f"task {task.name}", f"prompt template '{tpl.name}' has an unknown or broken slot "
                         f"{exc} (slots: text, question, description, instruction; in the instruction: "
                         "labels, sentences; double literal braces)", field="query") from None


def render(task: TaskSpec, tpl: Template, text: str) -> list[dict[str, str]]:
    """The chat messages of one post: the system prompt, k example turns, then the post."""
    system = task.system_prompt if tpl.system_prompt is None else tpl.system_prompt
    msgs = [{"role": "system", "content": system.strip()}] if system.strip() else []
    for ex in pick_shots(task, tpl.shots, tpl.seed):
        msgs.append({"role": "user", "content": _user(task, tpl, ex.text)})
        msgs.append({"role": "assistant", "content": FORMATS[tpl.format].answer(task, ex)})
    return [*msgs, {"role": "user", "content": _user(task, tpl, text)}]


def reference(task: TaskSpec, tpl: Template, label: Label) -> str:
    """The gold answer in the template's format (no explanation: the data has none)."""
    return FORMATS[tpl.format].reference(task, Example(text="", label=label, explanation=""))


__all__ = ["FORMATS", "TEMPLATES", "PromptChoice", "Template", "pick_shots", "reference", "render", "resolve"]
