"""Label extraction: rule steps, strict JSON, unparsed (the IMHI release itself: test_imhi_release.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imhi.evaluation.references import read_reference_csv
from imhi.io import InputError
from imhi.judges.extract import UNPARSED, extract, extract_many, parse_json_answer
from imhi.tasks import load_task, load_tasks

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "imhi"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared IMHI data (../shared/data) not present")


def test_template_alias_and_unparsed() -> None:
    dr, sad = load_task("dr"), load_task("sad")
    assert extract(dr, "Yes, the poster suffers from depression. Reasoning: x").label == "yes"
    assert extract(dr, "no. Reasoning: nothing sad").label == "no"
    got = extract(sad, "The stress here is about money: a financial problem. Reasoning: debts")
    assert (got.label, got.step) == ("financial problem", "alias")
    unread = extract(dr, "I cannot tell. Reasoning: unclear")
    assert (unread.label, unread.step) == (None, UNPARSED)  # never a default class
    both = extract(sad, "It could be school or work. Reasoning: x")
    assert both.label is None


def test_negated_and_contained_mentions_are_not_read_as_the_label() -> None:
    dr, stress, sad = load_task("dr"), load_task("dreaddit"), load_task("sad")
    # the zero-shot wording of small models: no "Yes,"/"No," and a negation inside the sentence
    assert extract(dr, "The poster does not suffer from depression. They ask about a website.").label == "no"
    assert extract(stress, "The poster does not suffer from stress. They are calm.").label == "no"
    assert extract(dr, "The poster suffers from depression. They feel empty.").label == "yes"
    assert extract(dr, "The poster is not depressed. Reasoning: x").label == "no"
    assert extract(dr, "The post shows depression. Reasoning: x").label == "yes"
    assert extract(sad, "The cause is work, not school. Reasoning: x").label == "work"


def test_strict_json_answers() -> None:
    dr = load_task("dr")
    text = 'Sure!\n```json\n{"label": "Yes", "confidence": 0.8}\n```'
    assert parse_json_answer(text) == {"label": "Yes", "confidence": 0.8}
    assert extract(dr, text, ["json"]).label == "yes"
    assert extract(dr, '{"label": "maybe"}', ["json"]).label is None
    assert extract(dr, "yes", ["json"]).label is None  # JSON mode reads JSON only


def test_classifier_step_only_for_unread_answers() -> None:
    dr = load_task("dr")
    seen: list[list[str]] = []

    def classify(task: str, texts: list[str]) -> list[str | None]:
        seen.append(texts)
        return ["no"] * len(texts)

    items = [(dr, "Yes, the poster suffers from depression. Reasoning: a"), (dr, "Hmm. Reasoning: b")]
    got = extract_many(items, ["template", "alias", "classifier"], classify)
    assert [(g.label, g.step) for g in got] == [("yes", "template"), ("no", "classifier")]
    assert seen == [["b"]]  # the classifier reads the explanation of unread answers only


@needs_data
def test_ambiguous_question_names_row(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"DR.csv, row 1, field 'query'.*several tasks"):
        read_reference_csv(DATA / "test" / "DR.csv", load_tasks(["dr", "clp"]))


def test_unreadable_reference_names_file_row_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text('query,gpt-3.5-turbo\n"Consider this post: ""a"" Question: Does the poster suffer from '
                   'depression?","Yes, the poster suffers from depression. Reasoning: r"\n'
                   '"Consider this post: ""b"" Question: Does the poster suffer from depression?",'
                   '"Perhaps. Reasoning: r"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.csv, row 2, field 'gpt-3.5-turbo'"):
        read_reference_csv(bad, load_tasks(["dr"]))
