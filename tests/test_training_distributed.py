"""The distributed path: two CPU processes (gloo) under `accelerate launch` with train/accelerate/ddp.yaml."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _training_fixtures import recipe_dict, tiny_dataset, tiny_model

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_process_run_completes(tmp_path: Path) -> None:
    accelerate = Path(sys.executable).with_name("accelerate")
    imhi = Path(sys.executable).with_name("imhi")
    if not accelerate.is_file() or not imhi.is_file():
        pytest.skip("accelerate / imhi console scripts not installed next to this python")
    model, data = tiny_model(tmp_path / "model"), tiny_dataset(tmp_path / "data")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(recipe_dict(model, data, tmp_path / "runs", starts=("fresh", "merge"))))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [str(accelerate), "launch", "--config_file", str(ROOT / "train" / "accelerate" / "ddp.yaml"),
           "--num_processes", "2", "--main_process_port", str(_free_port()),
           str(imhi), "train", str(recipe), "--no-eval"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for i in (1, 2):
        metrics = json.loads((tmp_path / "runs" / "t" / f"stage_{i}" / "metrics.json").read_text())
        assert metrics["world_size"] == 2
        # 4 steps × 2 rows per process × 2 processes over 6 rows (3 per process): 2 epochs, not 1.33.
        assert metrics["epoch"] == pytest.approx(2.0)
        assert (tmp_path / "runs" / "t" / f"stage_{i}" / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "runs" / "t" / "stage_2" / "merged_base" / "config.json").is_file()
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)
