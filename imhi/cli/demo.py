"""``imhi demo``: the whole pipeline on the bundled sample, offline, on CPU.

build (SmolLM2 explains the labels of the sample's dr and dreaddit train and valid posts; the
test posts become pairs with their reference explanations) → train (two LoRA stages,
depression then stress, every task evaluated after every stage) → eval (base vs adapter:
labels, BERTScore, BARTScore, comparison) → a blinded human-evaluation sheet. Each step is
the recipe a user would run by hand; finished steps are reused when the demo is rerun.
"""

from __future__ import annotations

from typing import Annotated

import typer

from imhi.cli.build import run_build
from imhi.cli.common import load, out, repo_root
from imhi.cli.evaluate import EvalRecipe, run_eval
from imhi.cli.train import run_train
from imhi.training.recipe import load_train_recipe


def register(app: typer.Typer) -> None:
    """Add ``imhi demo``."""

    @app.command()
    def demo(
        steps: Annotated[str, typer.Option(help="comma-separated subset of build,train,eval")]
        = "build,train,eval",
    ) -> None:
        """Build → train → eval on the bundled sample (offline; minutes on 2 CPU cores). Run it
        from the checkout: run folders go to runs/{build,train,eval}/demo, where the recipes
        build_dataset/demo.yaml, train/demo.yaml and evaluate/demo.yaml expect them."""
        root, wanted = repo_root(), {s.strip() for s in steps.split(",") if s.strip()}
        if "build" in wanted:
            out.rule("1/3 build: teacher explanations for the sample's labels")
            run_dir = run_build(root / "build_dataset" / "demo.yaml", [])
            out.print((run_dir / "build_report.md").read_text(encoding="utf-8"), markup=False)
            test_dir = run_build(root / "build_dataset" / "sample-reference.yaml", [])
            out.print(f"test posts with their reference explanations: {test_dir}/dataset/test.jsonl")
        if "train" in wanted:
            out.rule("2/3 train: LoRA stages, every task evaluated after every stage")
            recipe = load_train_recipe(root / "train" / "demo.yaml", [])
            run_train(recipe, where=root / "train" / "demo.yaml")
            out.print(f"stage × task table: {recipe.run_dir()}/eval_table.md")
        if "eval" in wanted:
            out.rule("3/3 eval: base model vs the demo adapter on the sample's test posts")
            spec = load(root / "evaluate" / "demo.yaml", EvalRecipe, [])
            run_eval(spec, root / "evaluate")
            run = spec.run_dir()
            out.print((run / "comparison.md").read_text(encoding="utf-8").split("\n\n")[1], markup=False)
            out.print(f"[green]✓[/] reports: {run}/<model>/report.md, {run}/comparison.md; "
                      f"human-evaluation sheet: {run}/sheet/sheet.xlsx")
        out.print("look at every run: imhi view runs/build/demo | runs/train/demo | runs/eval/demo")
