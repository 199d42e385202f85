"""Stages on a tiny Llama built from a config: what trains, what stays, how stages chain."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _training_fixtures import recipe_dict, tiny_dataset, tiny_model
from safetensors.torch import load_file
from transformers import TrainerCallback

from imhi.training import TrainRecipe, run_stage


class Snapshot(TrainerCallback):
    """Copies of every parameter at train begin and end (LoRA and base separately)."""

    def __init__(self) -> None:
        self.begin: dict[str, torch.Tensor] = {}
        self.end: dict[str, torch.Tensor] = {}

    @staticmethod
    def _grab(model: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {n: p.detach().clone().float() for n, p in model.named_parameters()}

    def on_train_begin(self, args, state, control, model=None, **kw):  # noqa: ANN001
        self.begin = self._grab(model)

    def on_train_end(self, args, state, control, model=None, **kw):  # noqa: ANN001
        self.end = self._grab(model)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("tiny")
    return tiny_model(base / "model"), tiny_dataset(base / "data")


def _lora(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in d.items() if "lora_" in k}


def _base(d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in d.items() if "lora_" not in k}


def _adapter_key(name: str) -> str:
    """Saved adapter keys drop the adapter name: ...q_proj.lora_A.default.weight → ...lora_A.weight."""
    return name.replace(".default", "")


def test_three_stages_fresh_continue_merge(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = tiny
    recipe = TrainRecipe.model_validate(recipe_dict(model, data, tmp_path,
                                                    starts=("fresh", "continue", "merge")))
    snaps = [Snapshot(), Snapshot(), Snapshot()]
    results = []
    prev = None
    for i in range(3):
        prev = run_stage(recipe, i, prev, callbacks=[snaps[i]])
        results.append(prev)

    # Stage 1: every LoRA tensor moved, no base tensor did.
    s1 = snaps[0]
    assert _lora(s1.begin) and all(not torch.equal(s1.begin[k], s1.end[k]) for k in _lora(s1.begin))
    assert all(torch.equal(s1.begin[k], s1.end[k]) for k in _base(s1.begin))
    saved1 = load_file(results[0].adapter / "adapter_model.safetensors")
    assert all("lora_" in k for k in saved1)

    # Stage 2 (continue) starts exactly where stage 1's saved adapter ended.
    s2 = snaps[1]
    for name, value in _lora(s2.begin).items():
        torch.testing.assert_close(value, saved1[_adapter_key(name)].float(), rtol=0, atol=0)
    assert results[1].base == results[0].base

    # Stage 3 (merge) trains a new LoRA on W + (alpha / r) * B @ A from stage 2.
    saved2 = load_file(results[1].adapter / "adapter_model.safetensors")
    base0 = load_file(model / "model.safetensors")
    merged = load_file(Path(results[2].base.path) / "model.safetensors")
    key = "model.layers.0.self_attn.q_proj"
    a = saved2[f"base_model.model.{key}.lora_A.weight"]
    b = saved2[f"base_model.model.{key}.lora_B.weight"]
    torch.testing.assert_close(merged[f"{key}.weight"], base0[f"{key}.weight"] + 2.0 * b @ a)
    assert not torch.allclose(merged[f"{key}.weight"], base0[f"{key}.weight"])
    s3 = snaps[2]
    assert all(torch.count_nonzero(v) == 0 for k, v in _lora(s3.begin).items() if "lora_B" in k)
    trained_w = s3.begin[f"base_model.model.{key}.base_layer.weight"]
    torch.testing.assert_close(trained_w, merged[f"{key}.weight"].float())

    # Every stage left its outputs; a rerun skips all of them.
    for r in results:
        assert {"adapter", "metrics.json", "log.jsonl", "stage.json"} <= {p.name for p in r.folder.iterdir()}
        assert r.metrics["num_tokens"] > 0 and r.metrics["train_loss"] > 0
    again = run_stage(recipe, 0, None)
    assert again.skipped and again.adapter == results[0].adapter.resolve()


def test_fresh_stage_ignores_previous_adapter(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = tiny
    recipe = TrainRecipe.model_validate(recipe_dict(model, data, tmp_path, starts=("fresh", "fresh")))
    first = run_stage(recipe, 0, None)
    snap = Snapshot()
    second = run_stage(recipe, 1, first, callbacks=[snap])
    assert second.base == recipe.model
    assert all(torch.count_nonzero(v) == 0 for k, v in _lora(snap.begin).items() if "lora_B" in k)


def test_config_hash_ignores_fields_left_at_default_but_not_changed_values() -> None:
    from imhi.training.recipe import TrainRecipe
    from imhi.training.stages import config_hash

    def recipe(**data_extra: object) -> TrainRecipe:
        return TrainRecipe.model_validate({
            "name": "h", "model": {"path": "m"},
            "stages": [{"data": [{"path": "d", **data_extra}], "sft": {"max_steps": 2}}]})

    plain = config_hash(recipe(), 0)
    # a recipe written before a field existed hashes like one that spells out its default
    assert config_hash(recipe(balance_labels=False, skip=0, weight=1.0), 0) == plain
    assert config_hash(recipe(skip=3), 0) != plain
    assert config_hash(recipe(balance_labels=True), 0) != plain
