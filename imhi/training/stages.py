"""Sequential training stages: fresh, continue (previous adapter) or merge (previous weights).

Reads the recipe and the ``imhi build`` dataset files; writes, per stage,
``<run>/stage_<i>/{adapter/, metrics.json, log.jsonl, stage.json, checkpoints/}``
(plus ``merged_base/`` for a merge start) and optionally ``<run>/merged/``. A stage is
finished once its metrics.json exists; a rerun skips finished stages, and ``resume``
continues an interrupted stage from its last checkpoint. Earlier stages' folders are
only ever read.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imhi.config import Manifest
from imhi.io import InputError, TooLittle, read_jsonl_tolerant, write_json
from imhi.models import ModelRef, check_model_path
from imhi.training import hf
from imhi.training.data import check_stage_data, fit_to_length, limit_posts, stage_rows
from imhi.training.recipe import DataSpec, TrainRecipe, sft_problems


@dataclass
class StageResult:
    """What a finished stage left on disk: its base model, adapter and metrics."""

    index: int
    name: str
    folder: Path
    base: ModelRef
    adapter: Path
    tasks: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False


def stage_dir(recipe: TrainRecipe, index: int) -> Path:
    """``<run>/stage_<i>`` with i 1-based."""
    return recipe.run_dir() / f"stage_{index + 1}"


def config_hash(recipe: TrainRecipe, index: int) -> str:
    """Hash of everything that shapes stage ``index``'s weights (model, LoRA, stages so far).

    Values left at their defaults are not hashed, so a new recipe field with a default (a
    later imhi version) does not make finished stages look changed."""
    def dump(m: Any) -> Any:
        return m.model_dump(mode="json", exclude_defaults=True)

    data = {"model": dump(recipe.model), "lora": dump(recipe.lora), "seed": recipe.seed,
            "system_prompt": recipe.system_prompt, "stages": [dump(s) for s in recipe.stages[: index + 1]]}
    posts = recipe.model_dump(include={"max_post_tokens", "long_posts"}, exclude_defaults=True)
    if posts:
        data["posts"] = posts
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def finished(recipe: TrainRecipe, index: int) -> StageResult | None:
    """The stage's result if it already finished with the same config; error if the config changed."""
    folder = stage_dir(recipe, index)
    info_path, metrics_path = folder / "stage.json", folder / "metrics.json"
    if not metrics_path.is_file() or not info_path.is_file():
        return None
    info = json.loads(info_path.read_text(encoding="utf-8"))
    if info.get("config_hash") != config_hash(recipe, index):
        raise InputError(folder, "this stage finished under a different recipe; choose a new "
                         "`name=` or delete the run folder to retrain", field="stages")
    return StageResult(index, recipe.stage_name(index), folder, ModelRef(**info["base"]),
                       Path(info["adapter"]), info["tasks"],
                       json.loads(metrics_path.read_text(encoding="utf-8")), skipped=True)


def _start(recipe: TrainRecipe, index: int, prev: StageResult | None) -> tuple[ModelRef, str | None]:
    """(base model, adapter to continue or merge) for stage ``index``."""
    spec = recipe.stages[index]
    if spec.start == "fresh":
        return recipe.model, None
    base = prev.base if prev else recipe.model
    adapter = spec.adapter or (str(prev.adapter) if prev else None)
    if adapter is None:
        raise InputError(f"stage {index + 1}", f"start '{spec.start}' needs an adapter", field="adapter")
    return base, adapter


def _merged_base(recipe: TrainRecipe, index: int, base: ModelRef, adapter: str) -> ModelRef:
    """Merge ``adapter`` into ``base`` once (main process) and return the merged folder's ref."""
    out = stage_dir(recipe, index) / "merged_base"
    if hf.is_main():
        hf.merge_to_folder(base, adapter, out)
    hf.barrier()
    return base.model_copy(update={"path": str(out.resolve()), "gguf_file": None})


def _resume_point(folder: Path, resume: bool) -> str | None:
    """The checkpoint to resume from; an interrupted stage without ``resume`` is an error."""
    ckpt = hf.last_checkpoint(folder / "checkpoints")
    if ckpt and not resume:
        raise InputError(folder, f"stage was interrupted (found {Path(ckpt).name}); rerun with "
                         "--resume to continue it, or delete the folder to restart it")
    return ckpt


def _build_model(recipe: TrainRecipe, index: int, base: ModelRef, adapter: str | None,
                 gradient_checkpointing: bool) -> Any:
    spec = recipe.stages[index]
    model = hf.load_base(base, gradient_checkpointing)
    if adapter is None:
        return hf.new_adapter(model, spec.lora or recipe.lora, recipe.seed)
    return hf.load_adapter(model, adapter, trainable=True)


def check_inputs(recipe: TrainRecipe, where: str | Path = "recipe") -> None:
    """Fail in one line before any model loads: the base model, stage adapters, ``sft:`` keys
    (``where``: the recipe file, named in the message)."""
    check_model_path(recipe.model.path, "model.path", recipe.model.gguf_file)
    for i, stage in enumerate(recipe.stages):
        if stage.adapter and not (Path(stage.adapter) / "adapter_config.json").is_file():
            raise InputError(stage.adapter, "not an adapter folder (no adapter_config.json)",
                             field=f"stages.{i}.adapter")
    fields, _ = hf.sft_fields()
    problems = sft_problems(recipe, fields) if fields else []
    if problems:
        raise InputError(where, problems[0][1], field=problems[0][0])


def run_stage(recipe: TrainRecipe, index: int, prev: StageResult | None, resume: bool = False,
              callbacks: list[Any] | None = None, progress: Callable[[str], None] | None = None) -> StageResult:
    """Train stage ``index`` (0-based) unless it already finished; return its result (``progress``:
    where a line per Trainer log goes)."""
    done = finished(recipe, index)
    if done is not None:
        return done
    spec, folder = recipe.stages[index], stage_dir(recipe, index)
    tasks = check_stage_data(spec.data)  # missing file / unknown task: fail before loading a model
    rows = stage_rows(spec.data, recipe.seed, recipe.system_prompt)
    if not rows:
        raise TooLittle(f"stage {recipe.stage_name(index)} has no train rows to learn from (data: "
                        f"{', '.join(_describe(d) for d in spec.data)}); nothing was trained")
    resume_from = _resume_point(folder, resume)
    if not resume_from and hf.is_main():
        _clear_partial(folder)
    hf.barrier()
    manifest = Manifest(folder, f"train:{recipe.stage_name(index)}", recipe)
    base, adapter = _start(recipe, index, prev)
    if spec.start == "merge" and adapter is not None:
        base, adapter = _merged_base(recipe, index, base, adapter), None
    args = hf.sft_args(spec.sft, folder / "checkpoints", recipe.seed)
    tok = hf.tokenizer(recipe.model)
    rows, over_limit, rejected = limit_posts(rows, tok, recipe.max_post_tokens, recipe.long_posts)
    if not rows:
        raise InputError(f"stage {index + 1}", f"every row's post is over max_post_tokens={recipe.max_post_tokens}"
                         " (long_posts: reject)", field="max_post_tokens")
    rows, shortened = fit_to_length(rows, tok, getattr(args, "max_length", None))
    model = _build_model(recipe, index, base, adapter, bool(args.gradient_checkpointing))
    name = recipe.stage_name(index)
    report = (lambda line: progress(f"  {name}: {line}")) if progress else None
    trainer, metrics = hf.train(model, tok, rows, args, folder / "log.jsonl", resume_from, callbacks, report)
    out = hf.save_adapter(trainer, folder / "adapter")
    metrics.update({**hf.trainable_counts(model), **hf.world(), "train_rows": len(rows),
                    "posts_shortened": shortened, "posts_over_max_post_tokens": {
                        "max_post_tokens": recipe.max_post_tokens, "shortened": over_limit, "rejected": rejected},
                    "start": spec.start, "resumed_from": Path(resume_from).name if resume_from else None})
    result = StageResult(index, recipe.stage_name(index), folder, base, out, tasks, metrics)
    if hf.is_main():
        _write_finished(recipe, result, manifest)
    hf.barrier()
    return result


def _describe(spec: DataSpec) -> str:
    """A stage's data entry as the user wrote it: path, tasks, skip/limit."""
    extra = [f"{k} {v}" for k, v in (("tasks", spec.tasks), ("skip", spec.skip), ("limit", spec.limit)) if v]
    return f"{spec.path}" + (f" ({'; '.join(str(e) for e in extra)})" if extra else "")


def _clear_partial(folder: Path) -> None:
    """Remove leftovers of a stage that never reached a checkpoint (never a finished stage)."""
    for name in ("adapter", "adapter.partial", "log.jsonl", "checkpoints"):
        target = folder / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _write_finished(recipe: TrainRecipe, result: StageResult, manifest: Manifest) -> None:
    """stage.json, manifest.json, then metrics.json last: its presence marks the stage done."""
    folder = result.folder
    write_json(folder / "stage.json", {
        "name": result.name, "index": result.index + 1, "config_hash": config_hash(recipe, result.index),
        "base": result.base.model_dump(mode="json"), "adapter": str(result.adapter.resolve()),
        "tasks": result.tasks})
    manifest.counts.update(train_rows=result.metrics["train_rows"], log_lines=len(
        read_jsonl_tolerant(folder / "log.jsonl")))
    manifest.time("train", result.metrics.get("wall_s", 0.0))
    manifest.add_output(folder / "adapter" / "adapter_model.safetensors")
    manifest.write()
    write_json(folder / "metrics.json", result.metrics)


def export_merged(recipe: TrainRecipe, last: StageResult) -> Path | None:
    """Save base + final adapter as a plain model folder ``<run>/merged`` (main process)."""
    out = recipe.run_dir() / "merged"
    if hf.is_main():
        hf.merge_to_folder(last.base, last.adapter, out)
    hf.barrier()
    return out
