"""Teacher prompts: seeded few-shot selection, explain / predict+explain modes, Chinese,
multi-label, expert files and hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from imhi.prompting import (
    PromptConfig,
    build_messages,
    judge_messages,
    load_pools,
    prompt_hash,
    select_shots,
)
from imhi.schema import labels_of
from imhi.sources import SourceSpec
from imhi.synthesis.pipeline import shot_sets
from imhi.tasks import load_task

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "imhi"


def test_shots_per_label_are_seeded() -> None:
    sad = load_task("sad")
    a = select_shots(sad, sad.examples, 1, seed=0)
    assert a == select_shots(sad, sad.examples, 1, seed=0)
    covered = {lab for ex in a for lab in labels_of(ex.label)}
    assert covered == {ex_label for ex in sad.examples for ex_label in labels_of(ex.label)}
    assert len(a) == len(covered)
    dr = load_task("dr")
    assert {len(select_shots(dr, dr.examples, k, 0)) for k in (1, 2)} == {2, 4}
    seeds = {tuple(ex.text for ex in select_shots(dr, dr.examples, 1, s)) for s in range(8)}
    assert len(seeds) > 1


def test_explain_and_predict_modes() -> None:
    dr = load_task("dr")
    shots = select_shots(dr, dr.examples, 1, 0)
    explain = build_messages(dr, "I feel empty.", "yes", shots, PromptConfig())
    assert [m["role"] for m in explain] == ["system"] + ["user", "assistant"] * 2 + ["user"]
    assert explain[-1]["content"].endswith("The correct answer is: Yes, the poster suffers from depression.")
    assert "Reasoning:" in explain[2]["content"] and "I feel empty." in explain[-1]["content"]
    predict = build_messages(dr, "I feel empty.", "yes", shots, PromptConfig(mode="predict_explain"))
    assert all("correct answer" not in m["content"] for m in predict[1:])
    assert "Possible answers:" in predict[0]["content"]
    assert prompt_hash(dr, shots, PromptConfig()) != prompt_hash(dr, shots, PromptConfig(mode="predict_explain"))
    assert prompt_hash(dr, shots, PromptConfig()) != prompt_hash(dr, shots[:1], PromptConfig())


def test_chinese_multi_label_prompt_and_judge() -> None:
    cd = load_task("cn_cognitive_distortion")
    shots = select_shots(cd, cd.examples, 1, 0)
    msgs = build_messages(cd, "我总是把事情搞砸", ["放大", "读心术"], shots, PromptConfig())
    assert "正确答案是：" in msgs[-1]["content"] and "理由：" in msgs[0]["content"]
    assert "读心术" in msgs[-1]["content"] and "可选答案" in msgs[0]["content"]
    judge = judge_messages(cd, "作者认定别人都在嘲笑自己。")
    assert "顿号" in judge[-1]["content"] and "作者认定" in judge[-1]["content"]


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared IMHI data not present (fresh clone)")
def test_expert_file_pool_and_alternate_shots() -> None:
    dr = load_task("dr")
    cfg = PromptConfig(k=2, expert=[SourceSpec(name="e", format="imhi", task="dr",
                                               path=str(SHARED / "expert" / "DR.csv"))])
    pools = load_pools(cfg, {"dr": dr}, None)
    assert len(pools["dr"]) == 35 and all(ex.explanation for ex in pools["dr"])
    first, alt = shot_sets(dr, pools["dr"], cfg)
    assert len(first) == len(alt) == 4
    assert not {ex.text for ex in first} & {ex.text for ex in alt}
