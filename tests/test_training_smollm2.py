"""A QLoRA stage on the real SmolLM2-135M-Instruct weights on CPU (bitsandbytes 4-bit NF4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _training_fixtures import tiny_dataset
from safetensors.torch import load_file
from transformers import TrainerCallback

from imhi.training import TrainRecipe, run_stage

pytest.importorskip("bitsandbytes")


class Layers(TrainerCallback):
    """Records the class of q_proj's base layer and the first training loss."""

    def __init__(self) -> None:
        self.kind = ""
        self.losses: list[float] = []

    def on_train_begin(self, args, state, control, model=None, **kw):  # noqa: ANN001
        self.kind = type(model.base_model.model.model.layers[0].self_attn.q_proj.base_layer).__name__

    def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))


@pytest.mark.slow
def test_qlora_stage_on_smollm2(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "data", n_train=4)
    recipe = TrainRecipe.model_validate({
        "name": "smol", "output_root": str(tmp_path / "runs"),
        "model": {"path": "smollm2", "quantization": "4bit", "compute_dtype": "float32"},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"},
        "stages": [{"data": [{"path": str(data)}],
                    "sft": {"max_steps": 3, "per_device_train_batch_size": 2, "learning_rate": 1e-3,
                            "max_length": 160, "logging_steps": 1, "save_steps": 3, "disable_tqdm": True}}],
    })
    seen = Layers()
    result = run_stage(recipe, 0, None, callbacks=[seen])
    assert seen.kind == "Linear4bit"  # the base really is 4-bit NF4
    assert len(seen.losses) == 3 and all(0.0 < x < 20.0 for x in seen.losses)
    metrics = json.loads((result.folder / "metrics.json").read_text())
    assert 0 < metrics["trainable_params"] < metrics["total_params"] and metrics["tokens_per_s"] > 0
    adapter = load_file(result.adapter / "adapter_model.safetensors")
    assert any("mlp.down_proj.lora_B" in k for k in adapter)  # all-linear reached the MLP
    assert all(torch.isfinite(v).all() for v in adapter.values())
    assert any(torch.count_nonzero(v) > 0 for k, v in adapter.items() if "lora_B" in k)
