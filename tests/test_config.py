"""Strict recipes: unknown keys, duplicate keys, overrides, manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imhi.config import Manifest, apply_overrides, load_recipe
from imhi.io import InputError, load_yaml
from imhi.synthesis.recipe import BuildRecipe

GOOD = """\
name: t
sources:
  - name: s
    format: jsonl
    path: data.jsonl
    task: dr
"""


def write(tmp_path: Path, text: str, name: str = "r.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_valid_recipe_loads(tmp_path: Path) -> None:
    r = load_recipe(write(tmp_path, GOOD), BuildRecipe)
    assert r.name == "t" and r.sources[0].task == "dr" and r.split.valid == 0.1


def test_misspelled_key_names_key_and_file(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD.replace("    task: dr", "    taks: dr"))
    with pytest.raises(InputError) as exc:
        load_recipe(p, BuildRecipe)
    assert str(p) in str(exc.value)
    assert "sources.0.taks" in str(exc.value) and "unknown key" in str(exc.value)


def test_duplicate_yaml_key_rejected(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD + "name: again\n")
    with pytest.raises(InputError, match="duplicate key 'name'") as exc:
        load_yaml(p)
    assert str(p) in str(exc.value)


def test_wrong_type_is_reported(tmp_path: Path) -> None:
    p = write(tmp_path, GOOD + "split: {valid: lots}\n")
    with pytest.raises(InputError, match="split.valid"):
        load_recipe(p, BuildRecipe)


def test_overrides_apply_nested_and_list_items(tmp_path: Path) -> None:
    r = load_recipe(write(tmp_path, GOOD), BuildRecipe,
                    ["split.seed=7", "sources.0.limit=3", "name=other", "dedup.drop_duplicates=false"])
    assert (r.split.seed, r.sources[0].limit, r.name, r.dedup.drop_duplicates) == (7, 3, "other", False)


def test_override_of_unknown_key_fails_validation(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="split.sed"):
        load_recipe(write(tmp_path, GOOD), BuildRecipe, ["split.sed=1"])


def test_override_syntax_error() -> None:
    with pytest.raises(ValueError, match="key.sub=value"):
        apply_overrides({}, ["novalue"])


def test_manifest_records_inputs_outputs_versions(tmp_path: Path) -> None:
    src = write(tmp_path, "abc", "in.txt")
    m = Manifest(tmp_path / "run", "build", {"k": 1})
    m.add_input(src, rows=1)
    (tmp_path / "run").mkdir()
    out = write(tmp_path / "run", "x", "out.txt")
    m.add_output(out, rows=1)
    m.time("step", 0.5)
    data = json.loads(m.write().read_text())
    assert data["inputs"][str(src)]["sha256"] == \
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert data["outputs"]["out.txt"]["rows"] == 1
    assert data["config"] == {"k": 1} and data["timings_s"]["step"] == 0.5
    assert "pydantic" in data["packages"] and "python" in data["packages"]


def test_manifest_keeps_the_history_of_reruns(tmp_path: Path) -> None:
    """Issue 17 item 6: a rerun appends its timings and counts; a run writing twice is listed once."""
    first = Manifest(tmp_path, "eval", {"a": 1})
    first.counts["answers_regenerated"] = {"m": 0}
    first.time("generate/m", 12.5)
    first.write()
    again = Manifest(tmp_path, "eval", {"a": 1})
    again.counts["answers_regenerated"] = {"m": 3}
    again.time("generate/m", 0.5)
    again.write()
    again.write()
    data = json.loads((tmp_path / "manifest.json").read_text())
    assert [h["counts"]["answers_regenerated"]["m"] for h in data["history"]] == [0, 3]
    assert [h["timings_s"]["generate/m"] for h in data["history"]] == [12.5, 0.5]
    assert data["timings_s"]["generate/m"] == 0.5  # the top level is the latest run
