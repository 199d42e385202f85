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

# ``--quick``: the same three steps cut to a smoke test (the same build; two steps per stage,
# two test posts per task), in runs named demo-quick so the full demo's are left alone.
QUICK: dict[str, list[str]] = {
    "build": ["name=demo-quick"],
    "train": ["name=demo-quick", "stages.0.data.0.path=runs/build/demo-quick/dataset",
              "stages.1.data.0.path=runs/build/demo-quick/dataset", "stages.0.sft.max_steps=2",
              "stages.1.sft.max_steps=2", "evaluation.limit=2", "evaluation.max_new_tokens=16"],
    "eval": ["name=demo-quick", "models.1.adapter=runs/train/demo-quick/stage_2/adapter", "test_sets.0.limit=2",
             "models.0.max_new_tokens=24", "models.1.max_new_tokens=24", "metrics.n_boot=20", "sheet.per_task=1"],
}


def register(app: typer.Typer) -> None:
    """Add ``imhi demo``."""

    @app.command()
    def demo(
        steps: Annotated[str, typer.Option(help="comma-separated subset of build,train,eval")]
        = "build,train,eval",
        quick: Annotated[bool, typer.Option(help="a smoke test: 2 training steps per stage, 2 test posts "
                                            "per task, runs named demo-quick")] = False,
    ) -> None:
        """Build → train → eval on the bundled sample (offline; minutes on 2 CPU cores). Run it
        from the checkout: run folders go to runs/{build,train,eval}/demo, where the recipes
        build_dataset/demo.yaml, train/demo.yaml and evaluate/demo.yaml expect them."""
        root, wanted = repo_root(), {s.strip() for s in steps.split(",") if s.strip()}
        extra = QUICK if quick else {}
        if "build" in wanted:
            out.rule("1/3 build: teacher explanations for the sample's labels")
            run_dir = run_build(root / "build_dataset" / "demo.yaml", extra.get("build", []))
            out.print((run_dir / "build_report.md").read_text(encoding="utf-8"), markup=False)
            test_dir = run_build(root / "build_dataset" / "sample-reference.yaml", [])
            out.print(f"test posts with their reference explanations: {test_dir}/dataset/test.jsonl")
        if "train" in wanted:
            out.rule("2/3 train: LoRA stages, every task evaluated after every stage")
            recipe = load_train_recipe(root / "train" / "demo.yaml", extra.get("train", []))
            run_train(recipe, where=root / "train" / "demo.yaml")
            out.print(f"stage × task table: {recipe.run_dir()}/eval_table.md")
        if "eval" in wanted:
            out.rule("3/3 eval: base model vs the demo adapter on the sample's test posts")
            spec = load(root / "evaluate" / "demo.yaml", EvalRecipe, extra.get("eval", []))
            run_eval(spec, root / "evaluate")
            run = spec.run_dir()
            out.print((run / "comparison.md").read_text(encoding="utf-8").split("\n\n")[1], markup=False)
            out.print(f"[green]✓[/] reports: {run}/<model>/report.md, {run}/comparison.md; "
                      f"human-evaluation sheet: {run}/sheet/sheet.xlsx")
        name = "demo-quick" if quick else "demo"
        out.print(f"look at every run: imhi view runs/build/{name} | runs/train/{name} | runs/eval/{name}")
