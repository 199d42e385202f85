"""Prompting: per-task few-shot chat messages for the teacher, and the consistency judge.

Reads the task specs (prompts/<task>/) and, optionally, an expert file through
imhi.sources (e.g. the IMHI expert CSVs); writes nothing. Two modes: ``explain`` (the
gold label is given and the teacher explains it, as IMHI did) and ``predict_explain``
(no label: the teacher answers and explains). English and Chinese; multi-label tasks.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Literal

from pydantic import Field

from imhi.config import Strict
from imhi.io import sha256_text
from imhi.schema import Label, labels_of
from imhi.sources import SourceSpec, read_source
from imhi.tasks import Example, TaskSpec

PROMPT_VERSION = "imhi-prompt-v1"  # bump when the wording below changes (changes every key)

TEXT = {
    "en": {
        "hint": "The correct answer is: {answer}",
        "explain": "You are shown a post, a question and the correct answer. Reply with the answer "
                   "sentence exactly as given, then \"Reasoning:\" and an explanation of {n} "
                   "sentences that points to what the post itself says. Do not hedge, do not "
                   "mention these instructions, the answer you were given or any other example.",
        "predict": "You are shown a post and a question. Reply with one of the answer sentences "
                   "below exactly, then \"Reasoning:\" and an explanation of {n} sentences that "
                   "points to what the post itself says. Do not mention these instructions or "
                   "any other example.",
        "answers": "Possible answers:",
        "judge_system": "You read an explanation written about a social-media post and decide "
                        "which answer it supports. You only see the explanation, not the post.",
        "judge": "Question: {question}\nExplanation: {explanation}\n\n{answers}\n{options}\n\n"
                 "Which answer does the explanation support? Reply with that answer sentence only.",
        "judge_multi": " Several may apply; list their labels separated by commas.",
    },
    "zh": {
        "hint": "正确答案是：{answer}",
        "explain": "你会看到一条帖子、一个问题和正确答案。请先原样写出答案句，然后写“理由：”，"
                   "再用{n}句话说明帖子中的哪些内容支持这个答案。不要含糊其辞，不要提及这些说明、"
                   "给定的答案或其他示例。",
        "predict": "你会看到一条帖子和一个问题。请先原样写出下列答案句之一，然后写“理由：”，"
                   "再用{n}句话说明帖子中的哪些内容支持这个答案。不要提及这些说明或其他示例。",
        "answers": "可选答案：",
        "judge_system": "你会读到一段针对某条社交媒体帖子的解释，并判断它支持哪个答案。你看不到帖子本身。",
        "judge": "问题：{question}\n解释：{explanation}\n\n{answers}\n{options}\n\n"
                 "这段解释支持哪个答案？只回复该答案句。",
        "judge_multi": "可能有多个，请用顿号分隔列出标签。",
    },
}


class PromptConfig(Strict):
    """How teacher prompts are made (the ``prompting:`` section of a build recipe)."""

    mode: Literal["explain", "predict_explain"] = "explain"
    k: int = Field(default=2, ge=0, description="few-shot examples per label")
    seed: int = 0
    sentences: str = Field(default="2-4", description="asked explanation length")
    label_descriptions: bool = True
    system_prompt: str | None = Field(default=None, description="replaces every task's own")
    expert: list[SourceSpec] = Field(default_factory=list,
                                     description="expert-written examples (e.g. IMHI expert/*.csv)")
    max_example_chars: int = Field(default=1500, ge=100)


def load_pools(cfg: PromptConfig, tasks: dict[str, TaskSpec], base_dir: Path | None,
               prompts_dir: str | None = None) -> dict[str, list[Example]]:
    """Few-shot pools per task: the expert file's rows where given, else the task's examples."""
    pools = {name: list(task.examples) for name, task in tasks.items()}
    expert: dict[str, list[Example]] = {}
    for spec in cfg.expert:
        for post in read_source(spec, base_dir, prompts_dir):
            if post.task in tasks and (post.explanation or "").strip():
                expert.setdefault(post.task, []).append(
                    Example(text=post.text[:cfg.max_example_chars], label=post.label,
                            explanation=(post.explanation or "").strip()))
    pools.update(expert)
    return pools


def select_shots(task: TaskSpec, pool: list[Example], k: int, seed: int) -> list[Example]:
    """k examples per label, drawn with a seed; multi-label tasks also get a none example."""
    chosen: list[Example] = []
    keys: list[str | None] = list(task.label_names)
    if task.multi_label:
        keys.append(None)
    for name in keys:
        cands = [ex for ex in pool if ex not in chosen and
                 (name in labels_of(ex.label) if name else not labels_of(ex.label))]
        rng = random.Random(f"{seed}:{task.name}:{name}")
        chosen.extend(rng.sample(cands, min(k, len(cands))))
    random.Random(f"{seed}:{task.name}:order").shuffle(chosen)
    return chosen


def _options(task: TaskSpec, descriptions: bool) -> str:
    lines = []
    for lab in task.labels:
        sentence = task.label_sentence([lab.name] if task.multi_label else lab.name)
        if task.multi_label:
            sentence = lab.name
        note = f" ({lab.description})" if descriptions and lab.description else ""
        lines.append(f"- {sentence}{note}")
    if task.multi_label and task.none_answer:
        lines.append(f"- {task.none_answer}")
    return "\n".join(lines)


def system_message(task: TaskSpec, cfg: PromptConfig) -> str:
    """Task system prompt + mode instructions + the answer options."""
    text = TEXT[task.language]
    base = cfg.system_prompt if cfg.system_prompt is not None else task.system_prompt
    rule = text["explain" if cfg.mode == "explain" else "predict"].format(n=cfg.sentences)
    parts = [base.strip(), rule, f"{text['answers']}\n{_options(task, cfg.label_descriptions)}"]
    if task.label_set_note:
        parts.append(task.label_set_note)
    return "\n\n".join(p for p in parts if p)


def user_message(task: TaskSpec, text: str, label: Label | None, cfg: PromptConfig) -> str:
    """The post and question (and, in explain mode, the correct answer)."""
    query = task.render_query(text)
    if cfg.mode == "explain" and label is not None:
        query += "\n" + TEXT[task.language]["hint"].format(answer=task.label_sentence(label))
    return query


def build_messages(task: TaskSpec, text: str, label: Label | None, shots: list[Example],
                   cfg: PromptConfig) -> list[dict[str, str]]:
    """Chat messages: system, few-shot user/assistant turns, then the post."""
    messages = [{"role": "system", "content": system_message(task, cfg)}]
    for ex in shots:
        messages.append({"role": "user", "content": user_message(task, ex.text, ex.label, cfg)})
        messages.append({"role": "assistant", "content": task.render_answer(ex.label, ex.explanation)})
    messages.append({"role": "user", "content": user_message(task, text, label, cfg)})
    return messages


def prompt_hash(task: TaskSpec, shots: list[Example], cfg: PromptConfig) -> str:
    """Short hash of everything in a task's prompt except the post (for provenance)."""
    payload = {"v": PROMPT_VERSION, "system": system_message(task, cfg), "mode": cfg.mode,
               "query": task.query_template, "answer": task.answer_template,
               "shots": [ex.model_dump() for ex in shots]}
    return sha256_text(json.dumps(payload, ensure_ascii=False, sort_keys=True))[:16]


def judge_messages(task: TaskSpec, explanation: str) -> list[dict[str, str]]:
    """Ask which answer an explanation alone supports (the consistency judge)."""
    text = TEXT[task.language]
    ask = text["judge"].format(question=task.question, explanation=explanation.strip(),
                               answers=text["answers"], options=_options(task, False))
    if task.multi_label:
        ask += text["judge_multi"]
    return [{"role": "system", "content": text["judge_system"]}, {"role": "user", "content": ask}]


__all__ = ["PromptConfig", "build_messages", "judge_messages", "load_pools", "prompt_hash",
           "select_shots", "system_message", "user_message"]
