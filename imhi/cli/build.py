"""``imhi build RECIPE.yaml [key.sub=value ...]``: sources → instruction pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imhi.cli.common import load, out
from imhi.synthesis.offline import run_reference
from imhi.synthesis.recipe import BuildRecipe


def register(app: typer.Typer) -> None:
    """Add ``imhi build``."""

    @app.command()
    def build(
        recipe: Annotated[Path, typer.Argument(help="build recipe (build_dataset/*.yaml)")],
        overrides: Annotated[list[str] | None, typer.Argument(help="key.sub=value overrides")] = None,
        out_dir: Annotated[Path | None, typer.Option("--out", help="run folder (default: "
                                                      "output_dir, or runs/build/<name>)")] = None,
    ) -> None:
        """Build explanation-bearing instruction pairs (train/valid/test) with a manifest."""
        spec = load(recipe, BuildRecipe, overrides)
        run_dir = run_reference(spec, recipe.parent, out_dir)
        out.print(f"[green]✓[/] dataset written to {run_dir}/dataset "
                  f"(report: {run_dir}/build_report.md)")
