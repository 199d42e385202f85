"""The extraction steps one by one and their order (template, alias, json, classifier)."""

from __future__ import annotations

import pytest

from imhi.judges.extract import (
    extract,
    extract_many,
    first_sentence,
    label_sentence,
    step_alias,
    step_json,
    step_template,
)
from imhi.tasks import load_task

DR, EMO = load_task("dr"), load_task("mtl_emotion")
YES = "Yes, the poster suffers from depression."


def test_sentences_of_an_answer() -> None:
    assert first_sentence("  A is so. B is not.") == "A is so."
    assert first_sentence("\n\nfirst line\nsecond line") == "first line"
    assert first_sentence("Really? Yes.") == "Really?" and first_sentence("   ") == ""
    assert label_sentence(f"{YES} Reasoning: tired") == YES and label_sentence(None) == ""  # type: ignore[arg-type]


def test_template_reads_the_label_sentence_or_its_first_sentence() -> None:
    assert step_template(DR, f"{YES} Reasoning: tired") == "yes"
    assert step_template(DR, f"{YES} The rest is commentary. Reasoning: tired") == "yes"
    assert step_template(DR, "Reasoning: only a reason") is None
    assert step_template(DR, "Maybe so. Reasoning: r") is None


def test_alias_needs_exactly_one_label_and_lists_multi_labels_in_order() -> None:
    assert step_alias(DR, "The poster is depressed. Reasoning: r") == "yes"
    assert step_alias(EMO, "The post shows sadness, anger and fear.") == ["anger", "fear", "sadness"]
    assert step_alias(EMO, "Nothing here.") is None


@pytest.mark.parametrize(("text", "label"), [
    ('{"label": "yes", "confidence": 0.9}', "yes"),
    ('```json\n{"label": ["no"]}\n```', "no"),
    ('{"label": ["yes", "no"]}', None),  # one label per post
    ('{"label": []}', None),
    ('{"label": "perhaps"}', None),
    ('{"other": 1} {"label": "no"}', "no"),  # the first object with a label
    ("{not json} no label here", None),
])
def test_json_step_single_label(text: str, label: str | None) -> None:
    assert step_json(DR, text) == label


def test_json_step_multi_label() -> None:
    assert step_json(EMO, '{"label": ["sadness", "anger", "sadness"]}') == ["anger", "sadness"]
    assert step_json(EMO, '{"label": []}') == []
    assert step_json(EMO, '{"label": "joy"}') == ["joy"]
    assert step_json(EMO, '{"label": ["joy", "boredom"]}') is None


def test_steps_run_in_order_and_unknown_steps_are_named() -> None:
    text = '{"label": "no"} ' + YES
    first = extract(DR, text, ["json", "template"])
    assert (first.label, first.step) == ("no", "json")
    got = extract(DR, f"{YES} Reasoning: r", ["classifier", "template"])  # the classifier is batched elsewhere
    assert (got.label, got.step, got.parsed) == ("yes", "template", True)
    miss = extract(DR, "hmm", ["template"])
    assert (miss.label, miss.step, miss.parsed) == (None, "unparsed", False)
    with pytest.raises(ValueError, match=r"unknown extraction step 'jsn' \(known: template, alias, json, classifier\)"
                       r"; did you mean 'json'\?"):
        extract(DR, "x", ["jsn"])


def test_the_classifier_reads_unparsed_rows_batched_per_task() -> None:
    calls: list[tuple[str, list[str]]] = []

    def classify(task: str, texts: list[str]) -> list[str | None]:
        calls.append((task, texts))
        return ["yes" if "tired" in t else None for t in texts]

    items = [(DR, f"{YES} Reasoning: r"), (DR, "Hmm. Reasoning: so tired"), (EMO, "Unclear. Reasoning: calm"),
             (DR, "unsure, tired")]
    got = extract_many(items, ["template", "classifier"], classify)
    assert [(g.label, g.step) for g in got] == [("yes", "template"), ("yes", "classifier"), (None, "unparsed"),
                                                ("yes", "classifier")]
    assert calls == [("dr", ["so tired", "unsure, tired"]), ("mtl_emotion", ["calm"])]
    calls.clear()
    assert [g.step for g in extract_many(items, ["template"], classify)] == ["template"] + ["unparsed"] * 3
    assert [g.step for g in extract_many(items, ["template", "classifier"], None)] == ["template"] + ["unparsed"] * 3
    assert calls == []
