"""Reference mode of ``imhi build``: posts that already carry a reference explanation
(e.g. the IMHI release) become instruction pairs without a teacher.

Reads the recipe's sources; writes the run folder: dataset/, rejected.jsonl,
build_report.md, manifest.json.
"""

from __future__ import annotations

import time
from pathlib import Path

from imhi.config import Manifest
from imhi.io import write_jsonl, write_text
from imhi.schema import InstructionPair, Post
from imhi.synthesis.dataset import SPLITS, collect_posts, make_pair, run_dir_of, write_dataset
from imhi.synthesis.recipe import BuildRecipe
from imhi.tasks import load_task


def run_reference(recipe: BuildRecipe, base_dir: Path, run_dir: Path | None = None) -> Path:
    """Build the dataset from reference explanations; return the run folder."""
    run_dir = run_dir or run_dir_of(recipe)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(run_dir, "build", recipe)
    t0 = time.perf_counter()
    splits = collect_posts(recipe, base_dir, manifest)
    manifest.time("read_sources", time.perf_counter() - t0)
    pairs: dict[str, list[InstructionPair]] = {s: [] for s in SPLITS}
    rejected: list[dict[str, object]] = []
    for split in SPLITS:
        for post in splits[split]:
            if not (post.explanation or "").strip():
                rejected.append(_rejection(post, "no reference explanation"))
                continue
            task = load_task(post.task, recipe.prompts_dir)
            pairs[split].append(make_pair(task, post, post.explanation or "",
                                          with_system=recipe.system_prompt_in_messages))
    counts = write_dataset(run_dir, pairs, manifest, f"{recipe.name} (reference explanations)")
    write_jsonl(run_dir / "rejected.jsonl", rejected)
    manifest.counts.update({"pairs": {s: len(v) for s, v in pairs.items()},
                            "rejected": len(rejected), "labels": counts})
    write_text(run_dir / "build_report.md", _report(recipe, pairs, rejected, manifest))
    manifest.write()
    return run_dir


def _rejection(post: Post, reason: str) -> dict[str, object]:
    return {"id": post.id, "task": post.task, "source": post.source, "filter": "reference",
            "reason": reason, "provenance": post.provenance.model_dump(exclude_none=True)}


def _report(recipe: BuildRecipe, pairs: dict[str, list[InstructionPair]],
            rejected: list[dict[str, object]], manifest: Manifest) -> str:
    per_task: dict[str, dict[str, int]] = {}
    for split, rows in pairs.items():
        for p in rows:
            per_task.setdefault(p.task, dict.fromkeys(SPLITS, 0))[split] += 1
    dedup = manifest.counts.get("dedup", {})
    lines = [f"# Build report: {recipe.name}", "", "Mode: reference explanations (no teacher).", "",
             "| task | train | valid | test |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {t} | {c['train']} | {c['valid']} | {c['test']} |" for t, c in sorted(per_task.items())]
    lines += ["", f"Posts read: {manifest.counts.get('posts_read', 0)}; rejected (no explanation): "
              f"{len(rejected)}; duplicate groups: {dedup.get('duplicate_groups', 0)} "
              f"({dedup.get('duplicate_posts_dropped', 0)} dropped); train posts leaked into "
              f"valid/test: {dedup.get('leaked_train_posts', 0)}."]
    return "\n".join(lines) + "\n"
