"""The filters one by one: phrase lists built afresh (the module's own are built at import),
sizes in both languages, reasons word for word, late filters, phases and the registry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from imhi.judges import Verdict
from imhi.synthesis.filters import (
    ECHOES,
    FILTERS,
    HEDGES,
    OTHER_EXAMPLES,
    Candidate,
    Context,
    FilterConfig,
    Phrases,
    _top_level,
    contradicting,
    first_failure,
    in_phase,
    needs,
    prepare,
)
from imhi.tasks import load_task

DR, CD = load_task("dr"), load_task("cn_cognitive_distortion")
EXPL = "The author describes months of low mood and avoiding friends, which points to depression."


def _cand(explanation: str = EXPL, task=DR, gold: object = "yes", stated: object = "yes", raw: str = "Yes.",
          marker: bool = True, finish: str | None = "stop") -> Candidate:
    return Candidate(id="x", task=task, gold=gold, raw=raw, stated=stated, explanation=explanation,  # type: ignore[arg-type]
                     marker=marker, finish_reason=finish)


def _reason(name: str, c: Candidate, **cfg: object) -> str | None:
    return FILTERS[name].fn(c, Context(FilterConfig.model_validate(cfg)))


def test_top_level_splits_only_outside_groups_and_escapes() -> None:
    assert _top_level(r"a|b(?:c|d)|\(e|f\)|g\|h") == ["a", "b(?:c|d)", r"\(e", r"f\)", r"g\|h"]
    assert _top_level("(x|(y|z))|w") == ["(x|(y|z))", "w"]
    assert _top_level("") == [""]


@pytest.mark.parametrize("phrases", [HEDGES, ECHOES, OTHER_EXAMPLES])
def test_phrases_built_afresh_equal_the_full_pattern(phrases: Phrases) -> None:
    fresh = Phrases(phrases.full.pattern)
    texts = ["The Response shows", "a lathe response", "As an AI, I", "see Example 2", "counterexample 3",
             "the first examples", "NOT POSSIBLE to determine", "İ the response", "正确答案是 yes", "作为AI",
             "x_the prompt", "the prompt", "mythe prompt and the prompt", "nothing here", "", "信息不足",
             "same reasoning as before", "the same reasoning as", "ẞ the instructions", "you gave it",
             "Hard to say.", "1the response", "同上", "We cannot determine it", "the second case"]
    for t in texts:
        m = fresh.full.search(t)
        assert fresh.search(t) == (m.group(0) if m else None), t
    assert fresh.search("mythe prompt and the prompt") in (None, "the prompt")


def test_phrases_boundary_fallback_and_case() -> None:
    p = Phrases(r"\bcat\b|dog|\bbird")
    assert p.search("concat then Cat") == "Cat"  # "cat" inside a word wanted a boundary
    assert p.search("hotdog") == "dog"  # no boundary asked for
    assert p.search("_bird x") is None and p.search("a BIRD") == "BIRD"
    assert p.search("bobcat") is None
    assert p.search("İ cat") == "cat"  # lower case changes length: the full pattern decides
    assert p.fast.pattern == "(?P<b0>cat\\b)|(?:dog)|(?P<b2>bird)"


def test_sizes_and_length_reasons() -> None:
    assert _reason("length", _cand("one two three"), min_words=4) == "too short (3 < 4 words)"
    assert _reason("length", _cand("one two three"), min_words=3) is None
    assert _reason("length", _cand("one two three"), min_words=1, max_words=3) is None
    assert _reason("length", _cand("one two three"), min_words=1, max_words=2) == "too long (3 > 2 words)"
    zh = _cand("作者  认定别人都在嘲笑自己", task=CD)  # 12 characters without spaces: 6 "words"
    assert _reason("length", zh, min_words=7) == "too short (6 < 7 words)"
    assert _reason("length", zh, min_words=6) is None


def test_empty_and_truncated_reasons() -> None:
    assert _reason("empty", _cand(raw="  \n")) == "empty reply"
    assert _reason("empty", _cand(" ")) == "no explanation after the label sentence"
    assert _reason("empty", _cand()) is None
    assert _reason("truncated", _cand(finish="length")) == "reply hit the token limit (finish_reason=length)"
    text = "The author describes months of low mood and avoiding"
    assert _reason("truncated", _cand(text + "  ")) == f"ends mid-sentence: '…{text[-30:]}'"
    for end in (".", "!", "?", "。", "…", ")", "”", "*", "」"):
        assert _reason("truncated", _cand(text + end)) is None
    assert _reason("truncated", _cand("")) is None


def test_no_reasoning_reasons() -> None:
    no_marker = "label sentence without reasoning"
    assert _reason("no_reasoning", _cand("Sad post.", marker=False)) == no_marker
    assert _reason("no_reasoning", _cand("Sad post.", marker=True)) is None
    assert _reason("no_reasoning", _cand("Sad post.", marker=False, stated=None)) is None
    assert _reason("no_reasoning", _cand("A sad post here.", marker=False)) is None  # three words
    restated = "the explanation only restates the label"
    assert _reason("no_reasoning", _cand("Yes, the poster suffers from depression.")) == restated
    assert _reason("no_reasoning", _cand("Yes, the poster suffers from depression, as said")) == restated
    long = "Yes, the poster suffers from depression because of months of low mood and lost sleep"
    assert _reason("no_reasoning", _cand(long)) is None  # 15 words: more than the label
    assert _reason("no_reasoning", _cand(EXPL)) is None


def test_correctness_hedge_echo_and_example_reasons() -> None:
    assert _reason("correctness", _cand(stated="no")) == "teacher said 'no', gold is 'yes'"
    assert _reason("correctness", _cand(stated=None)) == "no readable label sentence"
    assert _reason("correctness", _cand()) is None
    assert _reason("hedge", _cand("It is Hard to say.")) == "hedge: 'Hard to say'"
    assert _reason("prompt_echo", _cand("As an AI, I see.")) == "prompt echo: 'As an AI'"
    assert _reason("example_reference", _cand("Like the Second example.")) == \
        "refers to another example: 'Second example'"
    for name in ("hedge", "prompt_echo", "example_reference"):
        assert _reason(name, _cand()) is None


def test_consistency_and_contradicting() -> None:
    c = _cand()
    c.verdicts = {"rules": Verdict("no", "no sign"), "llm": Verdict("yes", "yes"), "classifier": None}
    assert _reason("consistency", c) == "rules judge read 'no' (no sign); gold is 'yes'"
    assert contradicting(c) == ["rules"]
    c.verdicts = {"rules": Verdict("no", "a"), "llm": Verdict("no", "b")}
    assert _reason("consistency", c) == "rules judge read 'no' (a); llm judge read 'no' (b); gold is 'yes'"
    assert contradicting(c) == ["rules", "llm"]
    c.verdicts = {"rules": Verdict("yes", "fine"), "llm": Verdict(None, "", error="timeout")}
    assert _reason("consistency", c) == "llm judge failed: timeout"
    c.verdicts = {"rules": None}
    assert _reason("consistency", c) is None and contradicting(c) == []


def test_quality_threshold() -> None:
    c = _cand()
    assert _reason("quality", c, quality_threshold=-3.0) is None  # no score
    c.score = -3.0
    assert _reason("quality", c, quality_threshold=-3.0) is None  # at the threshold
    assert _reason("quality", c) is None  # no threshold
    c.score = -3.25
    assert _reason("quality", c, quality_threshold=-3.0) == "quality score -3.250 < -3.0"


def test_phases_needs_and_the_registry() -> None:
    names = list(FILTERS)
    assert in_phase(names, "row") == ["empty", "truncated", "no_reasoning", "correctness", "hedge", "prompt_echo",
                                      "example_reference", "length"]
    assert in_phase(names, "late") == ["consistency", "quality"]
    assert in_phase(names, "late", frozenset({"judges"})) == ["consistency"]
    assert in_phase(names, "set") == ["exact_duplicate", "near_duplicate"]
    assert needs(names, "judges") and needs(["quality"], "scorer") and not needs(["empty", "nope"], "judges")
    assert not needs(["consistency"], "scorer")
    with pytest.raises(ValidationError, match="did you mean.*hedge"):
        FilterConfig(use=["hedges"])
    with pytest.raises(ValidationError, match="each judge kind at most once"):
        FilterConfig.model_validate({"judge": [{"kind": "rules"}, {"kind": "rules"}]})


def test_prepare_and_first_failure_in_order() -> None:
    ctx = Context(FilterConfig())
    c = _cand()
    prepare(c, ctx, ["empty", "near_duplicate"])
    ctx.index.add("kept", EXPL)
    assert first_failure(_cand(), ctx, ["empty", "near_duplicate", "exact_duplicate"])[0] == "near_duplicate"
    assert first_failure(_cand(""), ctx, ["length", "empty"]) == ("length", "too short (0 < 8 words)")
    assert first_failure(_cand(), ctx, ["empty", "length"]) is None


def test_boundaries_of_the_word_counts_and_the_phrase_fallback() -> None:
    assert _reason("no_reasoning", _cand("A sad post.", marker=False)) is None  # three words are reasoning
    assert _reason("no_reasoning", _cand("Sad post...", marker=False)) == "label sentence without reasoning"
    twelve = "Yes, the poster suffers from depression, as the post plainly says so"
    assert len(twelve.split()) == 12 and _reason("no_reasoning", _cand(twelve)) is None
    eleven = "Yes, the poster suffers from depression, as the post plainly says"
    assert _reason("no_reasoning", _cand(eleven + ".")) == "the explanation only restates the label"
    assert Phrases(r"\bcat").search("-xcat") is None  # the character just before decides
    with pytest.raises(ValidationError, match="unknown filter 'hedges'"):
        FilterConfig(use=["hedges"])
