"""Label extraction: rule steps, strict JSON, unparsed, and 100% of the IMHI references."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imhi.evaluation.references import read_reference_csv
from imhi.io import InputError
from imhi.judges.extract import UNPARSED, extract, extract_many, parse_json_answer
from imhi.tasks import load_task, load_tasks

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "imhi"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason="shared IMHI data (../shared/data) not present")
FILES = {"DR": ["dr"], "dreaddit": ["dreaddit"], "SAD": ["sad"], "Irf": ["irf_tb", "irf_pb"],
         "MultiWD": [f"multiwd_{d}" for d in
                     ("spiritual", "physical", "intellectual", "social", "vocational", "emotional")]}


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
@pytest.mark.parametrize("kind", ["test", "complete"])
@pytest.mark.parametrize("name", list(FILES))
def test_every_reference_maps_to_its_gold(kind: str, name: str) -> None:
    """Every reference answer is read by the rule steps, and the completion-style file of the
    same posts yields the same labels as the full-sentence test file (an independent gold)."""
    tasks = load_tasks(FILES[name])
    rows = read_reference_csv(DATA / kind / f"{name}.csv", tasks)
    assert rows and all(r["label"] in tasks[r["task"]].label_names for r in rows)
    if kind == "complete":
        gold = {(_post(r["query"]), r["task"]): r["label"]
                for r in read_reference_csv(DATA / "test" / f"{name}.csv", tasks)}
        keys = [(_post(r["query"]), r["task"]) for r in rows]
        matched = [(gold[k], r["label"]) for k, r in zip(keys, rows, strict=True) if k in gold]
        assert len(matched) >= 0.95 * len(rows)
        assert all(g == p for g, p in matched)


def _post(query: str) -> str:
    body = re.sub(r'^(Consider this post: "|Post: )', "", query).rsplit("Question:", 1)[0]
    return re.sub(r"\s+", " ", body).strip().rstrip('"').strip()[:80]


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
