"""``imhi build RECIPE.yaml [key.sub=value ...]``: sources → instruction pairs.

Mode ``reference`` uses the sources' own explanations; mode ``teacher`` prompts a teacher
LLM (imhi.synthesis.pipeline). The optional BARTScore quality gate lives in
imhi.evaluation, which synthesis may not import: it is composed here and injected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from imhi.cli.common import EXIT_CODES, load, out
from imhi.models import check_model_path
from imhi.synthesis.filters import Candidate, FilterConfig, needs
from imhi.synthesis.offline import run_reference
from imhi.synthesis.pipeline import Scorer, run_teacher
from imhi.synthesis.recipe import BuildRecipe
from imhi.tasks import TaskSpec


def bartscore_gate(cfg: FilterConfig) -> Scorer | None:
    """BARTScore F of each explanation against its post's reference explanation."""
    if not needs(cfg.use, "scorer") or cfg.quality_threshold is None:
        return None
    from imhi.evaluation.textscore import BartScoreConfig, bartscore

    check_model_path(cfg.quality_checkpoint, "filters.quality_checkpoint")  # before any request is sent
    bart = BartScoreConfig(checkpoint=cfg.quality_checkpoint, kind=cfg.quality_kind)

    def score(task: TaskSpec, cands: list[Candidate]) -> list[float | None]:
        pairs = [(i, c.explanation, c.reference) for i, c in enumerate(cands) if c.reference]
        out_scores: list[float | None] = [None] * len(cands)
        if pairs:
            f1 = bartscore([p[1] for p in pairs], [p[2] or "" for p in pairs], bart)["items"]["f1"]
            for (i, _, _), value in zip(pairs, f1, strict=True):
                out_scores[i] = value
        return out_scores

    return score


def run_build(recipe: Path, overrides: list[str], out_dir: Path | None = None) -> Path:
    """Load a build recipe and run it in its mode; return the run folder."""
    spec = load(recipe, BuildRecipe, overrides)
    local = getattr(spec.teacher, "local", None)  # a local teacher model that cannot load: one line, now
    if spec.mode == "teacher" and local is not None:
        check_model_path(local.path, "teacher.local.path", local.gguf_file)
    if spec.mode == "teacher":
        return run_teacher(spec, recipe.parent, out_dir, scorer=bartscore_gate(spec.filters))
    return run_reference(spec, recipe.parent, out_dir)


def register(app: typer.Typer) -> None:
    """Add ``imhi build``."""

    @app.command(epilog=EXIT_CODES)
    def build(
        recipe: Annotated[Path, typer.Argument(help="build recipe (build_dataset/*.yaml)")],
        overrides: Annotated[list[str] | None, typer.Argument(help="key.sub=value overrides")] = None,
        out_dir: Annotated[Path | None, typer.Option("--out", help="run folder (default: "
                                                      "output_dir, or runs/build/<name>)")] = None,
    ) -> None:
        """Build explanation-bearing instruction pairs (train/valid/test) with a manifest."""
        run_dir = run_build(recipe, overrides or [], out_dir)
        out.print(f"[green]✓[/] dataset written to {run_dir}/dataset "
                  f"(report: {run_dir}/build_report.md)")
