"""Tasks as data: ``prompts/<task>/task.yaml`` plus ``prompts/<task>/examples.yaml``.

Reads task folders; writes nothing. A task names its language, question (and the
other released wordings of it), label set with aliases and answer sentences, the
query and answer templates, and a pool of few-shot examples written by this project.
Tasks are discovered by listing the prompts folder: no registration code.
"""

from __future__ import annotations

import os
import re
import unicodedata
from functools import cache, cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from imhi.config import Strict, validate_data
from imhi.io import InputError, load_yaml
from imhi.schema import Label, labels_of

DEFAULT_QUERY = {
    "en": 'Consider this post: "{text}" Question: {question}',
    "zh": "请分析以下帖子：“{text}” 问题：{question}",
}
DEFAULT_ANSWER = {"en": "{answer} Reasoning: {explanation}", "zh": "{answer} 理由：{explanation}"}
REASONING_MARKERS = ("Reasoning:", "理由：", "理由:", "推理：", "推理:")


class LabelSpec(Strict):
    """One label: its canonical name, the answer sentence, aliases, a short gloss."""

    name: str
    answer: str | None = None
    aliases: list[str] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list, description="wording an explanation uses when it concludes "
                            "this label (\"thwarted belongingness\"); read by the rules judge and the alias "
                            "step, negation-aware, never used to read a data file's label")
    description: str = ""


class Example(Strict):
    """A few-shot example written by this project (never copied from a dataset)."""

    text: str
    label: Label
    explanation: str


class TemplateSpec(Strict):
    """An evaluation prompt template, or the fields of one that a task or recipe overrides
    (``prompts/<task>/templates.yaml`` maps template names to these; see :mod:`imhi.prompting.evalprompts`).
    Text fields are ``str.format`` templates: ``{text}``, ``{question}``, ``{description}``,
    ``{instruction}``, ``{labels}``, ``{sentences}``; literal braces are doubled."""

    format: str | None = Field(default=None, description="answer format: json | sentence | free")
    query: str | None = Field(default=None, description="the user message around the post")
    instruction: str | None = Field(default=None, description="how to answer (the {instruction} slot)")
    system_prompt: str | None = Field(default=None, description="replaces the task's; '' sends none")
    shots: int | None = Field(default=None, ge=0, description="examples from examples.yaml, as chat turns")
    strict_steps: list[str] | None = Field(default=None, description="extraction steps of the strict "
                                           "reading (default: the format's)")


class TaskSpec(Strict):
    """A classification task with an explanation (see module docstring)."""

    name: str
    group: str | None = None
    language: Literal["en", "zh"] = "en"
    description: str
    multi_label: bool = False
    question: str
    question_variants: list[str] = Field(default_factory=list)
    labels: list[LabelSpec]
    answer: str = "{label}"
    none_answer: str | None = None
    none_cues: list[str] = Field(default_factory=list, description="multi-label: wording that says no label "
                                 "applies (besides none_answer)")
    query_template: str | None = None
    answer_template: str | None = None
    system_prompt: str = ""
    label_set_note: str = ""
    examples: list[Example] = Field(default_factory=list)
    templates: dict[str, TemplateSpec] = Field(default_factory=dict, description="evaluation prompt "
                                               "templates of this task (from templates.yaml)")

    @model_validator(mode="after")
    def _check(self) -> TaskSpec:
        names = [lab.name for lab in self.labels]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate label names in {names}")
        seen: dict[str, str] = {}
        for lab in self.labels:
            for key in [lab.name, *lab.aliases]:
                k = normalize(key)
                if seen.get(k, lab.name) != lab.name:
                    raise ValueError(f"alias '{key}' names both '{seen[k]}' and '{lab.name}'")
                seen[k] = lab.name
        return self

    @cached_property
    def alias_table(self) -> dict[str, str]:
        """Normalised label names, aliases and answer sentences → canonical label."""
        table: dict[str, str] = {}
        for lab in self.labels:
            for key in [lab.name, *lab.aliases]:
                table[normalize(key)] = lab.name
            if lab.answer:
                table[normalize(lab.answer)] = lab.name
            elif not self.multi_label:
                table[normalize(self.answer.format(label=lab.name))] = lab.name
        return table

    @property
    def dataset(self) -> str:
        """The dataset a task belongs to (aspect tasks of Irf/MultiWD share one)."""
        return self.group or self.name

    @property
    def label_names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    def label(self, name: str) -> LabelSpec:
        for lab in self.labels:
            if lab.name == name:
                return lab
        raise KeyError(name)

    def check_label(self, value: Label, where: str | Path = "", row: int | None = None,
                    field: str = "label") -> Label:
        """Return the canonical label value or raise an error naming file/row/field."""
        out = []
        for raw in labels_of(value):
            name = self.canonical(raw)
            if name is None:
                raise InputError(where or f"task {self.name}",
                                 f"unknown label '{raw}' for task '{self.name}' "
                                 f"(known: {', '.join(self.label_names)})", row=row, field=field)
            out.append(name)
        if self.multi_label:
            return sorted(set(out), key=self.label_names.index)
        if len(out) != 1:
            raise InputError(where or f"task {self.name}",
                             f"task '{self.name}' takes exactly one label, got {out}",
                             row=row, field=field)
        return out[0]

    def canonical(self, raw: str) -> str | None:
        """Map a label name or alias (any case/spacing) to the canonical name."""
        return _alias_table(self).get(normalize(raw))

    def label_sentence(self, label: Label) -> str:
        """The answer sentence that states ``label`` (before the reasoning)."""
        if self.multi_label:
            names = labels_of(label)
            if not names and self.none_answer:
                return self.none_answer
            sep = "、" if self.language == "zh" else ", "
            return self.answer.format(labels=sep.join(names))
        spec = self.label(label if isinstance(label, str) else label[0])
        return spec.answer or self.answer.format(label=spec.name)

    def render_query(self, text: str) -> str:
        """The instruction query: the post and the question."""
        template = self.query_template or DEFAULT_QUERY[self.language]
        return template.format(text=text, question=self.question)

    def render_answer(self, label: Label, explanation: str) -> str:
        """The target answer: label sentence followed by the explanation."""
        template = self.answer_template or DEFAULT_ANSWER[self.language]
        return template.format(answer=self.label_sentence(label), explanation=explanation.strip())

    def parse_label_sentence(self, sentence: str) -> Label | None:
        """Read the label from an answer sentence (any released wording); None if unreadable."""
        return parse_label_sentence(self, sentence)


def normalize(text: str) -> str:
    """Lowercase, NFKC, collapse spaces, trim surrounding punctuation and quotes."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"\s+", " ", text).strip()
    return text.strip(" .。!！,，;；:：\"'“”‘’`")


def _alias_table(task: TaskSpec) -> dict[str, str]:
    return task.alias_table


def split_reasoning(answer: str) -> tuple[str, str | None]:
    """Split ``<label sentence> Reasoning: <explanation>``; explanation None if no marker."""
    best = -1
    marker = ""
    for m in REASONING_MARKERS:
        i = answer.find(m)
        if i >= 0 and (best < 0 or i < best):
            best, marker = i, m
    if best < 0:
        return answer.strip(), None
    return answer[:best].strip(), answer[best + len(marker):].strip()


def parse_label_sentence(task: TaskSpec, sentence: str) -> Label | None:
    """Exact sentence/alias match, then multi-label list, then a leading label word."""
    key = normalize(sentence)
    table = _alias_table(task)
    if key in table:
        return [table[key]] if task.multi_label else table[key]
    if task.multi_label:
        return _parse_label_list(task, sentence)
    # Only canonical names may lead a longer sentence ("yes, the post does show ..."): a
    # leading alias such as "depression" may be negated later ("depression is not evident").
    return _leading_label(key, {normalize(n): n for n in task.label_names})


def _leading_label(key: str, table: dict[str, str]) -> str | None:
    """A sentence that starts with a label or alias as a whole word ("yes, the post ...")."""
    best: tuple[int, str] | None = None
    for alias, name in table.items():
        if len(alias) < 2 and not alias.isalpha():
            continue
        if not key.startswith(alias):
            continue
        whole_word = len(key) == len(alias) or not key[len(alias)].isalnum()
        if whole_word and (best is None or len(alias) > best[0]):
            best = (len(alias), name)
    return best[1] if best else None


def _parse_label_list(task: TaskSpec, sentence: str) -> list[str] | None:
    """Multi-label answers: the ``{labels}`` slot of the answer template, split on separators."""
    key = normalize(sentence)
    if task.none_answer and key == normalize(task.none_answer):
        return []
    prefix, _, suffix = task.answer.partition("{labels}")
    body = key
    p, s = normalize(prefix), normalize(suffix)
    if p and body.startswith(p):
        body = body[len(p):]
    if s and body.endswith(s):
        body = body[: -len(s)]
    parts = [normalize(x) for x in re.split(r",|，|、|;|；| and |和", body) if normalize(x)]
    names = [_alias_table(task).get(x) for x in parts]
    if not parts or any(n is None for n in names):
        return None
    return sorted(set(n for n in names if n), key=task.label_names.index)


def prompts_root(explicit: str | Path | None = None) -> Path:
    """The prompts folder: explicit path, $IMHI_PROMPTS, the checkout's, or the packaged copy."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get("IMHI_PROMPTS"):
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "prompts", here / "_prompts"):
        if candidate.is_dir():
            return candidate
    raise InputError(here, "no prompts folder found; set IMHI_PROMPTS or pass --prompts")


def task_names(root: str | Path | None = None) -> list[str]:
    """Every task folder under the prompts root (those with a task.yaml)."""
    base = prompts_root(root)
    return sorted(p.parent.name for p in base.glob("*/task.yaml"))


def load_task(name: str, root: str | Path | None = None) -> TaskSpec:
    """Load and validate ``<root>/<name>/task.yaml`` and its ``examples.yaml``."""
    base = prompts_root(root)
    return _load_task_cached(name, str(base), _stamp(base / name))


def _stamp(folder: Path) -> tuple[tuple[int, int], ...]:
    """Size and modification time of a task's files: an edited file is read again."""
    files = [folder / f"{n}.yaml" for n in ("task", "examples", "templates")]
    return tuple((s.st_mtime_ns, s.st_size) if f.is_file() and (s := f.stat()) else (0, 0) for f in files)


@cache
def _load_task_cached(name: str, root: str, stamp: tuple[tuple[int, int], ...] = ()) -> TaskSpec:
    folder = Path(root) / name
    path = folder / "task.yaml"
    if not path.is_file():
        known = ", ".join(task_names(root)) or "none"
        raise InputError(path, f"unknown task '{name}' (known tasks: {known}); tasks are read from {root}, "
                         "set by a recipe's `prompts:`, `--prompts` or the IMHI_PROMPTS variable")
    data = load_yaml(path)
    for key in ("examples", "templates"):
        if isinstance(data, dict) and (folder / f"{key}.yaml").is_file():
            data = {**data, key: load_yaml(folder / f"{key}.yaml") or ([] if key == "examples" else {})}
    task = validate_data(data, TaskSpec, path)
    if task.name != name:
        raise InputError(path, f"name '{task.name}' must equal the folder name '{name}'",
                         field="name")
    _check_examples(task, folder / "examples.yaml")
    return task


def _check_examples(task: TaskSpec, where: Path) -> None:
    for i, ex in enumerate(task.examples, start=1):
        task.check_label(ex.label, where=where, row=i)


def load_tasks(names: list[str] | None = None, root: str | Path | None = None) -> dict[str, TaskSpec]:
    """Load several tasks (all of them by default) keyed by name."""
    return {n: load_task(n, root) for n in (names or task_names(root))}
