"""Training: sequential QLoRA stages with TRL (see stages.py; all TRL/PEFT calls in hf.py).

Reads instruction-pair datasets written by ``imhi build``; writes ``runs/train/<name>/``.
Imports nothing from generation/evaluation: the CLI composes per-stage evaluation.
"""

from imhi.training.recipe import (
    DataSpec,
    EvalSpec,
    LoraSpec,
    StageSpec,
    TrainRecipe,
    load_train_recipe,
    sft_problems,
)
from imhi.training.stages import StageResult, check_inputs, export_merged, run_stage, stage_dir

__all__ = ["DataSpec", "EvalSpec", "LoraSpec", "StageResult", "StageSpec", "TrainRecipe", "check_inputs",
           "export_merged", "load_train_recipe", "run_stage", "sft_problems", "stage_dir"]
