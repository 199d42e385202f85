"""`imhi eval`, `imhi sheet export|score`, `imhi compare`, `imhi train-extractor` end to end on
tiny real models and small files written by the test (no shared data needed)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook

from imhi.evaluation.score import MetricsConfig, score_generations
from imhi.evaluation.testsets import TestSet, read_test_set
from imhi.io import dump_yaml, read_jsonl, write_jsonl
from imhi.models import ModelRef, load_tokenizer

Q = "Question: Does the poster suffer from depression?"
YES, NO = "Yes, the poster suffers from depression.", "No, the poster does not suffer from depression."


def _imhi_csv(path: Path, n: int = 6) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["query", "gpt-3.5-turbo"])
        for i in range(n):
            sad = i % 2 == 0
            text = "I have felt empty for months and nothing helps." if sad else "Had a nice walk today."
            w.writerow([f'Consider this post: "{text} ({i})" {Q}',
                        f"{YES if sad else NO} Reasoning: the post says {'empty' if sad else 'nice'}."])
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny")
    tok = load_tokenizer(ModelRef(path="smollm2"))
    torch.manual_seed(1)
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                 num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                 pad_token_id=tok.pad_token_id)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_eval_recipe_end_to_end_and_resume(tmp_path: Path, tiny: Path, cli) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(dump_yaml({
        "name": "t", "out": str(tmp_path / "run"),
        "test_sets": [{"name": "dr", "path": str(_imhi_csv(tmp_path / "DR.csv")), "tasks": ["dr"]},
                      {"name": "gone", "path": str(tmp_path / "none.csv"), "tasks": ["dr"], "optional": True}],
        "models": [{"name": "a", "model": {"path": str(tiny)}, "max_new_tokens": 6},
                   {"name": "b", "model": {"path": str(tiny)}, "max_new_tokens": 3, "limit": 4}],
        "metrics": {"n_boot": 20, "bertscore": {"model_type": "minilm", "num_layers": 2},
                    "bartscore": {"checkpoint": str(tiny), "kind": "causal"}},
        "published": {"Paper-7B": {"dr": {"weighted_f1": 0.7614}, "sad": {"weighted_f1": 0.5}},
                      "Other": {"dr": {"accuracy": 0.9}}},
        "sheet": {"per_task": 2}}))
    code, out, err = cli("eval", str(recipe))
    assert code == 0, err
    run = tmp_path / "run"
    for name, n in (("a", 6), ("b", 4)):
        assert len(list(read_jsonl(run / name / "generations.jsonl"))) == n
        scores = json.loads((run / name / "scores.json").read_text())
        assert scores["dr"]["n"] == n
        assert (run / name / "report.md").is_file()
    _text_scores_equal_direct_calls(run, tiny)
    assert "| a | dr | 6 |" in (run / "comparison.md").read_text() and "comparison/weighted_f1/heatmap.png" in (
        run / "comparison.md").read_text()
    wf1 = (run / "comparison" / "weighted_f1" / "comparison.md").read_text()
    assert "| Paper-7B (published) | 0.761 |" in wf1 and "Other" not in wf1  # only the run's tasks, only wF1
    assert "Paper-7B" not in (run / "comparison" / "unparsed_rate" / "comparison.md").read_text()
    assert load_workbook(run / "sheet" / "sheet.xlsx").sheetnames == ["Instructions", "Ratings"]
    before = (run / "a" / "generations.jsonl").read_text()
    assert cli("eval", str(recipe))[0] == 0
    assert (run / "a" / "generations.jsonl").read_text() == before  # resumed: nothing regenerated
    # (a changed decoding setting answers every row again: tests/test_eval_prompts.py)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stage"] == "eval" and "score/a" in manifest["timings_s"]


def _after_reasoning(text: str) -> str:
    """The explanation of ``<label> Reasoning: <explanation>`` (the whole text without one)."""
    return text.split("Reasoning:", 1)[1].strip() if "Reasoning:" in text else text


def _text_scores_equal_direct_calls(run: Path, tiny: Path) -> None:
    """BERTScore / BARTScore in each model's scores.json equal direct calls on the same
    explanations (reference: the answer's text after "Reasoning:")."""
    from imhi.evaluation.textscore import BartScoreConfig, BertScoreConfig, bartscore, bertscore

    for name in ("a", "b"):
        rows = list(read_jsonl(run / name / "generations.jsonl"))
        hyps = [_after_reasoning(r["prediction"]) for r in rows]
        refs = [_after_reasoning(r["answer"]) for r in rows]
        assert all(ref.startswith("the post says") for ref in refs)
        scores = json.loads((run / name / "scores.json").read_text())["dr"]
        bert = bertscore(hyps, refs, BertScoreConfig(model_type="minilm", num_layers=2))
        bart = bartscore(hyps, refs, BartScoreConfig(checkpoint=str(tiny), kind="causal"))
        assert scores["bertscore_f1"] == pytest.approx(bert["f1"], abs=1e-6)
        assert scores["bartscore_f1"] == pytest.approx(bart["f1"], abs=1e-6)
        assert bart["f1"] < 0  # a mean log-likelihood


def test_eval_recipe_errors_name_the_key(tmp_path: Path, cli) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(dump_yaml({"name": "t", "test_sets": [], "modles": []}))
    code, _, err = cli("eval", str(recipe))
    assert code == 2 and "modles" in err and "r.yaml" in err


def _gens(path: Path, name: str, shift: int) -> Path:
    write_jsonl(path, [{"id": f"x{i}", "task": "dr", "query": f"post {i}", "label": "yes" if i % 2 else "no",
                        "answer": "yes. Reasoning: r", "prediction": ("yes" if (i + shift) % 2 else "no")
                        + ". Reasoning: e", "model": name} for i in range(8)])
    return path


def test_sheet_and_compare_commands(tmp_path: Path, cli) -> None:
    a, b = _gens(tmp_path / "a.jsonl", "a", 0), _gens(tmp_path / "b.jsonl", "b", 1)
    code, _, err = cli("sheet", "export", f"a={a}", f"b={b}", "--out", str(tmp_path / "s"), "--per-task", "3")
    assert code == 0, err
    key = json.loads((tmp_path / "s" / "key.json").read_text())
    with (tmp_path / "s" / "sheet.csv").open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        row[4:8] = ["3" if key[row[0]]["system"] == "a" else "1"] * 4
    with (tmp_path / "filled.csv").open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    code, out, err = cli("sheet", "score", str(tmp_path / "filled.csv"), "--key", str(tmp_path / "s" / "key.json"),
                         "--out", str(tmp_path / "h"))
    assert code == 0, err
    res = json.loads((tmp_path / "h" / "human_eval.json").read_text())
    assert res["means"] == {"a": dict.fromkeys(("fluency", "completeness", "reliability", "overall"), 3.0),
                            "b": dict.fromkeys(("fluency", "completeness", "reliability", "overall"), 1.0)}
    for name, g in (("a", a), ("b", b)):
        score_generations(g, tmp_path / name, MetricsConfig(n_boot=0, plots=False))
    code, out, _ = cli("compare", f"A={tmp_path / 'a'}", f"B={tmp_path / 'b'}", "--out", str(tmp_path / "c"))
    assert code == 0 and "| A | 1.000 |" in out and "| B | 0.000 |" in out and "![heat map]" in out


def test_labelled_csv_gets_strict_json_queries(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("Safety type,statement\npassive_si,I wish I could sleep forever.\n"
                    "clearly_happy,Lovely day at the park.\n", encoding="utf-8")
    ts = TestSet(name="si", path=str(path), format="labelled_csv", tasks=["safety_si10", "safety_si_binary"])
    rows = read_test_set(ts)
    assert [(r["task"], r["label"]) for r in rows] == [
        ("safety_si10", "passive_si"), ("safety_si10", "clearly_happy"),
        ("safety_si_binary", "suicidal ideation"), ("safety_si_binary", "no suicidal ideation")]
    assert '"label": <one of' in rows[0]["query"] and "JSON only" in rows[0]["query"]
    gens = tmp_path / "g.jsonl"
    preds = ['{"label": "passive_si", "confidence": 0.7}', "passive", '{"label": "no suicidal ideation"}',
             '```json\n{"label": "no si", "confidence": 0.9}\n```']
    write_jsonl(gens, [{**r, "prediction": p, "model": "m"} for r, p in zip(rows, preds, strict=True)])
    scores = score_generations(gens, tmp_path / "o", MetricsConfig(steps=["json"], n_boot=0, plots=False))
    assert scores["safety_si10"]["unparsed_rate"] == 0.5 and scores["safety_si10"]["accuracy"] == 0.5
    assert scores["safety_si_binary"]["accuracy"] == 0.5


def test_train_extractor_command(tmp_path: Path, cli) -> None:
    """Trained on 24 rows, evaluated on 12 held-out rows worded differently (not its training file)."""
    def rows(ids: range, sad: str, calm: str) -> list[dict[str, str]]:
        return [{"id": str(i), "task": "dr", "label": "yes" if i % 2 else "no",
                 "explanation": f"{sad if i % 2 else calm} ({i})"} for i in ids]

    write_jsonl(tmp_path / "train.jsonl", rows(range(24), "hopeless, empty and exhausted for weeks",
                                               "cheerful and relaxed today"))
    write_jsonl(tmp_path / "heldout.jsonl", rows(range(100, 112), "the author feels hopeless and empty every day",
                                                 "the author sounds relaxed and cheerful about the weekend"))
    recipe = tmp_path / "x.yaml"
    recipe.write_text(dump_yaml({"tasks": ["dr"], "train": [str(tmp_path / "train.jsonl")],
                                 "eval": [str(tmp_path / "heldout.jsonl")], "out": str(tmp_path / "ext"),
                                 "epochs": 3, "batch_size": 8, "learning_rate": 3e-4, "max_length": 32}))
    code, out, err = cli("train-extractor", str(recipe))
    assert code == 0, err
    report = json.loads((tmp_path / "ext" / "metrics.json").read_text())
    assert report["train"] == {"dr": 24} and list(report["eval"]) == ["heldout.jsonl"]
    assert report["eval"]["heldout.jsonl"]["dr"]["accuracy"] >= 0.9, report["eval"]
    gens = tmp_path / "g.jsonl"
    write_jsonl(gens, [{"id": "1", "task": "dr", "label": "yes", "model": "m",
                        "prediction": "Hard to say. Reasoning: hopeless, empty and exhausted for weeks"}])
    cfg = MetricsConfig(steps=["template", "alias", "classifier"], classifier=str(tmp_path / "ext"),
                        n_boot=0, plots=False)
    score_generations(gens, tmp_path / "o", cfg)
    pred = next(read_jsonl(tmp_path / "o" / "predictions.jsonl"))
    assert (pred["pred_label"], pred["parse_status"]) == ("yes", "classifier")


def test_changed_test_set_limit_is_followed_and_answers_reused(tmp_path: Path, tiny: Path, cli) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(dump_yaml({
        "name": "t", "out": str(tmp_path / "run"),
        "test_sets": [{"name": "dr", "path": str(_imhi_csv(tmp_path / "DR.csv")), "tasks": ["dr"], "limit": 4}],
        "models": [{"name": "a", "model": {"path": str(tiny)}, "max_new_tokens": 4}],
        "metrics": {"n_boot": 10, "bertscore": None, "bartscore": None}}))
    gens = tmp_path / "run" / "a" / "generations.jsonl"
    assert cli("eval", str(recipe))[0] == 0
    first = [r["id"] for r in read_jsonl(gens)]
    assert len(first) == 4
    assert cli("eval", str(recipe), "test_sets.0.limit=2")[0] == 0  # a smaller look: scored on 2 rows
    assert json.loads((tmp_path / "run" / "a" / "scores.json").read_text())["dr"]["n"] == 2
    assert [r["id"] for r in read_jsonl(gens)] == first  # nothing thrown away
    assert cli("eval", str(recipe), "test_sets.0.limit=6")[0] == 0  # larger: only the 2 new rows answered
    ids = [r["id"] for r in read_jsonl(gens)]
    assert ids[:4] == first and len(ids) == 6 == len(set(ids))
    assert json.loads((tmp_path / "run" / "a" / "scores.json").read_text())["dr"]["n"] == 6


def test_eval_test_sets_resolve_through_data_dir(tmp_path: Path, tiny: Path) -> None:
    """Issue 14 item 7: eval test-set paths start at data_dir (relative to the recipe), overridable."""
    from _cli_process import imhi_process, one_line_error

    (tmp_path / "corpus").mkdir()
    _imhi_csv(tmp_path / "corpus" / "DR.csv")
    recipe = tmp_path / "recipes" / "r.yaml"
    recipe.parent.mkdir()
    recipe.write_text(dump_yaml({"name": "t", "out": str(tmp_path / "run"), "data_dir": "../corpus",
                                 "test_sets": [{"name": "dr", "path": "DR.csv", "tasks": ["dr"], "limit": 2}],
                                 "models": [{"name": "a", "model": {"path": str(tiny)}, "max_new_tokens": 2}],
                                 "metrics": {"n_boot": 5, "plots": False, "agreement": False}}))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    proc = imhi_process("eval", str(recipe), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    assert len(list(read_jsonl(tmp_path / "run" / "data" / "tests.jsonl"))) == 2
    bad = imhi_process("eval", str(recipe), "data_dir=../nowhere", cwd=elsewhere)
    one_line_error(bad, str(tmp_path / "recipes" / "../nowhere/DR.csv"), "field 'path'", "test set 'dr' not found")


def test_eval_models_and_score_checkpoints_fail_in_one_line(tmp_path: Path, tiny: Path) -> None:
    """Issue 14 item 4: eval models, adapters and BERTScore/BARTScore checkpoints, before generating."""
    from _cli_process import DEAD_HUB, imhi_process, one_line_error

    recipe = tmp_path / "r.yaml"
    recipe.write_text(dump_yaml({"name": "t", "out": str(tmp_path / "run"),
                                 "test_sets": [{"name": "dr", "path": str(_imhi_csv(tmp_path / "DR.csv"))}],
                                 "models": [{"name": "a", "model": {"path": str(tiny)}},
                                            {"name": "b", "model": {"path": str(tiny)}}],
                                 "metrics": {"bertscore": {"model_type": "minilm", "num_layers": 2},
                                             "bartscore": {"checkpoint": str(tiny), "kind": "causal"}}}))
    cases = [(("models.1.model.path=/no/such/model",), "field 'models.1.model.path': no such file or folder"),
             (("models.0.adapter=/no/adapter",), "field 'models.0.adapter': no such folder"),
             ((f"metrics.bertscore.model_type={tmp_path}",), "field 'metrics.bertscore.model_type': folder has no"),
             (("metrics.bartscore.checkpoint=facebook/bart-nope",), "field 'metrics.bartscore.checkpoint': not a "
              "local path, and as a hub id it cannot be fetched: the hub (http://127.0.0.1:9) is unreachable")]
    for overrides, needle in cases:
        proc = imhi_process("eval", str(recipe), *overrides, env=DEAD_HUB)
        one_line_error(proc, needle)
    assert not (tmp_path / "run" / "a").exists()  # nothing was generated
