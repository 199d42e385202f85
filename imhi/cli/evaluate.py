"""``imhi eval RECIPE``, ``imhi sheet export|score``, ``imhi train-extractor``, ``imhi compare``.

Reads an evaluate recipe (evaluate/*.yaml) and the test files and models it names; writes
``<out>/data/tests.jsonl``, per model ``<out>/<model>/generations.jsonl`` (through
imhi.generation), ``scores.json``, ``predictions.jsonl``, ``report.md`` and plots (through
imhi.evaluation), ``<out>/comparison.md`` across models, an optional blinded sheet, and
``manifest.json``. Every step resumes from what is already on disk.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import Field, model_validator

from imhi.cli.common import load, out, table
from imhi.config import Manifest, Strict
from imhi.evaluation.classifier import ExtractorConfig, train_extractor
from imhi.evaluation.report import compare, summary_table
from imhi.evaluation.score import MetricsConfig, score_generations
from imhi.evaluation.sheets import SheetConfig, export_sheet, score_sheets
from imhi.evaluation.testsets import TestSet, read_test_set
from imhi.generation import GenerationConfig, generate_file
from imhi.io import InputError, read_jsonl, write_jsonl, write_text

TABLE = ("n", "accuracy", "weighted_f1", "macro_f1", "unparsed_rate")


class EvalRecipe(Strict):
    """An ``imhi eval`` recipe: test sets × models, scored the same way."""

    name: str
    out: str | None = Field(default=None, description="run folder (default runs/eval/<name>)")
    test_sets: list[TestSet]
    models: list[GenerationConfig]
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    compare_metrics: list[str] = Field(default_factory=lambda: ["weighted_f1", "agreement", "unparsed_rate"])
    sheet: SheetConfig | None = None
    prompts: str | None = None
    published: dict[str, dict[str, dict[str, float]]] = Field(
        default_factory=dict, description="scores from papers shown beside the models in comparison.md: "
        "system → task → metric → value, on the same 0-1 scale as ours")

    @model_validator(mode="after")
    def _names(self) -> EvalRecipe:
        names = [m.model_name() for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must differ (give each a `name`): {names}")
        return self

    def run_dir(self) -> Path:
        return Path(self.out or f"runs/eval/{self.name}")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def prepare_tests(recipe: EvalRecipe, run: Path) -> Path:
    """All test rows in one pair file, rewritten when the recipe's test sets change (answers
    already generated for a row are kept and reused: generation resumes by row id)."""
    path = run / "data" / "tests.jsonl"
    rows: list[dict[str, Any]] = []
    for ts in recipe.test_sets:
        got = read_test_set(ts, recipe.prompts)
        if not got:
            out.print(f"[yellow]test set '{ts.name}' skipped: {ts.path} is absent (optional)[/]")
        rows += got
    if not rows:
        raise InputError(recipe.name, "no test rows: every test set is absent or empty")
    if not path.is_file() or list(read_jsonl(path)) != rows:
        write_jsonl(path, rows)
    return path


def published_rows(recipe: EvalRecipe, metric: str) -> dict[str, dict[str, float]]:
    """``"<system> (published)" → task → value`` for the systems that report ``metric``."""
    rows = {f"{system} (published)": {t: m[metric] for t, m in tasks.items() if metric in m}
            for system, tasks in recipe.published.items()}
    return {name: vals for name, vals in rows.items() if vals}


def run_eval(recipe: EvalRecipe) -> dict[str, dict[str, Any]]:
    """Generate with every model, score each, compare them; returns model → scores."""
    run = recipe.run_dir()
    manifest = Manifest(run, "eval", recipe)
    tests = prepare_tests(recipe, run)
    ids = {r["id"] for r in read_jsonl(tests)}
    manifest.add_input(tests, rows=len(ids))
    metrics = recipe.metrics.model_copy(update={"prompts": recipe.metrics.prompts or recipe.prompts})
    results, gens = {}, {}
    for cfg in recipe.models:
        name = cfg.model_name()
        folder = run / _slug(name)
        t0 = time.perf_counter()
        gens[name] = generate_file(cfg, tests, folder / "generations.jsonl")
        t1 = time.perf_counter()
        results[name] = score_generations(gens[name], folder, metrics, ids)
        manifest.time(f"generate/{name}", t1 - t0)
        manifest.time(f"score/{name}", time.perf_counter() - t1)
        manifest.add_output(folder / "scores.json")
        out.print(table(f"{name}", ["task", *TABLE], [[t, *(s.get(c) for c in TABLE)]
                                                      for t, s in results[name].items()]))
    runs = {name: run / _slug(name) for name in results}
    for metric in recipe.compare_metrics:
        compare(runs, run / "comparison" / metric, metric, published_rows(recipe, metric))
    head = f"# {recipe.name}: all models\n\n{summary_table(runs, recipe.compare_metrics)}\n\n"
    write_text(run / "comparison.md", head + "\n".join(
        (run / "comparison" / m / "comparison.md").read_text(encoding="utf-8")
        .replace("](heatmap.png)", f"](comparison/{m}/heatmap.png)") for m in recipe.compare_metrics))
    if recipe.sheet is not None:
        export_sheet(gens, run / "sheet", recipe.sheet)
        manifest.add_output(run / "sheet" / "sheet.xlsx")
    manifest.write()
    return results


def register(app: typer.Typer) -> None:
    """Add ``eval``, ``sheet``, ``train-extractor`` and ``compare`` to the CLI."""
    sheet = typer.Typer(help="Human-evaluation sheets: export blinded XLSX/CSV, score filled ones.",
                        no_args_is_help=True)

    @app.command("eval")
    def eval_cmd(recipe: Annotated[Path, typer.Argument(help="evaluate/*.yaml")],
                 overrides: Annotated[list[str] | None, typer.Argument(help="key.sub=value")] = None) -> None:
        """Generate with each model on the test sets and score labels and explanations."""
        r = load(recipe, EvalRecipe, overrides)
        run_eval(r)
        out.print(f"report: {r.run_dir()}/<model>/report.md; comparison: {r.run_dir()}/comparison.md")

    @app.command("train-extractor")
    def train_extractor_cmd(recipe: Annotated[Path, typer.Argument(help="e.g. evaluate/extractor.yaml")],
                            overrides: Annotated[list[str] | None, typer.Argument()] = None) -> None:
        """Fine-tune an encoder on explanation → label pairs, one classifier per task; warn about
        tasks whose validation or test accuracy ends below the recipe's `warn_below`."""
        from rich.markup import escape

        cfg = load(recipe, ExtractorConfig, overrides)
        report = train_extractor(cfg)
        cols = ["train_n", "val_n", "val_accuracy", "batch_size", "steps", "epochs", "wall_s"]
        out.print(table(f"extractor training ({cfg.out})", ["task", *cols],
                        [[t, *(f.get(c) for c in cols)] for t, f in report["tasks"].items()]))
        rows = [[f, t, v["n"], v["accuracy"]] for f, per in report["eval"].items() for t, v in per.items()]
        out.print(table(f"extractor accuracy ({cfg.out})", ["file", "task", "n", "accuracy"], rows))
        for line in report["warnings"]:
            out.print(f"[yellow]warning: {escape(line)}[/]")

    @app.command("compare")
    def compare_cmd(runs: Annotated[list[str], typer.Argument(help="NAME=FOLDER or FOLDER with scores.json")],
                    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/compare"),
                    metric: Annotated[str, typer.Option()] = "weighted_f1") -> None:
        """One table and heat map of a metric across several models or stages."""
        named = dict(r.split("=", 1) if "=" in r else (Path(r).name, r) for r in runs)
        path = compare({k: Path(v) for k, v in named.items()}, out_dir, metric)
        out.print(path.read_text(encoding="utf-8"), markup=False, highlight=False)

    @sheet.command("export")
    def sheet_export(systems: Annotated[list[str], typer.Argument(help="NAME=generations.jsonl ...")],
                     out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/sheet"),
                     per_task: Annotated[int, typer.Option()] = 20,
                     seed: Annotated[int, typer.Option()] = 0) -> None:
        """Blinded XLSX + CSV of a stratified sample per task; the key goes to key.json."""
        named = {}
        for s in systems:
            if "=" not in s:
                raise InputError(s, "give each system as NAME=generations.jsonl")
            k, v = s.split("=", 1)
            named[k] = Path(v)
        path = export_sheet(named, out_dir, SheetConfig(per_task=per_task, seed=seed))
        out.print(f"sheet: {path} (key: {out_dir / 'key.json'})")

    @sheet.command("score")
    def sheet_score(sheets: Annotated[list[Path], typer.Argument(help="filled XLSX/CSV, one per annotator")],
                    key: Annotated[Path, typer.Option("--key")],
                    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/sheet")) -> None:
        """Check every cell, unblind, report means per system and aspect and agreement."""
        score_sheets(sheets, key, out_dir)
        out.print((out_dir / "human_eval.md").read_text(encoding="utf-8"), markup=False, highlight=False)

    app.add_typer(sheet, name="sheet")
