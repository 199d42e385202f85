"""Training data: instruction-pair files → prompt/completion conversations.

Reads ``<dataset>/{train,valid}.jsonl`` written by ``imhi build`` (one
``imhi.schema.InstructionPair`` per line); writes nothing. Loss is on the answer only:
each row becomes a conversational prompt-completion example (prompt = system? + user
query, completion = assistant answer), which TRL masks for ``completion_only_loss``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from imhi.config import format_validation_error
from imhi.io import InputError, read_jsonl
from imhi.lengths import apply_limit, count_tokens, shorten
from imhi.schema import InstructionPair
from imhi.tasks import load_task
from imhi.training.recipe import DataSpec


def split_file(folder: str | Path, split: str) -> Path:
    """``<folder>/<split>.jsonl``, or an error naming the missing file."""
    path = Path(folder) / f"{split}.jsonl"
    if not path.is_file():
        raise InputError(path, "dataset file not found (run `imhi build` first, or fix data.path)",
                         field="data.path")
    return path


def read_pairs(path: Path, tasks: list[str] | None = None) -> list[InstructionPair]:
    """Validated instruction pairs of one file, optionally only the given tasks."""
    known = set(tasks) if tasks else None
    for name in tasks or []:
        load_task(name)  # an unknown task is an error naming the prompts folder
    out = []
    for row, obj in enumerate(read_jsonl(path), start=1):
        try:
            pair = InstructionPair.model_validate(obj)
        except ValidationError as exc:
            raise InputError(path, "not an instruction pair:\n" + format_validation_error(exc),
                             row=row) from None
        if known is None or pair.task in known:
            out.append(pair)
    return out  # none: the stage says so (imhi.training.stages), naming all of its data


def conversation(pair: InstructionPair, system_prompt: str | None = None) -> dict[str, Any]:
    """A prompt-completion example from a pair's messages (query and answer as fallback)."""
    prompt = [m for m in pair.messages if m.get("role") != "assistant"]
    answers = [m for m in pair.messages if m.get("role") == "assistant"]
    if not prompt:
        prompt = [{"role": "user", "content": pair.query}]
    if system_prompt and prompt[0].get("role") != "system":
        prompt = [{"role": "system", "content": system_prompt}, *prompt]
    completion = answers[-1]["content"] if answers else pair.answer
    return {"prompt": [dict(m) for m in prompt],
            "completion": [{"role": "assistant", "content": completion}],
            "id": pair.id, "task": pair.task, "post": pair.text}


def weighted(rows: list[Any], weight: float, seed: int) -> list[Any]:
    """Repeat rows ``int(weight)`` times plus a seeded sample of the fractional part."""
    whole, frac = int(weight), weight - int(weight)
    out = rows * whole
    if frac > 0:
        rng = random.Random(seed)
        out += rng.sample(rows, round(len(rows) * frac))
    return out


def interleave_labels(pairs: list[InstructionPair]) -> list[InstructionPair]:
    """Round-robin over each task's labels, file order kept within a label: a prefix of the
    result holds every label equally (as far as each has rows)."""
    groups: dict[tuple[str, str], list[InstructionPair]] = {}
    for p in pairs:
        groups.setdefault((p.task, str(p.label)), []).append(p)
    out: list[InstructionPair] = []
    for i in range(max((len(g) for g in groups.values()), default=0)):
        out += [g[i] for g in groups.values() if i < len(g)]
    return out


def stage_rows(specs: list[DataSpec], seed: int, system_prompt: str | None = None,
               split: str = "train") -> list[dict[str, Any]]:
    """The mixed, shuffled training rows of one stage."""
    rows: list[dict[str, Any]] = []
    for i, spec in enumerate(specs):
        pairs = read_pairs(split_file(spec.path, split), spec.tasks)
        pairs = pairs[spec.skip:]
        if spec.balance_labels:
            pairs = interleave_labels(pairs)
        if spec.limit:
            pairs = pairs[: spec.limit]
        convs = [conversation(p, system_prompt) for p in pairs]
        rows += weighted(convs, spec.weight, seed + i)
    random.Random(seed).shuffle(rows)
    return rows


def _n_tokens(tok: Any, row: dict[str, Any]) -> int:
    ids = tok.apply_chat_template(row["prompt"] + row["completion"], tokenize=True)
    return len(ids["input_ids"] if hasattr(ids, "keys") else ids)


def _shorten_post(row: dict[str, Any], post: str, keep: str) -> dict[str, Any]:
    prompt = [dict(m) for m in row["prompt"]]
    user = prompt[-1]
    user["content"] = user["content"].replace(post, keep, 1)
    return {**row, "prompt": prompt, "post": keep}


def limit_posts(rows: list[dict[str, Any]], tok: Any, max_tokens: int | None,
                long_posts: str = "shorten") -> tuple[list[dict[str, Any]], int, int]:
    """Apply ``max_post_tokens`` (the tokenizer's count) to each row's post: shortened with a
    marker, or the row left out. Returns (rows, shortened, rejected)."""
    out, shortened, rejected = [], 0, 0
    for row in rows:
        post = row.get("post") or ""
        text, why = apply_limit(post, max_tokens, long_posts, tok) if post else (post, None)
        if text is None:
            rejected += 1
            continue
        if why is not None and post in row["prompt"][-1]["content"]:
            row, shortened = _shorten_post(row, post, text), shortened + 1
        out.append(row)
    return out, shortened, rejected


def fit_to_length(rows: list[dict[str, Any]], tok: Any, max_length: int | None) -> tuple[list[dict[str, Any]], int]:
    """Shorten the post (never the answer) of every row longer than ``max_length`` tokens.

    The trainer truncates from the right, which would cut the label and explanation of a long
    post; instead the post's tail is dropped (marked, see :func:`imhi.lengths.shorten`) until
    prompt + answer fit. Rows whose post is not in the last user message are left as they are.
    Returns (rows, shortened).
    """
    if not max_length or not getattr(tok, "chat_template", None):
        return rows, 0
    out, shortened = [], 0
    for row in rows:
        post, excess = row.get("post") or "", _n_tokens(tok, row) - max_length
        if excess <= 0 or not post or post not in row["prompt"][-1]["content"]:
            out.append(row)
            continue
        room = count_tokens(post, tok)
        while excess > 0 and room > 1:
            room = max(room - excess - 2, 1)
            row = _shorten_post(row, row["post"], shorten(post, room, tok))
            excess = _n_tokens(tok, row) - max_length
        out.append(row)
        shortened += 1
    return out, shortened


def check_stage_data(specs: list[DataSpec]) -> list[str]:
    """Fail early (before any model loads) on a missing file or unknown task; return tasks."""
    tasks: list[str] = []
    for spec in specs:
        pairs = read_pairs(split_file(spec.path, "train"), spec.tasks)
        for t in dict.fromkeys(p.task for p in pairs):
            load_task(t)
            if t not in tasks:
                tasks.append(t)
    return tasks
