"""``imhi check``: validate every task folder and every recipe file, and say which folders it read.

Eval recipes are also checked against the tasks and their test files (task names, template
names, columns, labels) without loading any model.
"""

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
from imhi.evaluation.testsets import check_test_sets
from imhi.io import InputError
from imhi.sources import data_root
from imhi.synthesis.recipe import BuildRecipe
from imhi.tasks import load_task, prompts_root, task_names
from imhi.training.hf import sft_fields
from imhi.training.recipe import TrainRecipe, sft_problems

PROMPTS_HINT = "set it with --prompts, IMHI_PROMPTS or a recipe's `prompts:`"


def recipe_models() -> dict[str, type[BaseModel]]:
    """Recipe folder name → the model that validates its YAML files."""
    return {"build_dataset": BuildRecipe, "train": TrainRecipe, "evaluate": EvalRecipe}


def model_for(folder: str, path: Path) -> type[BaseModel]:
    """The recipe model of a file; ``evaluate/extractor*.yaml`` train the label extractor."""
    if folder == "evaluate" and path.name.startswith("extractor"):
        return ExtractorConfig
    return recipe_models()[folder]


def recipe_files(root: Path) -> dict[str, list[Path]]:
    """Recipe folder → its YAML files; an error when ``root`` is missing or holds none."""
    if not root.is_dir():
        raise InputError(root, "recipes folder not found (give the folder holding build_dataset/, train/, "
                         "evaluate/ with --recipes)")
    files = {f: sorted((root / f).glob("*.yaml")) for f in recipe_models()}
    if not any(files.values()):
        raise InputError(root, f"no recipe files in {', '.join(f + '/' for f in recipe_models())} "
                         "(give the folder holding them with --recipes)")
    return files


def check_recipes(root: Path, sft_fields: frozenset[str] | None = None, prompts: str | None = None,
                  ) -> tuple[list[str], list[Path]]:
    """Validate every recipe YAML under the recipe folders (train recipes' ``sft:`` keys too,
    against ``sft_fields`` when given; eval recipes against the tasks and their test files);
    return (error messages, absent test files left unchecked)."""
    problems: list[str] = []
    absent: list[Path] = []
    for folder, paths in recipe_files(root).items():
        for path in paths:
            try:
                recipe = load_recipe(path, model_for(folder, path))
            except InputError as exc:
                problems.append(str(exc))
                continue
            if isinstance(recipe, TrainRecipe) and sft_fields:
                problems += [str(InputError(path, msg, field=f)) for f, msg in sft_problems(recipe, sft_fields)]
            if isinstance(recipe, EvalRecipe):
                found, missing = check_test_sets(recipe.test_sets, recipe.prompts or prompts,
                                                 data_root(recipe.data_dir, path.parent, None), path)
                problems, absent = problems + found, absent + missing
    return problems, absent


def check_tasks(prompts: str | None) -> tuple[int, list[str]]:
    """Load every task folder; return (count, error messages). A missing or empty prompts folder
    is an error."""
    root = prompts_root(prompts)
    if not root.is_dir():
        raise InputError(root, f"prompts folder not found; {PROMPTS_HINT}")
    problems, names = [], task_names(prompts)
    if not names:
        raise InputError(root, f"no task folders (<task>/task.yaml) in the prompts folder; {PROMPTS_HINT}")
    for name in names:
        try:
            load_task(name, prompts)
        except InputError as exc:
            problems.append(str(exc))
    return len(names), problems


def default_recipes() -> Path:
    """The working folder when it holds recipe folders (a checkout), else the installed recipes."""
    here = Path.cwd()
    return here if any((here / f).is_dir() for f in recipe_models()) else repo_root()


def register(app: typer.Typer) -> None:
    """Add ``imhi check``."""

    @app.command()
    def check(
        recipes: Annotated[Path | None, typer.Option(help="folder holding build_dataset/, train/, evaluate/ "
                                                     "(default: the working folder if it has them, else the "
                                                     "installed ones)")] = None,
        prompts: Annotated[str | None, typer.Option(help="prompts folder (default: $IMHI_PROMPTS, else the "
                                                    "installed one)")] = None,
    ) -> None:
        """Validate every task (prompts/<task>/) and every recipe (build_dataset/, train/, evaluate/)."""
        n_tasks, problems = check_tasks(prompts)
        root = recipes or default_recipes()
        fields, why = sft_fields()
        if fields is None:
            err.print(f"[yellow]skipped:[/] train recipes' sft: keys not checked against trl.SFTConfig: {why}")
        found, absent = check_recipes(root, fields, prompts)
        problems += found
        counts = {f: len(p) for f, p in recipe_files(root).items()}
        out.print(f"prompts: {prompts_root(prompts).resolve()} ({n_tasks} tasks)", highlight=False)
        out.print(f"recipes: {root.resolve()} (" + ", ".join(f"{f}/ {n}" for f, n in counts.items()) + ")",
                  highlight=False)
        for path in absent:
            out.print(f"[dim]not checked (absent): test file {escape(str(path))}[/]", highlight=False)
        for p in problems:
            err.print(f"[red]✗[/] {escape(p)}", highlight=False)
        if problems:
            raise typer.Exit(1)
        out.print(f"[green]✓[/] {n_tasks} tasks and {sum(counts.values())} recipes are valid")
