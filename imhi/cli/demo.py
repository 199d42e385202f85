"""``imhi demo``: the whole pipeline on the bundled sample, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imhi.cli.common import load, out, repo_root
from imhi.synthesis.offline import run_reference
from imhi.synthesis.recipe import BuildRecipe


def register(app: typer.Typer) -> None:
    """Add ``imhi demo``."""

    @app.command()
    def demo(
        runs: Annotated[Path, typer.Option(help="folder for the demo's run folders")] = Path("runs"),
    ) -> None:
        """Build instruction pairs from the bundled sample (offline) and report where they are."""
        root = repo_root()
        recipe_path = root / "build_dataset" / "sample-reference.yaml"
        recipe = load(recipe_path, BuildRecipe, [])
        run_dir = run_reference(recipe, recipe_path.parent, runs / "build" / recipe.name)
        out.print((run_dir / "build_report.md").read_text(encoding="utf-8"), markup=False)
        out.print(f"[green]✓[/] demo dataset: {run_dir}/dataset")
