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
    if not out:
        raise InputError(path, f"no rows for tasks {tasks}" if tasks else "no rows", field="task")
    return out


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
            "id": pair.id, "task": pair.task}


def weighted(rows: list[Any], weight: float, seed: int) -> list[Any]:
    """Repeat rows ``int(weight)`` times plus a seeded sample of the fractional part."""
    whole, frac = int(weight), weight - int(weight)
    out = rows * whole
    if frac > 0:
        rng = random.Random(seed)
        out += rng.sample(rows, round(len(rows) * frac))
    return out


def stage_rows(specs: list[DataSpec], seed: int, system_prompt: str | None = None,
               split: str = "train") -> list[dict[str, Any]]:
    """The mixed, shuffled training rows of one stage."""
    rows: list[dict[str, Any]] = []
    for i, spec in enumerate(specs):
        pairs = read_pairs(split_file(spec.path, split), spec.tasks)
        if spec.limit:
            pairs = pairs[: spec.limit]
        convs = [conversation(p, system_prompt) for p in pairs]
        rows += weighted(convs, spec.weight, seed + i)
    random.Random(seed).shuffle(rows)
    return rows


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
