"""Checks on the bundled sample ``imhi/sample/posts.jsonl`` (read only)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from imhi.sample import load_sample, sample_path
from imhi.schema import labels_of
from imhi.tasks import load_task, prompts_root

KEYS = {"id", "task", "text", "label", "explanation", "split"}
LABELS = {
    "dr": ["yes", "no"],
    "dreaddit": ["yes", "no"],
    "sad": ["school", "financial problem", "family issues", "social relationships", "work",
            "health issues", "emotion turmoil", "everyday decision making", "other causes"],
    "mtl_emotion": ["anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"],
}
# task -> (train, valid, test) post counts
SPLIT_COUNTS = {"dr": (12, 2, 16), "dreaddit": (12, 2, 16), "sad": (12, 3, 3), "mtl_emotion": (8, 2, 2)}
MULTI = {"mtl_emotion"}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return load_sample()


def test_file_is_valid_jsonl_with_exact_keys(rows: list[dict]) -> None:
    lines = sample_path().read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(rows) == 90
    for i, line in enumerate(lines, start=1):
        assert set(json.loads(line)) == KEYS, f"row {i}"


def test_ids_and_texts_unique(rows: list[dict]) -> None:
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids)
    assert all(r["id"].startswith(f"sample-{r['task']}-") for r in rows)
    texts = [" ".join(r["text"].lower().split()) for r in rows]
    assert len(set(texts)) == len(texts)


def test_fields_are_non_empty_strings(rows: list[dict]) -> None:
    for r in rows:
        for key in ("id", "task", "text", "explanation", "split"):
            assert isinstance(r[key], str) and r[key].strip(), (r["id"], key)
        sentences = [s for s in r["explanation"].replace("!", ".").split(". ") if s.strip()]
        assert 2 <= len(sentences) <= 4, r["id"]


def _task_labels(task: str) -> list[str]:
    """The task's label names from prompts/<task>/task.yaml, or the brief's list if absent."""
    if (prompts_root() / task / "task.yaml").is_file():
        return load_task(task).label_names
    return LABELS[task]


@pytest.mark.parametrize("task", sorted(LABELS))
def test_labels_valid_for_task(rows: list[dict], task: str) -> None:
    assert set(_task_labels(task)) >= set(LABELS[task])
    spec = load_task(task) if (prompts_root() / task / "task.yaml").is_file() else None
    for r in (r for r in rows if r["task"] == task):
        if task in MULTI:
            assert isinstance(r["label"], list) and r["label"], r["id"]
        else:
            assert isinstance(r["label"], str), r["id"]
        assert set(labels_of(r["label"])) <= set(LABELS[task]), r["id"]
        if spec is not None:
            canonical = spec.check_label(r["label"], where=sample_path(), row=None)
            assert set(labels_of(canonical)) == set(labels_of(r["label"])), r["id"]


def test_only_known_tasks(rows: list[dict]) -> None:
    assert {r["task"] for r in rows} == set(LABELS)


@pytest.mark.parametrize("task", sorted(SPLIT_COUNTS))
def test_split_counts(rows: list[dict], task: str) -> None:
    counts = Counter(r["split"] for r in rows if r["task"] == task)
    assert (counts["train"], counts["valid"], counts["test"]) == SPLIT_COUNTS[task]
    assert set(counts) == {"train", "valid", "test"}
    assert len(load_sample(task=task, split="test")) == SPLIT_COUNTS[task][2]


def test_label_counts(rows: list[dict]) -> None:
    for task in ("dr", "dreaddit"):
        assert Counter(r["label"] for r in rows if r["task"] == task) == {"yes": 15, "no": 15}
    assert Counter(r["label"] for r in rows if r["task"] == "sad") == {lab: 2 for lab in LABELS["sad"]}
    emotions = [r for r in rows if r["task"] == "mtl_emotion"]
    assert len(emotions) == 12
    assert sum(len(r["label"]) > 1 for r in emotions) >= 3


@pytest.mark.parametrize("task", sorted(LABELS))
def test_every_label_in_train(rows: list[dict], task: str) -> None:
    seen = {lab for r in rows if r["task"] == task and r["split"] == "train" for lab in labels_of(r["label"])}
    assert seen == set(LABELS[task])


@pytest.mark.parametrize("task", ["dr", "dreaddit"])
def test_binary_tasks_have_each_label_in_test(rows: list[dict], task: str) -> None:
    assert {r["label"] for r in rows if r["task"] == task and r["split"] == "test"} == {"yes", "no"}


def test_privacy_posts_present(rows: list[dict]) -> None:
    texts = [r["text"] for r in rows]
    assert any("@example.com" in t for t in texts)
    assert any("https://example.org" in t for t in texts)
    assert any("555-0142" in t for t in texts)
    assert sum("@" in t for t in texts) >= 3


def test_load_sample_filters_and_rejects_bad_split() -> None:
    assert {r["split"] for r in load_sample(split="valid")} == {"valid"}
    assert len(load_sample(task="sad")) == 18
    with pytest.raises(ValueError, match="unknown split"):
        load_sample(split="dev")

