"""Teacher-mode builds end to end against a real loopback OpenAI-compatible server."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fakeserver import FakeOpenAI, default_responder

from imhi.config import load_recipe
from imhi.io import dump_yaml, read_jsonl
from imhi.synthesis.pipeline import run_teacher
from imhi.synthesis.recipe import BuildRecipe

os.environ["IMHI_NO_PROGRESS"] = "1"
REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "imhi" / "sample" / "posts.jsonl"


def write_recipe(tmp: Path, base_url: str, **extra: Any) -> Path:
    """A teacher recipe over the bundled sample (90 posts, 4 tasks)."""
    data: dict[str, Any] = {
        "name": "t", "mode": "teacher",
        "sources": [{"name": "sample", "format": "jsonl", "path": str(SAMPLE),
                     "columns": {"text": "text", "label": "label", "id": "id", "task": "task",
                                 "split": "split"}}],
        "teacher": {"kind": "openai", "model": "fake", "base_url": base_url, "concurrency": 8,
                    "retry_min_s": 0.01, "max_retries": 2, "timeout_s": 5},
        "prompting": {"k": 1, "seed": 3},
        "filters": {"regenerations": 1},
    }
    for key, value in extra.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp / "recipe.yaml"
    path.write_text(dump_yaml(data), encoding="utf-8")
    return path


def build(recipe: Path, run: Path) -> Path:
    return run_teacher(load_recipe(recipe, BuildRecipe), recipe.parent, run)


def scripted(messages: list[dict[str, str]]) -> str:
    """Default replies, except: sample-dr-003 hedges on its first try, sample-sad's
    "financial" posts get a wrong label every time (dropped by correctness)."""
    last = messages[-1]["content"]
    reply = default_responder(messages)
    if "Short one. I feel empty." in last:
        key = "hedge-served"
        if key not in scripted.state:  # type: ignore[attr-defined]
            scripted.state.add(key)  # type: ignore[attr-defined]
            return reply.replace("Reasoning: ", "Reasoning: It is not possible to determine this. ")
    if "correct answer is: This post shows the stress cause related to financial problem" in last:
        return "This post shows the stress cause related to school. Reasoning: The poster talks " \
               "about their homework and exams, which are the main worries here overall."
    return reply


scripted.state = set()  # type: ignore[attr-defined]


def test_teacher_build_filters_regenerates_and_resumes(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-written-anywhere")
    scripted.state.clear()  # type: ignore[attr-defined]
    with FakeOpenAI(responder=scripted) as server:
        recipe = write_recipe(tmp_path, server.base_url)
        run = build(recipe, tmp_path / "run")
        first = len(server.requests)
        rows = {s: list(read_jsonl(run / "dataset" / f"{s}.jsonl")) for s in ("train", "valid", "test")}
        rejected = list(read_jsonl(run / "rejected.jsonl"))
        report = (run / "build_report.md").read_text()
        kept = sum(len(v) for v in rows.values())
        finals = [r for r in rejected if r["final"]]
        assert kept + len(finals) == 90
        assert finals and all(r["filter"] == "correctness" for r in finals)
        assert {r["attempt"] for r in finals} == {1}  # dropped only after its regeneration
        hedged = [r for r in rejected if r["filter"] == "hedge"]
        assert len(hedged) == 1 and not hedged[0]["final"]
        assert any(r["id"] == hedged[0]["id"] for r in rows["train"])  # kept after regeneration
        pair = rows["train"][0]
        assert pair["teacher"] == "fake" and pair["provenance"]["prompt_hash"]
        assert "Reasoning:" in pair["answer"] and pair["messages"][-1]["role"] == "assistant"
        assert "| dr |" in report and "correctness" in report and "regenerations" in report
        assert (run / "dataset" / "hf").is_dir() and (run / "dataset" / "README.md").is_file()
        # rerun: nothing sent, identical dataset
        before = {s: (run / "dataset" / f"{s}.jsonl").read_bytes() for s in ("train", "valid", "test")}
        build(recipe, tmp_path / "run")
        assert len(server.requests) == first
        after = {s: (run / "dataset" / f"{s}.jsonl").read_bytes() for s in ("train", "valid", "test")}
        assert before == after
        manifest = json.loads((run / "manifest.json").read_text())
        assert manifest["counts"]["teacher"]["sent"] == 0
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert b"sk-never-written-anywhere" not in path.read_bytes(), path


def test_predict_explain_mode_and_consistency_judges(tmp_path: Path) -> None:
    """The rules judge (free) drops an explanation whose own conclusion says "no"; the opt-in
    LLM judge's natural reply ("The poster does not suffer …", no "No," and no exact answer
    sentence) is read and drops another; every verdict reaches rejected.jsonl and the report."""
    def predict(messages: list[dict[str, str]]) -> str:
        last = messages[-1]["content"]
        if "Which answer does the explanation support?" in last:
            return "The poster does not suffer from depression." if "MISLEAD" in last else \
                "I think the explanation supports the first answer: the poster suffers from depression."
        assert "correct answer is" not in last  # no gold label in predict+explain mode
        tail = " MISLEAD" if "guitar" in last else ""
        ending = " It contains no emotional content, so there is no indication of depression." \
            if "therapist asked" in last else ""
        return ("Yes, the poster suffers from depression. Reasoning: The author describes a long "
                f"loss of interest and persistent low mood {abs(hash(last)) % 9999}{tail}.{ending}")

    with FakeOpenAI(responder=predict) as server:
        recipe = write_recipe(tmp_path, server.base_url, tasks=["dr"], prompting={"mode": "predict_explain"},
                              filters={"regenerations": 0, "judge": ["rules", "llm"]},
                              min_kept=0.1)  # the scripted teacher says "yes" to every post
        run = build(recipe, tmp_path / "run")
        rejected = [r for r in read_jsonl(run / "rejected.jsonl") if r["filter"] == "consistency"]
        by_judge = {j for r in rejected for j in r["verdicts"] if "judge read" in r["reason"] and j in r["reason"]}
        assert by_judge == {"rules", "llm"}, rejected
        therapist = next(r for r in rejected if "rules judge read 'no'" in r["reason"])
        assert "no indication of depression" in therapist["verdicts"]["rules"]
        judged = [b for b in server.requests if "Which answer" in b["messages"][-1]["content"]]
        assert judged  # a second LLM call per surviving row
        kept = list(read_jsonl(run / "dataset" / "train.jsonl"))
        assert kept and all(p["label"] == "yes" for p in kept)
        assert not any("therapist asked" in p["text"] or "MISLEAD" in p["answer"] for p in kept)
        report = (run / "build_report.md").read_text()
        assert "| dr | rules |" in report and "| dr | llm |" in report


def test_teacher_recipes_validate_and_errors_name_the_key(tmp_path: Path) -> None:
    import pytest

    from imhi.io import InputError

    for name in ("imhi", "c-imhi", "mtl-swmh", "demo"):
        spec = load_recipe(REPO / "build_dataset" / f"{name}.yaml", BuildRecipe)
        assert spec.mode == "teacher" and spec.teacher is not None
    assert len(load_recipe(REPO / "build_dataset" / "imhi.yaml", BuildRecipe).prompting.expert) == 5
    recipe = write_recipe(tmp_path, "http://127.0.0.1:9/v1")
    with pytest.raises(InputError, match=r"teacher: .*unknown key .concurency.*did you mean .concurrency"):
        load_recipe(recipe, BuildRecipe, ["teacher.concurency=4"])
    with pytest.raises(InputError, match="needs a 'teacher:' section"):
        load_recipe(recipe, BuildRecipe, ["teacher=null"])
    with pytest.raises(InputError, match="filters.use.0"):
        load_recipe(recipe, BuildRecipe, ["filters.use=[spelling]"])
    with pytest.raises(InputError, match=r"unknown filter 'consistensy' \(known: empty, .*did you mean 'consistency'"):
        load_recipe(recipe, BuildRecipe, ["filters.use=[consistensy]"])
    with pytest.raises(InputError, match=r"unknown judge 'rule' .*did you mean 'rules'"):
        load_recipe(recipe, BuildRecipe, ["filters.judge=[rule]"])
