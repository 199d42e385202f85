"""``imhi train RECIPE.yaml key=value ... [--resume]``: stages, then every task evaluated after each.

Reads a train recipe and the ``imhi build`` datasets it names; writes
``runs/train/<name>/stage_<i>/`` (through imhi.training), per-stage evaluation files
``stage_<i>/eval/<task>/{pairs,generations}.jsonl + scores.json`` (through imhi.generation
and imhi.evaluation), the stage × task table ``eval_table.{md,json}`` and ``report.html``
(imhi.training.page).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from imhi.cli.common import EXIT_CODES, out, table
from imhi.config import Manifest
from imhi.io import read_jsonl, write_json, write_jsonl
from imhi.training import StageResult, TrainRecipe, check_inputs, export_merged, load_train_recipe, run_stage
from imhi.training.page import write_train_page

TABLE_METRICS = ("accuracy", "weighted_f1", "micro_f1", "macro_f1", "unparsed_rate")


def eval_sets(recipe: TrainRecipe) -> dict[str, list[dict[str, Any]]]:
    """Validation rows per task over every stage's data (each task once, first dataset wins)."""
    found: dict[str, list[dict[str, Any]]] = {}
    split = recipe.evaluation.split
    for stage in recipe.stages:
        for spec in stage.data:
            path = Path(spec.path) / f"{split}.jsonl"
            if not path.is_file():
                out.print(f"[yellow]no {split} split at {path}; its tasks are not evaluated[/]")
                continue
            rows: dict[str, list[dict[str, Any]]] = {}
            for row in read_jsonl(path):
                if spec.tasks is None or row.get("task") in spec.tasks:
                    rows.setdefault(str(row.get("task")), []).append(row)
            for task, task_rows in rows.items():
                found.setdefault(task, task_rows[: recipe.evaluation.limit])
    return found


def evaluate_stage(recipe: TrainRecipe, result: StageResult,
                   sets: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Greedy generations of this stage's model on each task's validation rows, then scores."""
    from imhi.evaluation import MetricsConfig, score_generations
    from imhi.generation import GenerationConfig, generate_file

    ev = recipe.evaluation
    cfg = GenerationConfig(model=result.base, adapter=str(result.adapter), batch_size=ev.batch_size,
                           max_new_tokens=ev.max_new_tokens, system_prompt=recipe.system_prompt,
                           name=f"{recipe.name}/{result.name}")
    metrics = MetricsConfig.model_validate({"plots": False, **ev.metrics})
    scores: dict[str, dict[str, Any]] = {}
    for task, rows in sets.items():
        folder = result.folder / "eval" / task
        pairs = folder / "pairs.jsonl"
        if not pairs.is_file():
            write_jsonl(pairs, rows)
        gens = generate_file(cfg, pairs, folder / "generations.jsonl")
        scores[task] = score_generations(gens, folder, metrics).get(task, {})
    return scores


def write_table(recipe: TrainRecipe, table_rows: dict[str, dict[str, dict[str, Any]]]) -> Path:
    """``eval_table.json`` (stage → task → scores) and ``eval_table.md`` (one table per metric)."""
    run = recipe.run_dir()
    write_json(run / "eval_table.json", table_rows)
    tasks = list(dict.fromkeys(t for per in table_rows.values() for t in per))
    lines = [f"# {recipe.name}: every task after every stage ({recipe.evaluation.split} split)", ""]
    for metric in TABLE_METRICS:
        lines += [f"## {metric}", "", "| stage | " + " | ".join(tasks) + " |",
                  "| --- |" + " ---: |" * len(tasks)]
        for stage, per in table_rows.items():
            cells = [_fmt(per.get(t, {}).get(metric)) for t in tasks]
            lines.append(f"| {stage} | " + " | ".join(cells) + " |")
        lines.append("")
    path = run / "eval_table.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "–"


def run_train(recipe: TrainRecipe, resume: bool = False, evaluate: bool = True,
              callbacks: list[Any] | None = None, on_stage: Callable[[StageResult], None] | None = None,
              where: str | Path = "recipe") -> list[StageResult]:
    """Every stage in order; after each, evaluation of every task (main process only). ``where``:
    the recipe file, named in errors."""
    from imhi.training import hf

    check_inputs(recipe, where)  # a missing model, adapter or misspelled sft key: one line, before loading
    run = recipe.run_dir()
    manifest = Manifest(run, "train", recipe)
    do_eval = evaluate and recipe.evaluation.enabled
    sets = eval_sets(recipe) if do_eval else {}
    table_rows: dict[str, dict[str, dict[str, Any]]] = {}
    results: list[StageResult] = []
    prev = None
    for i in range(len(recipe.stages)):
        prev = run_stage(recipe, i, prev, resume=resume, callbacks=callbacks,
                         progress=lambda line: out.print(line, highlight=False))
        results.append(prev)
        out.print(f"[green]✓[/] {prev.name}: {'already done' if prev.skipped else 'trained'} "
                  f"→ {prev.adapter}")
        if do_eval and hf.is_main():
            table_rows[prev.name] = evaluate_stage(recipe, prev, sets)
            write_table(recipe, table_rows)
        if on_stage:
            on_stage(prev)
        hf.barrier()
    if recipe.export_merged and results:
        out.print(f"[green]✓[/] merged model: {export_merged(recipe, results[-1])}")
    if hf.is_main():
        manifest.counts.update(stages=len(results), eval_tasks=sorted(sets))
        manifest.write()
        out.print(f"report: {write_train_page(recipe, results, table_rows, TABLE_METRICS)}")
        if table_rows:
            _print_table(table_rows)
    return results


def _print_table(rows: dict[str, dict[str, dict[str, Any]]]) -> None:
    tasks = list(dict.fromkeys(t for per in rows.values() for t in per))
    body = [[stage, *[per.get(t, {}).get("accuracy", float("nan")) for t in tasks]]
            for stage, per in rows.items()]
    out.print(table("accuracy: stage × task", ["stage", *tasks], body))


def register(app: typer.Typer) -> None:
    """Add ``imhi train``."""

    @app.command(epilog=EXIT_CODES)
    def train(
        recipe: Annotated[Path, typer.Argument(help="train/*.yaml recipe")],
        overrides: Annotated[list[str] | None, typer.Argument(help="key.sub=value overrides")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="continue an interrupted stage "
                                             "from its last checkpoint")] = False,
        no_eval: Annotated[bool, typer.Option("--no-eval", help="skip the per-stage evaluation")] = False,
    ) -> None:
        """Fine-tune in sequential (Q)LoRA stages; evaluate every task after every stage."""
        spec = load_train_recipe(recipe, overrides or [])
        run_train(spec, resume=resume, evaluate=not no_eval, where=recipe)
