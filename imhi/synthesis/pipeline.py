"""Teacher mode of ``imhi build``: few-shot prompt a teacher, parse, filter, regenerate.

Reads the recipe's sources, the task folders and the teacher's reply cache; writes the
run folder: dataset/ (JSONL splits, HF copy, card), rejected.jsonl (every dropped try
with filter and reason), build_report.md and manifest.json. Every step is a function of
the cached replies, so a killed build rerun sends no answered request again and writes the
same dataset.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imhi.config import Manifest
from imhi.io import write_jsonl, write_text
from imhi.prompting import PromptConfig, build_messages, judge_messages, load_pools, prompt_hash, select_shots
from imhi.schema import InstructionPair, Post
from imhi.sources import resolve
from imhi.synthesis.dataset import SPLITS, collect_posts, make_pair, run_dir_of, write_dataset
from imhi.synthesis.dedup import norm
from imhi.synthesis.filters import NEEDS_JUDGE, STATEFUL, Candidate, Context, FilterConfig, first_failure
from imhi.synthesis.parse import parse_judge, parse_reply
from imhi.synthesis.recipe import BuildRecipe
from imhi.synthesis.report import TaskStats, render
from imhi.tasks import Example, TaskSpec, load_task
from imhi.teacher import Reply, Teacher, make_teacher

# Injected quality scorer (BARTScore from imhi.evaluation, composed in imhi/cli/build.py):
# (task, candidates) → one score per candidate (None: no reference to score against).
Scorer = Callable[[TaskSpec, list[Candidate]], list[float | None]]


@dataclass
class TaskResult:
    """Kept explanations by post id, every rejected try, and counters."""

    kept: dict[str, str] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    stats: TaskStats = field(default_factory=lambda: TaskStats(task=""))
    hashes: dict[str, str] = field(default_factory=dict)  # post id → prompt hash


def _candidate(task: TaskSpec, post: Post, reply: Reply) -> Candidate:
    parsed = parse_reply(task, reply.text)
    return Candidate(id=post.id, task=task, gold=post.label, raw=reply.text or "",
                     stated=parsed.label, explanation=parsed.explanation, marker=parsed.marker,
                     finish_reason=reply.finish_reason, reference=post.explanation or None)


def _rejection(post: Post, cand: Candidate | None, name: str, reason: str, attempt: int,
               final: bool) -> dict[str, Any]:
    return {"id": post.id, "task": post.task, "source": post.source, "attempt": attempt,
            "final": final, "filter": name, "reason": reason, "label": post.label,
            "reply": cand.raw if cand else None,
            "provenance": post.provenance.model_dump(exclude_none=True)}


def _judge(judge: Teacher, task: TaskSpec, cands: list[Candidate], stats: TaskStats) -> None:
    replies = judge.generate([judge_messages(task, c.explanation) for c in cands],
                             desc=f"{task.name} judge")
    for c, r in zip(cands, replies, strict=True):
        stats.usage(r.usage, r.cached, judge=True)
        c.judge, c.judge_error = (parse_judge(task, r.text), None) if r.ok else (None, r.error)


class TaskRun:
    """One task's synthesis: rounds of generate → parse → filter until kept or out of tries."""

    def __init__(self, task: TaskSpec, shots: tuple[list[Example], list[Example]], pcfg: PromptConfig,
                 fcfg: FilterConfig, teacher: Teacher, judge: Teacher, scorer: Scorer | None) -> None:
        self.task, self.shots, self.pcfg, self.fcfg = task, shots, pcfg, fcfg
        self.shot_texts = {norm(ex.text) for ex in shots[0]}
        self.hashes = (prompt_hash(task, shots[0], pcfg), prompt_hash(task, shots[1], pcfg))
        self.teacher, self.judge, self.scorer = teacher, judge, scorer
        self.ctx = Context(fcfg)
        self.row_filters = [n for n in fcfg.use if n not in (NEEDS_JUDGE, "quality", *STATEFUL)]
        self.set_filters = [n for n in fcfg.use if n in STATEFUL]
        self.result = TaskResult(stats=TaskStats(task=task.name))

    def run(self, posts: list[Post]) -> TaskResult:
        t0 = time.perf_counter()
        self.result.stats.posts = len(posts)
        pending = posts
        for attempt in range(self.fcfg.regenerations + 1):
            if not pending:
                break
            if attempt:
                self.result.stats.regenerations += len(pending)
            pending = self._round(pending, attempt)
        self.result.stats.kept = len(self.result.kept)
        self.result.stats.seconds = time.perf_counter() - t0
        return self.result

    def _alt(self, post: Post) -> int:
        """0: the task's shots; 1: the alternate set, for a post that is one of the shots."""
        return int(bool(self.shot_texts) and norm(post.text) in self.shot_texts)

    def _override(self, attempt: int) -> dict[str, Any] | None:
        if attempt == 0:
            return None
        return {"temperature": self.fcfg.regen_temperature,
                "seed": (self.teacher.cfg.seed or 0) + attempt}

    def _round(self, posts: list[Post], attempt: int) -> list[Post]:
        """One pass over ``posts``; returns the posts to try again."""
        explain = self.pcfg.mode == "explain"
        requests = [build_messages(self.task, p.text, p.label if explain else None,
                                   self.shots[self._alt(p)], self.pcfg) for p in posts]
        over = self._override(attempt)
        desc = self.task.name + (f" (retry {attempt})" if attempt else "")
        verdicts: dict[str, tuple[str, str] | None] = {}
        cands: dict[str, Candidate] = {}

        def handle(i: int, reply: Reply) -> None:
            # runs as each reply arrives: parsing and row filters overlap the network wait
            post = posts[i]
            self.result.stats.usage(reply.usage, reply.cached)
            if not reply.ok:
                verdicts[post.id] = ("teacher_error", reply.error or "no reply")
                return
            cands[post.id] = c = _candidate(self.task, post, reply)
            verdicts[post.id] = first_failure(c, self.ctx, self.row_filters)

        self.teacher.generate(requests, desc=desc, overrides=[over] * len(posts) if over else None,
                              on_reply=handle)
        self._late_filters([cands[p.id] for p in posts if p.id in cands and verdicts.get(p.id) is None],
                           verdicts)
        return self._settle(posts, cands, verdicts, attempt)

    def _late_filters(self, alive: list[Candidate], verdicts: dict[str, tuple[str, str] | None]) -> None:
        """Judge and quality score the survivors, in a batch each."""
        if NEEDS_JUDGE in self.fcfg.use and alive:
            _judge(self.judge, self.task, alive, self.result.stats)
        if "quality" in self.fcfg.use and self.scorer and alive:
            for c, s in zip(alive, self.scorer(self.task, alive), strict=True):
                c.score = s
        late = [n for n in self.fcfg.use if n in (NEEDS_JUDGE, "quality")]
        for c in alive:
            verdicts[c.id] = first_failure(c, self.ctx, late)

    def _settle(self, posts: list[Post], cands: dict[str, Candidate],
                verdicts: dict[str, tuple[str, str] | None], attempt: int) -> list[Post]:
        """Duplicate filters in post order; keep or reject each row."""
        retry: list[Post] = []
        last = attempt == self.fcfg.regenerations
        for post in posts:
            c = cands.get(post.id)
            verdict = verdicts.get(post.id, ("teacher_error", "no reply"))
            if verdict is None and c is not None:
                verdict = first_failure(c, self.ctx, self.set_filters)
            if verdict is None and c is not None:
                self.result.kept[post.id] = c.explanation
                self.result.hashes[post.id] = self.hashes[self._alt(post)]
                self.ctx.index.add(post.id, c.explanation)
                continue
            name, reason = verdict or ("teacher_error", "no reply")
            final = last or name == "teacher_error"  # a failed call is retried by the next run
            self.result.rejected.append(_rejection(post, c, name, reason, attempt, final))
            if final:
                self.result.stats.drop(name)
            else:
                retry.append(post)
        return retry


def shot_sets(task: TaskSpec, pool: list[Example], pcfg: PromptConfig) -> tuple[list[Example], list[Example]]:
    """The task's few-shot examples and a disjoint alternate set, for the posts that are
    themselves in the first set (a post is never its own example; IMHI's expert posts come
    from the test sets). An empty pool falls back to the task's own examples."""
    pool = pool or list(task.examples)
    first = select_shots(task, pool, pcfg.k, pcfg.seed)
    used = {norm(ex.text) for ex in first}
    return first, select_shots(task, [ex for ex in pool if norm(ex.text) not in used], pcfg.k, pcfg.seed)


def run_teacher(recipe: BuildRecipe, base_dir: Path, run_dir: Path | None = None,
                scorer: Scorer | None = None) -> Path:
    """Build the dataset with a teacher LLM; return the run folder."""
    if recipe.teacher is None:
        from imhi.io import InputError

        raise InputError("recipe", "mode 'teacher' needs a 'teacher:' section", field="teacher")
    run_dir = run_dir or run_dir_of(recipe)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(run_dir, "build", recipe)
    splits = collect_posts(recipe, base_dir, manifest)
    names = sorted({p.task for s in SPLITS for p in splits[s]})
    tasks = {n: load_task(n, recipe.prompts_dir) for n in names}
    data_base = resolve(recipe.data_dir, base_dir) if recipe.data_dir else base_dir
    pools = load_pools(recipe.prompting, tasks, data_base, recipe.prompts_dir)
    cache = Path(recipe.cache) if recipe.cache else run_dir / "teacher_cache.sqlite"
    teacher = make_teacher(recipe.teacher, cache)
    judge = make_teacher(recipe.filters.judge, cache) if recipe.filters.judge else teacher
    results: dict[str, TaskResult] = {}
    for name in names:
        posts = [p for s in SPLITS for p in splits[s] if p.task == name]
        shots = shot_sets(tasks[name], pools.get(name, []), recipe.prompting)
        results[name] = TaskRun(tasks[name], shots, recipe.prompting, recipe.filters, teacher, judge,
                                scorer).run(posts)
        manifest.time(f"task:{name}", results[name].stats.seconds)
    _write(recipe, run_dir, manifest, splits, tasks, results, teacher)
    return run_dir


def _write(recipe: BuildRecipe, run_dir: Path, manifest: Manifest, splits: dict[str, list[Post]],
           tasks: dict[str, TaskSpec], results: dict[str, TaskResult], teacher: Teacher) -> None:
    pairs: dict[str, list[InstructionPair]] = {s: [] for s in SPLITS}
    for split in SPLITS:
        for post in splits[split]:
            res = results[post.task]
            if post.id in res.kept:
                pairs[split].append(make_pair(tasks[post.task], post, res.kept[post.id], teacher.name,
                                              res.hashes[post.id], recipe.system_prompt_in_messages))
    counts = write_dataset(run_dir, pairs, manifest, f"{recipe.name} (teacher: {teacher.name})")
    rejected = [r for res in results.values() for r in res.rejected]
    write_jsonl(run_dir / "rejected.jsonl", rejected)
    stats = [results[n].stats for n in sorted(results)]
    manifest.counts.update({"pairs": {s: len(v) for s, v in pairs.items()}, "labels": counts,
                            "rejected_final": sum(r["final"] for r in rejected),
                            "teacher": teacher.stats.as_dict()})
    assert recipe.teacher is not None
    write_text(run_dir / "build_report.md", render(
        recipe.name, teacher.name, recipe.teacher.kind, stats, recipe.report, list(recipe.filters.use),
        [f"Requests sent this run: {teacher.stats.sent} (answered from the cache: "
         f"{teacher.stats.cached}, failed: {teacher.stats.errors})."]))
    manifest.write()
