"""The ``rules`` judge (imhi.judges.rules, reading with imhi.judges.mentions) on hand-written
explanations (its flagged rate on the IMHI release: test_imhi_release.py)."""

from __future__ import annotations

from imhi.judges.rules import conclusion
from imhi.judges.verdict import Verdict, contradicts
from imhi.schema import Label
from imhi.tasks import load_task


def judge(task: str, text: str) -> Verdict | None:
    return conclusion(load_task(task), text)


def label(task: str, text: str) -> Label | None:
    verdict = judge(task, text)
    return verdict.label if verdict else None


def flags(task: str, text: str, gold: Label) -> bool:
    return contradicts(load_task(task), judge(task, text), gold)


def test_conclusion_against_the_label_is_a_contradiction() -> None:
    no_depression = ("The writer lists what to buy for a barbecue and asks how long to marinate chicken. "
                     "Nothing in it speaks of low mood or lost interest, so there is no indication of depression.")
    assert label("dr", no_depression) == "no"
    assert flags("dr", no_depression, "yes") and not flags("dr", no_depression, "no")
    stressed = ("The writer has three deadlines this week, sleeps four hours a night and says they cannot keep "
                "up. Overall, the poster is clearly under stress.")
    assert label("dreaddit", stressed) == "yes"
    assert flags("dreaddit", stressed, "no") and not flags("dreaddit", stressed, "yes")


def test_negated_mention_is_not_a_contradiction() -> None:
    text = "The post shows no signs of joy; it shows deep depression after the move abroad."
    assert label("dr", text) == "yes" and not flags("dr", text, "yes")
    emotions = "Overall, the post shows no signs of joy; it shows deep sadness about losing the old dog."
    verdict = judge("mtl_emotion", emotions)
    assert verdict is not None and verdict.label == ["sadness"] and verdict.absent == ("joy",)
    assert not flags("mtl_emotion", emotions, ["sadness"]) and flags("mtl_emotion", emotions, ["joy", "sadness"])
    # a negated piece of evidence is not a negated conclusion
    evidence = "The writer no longer enjoys football and sleeps all day. This points to depression."
    assert label("dr", evidence) == "yes"
    assert label("dr", "Not being able to enjoy anything anymore suggests depression.") is None


def test_label_stated_outright() -> None:
    assert label("dreaddit", "The writer is planning a picnic. Therefore, the assigned label would be 'No'.") == "no"
    sad = ("The writer mentions a new manager and a long commute. This suggests work. However, the money they "
           "lost is the real worry: the appropriate label for this post is financial problem.")
    assert label("sad", sad) == "financial problem"
    statement_first = ("I have assigned the label Everyday decision making, as the writer cannot choose a flat. "
                       "This suggests they also worry about their job.")
    assert label("sad", statement_first) == "everyday decision making"
    denied = "It would not be appropriate to assign the label of school, as exams are not mentioned."
    assert label("sad", denied) is None  # a denied label of a many-label task names none


def test_concessive_clause_is_not_what_is_asserted() -> None:
    calm = ("Although the exam period was stressful, the poster now sleeps well and plans a holiday. "
            "Therefore, the poster does not appear to be under stress.")
    assert label("dreaddit", calm) == "no" and flags("dreaddit", calm, "yes")
    stressed = "Although the poster says there is no stress at work, the evenings are full of dread and stress."
    assert label("dreaddit", stressed) == "yes"


def test_many_labels_need_a_conclusion_not_evidence() -> None:
    evidence = "The writer fights with their sister every night. This suggests family issues."
    assert label("sad", evidence) is None  # "this suggests" is evidence where there are nine labels
    concluded = "The writer fights with their sister every night. Therefore, the stress comes from family issues."
    assert label("sad", concluded) == "family issues"
    assert flags("sad", concluded, "work") and not flags("sad", concluded, "family issues")


def test_no_verdict_cases() -> None:
    assert judge("dr", "") is None
    assert judge("dr", "The writer asks which bike lock to buy.") is None
    assert judge("dr", "It is difficult to determine whether the poster suffers from depression.") is None
    assert judge("irf_pb", "The writer calls themselves useless, which can contribute to perceived "
                           "burdensomeness.") is None
    undecided = ("There is not enough information to determine the writer's state. The post does not show "
                 "signs of stress.")
    assert judge("dreaddit", undecided) is None
    # in a wellness-dimension task, a lack *in* the dimension is still the dimension discussed
    assert judge("multiwd_intellectual", "The writer stopped reading and quit the course, which suggests "
                                         "a lack of fulfillment in the intellectual aspect of wellness.") is None
    assert label("multiwd_social", "There is no mention of friends or family, therefore the social "
                                   "dimension of wellness does not exist in this post.") == "no"


def test_chinese_two_labels() -> None:
    high = "作者反复说不想活了，还在安排告别。因此，该作者属于高自杀风险。"
    assert label("cn_suicide_risk", high) == "高自杀风险"
    low = "作者虽然心情低落，但没有流露轻生的念头或计划。综上，作者属于低自杀风险。"
    assert label("cn_suicide_risk", low) == "低自杀风险"
    assert flags("cn_suicide_risk", low, "高自杀风险") and not flags("cn_suicide_risk", low, "低自杀风险")
    denied = "帖子主要在抱怨加班。综上所述，该帖子并不属于高自杀风险。"
    assert label("cn_suicide_risk", denied) == "低自杀风险"  # a denied label of a two-label task asserts the other
    assert judge("cn_suicide_risk", "因此，作者可能存在高自杀风险。") is None  # hedged
    assert judge("cn_suicide_risk", "信息不足，无法判断作者是否属于高自杀风险。") is None


def test_chinese_many_labels() -> None:
    both = "作者断定自己以后一定会失败，又把一次小失误说成天大的事。因此，该帖子存在先知错误和放大。"
    verdict = judge("cn_cognitive_distortion", both)
    assert verdict is not None and verdict.label == ["先知错误", "放大"]
    assert not flags("cn_cognitive_distortion", both, ["先知错误", "放大"])
    denied = "作者只是描述自己的感受，并没有揣测别人怎么看自己。因此，该帖子不存在读心术，属于情绪化推理。"
    verdict = judge("cn_cognitive_distortion", denied)
    assert verdict is not None and verdict.label == ["情绪化推理"] and verdict.absent == ("读心术",)
    assert flags("cn_cognitive_distortion", denied, ["读心术"])  # the gold label is denied
    none = "帖子只是在分享周末的安排，语气平和。综上，该帖子不存在认知扭曲。"
    verdict = judge("cn_cognitive_distortion", none)
    assert verdict is not None and verdict.label == []
    assert not flags("cn_cognitive_distortion", none, []) and flags("cn_cognitive_distortion", none, ["以偏概全"])
    assert label("cn_cognitive_distortion", "总的来说，帖子中没有明显的认知扭曲。") == []  # a none cue
    assert judge("cn_cognitive_distortion", "这说明作者有以偏概全的倾向。") is None  # evidence, not a conclusion
