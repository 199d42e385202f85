"""Posts → splits → instruction pairs → dataset files of a run folder.

Writes ``dataset/{train,valid,test}.jsonl``, ``dataset/hf`` (``datasets`` save_to_disk)
and ``dataset/README.md`` (dataset card with YAML metadata). :func:`require_kept` says, once
everything is written, whether a build kept enough rows to call it done.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from imhi.config import Manifest
from imhi.io import TooLittle, dump_yaml, write_jsonl, write_text
from imhi.lengths import MARKER, apply_limit
from imhi.schema import InstructionPair, Post, labels_of, record_dict
from imhi.sources import data_root, find_duplicates, find_leakage, read_source, resolve
from imhi.synthesis.recipe import BuildRecipe, DedupSpec, SplitSpec
from imhi.synthesis.report import TaskStats
from imhi.tasks import TaskSpec

SPLITS = ("train", "valid", "test")


def make_pair(task: TaskSpec, post: Post, explanation: str, teacher: str | None = None,
              prompt_hash: str | None = None, with_system: bool = False) -> InstructionPair:
    """The instruction pair of a post: query = post + question, answer = label + reasoning."""
    query = task.render_query(post.text)
    answer = task.render_answer(post.label, explanation)
    messages = [{"role": "user", "content": query}, {"role": "assistant", "content": answer}]
    if with_system and task.system_prompt:
        messages.insert(0, {"role": "system", "content": task.system_prompt})
    provenance = post.provenance.model_copy(update={"teacher": teacher, "prompt_hash": prompt_hash})
    return InstructionPair(id=post.id, source=post.source, task=post.task, text=post.text,
                           label=post.label, explanation=explanation.strip(), query=query,
                           answer=answer, messages=messages, teacher=teacher,
                           provenance=provenance)


def _rank(post: Post, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{post.id}".encode()).hexdigest()


def assign_splits(posts: list[Post], spec: SplitSpec) -> dict[str, list[Post]]:
    """Keep given splits; divide the rest per (task, label) deterministically by seed."""
    out: dict[str, list[Post]] = {s: [] for s in SPLITS}
    strata: dict[tuple[str, str], list[Post]] = {}
    for post in posts:
        if post.split:
            out[post.split].append(post)
        else:
            key = (post.task, json.dumps(labels_of(post.label)))
            strata.setdefault(key, []).append(post)
    for group in strata.values():
        group.sort(key=lambda p: _rank(p, spec.seed))
        n_test, n_valid = round(len(group) * spec.test), round(len(group) * spec.valid)
        for i, post in enumerate(group):
            split = "test" if i < n_test else "valid" if i < n_test + n_valid else "train"
            out[split].append(post.model_copy(update={"split": split}))
    return out


def clean_splits(splits: dict[str, list[Post]], spec: DedupSpec) -> tuple[dict[str, list[Post]],
                                                                         dict[str, Any]]:
    """Report duplicates and train↔valid/test leakage; drop them as the recipe says."""
    # duplicates within a split; copies across splits are leakage, handled below
    dups = [g for s in SPLITS for g in find_duplicates(splits[s])]
    drop = {id(p) for g in dups for p in g[1:]} if spec.drop_duplicates else set()
    held_out = splits["valid"] + splits["test"]
    leaks = find_leakage(splits["train"], held_out)
    if spec.drop_leaked_from_train:
        drop |= {id(train) for train, _ in leaks}
    report = {
        "duplicate_groups": len(dups),
        "duplicate_posts_dropped": sum(len(g) - 1 for g in dups) if spec.drop_duplicates else 0,
        "leaked_train_posts": len(leaks),
        "examples": [[p.id for p in g] for g in dups[:5]],
        "leak_examples": [[a.id, b.id] for a, b in leaks[:5]],
    }
    kept = {s: [p for p in splits[s] if id(p) not in drop] for s in SPLITS}
    return kept, report


def _hf_row(pair: InstructionPair) -> dict[str, Any]:
    row = record_dict(pair)
    row["label"] = labels_of(pair.label)  # one Arrow type for single- and multi-label tasks
    row["provenance"] = json.dumps(row.get("provenance", {}), ensure_ascii=False)
    row["teacher"] = pair.teacher or ""
    row["flags"] = pair.flags or []  # one Arrow type whether or not a row was flagged
    return row


def write_dataset(run_dir: Path, pairs: dict[str, list[InstructionPair]], manifest: Manifest,
                  card_title: str) -> dict[str, Any]:
    """Write JSONL splits, the HF copy and the card; return counts per split/task/label."""
    import datasets

    folder = run_dir / "dataset"
    counts: dict[str, Any] = {}
    for split in SPLITS:
        path = folder / f"{split}.jsonl"
        n = write_jsonl(path, (record_dict(p) for p in pairs[split]))
        manifest.add_output(path, rows=n)
        counts[split] = _label_counts(pairs[split])
    datasets.disable_progress_bars()  # one bar per split adds noise, not information
    hf = datasets.DatasetDict({s: datasets.Dataset.from_list([_hf_row(p) for p in pairs[s]])
                               for s in SPLITS if pairs[s]})
    hf.save_to_disk(str(folder / "hf"))
    write_text(folder / "README.md", dataset_card(card_title, pairs, counts))
    return counts


def _label_counts(pairs: list[InstructionPair]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = {}
    for p in pairs:
        out.setdefault(p.task, Counter()).update(labels_of(p.label) or ["(none)"])
    return {t: dict(sorted(c.items())) for t, c in sorted(out.items())}


def _size_category(n: int) -> str:
    return "n<1K" if n < 1000 else "1K<n<10K" if n < 10_000 else "10K<n<100K" if n < 100_000 \
        else "100K<n<1M"


def dataset_card(title: str, pairs: dict[str, list[InstructionPair]],
                 counts: dict[str, Any]) -> str:
    """A Hugging Face dataset card (README.md with YAML metadata) for the built dataset."""
    total = sum(len(v) for v in pairs.values())
    teachers = sorted({p.teacher or "reference" for v in pairs.values() for p in v})
    meta = {
        "language": sorted({_lang(p) for v in pairs.values() for p in v}) or ["en"],
        "task_categories": ["text-classification", "text-generation"],
        "tags": ["mental-health", "explainable", "instruction-tuning", "imhi"],
        "size_categories": [_size_category(total)],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"{s}.jsonl"} for s in SPLITS if pairs[s]]}],
    }
    lines = [f"---\n{dump_yaml(meta)}---\n", f"# {title}\n",
             "Explanation-bearing instruction pairs for mental-health analysis, built by `imhi build`.",
             "Each row: `query` (post + question) → `answer` (label sentence + reasoning), with",
             "`label`, `explanation`, chat `messages` and `provenance` (source file, row, teacher).",
             f"\nExplanations: {', '.join(teachers)}. Posts are sensitive: research use only, not",
             "for diagnosis.\n", "| split | task | label | rows |", "| --- | --- | --- | ---: |"]
    for split, tasks in counts.items():
        for task, labels in tasks.items():
            lines += [f"| {split} | {task} | {label} | {n} |" for label, n in labels.items()]
    return "\n".join(lines) + "\n"


def _lang(pair: InstructionPair) -> str:
    return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in pair.query[:200]) else "en"


def collect_posts(recipe: BuildRecipe, base_dir: Path, manifest: Manifest,
                  ) -> tuple[dict[str, list[Post]], list[dict[str, Any]]]:
    """Read every source, keep the recipe's tasks, apply the post size limit, split, and drop
    duplicates/leaks; returns the splits and a rejected.jsonl row per post rejected for length."""
    posts: list[Post] = []
    base_dir = data_root(recipe.data_dir, base_dir, base_dir)
    for spec in recipe.sources:
        got = read_source(spec, base_dir, recipe.prompts_dir)
        manifest.add_input(resolve(spec.path, base_dir), rows=len(got))
        posts.extend(got)
    if recipe.tasks:
        known = set(recipe.tasks)
        posts = [p for p in posts if p.task in known]
    manifest.counts["posts_read"] = len(posts)
    posts, too_long = limit_posts(posts, recipe, manifest)
    splits, report = clean_splits(assign_splits(posts, recipe.split), recipe.dedup)
    manifest.counts["dedup"] = report
    return splits, too_long


def limit_posts(posts: list[Post], recipe: BuildRecipe, manifest: Manifest,
                ) -> tuple[list[Post], list[dict[str, Any]]]:
    """Shorten (with a marker) or reject the posts over ``max_post_tokens`` (estimated tokens);
    the counts go to the manifest (``long_posts``), a rejection row per rejected post is returned."""
    kept: list[Post] = []
    rejected: list[dict[str, Any]] = []
    shortened = 0
    for post in posts:
        text, why = apply_limit(post.text, recipe.max_post_tokens, recipe.long_posts)
        if text is None:
            rejected.append({"id": post.id, "task": post.task, "source": post.source, "final": True,
                             "filter": "max_post_tokens", "reason": why, "label": post.label,
                             "provenance": post.provenance.model_dump(exclude_none=True)})
            continue
        shortened += why is not None
        kept.append(post if why is None else post.model_copy(update={"text": text}))
    manifest.counts["long_posts"] = {"max_post_tokens": recipe.max_post_tokens, "action": recipe.long_posts,
                                     "shortened": shortened, "rejected": len(rejected)}
    return kept, rejected


def long_posts_note(manifest: Manifest) -> str:
    """The build report's line on posts over the size limit."""
    c = manifest.counts.get("long_posts", {})
    return (f"Posts over max_post_tokens ({c.get('max_post_tokens')} estimated tokens): "
            f"{c.get('shortened', 0)} shortened (marked \"{MARKER.strip()}\"), {c.get('rejected', 0)} rejected "
            "(in rejected.jsonl, filter max_post_tokens).")


def run_dir_of(recipe: BuildRecipe, base: Path | None = None) -> Path:
    """The run folder: ``output_dir`` or runs/build/<name>."""
    return Path(recipe.output_dir) if recipe.output_dir else (base or Path("runs")) / "build" / recipe.name


def merged_drops(stats: list[TaskStats]) -> dict[str, int]:
    """Rows dropped per filter over every task."""
    out: Counter[str] = Counter()
    for s in stats:
        out.update(s.dropped)
    return dict(out)


def require_kept(kept: int, posts: int, min_kept: float, run_dir: Path, dropped: dict[str, int]) -> None:
    """A build that kept no row, or fewer than ``min_kept`` of its posts, is a failure (its files
    are written: the reasons are in them): raise :class:`~imhi.io.TooLittle`, naming the main
    reasons."""
    if kept > 0 and kept >= min_kept * posts:
        return
    why = ", ".join(f"{name} {n}" for name, n in sorted(dropped.items(), key=lambda kv: -kv[1])[:4])
    share = f" ({kept / posts:.0%})" if posts else ""
    raise TooLittle(f"kept {kept} of {posts} rows{share}, below min_kept {min_kept:.0%}"
                    + (f"; dropped: {why}" if why else "")
                    + f" (see {run_dir}/build_report.md and rejected.jsonl)")
