"""The task catalogue under prompts/: every task loads, its examples are valid, and its
answer sentences round-trip; against the published data (skipped when absent), every
IMHI release row's question maps to exactly one task and its reference label parses.

Reads prompts/ and, when present, ../shared/data; writes nothing.
"""

from __future__ import annotations

import csv
import itertools
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from imhi.sources import question_index
from imhi.tasks import TaskSpec, load_tasks, normalize, split_reasoning

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
IMHI = DATA / "imhi"
needs_data = pytest.mark.skipif(not IMHI.is_dir(), reason=f"published data not found at {DATA}")

# Tasks IMHI asks with the same question as another task: CLP reuses DR's wording.
SAME_QUESTION_AS = {"clp": "dr"}
# Which tasks each IMHI release file belongs to (file stem → task names).
RELEASE_TASKS = {
    "DR": {"dr"},
    "dreaddit": {"dreaddit"},
    "SAD": {"sad"},
    "Irf": {"irf_tb", "irf_pb"},
    "MultiWD": {f"multiwd_{d}" for d in
                ("spiritual", "physical", "intellectual", "social", "vocational", "emotional")},
}
EXPECTED_TASKS = {
    "dr", "clp", "dreaddit", "swmh", "tsid", "sad", "cams", "loneliness", "irf_tb", "irf_pb",
    "cn_suicide_risk", "cn_cognitive_distortion", "mtl_problem", "mtl_emotion", "mtl_sentiment",
    "safety_si10", "safety_si_binary", *RELEASE_TASKS["MultiWD"],
}
TASKS = load_tasks()


def _sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.。!?！？])\s*", text) if s.strip()])


def _labels(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_catalogue_has_every_task() -> None:
    assert set(TASKS) >= EXPECTED_TASKS, EXPECTED_TASKS - set(TASKS)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_examples_cover_every_label_twice(name: str) -> None:
    task = TASKS[name]
    counts = Counter(lab for ex in task.examples for lab in _labels(ex.label))
    assert {n: counts[n] for n in task.label_names if counts[n] < 2} == {}
    for ex in task.examples:
        assert task.check_label(ex.label) == ex.label  # stored under the canonical name
        assert 2 <= _sentences(ex.explanation) <= 4, ex.explanation
    if task.multi_label:
        assert any(len(_labels(ex.label)) > 1 for ex in task.examples), "no multi-label example"


@pytest.mark.parametrize("name", sorted(TASKS))
def test_label_descriptions_and_prompt(name: str) -> None:
    task = TASKS[name]
    assert all(lab.description.strip() for lab in task.labels)
    assert task.system_prompt.strip() and task.description.strip()


def _round_trip(task: TaskSpec, label: str | list[str]) -> str | list[str] | None:
    answer = task.render_answer(label, "Because the post says so.")
    sentence, explanation = split_reasoning(answer)
    assert explanation == "Because the post says so."
    return task.parse_label_sentence(sentence)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_answer_sentences_round_trip(name: str) -> None:
    task = TASKS[name]
    if not task.multi_label:
        for lab in task.label_names:
            assert _round_trip(task, lab) == lab
            assert task.parse_label_sentence(lab + ".") == lab  # completion-style answer
        return
    names = task.label_names
    combos = [[n] for n in names] + [list(c) for c in itertools.combinations(names, 2)]
    combos += [names, []] if task.none_answer else [names]
    for combo in combos:
        assert _round_trip(task, combo) == combo


def test_questions_name_one_task() -> None:
    seen: dict[str, str] = {}
    for name, task in TASKS.items():
        for q in [task.question, *task.question_variants]:
            other = seen.setdefault(normalize(q), name)
            assert other == name or SAME_QUESTION_AS.get(name) == other \
                or SAME_QUESTION_AS.get(other) == name, f"{name} and {other} share '{q}'"


def test_shared_question_names_both_tasks() -> None:
    """CLP shares DR's wording: the index keeps both, so a source must say which it reads."""
    index = question_index(TASKS)
    assert index[normalize(TASKS["dr"].question)] == ["clp", "dr"]
    for variant in TASKS["dr"].question_variants:
        assert index[normalize(variant)] == ["clp", "dr"]


def test_chinese_tasks_are_chinese() -> None:
    for name in ("cn_suicide_risk", "cn_cognitive_distortion"):
        task = TASKS[name]
        assert task.language == "zh"
        assert all("\u4e00" <= ch <= "\u9fff" for ch in task.label_names[0])
        assert "理由：" in task.render_answer(task.examples[0].label, "x")


@cache
def _release_files() -> list[Path]:
    return sorted(IMHI.glob("**/*.csv"))


def _read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _question_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for name, task in TASKS.items():
        if name in SAME_QUESTION_AS:
            continue
        for q in [task.question, *task.question_variants]:
            index[normalize(q)] = name
    return index


@needs_data
def test_imhi_release_rows_map_and_parse() -> None:
    """Every row of every IMHI release file: question → one task, reference → a label."""
    index = _question_index()
    report = []
    for path in _release_files():
        rows = _read_rows(path)
        stem = path.stem if path.parent.parent.name != "train" else path.parent.name
        labels: Counter[str] = Counter()
        for i, row in enumerate(rows, start=2):
            question = normalize(row["query"].rsplit("Question:", 1)[-1])
            name = index.get(question)
            assert name in RELEASE_TASKS[stem], f"{path}:{i} question maps to {name}"
            sentence = split_reasoning(row["gpt-3.5-turbo"])[0]
            label = TASKS[name].parse_label_sentence(sentence)
            assert label is not None, f"{path}:{i} unparsed label sentence {sentence[:80]!r}"
            labels[label] += 1
        assert rows and sum(labels.values()) == len(rows)
        report.append(f"{path.relative_to(IMHI)}: {len(rows)} rows, {dict(labels)}")
    assert len(report) == 21
    print("\n".join(report))


@needs_data
def test_chinese_and_safety_labels_map() -> None:
    """Raw labels of the Chinese and safety files are canonical labels (or aliases) of the tasks."""
    risk = TASKS["cn_suicide_risk"]
    for path in sorted((DATA / "cn").glob("sos_hl_suicide_*.jsonl")):
        with path.open(encoding="utf-8") as f:
            for i, line in enumerate(f, start=1):
                content = json.loads(line)["messages"][-1]["content"]
                assert risk.canonical(content) is not None, f"{path}:{i} {content!r}"
    with (DATA / "cn" / "socialcd3k_train.tsv").open(encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
    assert header[:-1] == TASKS["cn_cognitive_distortion"].label_names
    rows = _read_rows(DATA / "safety" / "suicidal_ideation.csv")
    kinds = Counter(row["Safety type"] for row in rows)
    assert len(kinds) == 10 and set(kinds) == set(TASKS["safety_si10"].label_names)
    binary = TASKS["safety_si_binary"]
    collapsed = {k: binary.canonical(k) for k in kinds}
    assert Counter(collapsed.values()) == {"suicidal ideation": 5, "no suicidal ideation": 5}
    assert all((v == "suicidal ideation") == ("_si" in k) for k, v in collapsed.items())


@needs_data
def test_examples_are_not_copied_from_release() -> None:
    """Few-shot posts are the project's own: none appears in the published data."""
    texts = [row["query"] for path in _release_files() for row in _read_rows(path)]
    texts += [row["statement"] for row in _read_rows(DATA / "safety" / "suicidal_ideation.csv")]
    for path in sorted((DATA / "cn").glob("*")):
        texts.append(path.read_text(encoding="utf-8"))
    corpus = "\n".join(texts)
    for name, task in TASKS.items():
        for ex in task.examples:
            assert ex.text not in corpus, f"{name}: example text found in the release"


def test_leading_alias_is_not_read_as_a_label() -> None:
    """A sentence led by a bare alias may negate it later: it is not read as that label."""
    dr = TASKS["dr"]
    assert dr.parse_label_sentence("Depression is not evident in this post.") is None
    assert dr.parse_label_sentence("yes, the poster shows depression") == "yes"
    assert dr.parse_label_sentence("depressed") == "yes"
