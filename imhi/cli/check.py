"""``imhi check``: validate every task folder and every recipe file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.markup import escape

from imhi.cli.common import err, out, repo_root
from imhi.cli.evaluate import EvalRecipe
from imhi.config import load_recipe
from imhi.evaluation.classifier import ExtractorConfig
from imhi.io import InputError
from imhi.synthesis.recipe import BuildRecipe
from imhi.tasks import load_task, task_names
from imhi.training.hf import sft_fields
from imhi.training.recipe import TrainRecipe, sft_problems


def recipe_models() -> dict[str, type[BaseModel]]:
    """Recipe folder name → the model that validates its YAML files."""
    return {"build_dataset": BuildRecipe, "train": TrainRecipe, "evaluate": EvalRecipe}


def model_for(folder: str, path: Path) -> type[BaseModel]:
    """The recipe model of a file; ``evaluate/extractor*.yaml`` train the label extractor."""
    if folder == "evaluate" and path.name.startswith("extractor"):
        return ExtractorConfig
    return recipe_models()[folder]


def check_recipes(root: Path, sft_fields: frozenset[str] | None = None) -> list[str]:
    """Validate every recipe YAML under the recipe folders (train recipes' ``sft:`` keys too,
    against ``sft_fields`` when given); return error messages."""
    problems = []
    for folder in recipe_models():
        for path in sorted((root / folder).glob("*.yaml")):
            try:
                recipe = load_recipe(path, model_for(folder, path))
            except InputError as exc:
                problems.append(str(exc))
                continue
            if isinstance(recipe, TrainRecipe) and sft_fields:
                problems += [str(InputError(path, msg, field=f)) for f, msg in sft_problems(recipe, sft_fields)]
    return problems


def check_tasks(prompts: str | None) -> tuple[int, list[str]]:
    """Load every task folder; return (count, error messages)."""
    problems, names = [], task_names(prompts)
    for name in names:
        try:
            load_task(name, prompts)
        except InputError as exc:
            problems.append(str(exc))
    return len(names), problems


def register(app: typer.Typer) -> None:
    """Add ``imhi check``."""

    @app.command()
    def check(
        recipes: Annotated[Path | None, typer.Option(help="folder holding build_dataset/, train/, "
                                                     "evaluate/ (default: the checkout)")] = None,
        prompts: Annotated[str | None, typer.Option(help="prompts folder")] = None,
    ) -> None:
        """Validate every task (prompts/<task>/) and every recipe (build_dataset/, train/, evaluate/)."""
        n_tasks, problems = check_tasks(prompts)
        root = recipes or repo_root()
        fields, why = sft_fields()
        if fields is None:
            err.print(f"[yellow]skipped:[/] train recipes' sft: keys not checked against trl.SFTConfig: {why}")
        problems += check_recipes(root, fields)
        n_recipes = sum(len(list((root / f).glob("*.yaml"))) for f in recipe_models())
        for p in problems:
            err.print(f"[red]✗[/] {escape(p)}", highlight=False)
        if problems:
            raise typer.Exit(1)
        out.print(f"[green]✓[/] {n_tasks} tasks and {n_recipes} recipes are valid")
