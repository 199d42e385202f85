"""The rules judge on what follows a conclusion (later sentences that contradict it, "cannot
decide" cues in both languages), multi-label verdicts in the task's label order, and the cues
that make a sentence concluding."""

from __future__ import annotations

import pytest

from imhi.judges.rules import conclusion, sentences
from imhi.tasks import load_task


def _read(task: str, text: str) -> tuple | None:
    verdict = conclusion(load_task(task), text)
    return None if verdict is None else (verdict.label, verdict.absent, verdict.reason)


@pytest.mark.parametrize(("task", "text", "label"), [
    # one label per post: a later sentence naming another label undoes the conclusion ...
    ("sad", "Overall, the stress comes from work. It is really school.", None),
    # ... even when a sentence naming the same label lies between them
    ("sad", "Overall, the stress comes from work. Work is really hard. It is really school.", None),
    # a later sentence naming the concluded label again does not
    ("sad", "Overall, the stress comes from work. Work is really hard.", "work"),
    # multi-label: a later sentence denying the label undoes it; one naming another does not
    ("mtl_emotion", "Overall, the post expresses sadness. However, it does not express sadness.", None),
    ("mtl_emotion", "Overall, the post expresses sadness. It also shows anger.", ["sadness"]),
])
def test_later_sentences_contradict_or_keep_the_conclusion(task: str, text: str, label) -> None:
    got = _read(task, text)
    assert (got[0] if got else None) == label


@pytest.mark.parametrize(("task", "text"), [
    ("dr", "Therefore, the poster suffers from depression. There is not enough information to determine this."),
    ("mtl_emotion", "Overall, the post expresses sadness. There is not enough information to determine the emotion."),
    ("cn_suicide_risk", "因此，该帖子属于高自杀风险。信息不足，无法确定。"),
    ("cn_cognitive_distortion", "因此，帖子体现了读心术。信息不足，无法确定。"),
])
def test_an_explanation_that_cannot_decide_gets_no_verdict(task: str, text: str) -> None:
    assert _read(task, text) is None
    decided = text[: text.index("。") + 1] if "。" in text else text[: text.index(".") + 1]
    assert _read(task, decided) is not None  # the same conclusion alone decides


def test_multi_label_verdicts_follow_the_task_order_not_the_alphabet() -> None:
    # task order: anger, disgust, fear, joy, sadness, surprise, neutral
    text = "Overall, the post expresses joy and sadness, but not surprise or neutral."
    assert _read("mtl_emotion", text) == (["joy", "sadness"], ("surprise", "neutral"), text)
    text = "Overall, the post does not express neutral or sadness."
    assert _read("mtl_emotion", text) == (None, ("sadness", "neutral"), text)
    text = "因此，帖子体现了读心术和非此即彼。"  # 非此即彼 comes first in the task, after 读心术 by code point
    assert _read("cn_cognitive_distortion", text) == (["非此即彼", "读心术"], (), text)


def test_no_distortion_is_an_empty_verdict_quoting_its_sentence() -> None:
    text = "因此，该帖子不存在认知扭曲。"
    assert _read("cn_cognitive_distortion", text) == ([], (), text)


def test_the_last_concluding_sentence_wins_and_an_earlier_statement_decides() -> None:
    text = "Overall, the post expresses sadness. Therefore, the post expresses anger."
    assert _read("mtl_emotion", text) == (["anger"], (), "Therefore, the post expresses anger.")
    text = "The appropriate label for this post is work. Overall, the stress comes from school."
    assert _read("sad", text) == ("work", (), "The appropriate label for this post is work.")


def test_concluding_cues() -> None:
    # "conclude" anywhere makes a sentence concluding, even with many labels
    assert _read("mtl_emotion", "We conclude the post expresses sadness.")[0] == ["sadness"]
    assert _read("mtl_emotion", "The post expresses sadness.") is None
    # two labels: a sentence with neither a cue nor the last place concludes nothing
    assert _read("dr", "The poster suffers from depression. The weather is nice today.") is None
    # a Chinese weak cue ("说明") concludes in a two-label task
    text = "该帖子说明高自杀风险。今天天气不错。"
    assert _read("cn_suicide_risk", text) == ("高自杀风险", (), "该帖子说明高自杀风险。")


def test_the_reason_is_cut_only_past_200_characters() -> None:
    head = "Therefore, the poster suffers from depression, as the post"
    text = head + " x" * ((201 - len(head)) // 2) + "."[: (201 - len(head)) % 2]
    assert len(text) == 201
    assert _read("dr", text) == ("yes", (), text[:197] + "…")


def test_a_one_letter_sentence_is_kept() -> None:
    assert sentences("Good. X") == ["Good.", "X"]


@pytest.mark.parametrize(("task", "text", "label"), [
    # a sentence after the conclusion that names no label leaves it standing
    ("sad", "Overall, the stress comes from work. The poster is tired.", "work"),
    # an earlier statement still decides past a plain sentence in between
    ("sad", "The appropriate label for this post is work. The poster is tired. Overall, the stress comes "
            "from school.", "work"),
    # a denial two sentences later still undoes a multi-label conclusion
    ("mtl_emotion", "Overall, the post expresses sadness. It also shows anger. However, it does not express "
                    "sadness.", None),
])
def test_sentences_further_away_still_count(task: str, text: str, label) -> None:
    got = _read(task, text)
    assert (got[0] if got else None) == label


def test_a_multi_label_conclusion_naming_no_label_gives_no_verdict() -> None:
    assert _read("mtl_emotion", "Overall, the weather is nice.") is None
    assert _read("mtl_emotion", "Overall, the weather is nice. The post expresses joy.") is None
