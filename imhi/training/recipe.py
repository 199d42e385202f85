"""The training recipe (``train/*.yaml``): model, LoRA, stages, per-stage evaluation.

Reads nothing itself (``imhi.config.load_recipe`` reads the YAML); writes nothing.
Each stage's ``sft:`` mapping is passed unchanged to ``trl.SFTConfig`` with Hugging
Face's own field names; imhi sets only the output folder, logging and saving fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from imhi.config import Strict, load_recipe, unknown_name
from imhi.lengths import DEFAULT_MAX_POST_TOKENS, LongPosts, MaxPostTokens
from imhi.models import ModelRef

# SFTConfig fields imhi owns: the stage folder layout and resumability depend on them.
RESERVED_SFT = ("output_dir", "logging_dir", "resume_from_checkpoint", "overwrite_output_dir")


class LoraSpec(Strict):
    """A LoRA adapter: rank, scaling, dropout and which modules to wrap."""

    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    bias: Literal["none", "all", "lora_only"] = "none"
    use_rslora: bool = False


class DataSpec(Strict):
    """One dataset in a stage's mix: an ``imhi build`` dataset folder, optional task filter."""

    path: str = Field(description="folder with train.jsonl / valid.jsonl (imhi build output)")
    tasks: list[str] | None = Field(default=None, description="keep only these tasks (default: all)")
    weight: float = Field(default=1.0, gt=0.0,
                          description="sampling multiplier: 0.5 keeps half the rows, 2 repeats them")
    balance_labels: bool = Field(default=False, description="after skip, interleave the labels of each task "
                                 "(file order kept within a label), so a limit takes as many of each")
    skip: int = Field(default=0, ge=0,
                      description="skip the first N training rows of the file (e.g. those an earlier stage used)")
    limit: int | None = Field(default=None, ge=1,
                              description="first N training rows after skip and balancing (before weight)")


class StageSpec(Strict):
    """One training stage: its data mix, how it starts, and the SFTConfig fields."""

    name: str | None = None
    start: Literal["fresh", "continue", "merge"] = "continue"
    adapter: str | None = Field(default=None,
                                description="adapter folder to continue/merge from (default: previous stage)")
    data: list[DataSpec] = Field(min_length=1)
    sft: dict[str, Any] = Field(default_factory=dict)
    lora: LoraSpec | None = Field(default=None, description="overrides the recipe's LoRA for new adapters")

    @model_validator(mode="after")
    def _check_sft(self) -> StageSpec:
        bad = sorted(set(self.sft) & set(RESERVED_SFT))
        if bad:
            raise ValueError(f"sft keys {bad} are set by imhi (the stage folder); remove them")
        return self


class EvalSpec(Strict):
    """Per-stage evaluation on each task's validation split (through imhi.generation)."""

    enabled: bool = True
    split: str = "valid"
    limit: int | None = Field(default=64, ge=1, description="rows per task (None: all)")
    batch_size: int = Field(default=8, ge=1)
    max_new_tokens: int = Field(default=128, ge=1)
    metrics: dict[str, Any] = Field(default_factory=dict,
                                    description="imhi.evaluation.MetricsConfig fields (plots off by default)")


class TrainRecipe(Strict):
    """A ``train/*.yaml`` recipe."""

    name: str
    description: str = ""
    model: ModelRef
    lora: LoraSpec = Field(default_factory=LoraSpec)
    stages: list[StageSpec] = Field(min_length=1)
    output_root: str = "runs/train"
    seed: int = 42
    system_prompt: str | None = Field(default=None,
                                      description="system message added when a pair has none")
    export_merged: bool = Field(default=False, description="save base+final adapter as a plain folder")
    max_post_tokens: MaxPostTokens = DEFAULT_MAX_POST_TOKENS  # the base model's tokenizer counts
    long_posts: LongPosts = "shorten"
    evaluation: EvalSpec = Field(default_factory=EvalSpec)

    @model_validator(mode="after")
    def _check_stages(self) -> TrainRecipe:
        first = self.stages[0]
        if first.start in ("continue", "merge") and first.adapter is None:
            # Stage 1 has no previous adapter: it starts fresh unless given one.
            self.stages[0] = first.model_copy(update={"start": "fresh"})
        return self

    def run_dir(self) -> Path:
        """``<output_root>/<name>``."""
        return Path(self.output_root) / self.name

    def stage_name(self, index: int) -> str:
        """Display name of stage ``index`` (0-based)."""
        return self.stages[index].name or f"stage_{index + 1}"

    def tasks(self) -> list[str]:
        """Every task named in any stage's data filter, in first-seen order."""
        seen: list[str] = []
        for stage in self.stages:
            for d in stage.data:
                for t in d.tasks or []:
                    if t not in seen:
                        seen.append(t)
        return seen


def load_train_recipe(path: str | Path, overrides: list[str] | None = None) -> TrainRecipe:
    """Load and validate a training recipe with ``key.sub=value`` overrides."""
    return load_recipe(path, TrainRecipe, overrides)


def sft_problems(recipe: TrainRecipe, fields: frozenset[str]) -> list[tuple[str, str]]:
    """``(recipe field, message)`` for every ``sft:`` key that is not a ``trl.SFTConfig`` field."""
    known = sorted(fields)
    return [(f"stages.{i}.sft.{key}", unknown_name("trl.SFTConfig field", key, known, show_known=False))
            for i, stage in enumerate(recipe.stages) for key in stage.sft if key not in fields]
