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
    assert sum(map(len, rows.values())) == 62 and len(rows["test"]) == 9
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
    assert manifest["inputs"][src]["rows"] == 62
    assert manifest["outputs"]["dataset/train.jsonl"]["rows"] == 44
    assert manifest["config"]["name"] == "sample-reference"
    assert "| dr | 12 | 2 | 2 |" in (run / "build_report.md").read_text()
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
    assert counts["dedup"]["duplicate_posts_dropped"] == 1 and counts["rejected"] == 1
    rejected = list(read_jsonl(run / "rejected.jsonl"))
    assert rejected[0]["reason"] == "no reference explanation"


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
