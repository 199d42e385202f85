"""`imhi build` in reference mode: the bundled sample and IMHI release files → pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imhi.io import read_jsonl, sha256_file
from imhi.tasks import load_task, split_reasoning

REPO = Path(__file__).resolve().parents[1]


def test_sample_builds_pairs_with_manifest(tmp_path: Path, cli) -> None:
    run = tmp_path / "run"
    code, out, err = cli("build", str(REPO / "build_dataset/sample-reference.yaml"), "--out", str(run))
    assert code == 0, err
    rows = {s: list(read_jsonl(run / "dataset" / f"{s}.jsonl")) for s in ("train", "valid", "test")}
    assert sum(map(len, rows.values())) == 90 and len(rows["test"]) == 37
    pair = rows["train"][0]
    task = load_task(pair["task"])
    sentence, explanation = split_reasoning(pair["answer"])
    assert task.parse_label_sentence(sentence) == pair["label"] and explanation == pair["explanation"]
    assert pair["messages"][-1] == {"role": "assistant", "content": pair["answer"]}
    assert pair["query"] == task.render_query(pair["text"])
    assert pair["provenance"]["file"].endswith("posts.jsonl") and pair["provenance"]["row"] >= 1
    multi = [r for r in rows["train"] if r["task"] == "mtl_emotion"]
    assert multi and all(isinstance(r["label"], list) for r in multi)
    manifest = json.loads((run / "manifest.json").read_text())
    src = str(REPO / "build_dataset/../imhi/sample/posts.jsonl")
    assert manifest["inputs"][src]["sha256"] == sha256_file(REPO / "imhi/sample/posts.jsonl")
    assert manifest["inputs"][src]["rows"] == 90
    assert manifest["outputs"]["dataset/train.jsonl"]["rows"] == 44
    assert manifest["config"]["name"] == "sample-reference"
    assert "| dr | 12 | 2 | 16 |" in (run / "build_report.md").read_text()
    card = (run / "dataset" / "README.md").read_text()
    assert card.startswith("---\n") and "text-classification" in card


def test_hf_copy_loads(tmp_path: Path, cli) -> None:
    import datasets

    run = tmp_path / "run"
    assert cli("build", str(REPO / "build_dataset/sample-reference.yaml"), "--out", str(run))[0] == 0
    ds = datasets.load_from_disk(str(run / "dataset" / "hf"))
    assert set(ds) == {"train", "valid", "test"} and ds["train"].num_rows == 44
    assert all(isinstance(x, list) for x in ds["train"]["label"])


def test_overrides_and_split_assignment(tmp_path: Path, cli) -> None:
    data = tmp_path / "d.jsonl"
    lines = [{"text": f"post number {i}", "label": "yes" if i % 2 else "no",
              "explanation": f"because {i}"} for i in range(40)]
    lines.append({"text": "post number 3", "label": "yes", "explanation": "dup"})  # duplicate
    lines.append({"text": "no reason", "label": "no", "explanation": ""})
    data.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: t\nsources:\n  - {{name: d, format: jsonl, path: {data.name}, task: dr,"
                      " columns: {explanation: explanation}}\n", encoding="utf-8")
    run = tmp_path / "out"
    code, _, err = cli("build", str(recipe), "split.test=0.25", "split.valid=0", "--out", str(run))
    assert code == 0, err
    counts = json.loads((run / "manifest.json").read_text())["counts"]
    assert counts["pairs"] == {"train": 30, "valid": 0, "test": 10}
    # the filters run on reference explanations too: "because 3" is too short (flagged, kept);
    # a row without an explanation cannot be kept
    assert counts["dedup"]["duplicate_posts_dropped"] == 1 and counts["rejected"] == 41
    rejected = {r["id"]: r for r in read_jsonl(run / "rejected.jsonl")}
    empty = next(r for r in rejected.values() if r["filter"] == "empty")
    assert empty["reason"] == "no explanation after the label sentence" and empty["action"] == "flag"
    train = list(read_jsonl(run / "dataset" / "train.jsonl"))
    assert all(p["flags"][0].startswith(("truncated:", "length:", "no_reasoning:")) for p in train)
    code, _, err = cli("build", str(recipe), "split.test=0.25", "split.valid=0", "filters.on_fail=drop",
                       "--out", str(tmp_path / "dropped"))
    assert code == 4 and "kept 0 of 41 rows" in err  # dropping everything is a failure, not a ✓
    assert json.loads((tmp_path / "dropped" / "manifest.json").read_text())["counts"]["pairs"]["train"] == 0


def test_imhi_release_builds(shared_data: Path, tmp_path: Path, cli) -> None:
    recipe = tmp_path / "r.yaml"
    base = shared_data / "imhi"
    recipe.write_text(
        "name: dr\nsources:\n"
        f"  - {{name: dr-train, format: imhi, task: dr, path: {base}/train/DR/train.csv, split: train}}\n"
        f"  - {{name: dr-val, format: imhi, task: dr, path: {base}/train/DR/val.csv, split: valid}}\n"
        f"  - {{name: dr-test, format: imhi, task: dr, path: {base}/test/DR.csv, split: test}}\n", encoding="utf-8")
    run = tmp_path / "out"
    code, _, err = cli("build", str(recipe), "--out", str(run))
    assert code == 0, err
    counts = json.loads((run / "manifest.json").read_text())["counts"]
    # one train post repeats in val: reported and dropped from train
    assert counts["dedup"]["leaked_train_posts"] == 1
    assert counts["pairs"] == {"train": 1002, "valid": 430, "test": 405}
    first = next(read_jsonl(run / "dataset/test.jsonl"))
    assert first["query"].startswith('Consider this post: "') and " Reasoning: " in first["answer"]


@pytest.mark.parametrize("bad,needle", [
    ("sources: []", "sources: List should have at least 1 item"),
    ("sources:\n  - {name: d, format: xml, path: a}", "sources.0.format"),
])
def test_bad_recipes_are_clear(tmp_path: Path, cli, bad: str, needle: str) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: t\n{bad}\n", encoding="utf-8")
    code, _, err = cli("build", str(recipe))
    assert code == 2 and str(recipe) in err.replace("\n", "") and needle in err


CONTRADICTING = [
    {"text": "Months of feeling flat; I stopped calling my sister.", "label": "yes",
     "explanation": "The writer reports months of flat mood and pulling away from family. These are "
                    "lasting signs that point to depression."},
    {"text": "Booked a beach weekend with my partner, can't wait!", "label": "yes",
     "explanation": "The writer talks about booking a weekend away with their partner. It contains no "
                    "emotional content at all, so there is nothing that suggests depression."},
    {"text": "Quiet week, did some reading and cooked a lot.", "label": "no",
     "explanation": "The writer describes a calm week of reading and cooking at home. There is no sign of "
                    "low mood, therefore the poster does not suffer from depression."},
]


def _contradiction_recipe(tmp_path: Path, extra: str = "") -> Path:
    data = tmp_path / "c.jsonl"
    data.write_text("\n".join(json.dumps(x) for x in CONTRADICTING), encoding="utf-8")
    recipe = tmp_path / "c.yaml"
    recipe.write_text(f"name: c\nsources:\n  - {{name: c, format: jsonl, path: {data.name}, task: dr, split: train,"
                      f" columns: {{explanation: explanation}}}}\n{extra}", encoding="utf-8")
    return recipe


def test_reference_build_flags_a_contradicting_explanation(tmp_path: Path, cli) -> None:
    """A reference explanation whose own conclusion names the other label is flagged by the
    rules judge (kept, with the reason in the dataset and in rejected.jsonl) or dropped."""
    recipe = _contradiction_recipe(tmp_path)
    code, _, err = cli("build", str(recipe), "--out", str(tmp_path / "flag"))
    assert code == 0, err
    rows = {p["text"][:6]: p for p in read_jsonl(tmp_path / "flag" / "dataset" / "train.jsonl")}
    assert len(rows) == 3
    assert rows["Booked"]["flags"] == [rows["Booked"]["flags"][0]]
    assert rows["Booked"]["flags"][0].startswith("consistency: rules judge read 'no'")
    assert "flags" not in rows["Months"] and "flags" not in rows["Quiet "]
    (rej,) = list(read_jsonl(tmp_path / "flag" / "rejected.jsonl"))
    assert rej["action"] == "flag" and "nothing that suggests depression" in rej["verdicts"]["rules"]
    report = (tmp_path / "flag" / "build_report.md").read_text()
    assert "| dr | rules | 3 | 0 | 1 |" in report
    code, _, err = cli("build", str(recipe), "filters.on_fail=drop", "--out", str(tmp_path / "drop"))
    assert code == 0, err
    assert len(list(read_jsonl(tmp_path / "drop" / "dataset" / "train.jsonl"))) == 2


def test_data_inspect_prints_contradicting_rows(tmp_path: Path, cli) -> None:
    recipe = _contradiction_recipe(tmp_path)
    code, out, err = cli("data", "inspect", str(recipe))
    assert code == 0, err
    assert "explanations that contradict their label: 1 (dr 1/3)" in out
    assert "c.jsonl row 2: label 'yes', rules: 'no'" in " ".join(out.split())


def test_on_fail_flag_is_refused_for_a_teacher_build() -> None:
    from imhi.config import load_recipe
    from imhi.io import InputError
    from imhi.synthesis.recipe import BuildRecipe

    with pytest.raises(InputError, match="on_fail: flag applies to mode: reference"):
        load_recipe(REPO / "build_dataset" / "demo.yaml", BuildRecipe, ["filters.on_fail=flag"])
