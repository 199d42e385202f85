"""Agreement of an answer with its own explanation, in ``imhi eval``'s scoring, on hand-made answers."""

from __future__ import annotations

import json
from pathlib import Path

from imhi.evaluation.score import MetricsConfig, score_generations
from imhi.io import read_jsonl

ROWS = [
    # states yes, explains yes
    ("a", "yes", "Yes, the poster suffers from depression. Reasoning: They describe months of emptiness "
                 "and no longer enjoy anything. Overall, these are clear signs of depression."),
    # states yes, explains no: the case an explainable classifier must be caught on
    ("b", "yes", "Yes, the poster suffers from depression. Reasoning: The post is about planning a trip with "
                 "friends. It contains no emotional content, so there is no indication of depression."),
    # states no, explains no, with a negated mention that is not a contradiction
    ("c", "no", "No, the poster does not suffer from depression. Reasoning: They mention a bad week at work "
                "but sound upbeat. Therefore, the post does not show any signs of depression."),
    # states no, concludes nothing: no verdict, not counted
    ("d", "no", "No, the poster does not suffer from depression. Reasoning: They ask for bike tips."),
    # unparsed: stated no label, not counted
    ("e", "no", "I am not sure what to say about this one."),
]


def test_agreement_per_task_and_per_row(tmp_path: Path) -> None:
    gen = tmp_path / "generations.jsonl"
    gen.write_text("\n".join(json.dumps({"id": i, "task": "dr", "label": gold, "prediction": text,
                                         "model": "hand"}) for i, gold, text in ROWS), encoding="utf-8")
    scores = score_generations(gen, tmp_path / "out", MetricsConfig(n_boot=10, plots=False))
    assert scores["dr"]["agreement_n"] == 3
    assert abs(scores["dr"]["agreement"] - 2 / 3) < 1e-9
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "out" / "predictions.jsonl")}
    assert [rows[k]["explanation_agrees"] for k in "abcde"] == [True, False, True, None, None]
    assert "no indication of depression" in rows["b"]["explanation_verdicts"]["rules"]
    assert "agreement" in (tmp_path / "out" / "report.md").read_text()
    off = score_generations(gen, tmp_path / "off", MetricsConfig(n_boot=10, plots=False, agreement=False))
    assert "agreement" not in off["dr"]
