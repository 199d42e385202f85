"""``imhi data inspect|convert``: look at sources before building from them."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from imhi.cli.common import load, out, table
from imhi.config import apply_overrides, validate_data
from imhi.io import InputError, write_jsonl
from imhi.judges import ClassifierSpec, RulesSpec, describe, make_judges
from imhi.lengths import DEFAULT_MAX_POST_TOKENS, estimate_tokens
from imhi.schema import Post, labels_of, record_dict
from imhi.sources import SourceSpec, data_root, find_duplicates, find_leakage, read_source
from imhi.synthesis.recipe import BuildRecipe
from imhi.synthesis.screen import contradictions

data_app = typer.Typer(help="Inspect and convert labelled sources.", no_args_is_help=True)

FormatOpt = Annotated[str | None, typer.Option("--format", "-f", help="csv, tsv, jsonl, parquet, "
                                               "hf, openai_chat or imhi (default: from suffix)")]
TaskOpt = Annotated[str | None, typer.Option(help="task of every row (imhi: inferred)")]
SourcesArg = Annotated[list[Path], typer.Argument(help="a build recipe, or data files/folders")]
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="override key=value: of the recipe, or of "
                                                  "each file's source (e.g. columns.text=内容, label_columns=task)")]
SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}


def _guess_split(path: Path) -> str | None:
    """train/valid/test from the file name, else from its folder (e.g. imhi/test/DR.csv)."""
    for name in (path.stem.lower(), path.parent.name.lower()):
        for key, split in (("train", "train"), ("val", "valid"), ("dev", "valid"), ("test", "test")):
            if key in name:
                return split
    return None


def _specs(paths: list[Path], fmt: str | None, task: str | None, options: list[str]) -> tuple[
        list[SourceSpec], Path | None, int | None]:
    """A recipe file → its sources, data folder and post size limit; data files → one source each
    (split from the file name), the default limit."""
    if len(paths) == 1 and paths[0].suffix in (".yaml", ".yml"):
        recipe = load(paths[0], BuildRecipe, options)
        return (recipe.sources, data_root(recipe.data_dir, paths[0].parent, paths[0].parent),
                recipe.max_post_tokens)
    specs = []
    for p in paths:
        data = {"name": f"{p.parent.name}-{p.stem}", "format": fmt or SUFFIX_FORMATS.get(p.suffix, "hf"),
                "path": str(p), "task": task, "split": _guess_split(p)}
        try:
            data = apply_overrides(data, options)
        except ValueError as exc:
            raise InputError(p, str(exc)) from None
        specs.append(validate_data(data, SourceSpec, p))
    return specs, None, DEFAULT_MAX_POST_TOKENS


def _read_all(specs: list[SourceSpec], base: Path | None) -> list[Post]:
    posts: list[Post] = []
    for spec in specs:
        posts.extend(read_source(spec, base))
    return posts


def _length_rows(posts: list[Post]) -> list[list[object]]:
    rows = []
    by_task: dict[str, list[int]] = {}
    for p in posts:
        by_task.setdefault(p.task, []).append(len(p.text))
    for task, lens in sorted(by_task.items()):
        lens.sort()
        rows.append([task, len(lens), statistics.mean(lens), lens[len(lens) // 2],
                     lens[int(0.95 * (len(lens) - 1))], lens[-1]])
    return rows


def length_warnings(posts: list[Post], limit: int | None, show: int = 5) -> list[str]:
    """Warnings on long posts: over ``max_post_tokens`` (estimated tokens), and over 10 × their
    task's median length; each names the first few posts' file and row."""
    lines = []
    if limit is not None:
        over = [(p, n) for p in posts if (n := estimate_tokens(p.text)) > limit]
        lines += _listed(f"{len(over)} posts over max_post_tokens={limit} (estimated tokens; imhi build "
                         "shortens or rejects them, see long_posts)", over, show)
    medians = {t: statistics.median(len(p.text) for p in posts if p.task == t) for t in {p.task for p in posts}}
    far = [(p, estimate_tokens(p.text)) for p in posts if len(p.text) > 10 * max(medians[p.task], 1)]
    lines += _listed(f"{len(far)} posts over 10 × their task's median length", far, show)
    return lines


def _listed(head: str, found: list[tuple[Post, int]], show: int) -> list[str]:
    if not found:
        return []
    rows = [f"  {p.provenance.file} row {p.provenance.row}: ≈{n} tokens ({len(p.text)} characters)"
            for p, n in sorted(found, key=lambda pn: -pn[1])[:show]]
    more = [f"  … {len(found) - show} more"] if len(found) > show else []
    return [f"warning: {head}:", *rows, *more]


def register(app: typer.Typer) -> None:
    """Add ``imhi data inspect`` and ``imhi data convert``."""
    app.add_typer(data_app, name="data")


@data_app.command()
def inspect(
    sources: SourcesArg,
    fmt: FormatOpt = None, task: TaskOpt = None,
    option: SetOpt = None,
    classifier: Annotated[Path | None, typer.Option(help="train-extractor folder: also judge explanations "
                                                    "with its classifiers")] = None,
    show: Annotated[int, typer.Option(help="contradicting rows to print")] = 20,
) -> None:
    """Counts per task, label and split; post lengths; duplicates; train/test leakage; rows
    whose explanation contradicts their label (rules judge)."""
    specs, base, limit = _specs(sources, fmt, task, option or [])
    posts = _read_all(specs, base)
    counts = Counter((p.task, lab, p.split or "-") for p in posts for lab in labels_of(p.label) or ["(none)"])
    out.print(table(f"{len(posts)} posts", ["task", "label", "split", "posts"],
                    [[t, lab, s, n] for (t, lab, s), n in sorted(counts.items())]))
    out.print(table("post length (characters)", ["task", "posts", "mean", "median", "p95", "max"],
                    _length_rows(posts)))
    for line in length_warnings(posts, limit):
        out.print(line, style="yellow" if line.startswith("warning") else None, highlight=False, markup=False)
    dups = find_duplicates(posts)
    out.print(f"duplicate groups: {len(dups)} ({sum(len(g) - 1 for g in dups)} extra copies)")
    for g in dups[:5]:
        out.print("  " + ", ".join(f"{p.id} ({Path(p.provenance.file).name} row {p.provenance.row})"
                                   for p in g), highlight=False)
    train = [p for p in posts if p.split == "train"]
    held = [p for p in posts if p.split in ("valid", "test")]
    leaks = find_leakage(train, held)
    out.print(f"train posts that also appear in valid/test: {len(leaks)}")
    for a, b in leaks[:5]:
        out.print(f"  {a.id} ↔ {b.id}", highlight=False)
    _print_contradictions(posts, classifier, show)


def _print_contradictions(posts: list[Post], classifier: Path | None, show: int) -> None:
    """Rows whose explanation a judge reads as another label (rules; the classifier if given)."""
    specs: list[Any] = [RulesSpec()] + ([ClassifierSpec(path=str(classifier))] if classifier else [])
    if not any((p.explanation or "").strip() for p in posts):
        return
    found = contradictions(posts, make_judges(specs))
    per_task = Counter(p.task for p, _, _ in found)
    total = Counter(p.task for p in posts if (p.explanation or "").strip())
    out.print(f"explanations that contradict their label: {len(found)} "
              f"({', '.join(f'{t} {per_task[t]}/{n}' for t, n in sorted(total.items()))})")
    for post, cand, names in found[:show]:
        where = f"{post.provenance.file} row {post.provenance.row}"
        verdicts = "; ".join(f"{n}: {describe(cand.verdicts[n])}" for n in names)  # type: ignore[arg-type]
        out.print(f"  {where}: label {post.label!r}, {verdicts}", highlight=False, markup=False)
    if len(found) > show:
        out.print(f"  … {len(found) - show} more (--show N)")


@data_app.command()
def convert(
    sources: SourcesArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="records JSONL to write")],
    fmt: FormatOpt = None, task: TaskOpt = None,
    option: SetOpt = None,
) -> None:
    """Read any source(s) and write records JSONL (id, source, task, text, label, ...)."""
    specs, base, _ = _specs(sources, fmt, task, option or [])
    posts = _read_all(specs, base)
    n = write_jsonl(output, (record_dict(p) for p in posts))
    out.print(f"wrote {n} records to {output}")
