"""The rules judge's pieces: cutting sentences, the reason a verdict quotes, multi-label verdicts."""

from __future__ import annotations

import pytest

from imhi.judges.rules import RulesJudge, conclusion, sentences
from imhi.tasks import load_task


@pytest.mark.parametrize(("text", "cut"), [
    ("He is sad. She is not. They left", ["He is sad.", "She is not.", "They left"]),
    ("Line one\nLine two.", ["Line one", "Line two."]),
    ("Really?Yes it is.", ["Really?", "Yes it is."]),  # "?" selects the full cutter
    ("Wow!Great news.", ["Wow!", "Great news."]),  # so does "!"
    ("我很好。你呢", ["我很好。", "你呢"]),  # and non-ASCII text
    ("reach out.They mention it", ["reach out.", "They mention it"]),  # glued sentences
    ("I said \"stop.\" Then left.", ["I said \"stop.", "Then left."]),  # a closing quote goes with the cut
    ("Good.\n...\n2.\n- \n* x", ["Good.", "* x"]),  # bullets, numbers and dots alone are no sentence
    ("", []),
])
def test_sentences(text: str, cut: list[str]) -> None:
    assert sentences(text) == cut


def test_a_decimal_point_is_no_sentence_end() -> None:
    assert sentences("Version 2.0 is out. ok") == ["Version 2.0 is out.", "ok"]


def test_the_reason_quotes_the_sentence_up_to_200_characters() -> None:
    dr = load_task("dr")
    head = "Therefore, the poster suffers from depression, as the post"
    short = head + " x" * ((200 - len(head)) // 2) + "."[: (200 - len(head)) % 2]
    assert len(short) == 200
    verdict = conclusion(dr, "I feel low. " + short)
    assert verdict is not None and verdict.label == "yes" and verdict.reason == short
    long = short + " and more words follow here"
    verdict = conclusion(dr, long)
    assert verdict is not None and verdict.reason == long[:197] + "…" and len(verdict.reason) == 198


def test_multi_label_verdicts_list_labels_in_the_task_order() -> None:
    emo = load_task("mtl_emotion")
    verdict = conclusion(emo, "Overall, the post expresses sadness and fear, but not joy or anger.")
    assert verdict is not None
    assert verdict.label == ["fear", "sadness"] and verdict.absent == ("anger", "joy")
    assert verdict.reason == "Overall, the post expresses sadness and fear, but not joy or anger."


def test_the_judge_reads_each_explanation() -> None:
    judge = RulesJudge()
    dr = load_task("dr")
    got = judge.read(dr, ["Therefore, the poster suffers from depression.", "Nice weather.",
                          "Therefore, the poster does not suffer from depression."])
    assert [v.label if v else None for v in got] == ["yes", None, "no"]
    assert judge.name == "rules" and judge.batched is False and judge.close() is None
