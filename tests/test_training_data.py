"""Stage data: prompt-completion conversations, weighted mixes, clear errors for bad rows."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from _training_fixtures import tiny_dataset

from imhi.io import InputError, read_jsonl, write_jsonl
from imhi.lengths import MARKER
from imhi.models import ModelRef, load_tokenizer
from imhi.training.data import _n_tokens, fit_to_length, stage_rows, weighted
from imhi.training.recipe import DataSpec


def test_weighted_repeats_and_samples() -> None:
    rows = list(range(10))
    assert weighted(rows, 1.0, 0) == rows
    assert sorted(weighted(rows, 2.0, 0)) == sorted(rows * 2)
    half = weighted(rows, 0.5, 0)
    assert len(half) == 5 and len(set(half)) == 5 and set(half) <= set(rows)
    assert len(weighted(rows, 1.3, 0)) == 13


def test_mix_is_prompt_completion_with_weights(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "d", n_train=6, tasks=("dr", "dreaddit"))
    rows = stage_rows([DataSpec(path=str(data), tasks=["dr"], weight=2.0),
                       DataSpec(path=str(data), tasks=["dreaddit"], weight=0.5)], seed=1,
                      system_prompt="Be careful.")
    assert Counter(r["task"] for r in rows) == {"dr": 12, "dreaddit": 3}
    first = rows[0]
    assert [m["role"] for m in first["prompt"]] == ["system", "user"]
    assert first["prompt"][0]["content"] == "Be careful."
    assert first["completion"][0]["role"] == "assistant" and "Reasoning:" in first["completion"][0]["content"]
    assert rows == stage_rows([DataSpec(path=str(data), tasks=["dr"], weight=2.0),
                               DataSpec(path=str(data), tasks=["dreaddit"], weight=0.5)], seed=1,
                              system_prompt="Be careful.")  # seeded: a resumed run sees the same order


def test_bad_row_names_file_row_and_field(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "d")
    lines = (data / "train.jsonl").read_text().splitlines()
    row = json.loads(lines[2])
    del row["answer"]
    lines[2] = json.dumps(row)
    (data / "train.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"(?s)train\.jsonl, row 3.*answer"):
        stage_rows([DataSpec(path=str(data))], seed=0)


def test_skip_and_limit_take_disjoint_slices(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "d", n_train=6)
    first = stage_rows([DataSpec(path=str(data), limit=3)], seed=1)
    second = stage_rows([DataSpec(path=str(data), skip=3, limit=3)], seed=1)
    assert len(first) == len(second) == 3
    assert not {r["id"] for r in first} & {r["id"] for r in second}


def test_long_post_is_shortened_and_answer_kept(tmp_path: Path) -> None:
    tok = load_tokenizer(ModelRef(path="smollm2"), padding_side="right")
    data = tiny_dataset(tmp_path / "d", n_train=2)
    rows = stage_rows([DataSpec(path=str(data))], seed=1)
    long = dict(rows[0])
    post = long["post"]
    longer = post + " " + " ".join(["I keep thinking about the week ahead and nothing feels right."] * 80)
    long["prompt"] = [{**m, "content": m["content"].replace(post, longer)} for m in long["prompt"]]
    long["post"] = longer
    short = rows[1]
    limit = _n_tokens(tok, short) + 40
    assert _n_tokens(tok, long) > limit
    out, n = fit_to_length([long, short], tok, limit)
    assert n == 1
    assert out[1] == short  # a row that fits is untouched
    assert _n_tokens(tok, out[0]) <= limit
    assert out[0]["completion"] == long["completion"]  # the label and explanation survive
    assert out[0]["post"].endswith(MARKER) and out[0]["post"] in out[0]["prompt"][-1]["content"]
    assert out[0]["prompt"][-1]["content"].endswith(long["prompt"][-1]["content"].split(longer)[-1])


def test_balance_labels_fills_a_limit_evenly_and_slices_stay_disjoint(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "d", n_train=6)
    rows = sorted(read_jsonl(data / "train.jsonl"), key=lambda r: r["label"] != "yes")  # all "yes" first
    write_jsonl(data / "train.jsonl", rows)
    labels = Counter(r["label"] for r in rows)
    assert len(labels) == 2
    by_id = {r["id"]: r["label"] for r in rows}
    plain = stage_rows([DataSpec(path=str(data), limit=2)], seed=1)
    assert {by_id[r["id"]] for r in plain} == {"yes"}  # without balancing, file order decides
    balanced = stage_rows([DataSpec(path=str(data), balance_labels=True, limit=2)], seed=1)
    assert sorted(by_id[r["id"]] for r in balanced) == sorted(labels)  # one of each label
    # skip counts file rows, before balancing: a later stage never repeats an earlier one's rows
    later = stage_rows([DataSpec(path=str(data), skip=2, balance_labels=True, limit=2)], seed=1)
    assert {r["id"] for r in plain}.isdisjoint(r["id"] for r in later)
    assert sorted(by_id[r["id"]] for r in later) == sorted(labels)
