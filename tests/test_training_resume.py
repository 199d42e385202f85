"""Interrupted runs: --resume ends where an uninterrupted run ends; errors leave earlier stages intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _training_fixtures import recipe_dict, tiny_dataset, tiny_model
from safetensors.torch import load_file
from transformers import TrainerCallback

from imhi.io import InputError, sha256_file
from imhi.training import TrainRecipe, run_stage


class Crash(TrainerCallback):
    """Failure injection: raise after optimiser step ``k`` (a killed process, in effect)."""

    def __init__(self, k: int) -> None:
        self.k = k

    def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
        if state.global_step == self.k:
            raise KeyboardInterrupt(f"injected stop after step {self.k}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("tiny")
    return tiny_model(base / "model"), tiny_dataset(base / "data")


def _adapter(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "adapter" / "adapter_model.safetensors")


def _two_stages(model: Path, data: Path, out: Path) -> TrainRecipe:
    return TrainRecipe.model_validate(recipe_dict(model, data, out, starts=("fresh", "continue"), steps=6))


def test_resume_matches_uninterrupted(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = tiny
    ref = _two_stages(model, data, tmp_path / "ref")
    r1 = run_stage(ref, 0, None)
    r2 = run_stage(ref, 1, r1)

    run = _two_stages(model, data, tmp_path / "run")
    c1 = run_stage(run, 0, None)
    with pytest.raises(KeyboardInterrupt):
        run_stage(run, 1, c1, callbacks=[Crash(3)])  # checkpoint-2 exists, step 3 is lost
    assert not (run.run_dir() / "stage_2" / "metrics.json").exists()
    with pytest.raises(InputError, match="--resume"):
        run_stage(run, 1, c1)
    c2 = run_stage(run, 1, c1, resume=True)
    assert c2.metrics["resumed_from"] == "checkpoint-2"

    want, got = _adapter(r2.folder), _adapter(c2.folder)
    assert want.keys() == got.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)
    changed = _adapter(c1.folder)
    assert any(not torch.allclose(changed[k], got[k]) for k in got)  # stage 2 did train


def test_errors_name_the_problem_and_keep_earlier_stages(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = tiny
    recipe = _two_stages(model, data, tmp_path)
    first = run_stage(recipe, 0, None)
    digests = {p: sha256_file(p) for p in first.folder.rglob("*") if p.is_file()}

    missing = recipe_dict(model, tmp_path / "nowhere", tmp_path, starts=("fresh", "continue"))
    missing["stages"][0] = recipe.stages[0].model_dump()
    with pytest.raises(InputError, match=r"train\.jsonl.*dataset file not found"):
        run_stage(TrainRecipe.model_validate(missing), 1, first)

    unknown = recipe.model_dump()
    unknown["stages"][1]["data"][0]["tasks"] = ["no_such_task"]
    with pytest.raises(InputError, match="unknown task 'no_such_task'"):
        run_stage(TrainRecipe.model_validate(unknown), 1, first)

    changed = recipe.model_dump()
    changed["lora"]["r"] = 8
    with pytest.raises(InputError, match="different recipe"):
        run_stage(TrainRecipe.model_validate(changed), 0, None)

    assert {p: sha256_file(p) for p in first.folder.rglob("*") if p.is_file()} == digests
    assert not (recipe.run_dir() / "stage_2" / "metrics.json").exists()


def test_incompatible_adapter_is_a_clear_error(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = tiny
    other = tiny_model(tmp_path / "wider", hidden=64)
    donor = TrainRecipe.model_validate(recipe_dict(other, data, tmp_path / "donor", steps=1))
    adapter = run_stage(donor, 0, None).adapter
    bad = recipe_dict(model, data, tmp_path / "bad", steps=1)
    bad["stages"][0].update(start="continue", adapter=str(adapter))
    with pytest.raises(InputError, match="incompatible adapter"):
        run_stage(TrainRecipe.model_validate(bad), 0, None)
    assert not (tmp_path / "bad" / "t" / "stage_1" / "metrics.json").exists()


def test_sft_mapping_is_passed_through_and_validated(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = tiny
    spec = recipe_dict(model, data, tmp_path, steps=2)
    spec["stages"][0]["sft"]["no_such_field"] = 1
    with pytest.raises(InputError, match="SFTConfig"):
        run_stage(TrainRecipe.model_validate(spec), 0, None)
    spec["stages"][0]["sft"] = {"output_dir": "x"}
    with pytest.raises(ValueError, match="set by imhi"):
        TrainRecipe.model_validate(spec)
    spec["stages"][0]["sft"] = {"max_steps": 2, "per_device_train_batch_size": 3, "max_length": 64,
                                "disable_tqdm": True}
    result = run_stage(TrainRecipe.model_validate(spec), 0, None)
    args = torch.load(result.adapter / "training_args.bin", weights_only=False)
    assert (args.per_device_train_batch_size, args.max_length) == (3, 64)
    assert json.loads((result.folder / "metrics.json").read_text())["train_rows"] == 6


class OutOfMemory(TrainerCallback):
    """Failure injection: the allocator gives up at step 1 (as CUDA does on a too-small GPU)."""

    def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_is_a_clear_error(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    model, data = tiny
    recipe = _two_stages(model, data, tmp_path)
    first = run_stage(recipe, 0, None)
    digests = {p: sha256_file(p) for p in first.folder.rglob("*") if p.is_file()}
    with pytest.raises(InputError, match="out of memory while training: lower per_device_train_batch_size"):
        run_stage(recipe, 1, first, callbacks=[OutOfMemory()])
    assert {p: sha256_file(p) for p in first.folder.rglob("*") if p.is_file()} == digests
    assert not (recipe.run_dir() / "stage_2" / "metrics.json").exists()


SLOW_STEPS = """
import time, transformers
_step = transformers.Trainer.training_step
def training_step(self, *a, **kw):
    time.sleep(0.3)  # failure injection: slow steps, so the test can kill mid-stage
    return _step(self, *a, **kw)
transformers.Trainer.training_step = training_step
"""


@pytest.mark.slow
def test_killed_train_subprocess_resumes_to_the_same_adapter(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    """`imhi train` killed (SIGKILL) in stage 2 after its first checkpoint; `imhi train --resume`
    ends with the adapter weights of an uninterrupted run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import yaml
    from _cli_process import REPO

    model, data = tiny
    ref = _two_stages(model, data, tmp_path / "ref")
    want = _adapter(run_stage(ref, 1, run_stage(ref, 0, None)).folder)

    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(recipe_dict(model, data, tmp_path / "run", starts=("fresh", "continue"),
                                                 steps=6)))
    stage2 = tmp_path / "run" / "t" / "stage_2"
    code = f"import sys; exec({SLOW_STEPS!r}); from imhi.cli import main; sys.argv[0] = 'imhi'; main()"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", code, "train", str(recipe), "--no-eval"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while not (stage2 / "checkpoints" / "checkpoint-2" / "trainer_state.json").is_file():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[0].decode()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not (stage2 / "metrics.json").exists()  # killed mid-stage
    from _cli_process import imhi_process

    again = imhi_process("train", str(recipe), "--no-eval")
    assert again.returncode != 0 and "--resume" in again.stdout + again.stderr
    resumed = imhi_process("train", str(recipe), "--no-eval", "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads((stage2 / "metrics.json").read_text())["resumed_from"].startswith("checkpoint-")
    got = _adapter(stage2)
    assert want.keys() == got.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)
