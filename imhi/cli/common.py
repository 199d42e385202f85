"""Shared CLI helpers: recipe loading with overrides, rich tables, repo paths, the exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from imhi.config import load_recipe

EXIT_CODES = ("Exit codes: 0 done; 1 unexpected error (a bug: traceback); 2 bad recipe, input or "
              "arguments; 3 a service failed (teacher endpoint down, batch upload refused or batch "
              "failed: finished work is kept, a rerun continues); 4 finished with too little (no row "
              "kept or fewer than min_kept, a model with no answers, a training stage with no rows); "
              "130 interrupted.")

M = TypeVar("M", bound=BaseModel)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def load(path: Path, model: type[M], overrides: list[str] | None) -> M:
    """Load a recipe strictly with ``key.sub=value`` overrides."""
    return load_recipe(path, model, overrides or [])


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """A rich table with right-aligned numeric cells."""
    t = Table(title=title, title_justify="left")
    for i, c in enumerate(columns):
        t.add_column(c, justify="right" if i and rows and isinstance(rows[0][i], int | float) else "left")
    for r in rows:
        t.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in r])
    return t


def repo_root() -> Path:
    """The checkout (or installed package data) holding the recipe folders."""
    here = Path(__file__).resolve().parents[2]
    if (here / "build_dataset").is_dir():
        return here
    return Path(__file__).resolve().parents[1] / "_recipes"
