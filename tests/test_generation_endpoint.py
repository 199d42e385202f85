"""Endpoint generation through imhi.teacher against a real loopback OpenAI-compatible server."""

from __future__ import annotations

import os
from pathlib import Path

from fakeserver import FakeOpenAI

from imhi.generation import GenerationConfig, run_generation
from imhi.io import read_jsonl, write_jsonl
from imhi.teacher import OpenAITeacher

os.environ.setdefault("OPENAI_API_KEY", "sk-test")
os.environ["IMHI_NO_PROGRESS"] = "1"


def _answer(messages: list[dict[str, str]]) -> str:
    return "Yes, the poster suffers from depression. Reasoning: " + messages[-1]["content"][-12:]


def test_endpoint_generation_resumes_after_a_failed_row(tmp_path: Path) -> None:
    pairs = tmp_path / "test.jsonl"
    write_jsonl(pairs, [{"id": f"p{i}", "task": "dr", "query": f"post {i} {'FAIL' if i == 1 else ''}",
                         "label": "yes", "answer": "a"} for i in range(4)])
    out = tmp_path / "generations.jsonl"
    with FakeOpenAI(responder=_answer, faults={"FAIL": ["500"] * 3}) as server:
        endpoint = OpenAITeacher(model="served-model", base_url=server.base_url, max_retries=1,
                                 retry_min_s=0.01, retry_max_s=0.05, timeout_s=5, mask_pii=False)
        cfg = GenerationConfig(endpoint=endpoint, max_new_tokens=40)
        first = run_generation(cfg, pairs, out)
        assert first.rows == 3  # the failed row is left out, not written as an empty answer
        assert all(r["max_tokens"] == 40 for r in server.requests)
        second = run_generation(cfg, pairs, out)
        assert second.rows == 1
    rows = {r["id"]: r for r in read_jsonl(out)}
    assert sorted(rows) == ["p0", "p1", "p2", "p3"]
    assert rows["p2"]["prediction"].startswith("Yes, the poster suffers")
    assert rows["p2"]["model"] == "served-model"
