"""Reference mode of ``imhi build``: posts that already carry a reference explanation
(e.g. the IMHI release) become instruction pairs without a teacher.

Reads the recipe's sources; writes the run folder: dataset/, rejected.jsonl (every row a
filter or judge rejected, dropped or flagged), build_report.md, report.html, manifest.json. The recipe's
filters and judges run as in a teacher build; ``filters.on_fail`` chooses whether a rejected
row is dropped or kept with its reason in the dataset's ``flags`` (default: flag).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from imhi.config import Manifest
from imhi.io import write_jsonl, write_text
from imhi.judges import Judge, make_judges
from imhi.schema import InstructionPair, Post
from imhi.synthesis.dataset import (
    SPLITS,
    collect_posts,
    long_posts_note,
    make_pair,
    merged_drops,
    require_kept,
    run_dir_of,
    write_dataset,
)
from imhi.synthesis.page import reference_funnel, write_build_page
from imhi.synthesis.pipeline import judge_teachers, rejection
from imhi.synthesis.recipe import BuildRecipe
from imhi.synthesis.report import TaskStats, judge_table
from imhi.synthesis.screen import reference_candidate, screen
from imhi.tasks import load_task


def run_reference(recipe: BuildRecipe, base_dir: Path, run_dir: Path | None = None) -> Path:
    """Build the dataset from reference explanations; return the run folder."""
    run_dir = run_dir or run_dir_of(recipe)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(run_dir, "build", recipe)
    t0 = time.perf_counter()
    splits, too_long = collect_posts(recipe, base_dir, manifest)
    manifest.time("read_sources", time.perf_counter() - t0)
    cache = Path(recipe.cache) if recipe.cache else run_dir / "teacher_cache.sqlite"
    judges = make_judges(recipe.filters.judge, judge_teachers(None, cache))
    try:
        t0 = time.perf_counter()
        flags, rejected, stats = _screen_all(recipe, [p for s in SPLITS for p in splits[s]], judges)
        manifest.time("filters", time.perf_counter() - t0)
    finally:
        for j in judges:
            j.close()
    drop = (recipe.filters.on_fail or "flag") == "drop"
    pairs: dict[str, list[InstructionPair]] = {s: [] for s in SPLITS}
    for split in SPLITS:
        for post in splits[split]:
            if post.id in flags and (drop or not (post.explanation or "").strip()):
                continue
            pair = make_pair(load_task(post.task, recipe.prompts_dir), post, post.explanation or "",
                             with_system=recipe.system_prompt_in_messages)
            pairs[split].append(pair.model_copy(update={"flags": flags.get(post.id)}))
    counts = write_dataset(run_dir, pairs, manifest, f"{recipe.name} (reference explanations)")
    write_jsonl(run_dir / "rejected.jsonl", too_long + rejected)
    manifest.counts.update({"pairs": {s: len(v) for s, v in pairs.items()}, "labels": counts,
                            "rejected": len(rejected), "on_fail": "drop" if drop else "flag",
                            "flagged_per_filter": {s.task: s.dropped for s in stats}})
    write_text(run_dir / "build_report.md", _report(recipe, pairs, rejected, stats, manifest, drop))
    kept = {p.id: p.explanation for rows in pairs.values() for p in rows}
    write_build_page(run_dir, f"Build: {recipe.name}", "reference explanations (no teacher)",
                     [p for s in SPLITS for p in splits[s]], kept, too_long + rejected, stats,
                     reference_funnel(stats, drop))
    manifest.write()
    require_kept(sum(len(v) for v in pairs.values()), sum(s.posts for s in stats), recipe.min_kept, run_dir,
                 merged_drops(stats) if drop else {})
    return run_dir


def _screen_all(recipe: BuildRecipe, posts: list[Post], judges: list[Judge],
                ) -> tuple[dict[str, list[str]], list[dict[str, Any]], list[TaskStats]]:
    """Filter and judge each task's explanations; (post id → reasons, rejection rows, stats)."""
    flags: dict[str, list[str]] = {}
    rejected: list[dict[str, Any]] = []
    stats: list[TaskStats] = []
    action = recipe.filters.on_fail or "flag"
    for name in sorted({p.task for p in posts}):
        task = load_task(name, recipe.prompts_dir)
        mine = [p for p in posts if p.task == name]
        cands = [reference_candidate(task, p) for p in mine]
        st = TaskStats(task=name, posts=len(mine))
        for post, cand, verdict in zip(mine, cands, screen(task, cands, recipe.filters, judges, st), strict=True):
            if verdict is None:
                continue
            st.drop(*verdict[:1])
            flags[post.id] = [f"{verdict[0]}: {verdict[1]}"]
            rejected.append({**rejection(post, cand, *verdict), "action": action})
        st.kept = len(mine) - (sum(st.dropped.values()) if action == "drop" else 0)
        stats.append(st)
    return flags, rejected, stats


def _report(recipe: BuildRecipe, pairs: dict[str, list[InstructionPair]], rejected: list[dict[str, Any]],
            stats: list[TaskStats], manifest: Manifest, drop: bool) -> str:
    per_task: dict[str, dict[str, int]] = {}
    for split, rows in pairs.items():
        for p in rows:
            per_task.setdefault(p.task, dict.fromkeys(SPLITS, 0))[split] += 1
    dedup = manifest.counts.get("dedup", {})
    verb = "dropped" if drop else "flagged (kept, reason in the dataset's `flags`)"
    lines = [f"# Build report: {recipe.name}", "", "Mode: reference explanations (no teacher).", "",
             "| task | train | valid | test |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {t} | {c['train']} | {c['valid']} | {c['test']} |" for t, c in sorted(per_task.items())]
    lines += ["", f"Posts read: {manifest.counts.get('posts_read', 0)}; rows a filter or judge rejected: "
              f"{len(rejected)}, {verb}; duplicate groups: {dedup.get('duplicate_groups', 0)} "
              f"({dedup.get('duplicate_posts_dropped', 0)} dropped); train posts leaked into "
              f"valid/test: {dedup.get('leaked_train_posts', 0)}.", "", long_posts_note(manifest)]
    used = sorted({k for s in stats for k in s.dropped})
    if used:
        lines += ["", f"Rejected per filter ({'dropped' if drop else 'flagged'}):", "",
                  "| task | rows | " + " | ".join(used) + " |", "| --- | ---: |" + " ---: |" * len(used)]
        lines += [f"| {s.task} | {s.posts} | " + " | ".join(str(s.dropped.get(n, 0)) for n in used) + " |"
                  for s in stats]
    return "\n".join(lines + judge_table(stats)) + "\n"
