"""``imhi eval RECIPE``, ``imhi sheet export|import|score``, ``imhi train-extractor``, ``imhi compare``.

Reads an evaluate recipe (evaluate/*.yaml) and the test files and models it names; writes
``<out>/data/tests.jsonl``, per model ``<out>/<model>/generations.jsonl`` (through
imhi.generation), ``scores.json``, ``predictions.jsonl``, ``report.md`` and plots (through
imhi.evaluation), ``<out>/comparison.md`` across models, ``<out>/report.html``
(imhi.evaluation.page), an optional blinded sheet, and ``manifest.json``. Every step resumes
from what is already on disk.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import Field, ValidationError, model_validator

from imhi.cli.common import EXIT_CODES, load, out, table
from imhi.config import Manifest, Strict
from imhi.evaluation.classifier import ExtractorConfig, train_extractor
from imhi.evaluation.human import ScoreConfig
from imhi.evaluation.page import write_eval_page
from imhi.evaluation.ratings import import_spec
from imhi.evaluation.report import compare, summary_table
from imhi.evaluation.score import MetricsConfig, score_generations
from imhi.evaluation.sheets import SheetConfig, export_sheet
from imhi.evaluation.study import import_study, score_study
from imhi.evaluation.testsets import TestSet, read_test_set
from imhi.evaluation.textscore import check_checkpoints
from imhi.generation import GenerationConfig, check_models, count_answers, run_generation
from imhi.io import InputError, TooLittle, read_jsonl, write_jsonl, write_text
from imhi.sources import data_root

TABLE = ("n", "accuracy", "weighted_f1", "macro_f1", "unparsed_rate")
FILES_HELP = "ratings tables (NAME=FILE names a file's system), Label Studio JSON exports or filled sheets"
FORMAT_HELP = "auto (label-studio for .json files, sheet with --key, else table) | table | sheet | label-studio"
LayoutOpt = Annotated[str | None, typer.Option(help="auto | long | wide | lists")]
AspectsOpt = Annotated[str | None, typer.Option(help="comma-separated; default: from the file")]
ScaleOpt = Annotated[str | None, typer.Option(help="LOW-HIGH, default 0-3")]
AnnotatorsOpt = Annotated[str | None, typer.Option(help="lists layout: names by position (a,b,c) or a count")]
ItemOpt = Annotated[str | None, typer.Option(help="the column naming the post (default item/id/post_id, "
                                                  "else the post text)")]
SystemOpt = Annotated[str | None, typer.Option(help="the system column of a file for all systems")]
MissingOpt = Annotated[bool, typer.Option(help="keep missing ratings as missing data instead of an error")]


class EvalRecipe(Strict):
    """An ``imhi eval`` recipe: test sets × models, scored the same way."""

    name: str
    out: str | None = Field(default=None, description="run folder (default runs/eval/<name>)")
    data_dir: str | None = Field(default=None, description="base folder of relative test-set paths (itself "
                                 "relative to the recipe file); default: the working folder")
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


def prepare_tests(recipe: EvalRecipe, run: Path, recipe_dir: Path | None = None) -> Path:
    """All test rows in one pair file, rewritten when the recipe's test sets change (answers
    already generated for a row are kept and reused: generation resumes by row id)."""
    path = run / "data" / "tests.jsonl"
    rows: list[dict[str, Any]] = []
    base = data_root(recipe.data_dir, recipe_dir, None)
    for ts in recipe.test_sets:
        got = read_test_set(ts, recipe.prompts, base)
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


def run_eval(recipe: EvalRecipe, recipe_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Generate with every model, score each, compare them; returns model → scores. A model that
    produced no answer is left out of the scores and, once the rest is written, raises
    :class:`~imhi.io.TooLittle`."""
    for i, cfg in enumerate(recipe.models):  # a model that cannot load fails now, in one line
        check_models(cfg, f"models.{i}")
    check_checkpoints(recipe.metrics.bertscore, recipe.metrics.bartscore)
    run = recipe.run_dir()
    manifest = Manifest(run, "eval", recipe)
    tests = prepare_tests(recipe, run, recipe_dir)
    ids = {r["id"] for r in read_jsonl(tests)}
    manifest.add_input(tests, rows=len(ids))
    metrics = recipe.metrics.model_copy(update={"prompts": recipe.metrics.prompts or recipe.prompts})
    results, gens, silent = {}, {}, []
    for cfg in recipe.models:
        name = cfg.model_name()
        folder = run / _slug(name)
        t0 = time.perf_counter()
        path = folder / "generations.jsonl"
        stats = run_generation(cfg, tests, path)
        shortened = stats.extra.get("posts_shortened", 0)
        for key, n in (("new", stats.rows), ("reused", stats.extra.get("reused", 0)),
                       ("regenerated", stats.extra.get("regenerated", 0))):  # regenerated: part of new
            manifest.counts.setdefault(f"answers_{key}", {})[name] = n
        if shortened:
            out.print(f"[yellow]{name}: {shortened} posts over max_post_tokens={cfg.max_post_tokens} were "
                      "shortened in their query[/]")
        manifest.counts.setdefault("posts_shortened", {})[name] = shortened
        t1 = time.perf_counter()
        if not count_answers(path):
            silent.append(f"{name} ({path})")
            continue
        gens[name] = path
        results[name] = score_generations(path, folder, metrics, ids)
        manifest.time(f"generate/{name}", t1 - t0)
        manifest.time(f"score/{name}", time.perf_counter() - t1)
        manifest.add_output(folder / "scores.json")
        out.print(table(f"{name}", ["task", *TABLE], [[t, *(s.get(c) for c in TABLE)]
                                                      for t, s in results[name].items()]))
    if results:
        _compare_all(recipe, run, {name: run / _slug(name) for name in results})
    if recipe.sheet is not None and gens:
        export_sheet(gens, run / "sheet", recipe.sheet)
        manifest.add_output(run / "sheet" / "sheet.xlsx")
    write_eval_page(run, f"Eval: {recipe.name}", {name: run / _slug(name) for name in results},
                    recipe.compare_metrics, {m: published_rows(recipe, m) for m in recipe.compare_metrics}, tests)
    manifest.counts.update(models_without_answers=len(silent))
    manifest.write()
    if silent:
        raise TooLittle(f"no answers from {len(silent)} of {len(recipe.models)} models on {len(ids)} test "
                        f"rows: {'; '.join(silent)}")
    return results


def _compare_all(recipe: EvalRecipe, run: Path, runs: dict[str, Path]) -> None:
    """``comparison/<metric>/`` per compared metric and ``comparison.md`` with all of them."""
    for metric in recipe.compare_metrics:
        compare(runs, run / "comparison" / metric, metric, published_rows(recipe, metric))
    head = f"# {recipe.name}: all models\n\n{summary_table(runs, recipe.compare_metrics)}\n\n"
    write_text(run / "comparison.md", head + "\n".join(
        (run / "comparison" / m / "comparison.md").read_text(encoding="utf-8")
        .replace("](heatmap.png)", f"](comparison/{m}/heatmap.png)") for m in recipe.compare_metrics))


def _sheet_config(**options: Any) -> SheetConfig:
    try:
        return SheetConfig(**options)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError("--" + str(err["loc"][0]).replace("_", "-"), err["msg"]) from exc


def register(app: typer.Typer) -> None:
    """Add ``eval``, ``sheet``, ``train-extractor`` and ``compare`` to the CLI."""
    sheet = typer.Typer(help="Human evaluation: export blinded sheets or Label Studio tasks, import ratings "
                             "in any layout, score.",
                        no_args_is_help=True)

    @app.command("eval", epilog=EXIT_CODES)
    def eval_cmd(recipe: Annotated[Path, typer.Argument(help="evaluate/*.yaml")],
                 overrides: Annotated[list[str] | None, typer.Argument(help="key.sub=value")] = None) -> None:
        """Generate with each model on the test sets and score labels and explanations."""
        r = load(recipe, EvalRecipe, overrides)
        run_eval(r, recipe.parent)
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
                     seed: Annotated[int, typer.Option()] = 0,
                     annotators: Annotated[int, typer.Option(help="one rating sheet and CSV per annotator")] = 1,
                     shuffle_per_annotator: Annotated[bool, typer.Option(help="each annotator's own order")] = False,
                     shared_only: Annotated[bool, typer.Option(help="only posts every system answered")] = False,
                     fmt: Annotated[str, typer.Option("--format", help="xlsx | label-studio")] = "xlsx") -> None:
        """Blinded XLSX + CSV (or Label Studio tasks + config) of a stratified sample; the key: key.json."""
        named = {}
        for s in systems:
            if "=" not in s:
                raise InputError(s, "give each system as NAME=generations.jsonl")
            k, v = s.split("=", 1)
            named[k] = Path(v)
        cfg = _sheet_config(per_task=per_task, seed=seed, annotators=annotators, format=fmt,
                            shuffle_per_annotator=shuffle_per_annotator, shared_only=shared_only)
        path = export_sheet(named, out_dir, cfg)
        out.print(f"sheet: {path} (key: {out_dir / 'key.json'})")

    @sheet.command("import")
    def sheet_import(files: Annotated[list[str], typer.Argument(help=FILES_HELP)],
                     out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/sheet"),
                     fmt: Annotated[str, typer.Option("--format", help=FORMAT_HELP)] = "auto",
                     key: Annotated[Path | None, typer.Option("--key", help="key.json of the export")] = None,
                     layout: LayoutOpt = None, aspects: AspectsOpt = None, scale: ScaleOpt = None,
                     annotators: AnnotatorsOpt = None, item: ItemOpt = None, system: SystemOpt = None,
                     allow_missing: MissingOpt = False) -> None:
        """Read existing ratings (any layout, Label Studio, filled sheets) into <out>/ratings.csv."""
        spec = import_spec(layout=layout, aspects=aspects, scale=scale, annotators=annotators, item=item,
                           system=system, allow_missing=allow_missing)
        r = import_study(files, out_dir, fmt, spec, key)
        f = r.frame
        out.print(f"{out_dir / 'ratings.csv'}: {f['score'].notna().sum()} ratings ({f['score'].isna().sum()} "
                  f"missing) of {f['system'].nunique()} systems by {f['annotator'].nunique()} annotators on "
                  f"{', '.join(r.aspects)}; score it with `imhi sheet score {out_dir / 'ratings.csv'}`")

    @sheet.command("score")
    def sheet_score(files: Annotated[list[str], typer.Argument(help="filled XLSX/CSV sheets (with --key), "
                                                                    "ratings.csv of `sheet import`, or " + FILES_HELP)],
                    key: Annotated[Path | None, typer.Option("--key", help="key.json of the export")] = None,
                    out_dir: Annotated[Path, typer.Option("--out")] = Path("runs/sheet"),
                    fmt: Annotated[str, typer.Option("--format", help=FORMAT_HELP)] = "auto",
                    layout: LayoutOpt = None, aspects: AspectsOpt = None, scale: ScaleOpt = None,
                    annotators: AnnotatorsOpt = None, item: ItemOpt = None, system: SystemOpt = None,
                    allow_missing: MissingOpt = False,
                    bootstrap: Annotated[int, typer.Option(help="resamples over items for the CIs")] = 1000,
                    seed: Annotated[int, typer.Option()] = 0) -> None:
        """Means with CIs, α within systems and pooled, system comparisons, annotators (human_eval.*)."""
        spec = import_spec(layout=layout, aspects=aspects, scale=scale, annotators=annotators, item=item,
                           system=system, allow_missing=allow_missing)
        score_study(files, out_dir, fmt, spec, key, ScoreConfig(bootstrap=max(bootstrap, 0), seed=seed))
        out.print((out_dir / "human_eval.md").read_text(encoding="utf-8"), markup=False, highlight=False)

    app.add_typer(sheet, name="sheet")
