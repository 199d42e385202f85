"""The published IMHI release (../shared/data/imhi), each of its 21 files read once for all checks:
both readers of the release format (:func:`imhi.sources.read_source` for builds,
:func:`imhi.evaluation.references.read_reference_csv` for evaluation) read every row alike; the
completion-style files agree with the full-sentence test files' gold; the release's label counts;
and the ``rules`` judge's flagged rate on all 23,022 reference explanations."""

from __future__ import annotations

import collections
import sys
from pathlib import Path
from typing import Any

import pytest

from imhi.sources import SourceSpec, read_source, text_key
from imhi.tasks import TaskSpec

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / ".." / "shared" / "data" / "imhi"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="shared IMHI data (../shared/data) not present")
sys.path.insert(0, str(REPO / "benchmarks"))
import judge_audit  # noqa: E402

Release = dict[str, tuple[dict[str, TaskSpec], list[dict[str, Any]]]]

# real rows read by hand: the explanation concludes against its gold label (flagged) …
VERIFIED_FLAGGED = [("train/dreaddit/train.csv", 212), ("train/SAD/train.csv", 3580), ("test/MultiWD.csv", 2211),
                    ("test/Irf.csv", 1474), ("train/DR/val.csv", 51), ("test/MultiWD.csv", 30),
                    ("test/MultiWD.csv", 26)]
# … or does not, though an earlier reader flagged it (negation scope, "lack of focus", hedges)
VERIFIED_CONSISTENT = [("test/MultiWD.csv", 2151), ("test/Irf.csv", 1469), ("train/SAD/train.csv", 1957),
                       ("train/dreaddit/val.csv", 278), ("complete/DR.csv", 358)]


@pytest.fixture(scope="module")
def release() -> Release:
    """file (relative to DATA) → (its tasks, its reference rows), every file read once."""
    return {name: judge_audit.load(DATA, name, task_names) for name, task_names in judge_audit.files(DATA)}


def test_every_file_read_fully_and_alike_by_both_readers(release: Release) -> None:
    """100% of rows labelled within the task's label set, and the build reader gives each row
    the same task, text, label and explanation as the evaluation reader (row named on failure)."""
    assert len(release) == 21
    for name, (tasks, refs) in release.items():
        assert refs and all(r["label"] in tasks[r["task"]].label_names for r in refs), name
        posts = read_source(SourceSpec(name="release", format="imhi", path=str(DATA / name), tasks=list(tasks)))
        assert len(posts) == len(refs), name
        for row, (ref, post) in enumerate(zip(refs, posts, strict=True), start=1):
            assert (post.task, post.text, post.label, post.explanation or "") == \
                (ref["task"], ref["text"], ref["label"], ref["explanation"]), f"{name}, row {row}"


def test_completion_files_agree_with_the_test_files_gold(release: Release) -> None:
    """complete/X.csv holds the test posts again in another wording: an independent gold."""
    for name in ("DR", "dreaddit", "SAD", "Irf", "MultiWD"):
        gold = {(text_key(r["text"]), r["task"]): r["label"] for r in release[f"test/{name}.csv"][1]}
        rows = release[f"complete/{name}.csv"][1]
        matched = [(gold[key], r["label"]) for r in rows if (key := (text_key(r["text"]), r["task"])) in gold]
        assert len(matched) >= 0.95 * len(rows), name
        assert all(g == p for g, p in matched), name


def test_release_label_counts(release: Release) -> None:
    counts = collections.Counter(r["label"] for r in release["test/SAD.csv"][1])
    assert len(counts) == 9 and counts["work"] == 110 and counts["emotion turmoil"] == 66
    irf = release["complete/Irf.csv"][1]
    assert {r["task"] for r in irf} == {"irf_tb", "irf_pb"} and len(irf) == 2113


def test_rules_judge_on_every_reference_explanation(release: Release) -> None:
    audits = [judge_audit.judge_rows(name, tasks, refs) for name, (tasks, refs) in release.items()]
    rows = {(a.name, r["row"]): r for a in audits for r in a.rows}
    flagged = sum(r["flagged"] for r in rows.values())
    assert len(rows) == 23022
    assert 0.017 <= flagged / len(rows) <= 0.025, f"{flagged} of {len(rows)} rows flagged"  # 482 (2.09%) measured
    assert all(rows[key]["flagged"] for key in VERIFIED_FLAGGED)
    assert not any(rows[key]["flagged"] for key in VERIFIED_CONSISTENT)
