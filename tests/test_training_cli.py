"""`imhi train`: stages, every task evaluated after every stage, the stage × task table, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _training_fixtures import recipe_dict, tiny_dataset, tiny_model

from imhi.cli import main
from imhi.io import read_jsonl
from imhi.training import load_train_recipe

ROOT = Path(__file__).resolve().parents[1]


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return int(exc.value.code or 0)


def test_train_evaluates_every_task_after_every_stage(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = tiny_model(tmp_path / "model")
    data = tiny_dataset(tmp_path / "data", tasks=("dr", "dreaddit"))
    spec = recipe_dict(model, data, tmp_path / "runs", starts=("fresh", "continue"), steps=2)
    spec["stages"][0]["data"][0]["tasks"] = ["dr"]
    spec["stages"][1]["data"][0]["tasks"] = ["dreaddit"]
    spec["evaluation"] = {"limit": 3, "batch_size": 3, "max_new_tokens": 6, "metrics": {"n_boot": 10}}
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(spec))

    assert _run(["train", str(recipe), "name=cli"]) == 0
    run = tmp_path / "runs" / "cli"
    table = json.loads((run / "eval_table.json").read_text())
    assert list(table) == ["s1", "s2"]
    for stage in ("s1", "s2"):
        assert set(table[stage]) == {"dr", "dreaddit"}
        for scores in table[stage].values():
            assert scores["n"] == 3 and 0.0 <= scores["accuracy"] <= 1.0 and "unparsed_rate" in scores
    _table_equals_recomputed(table, run, tmp_path / "again")
    md = (run / "eval_table.md").read_text()
    assert "## accuracy" in md and "| s2 |" in md and "dreaddit" in md
    gens = list(read_jsonl(run / "stage_2" / "eval" / "dr" / "generations.jsonl"))
    assert len(gens) == 3 and all(g["model"] == "cli/s2" for g in gens)
    assert json.loads((run / "manifest.json").read_text())["counts"]["stages"] == 2

    # A rerun trains nothing and regenerates nothing: finished work is kept.
    before = (run / "stage_1" / "eval" / "dr" / "generations.jsonl").stat().st_mtime_ns
    assert _run(["train", str(recipe), "name=cli"]) == 0
    assert "already done" in capsys.readouterr().out
    assert (run / "stage_1" / "eval" / "dr" / "generations.jsonl").stat().st_mtime_ns == before


def _table_equals_recomputed(table: dict, run: Path, out: Path) -> None:
    """Each stage × task cell equals the metrics recomputed from that stage's generations, and
    its accuracy is the share of those rows whose extracted label is the gold one."""
    from imhi.evaluation.score import MetricsConfig, score_generations

    for i, stage in enumerate(table, start=1):
        for task, cell in table[stage].items():
            gens = run / f"stage_{i}" / "eval" / task / "generations.jsonl"
            assert all(g["model"] == f"cli/{stage}" for g in read_jsonl(gens))
            again = score_generations(gens, out / stage / task, MetricsConfig(n_boot=10, plots=False))[task]
            for metric in ("n", "accuracy", "weighted_f1", "macro_f1", "unparsed_rate"):
                assert cell[metric] == pytest.approx(again[metric]), (stage, task, metric)
            rows = list(read_jsonl(out / stage / task / "predictions.jsonl"))
            assert cell["accuracy"] == pytest.approx(sum(r["pred_label"] == r["label"] for r in rows) / len(rows))


def test_missing_dataset_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    model = tiny_model(tmp_path / "model")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(recipe_dict(model, tmp_path / "absent", tmp_path / "runs")))
    assert _run(["train", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "absent/train.jsonl" in err and "dataset file not found" in err
    assert _run(["train", str(recipe), "stages.0.sft.nope=1", "lora.rr=3"]) == 2
    assert "lora.rr" in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted((ROOT / "train").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_load_and_build_sft_configs(path: Path) -> None:
    from imhi.training.hf import sft_args

    recipe = load_train_recipe(path)
    assert recipe.stages and recipe.stages[0].start == "fresh"
    for stage in recipe.stages:
        args = sft_args(stage.sft, Path("unused"), recipe.seed)
        assert args.completion_only_loss is True and args.report_to in ([], "none", ["none"])


def test_recipe_folders_hold_yaml_only() -> None:
    files = [p for p in (ROOT / "train").rglob("*") if p.is_file()]
    assert files and all(p.suffix == ".yaml" for p in files)


# Issue 14 item 4: model references fail in one line, fast, naming the recipe field.

def test_unloadable_base_model_is_one_line_within_seconds(tmp_path: Path) -> None:
    from _cli_process import DEAD_HUB, imhi_process, one_line_error

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(recipe_dict(tmp_path / "absent-model", tiny_dataset(tmp_path / "data"),
                                                 tmp_path / "runs")))
    proc = imhi_process("train", str(recipe))
    one_line_error(proc, "absent-model, field 'model.path': no such file or folder")
    (tmp_path / "empty").mkdir()
    one_line_error(imhi_process("train", str(recipe), f"model.path={tmp_path / 'empty'}"),
                   "field 'model.path': folder has no config.json")
    for env, why in ((DEAD_HUB, "the hub (http://127.0.0.1:9) is unreachable"),
                     ({"HF_HUB_OFFLINE": "1"}, "HF_HUB_OFFLINE is set")):
        hub = imhi_process("train", str(recipe), "model.path=someorg/unknown-model", env=env)
        one_line_error(hub, "someorg/unknown-model, field 'model.path'", why, "not in the local Hugging Face cache")


def test_misspelled_sft_key_fails_before_training(tmp_path: Path) -> None:
    from _cli_process import imhi_process, one_line_error

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(recipe_dict(tiny_model(tmp_path / "model"), tiny_dataset(tmp_path / "data"),
                                                 tmp_path / "runs")))
    one_line_error(imhi_process("train", str(recipe), "stages.0.sft.learning_rat=0.1"),
                   f"{recipe}, field 'stages.0.sft.learning_rat': unknown trl.SFTConfig field",
                   "did you mean 'learning_rate'?")


def test_cached_hub_model_is_used_when_the_hub_is_unreachable(tmp_path: Path) -> None:
    """A hub id already in the Hugging Face cache loads from there, with no call that waits."""
    from _cli_process import DEAD_HUB, imhi_process

    snap = tmp_path / "hub" / "models--someorg--cached" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("abc123")
    code = "from imhi.models import check_model_path; print(check_model_path('someorg/cached', 'model.path'))"
    proc = imhi_process(env={**DEAD_HUB, "HF_HUB_CACHE": str(tmp_path / "hub")},
                        prelude=f"exec({code!r}); sys.exit(0)")
    assert proc.returncode == 0 and proc.stdout.strip() == str(snap), proc.stderr


# Issue 14 item 10: quiet by default.

NOISE = ("FutureWarning", "warnings.warn", "Loading weights", "it/s]", "{'loss'")


def test_train_terminal_is_quiet_and_third_party_output_goes_to_the_log(tmp_path: Path) -> None:
    from _cli_process import imhi_process

    spec = recipe_dict(tiny_model(tmp_path / "model"), tiny_dataset(tmp_path / "data"), tmp_path / "runs", steps=2)
    spec["stages"][0]["sft"]["logging_steps"] = 1
    spec["evaluation"] = {"limit": 2, "batch_size": 2, "max_new_tokens": 4, "metrics": {"n_boot": 5}}
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(spec))
    proc = imhi_process("train", str(recipe))
    terminal = proc.stdout + proc.stderr
    assert proc.returncode == 0, terminal
    assert not [n for n in NOISE if n in terminal], terminal
    assert "s1: step 1/2, loss" in proc.stdout and "s1: done: 2 steps, mean loss" in proc.stdout
    log = (tmp_path / "runs" / "t" / "imhi.log").read_text(encoding="utf-8")
    assert "WARNING" in log, "expected transformers/bitsandbytes warnings in the run's log"
    assert f"went to {tmp_path / 'runs' / 't' / 'imhi.log'} (" in proc.stderr and "imhi -v shows them" in proc.stderr
    loud = imhi_process("-v", "train", str(recipe), "name=loud", "stages.0.sft.max_steps=1", "--no-eval")
    assert loud.returncode == 0 and "WARNING" in loud.stderr and "imhi -v shows them" not in loud.stderr
