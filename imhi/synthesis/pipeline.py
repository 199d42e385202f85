"""Teacher mode of ``imhi build``: few-shot prompt a teacher, parse, filter, regenerate.

Reads the recipe's sources, the task folders and the teacher's reply cache; writes the
run folder: dataset/ (JSONL splits, HF copy, card), rejected.jsonl (every dropped try
with filter and reason), build_report.md, report.html and manifest.json. Every step is a function of
the cached replies, so a killed build rerun sends no answered request again and writes the
same dataset.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imhi.config import Manifest
from imhi.io import frozen_heap, write_jsonl, write_text
from imhi.judges import Judge, TeacherFactory, describe, make_judges
from imhi.prompting import PromptConfig, build_messages, load_pools, prompt_hash, select_shots
from imhi.schema import InstructionPair, Post
from imhi.sources import data_root
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
from imhi.synthesis.dedup import norm
from imhi.synthesis.filters import (
    Candidate,
    Context,
    FilterConfig,
    contradicting,
    first_failure,
    in_phase,
    needs,
    prepare,
)
from imhi.synthesis.page import PromptOf, chat_text, teacher_funnel, write_build_page
from imhi.synthesis.parse import parse_reply
from imhi.synthesis.recipe import BuildRecipe
from imhi.synthesis.report import TaskStats, render, teacher_lines
from imhi.synthesis.screen import judge
from imhi.synthesis.status import BuildStatus
from imhi.tasks import Example, TaskSpec, load_task
from imhi.teacher import Reply, Teacher, TeacherConfig, make_teacher

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


def rejection(post: Post, cand: Candidate | None, name: str, reason: str, attempt: int | None = None,
              final: bool = True) -> dict[str, Any]:
    """The one shape of a rejected (or flagged) row in rejected.jsonl: filter, reason, every
    judge's verdict."""
    row = {"id": post.id, "task": post.task, "source": post.source, "attempt": attempt,
           "final": final, "filter": name, "reason": reason, "label": post.label,
           "reply": cand.raw if cand else None,
           "verdicts": {n: describe(v) for n, v in cand.verdicts.items() if v} if cand else {},
           "provenance": post.provenance.model_dump(exclude_none=True)}
    return {k: v for k, v in row.items() if v is not None}


class Round:
    """One task's pass over its pending posts: requests out, replies in, rows kept or retried.

    Replies are parsed and row-filtered as they arrive. Without a judge or quality gate the
    duplicate filters run as they arrive too, in post order (a watermark advances over the
    rows answered so far), so a rerun keeps exactly the same rows; with one, the survivors
    are judged and scored in a batch when the round's replies are in.
    """

    def __init__(self, run: TaskRun, posts: list[Post], attempt: int) -> None:
        self.run, self.posts, self.attempt = run, posts, attempt
        self.verdicts: list[tuple[str, str] | None] = [None] * len(posts)
        self.known = [False] * len(posts)
        self.cands: list[Candidate | None] = [None] * len(posts)
        self.retry: list[Post] = []
        self.next = 0  # posts before this index are settled
        self.incremental = not run.batched_late

    def requests(self) -> Iterator[list[dict[str, str]]]:
        """The posts' prompts, rendered lazily (sending starts before the last one exists)."""
        run = self.run
        explain = run.pcfg.mode == "explain"
        for p in self.posts:
            yield build_messages(run.task, p.text, p.label if explain else None, run.shots[run.alt(p)],
                                 run.pcfg)

    def handle(self, i: int, reply: Reply) -> None:
        """One reply: parse, row filters, and settle every row up to the first unanswered one."""
        run, post = self.run, self.posts[i]
        run.result.stats.usage(reply.usage, reply.cached)
        if not reply.ok:
            self.verdicts[i] = ("teacher_error", reply.error or "no reply")
        else:
            self.cands[i] = c = _candidate(run.task, post, reply)
            self.verdicts[i] = first_failure(c, run.ctx, run.row_filters)
            if self.verdicts[i] is None and run.row_judges:
                judge(run.row_judges, run.task, [c], run.result.stats)
            if self.verdicts[i] is None and self.incremental:
                self.verdicts[i] = first_failure(c, run.ctx, run.late)
            if self.verdicts[i] is None:
                prepare(c, run.ctx, run.set_filters)
        self.known[i] = True
        if self.incremental:
            while self.next < len(self.posts) and self.known[self.next]:
                self._settle(self.next)
                self.next += 1

    def finish(self) -> list[Post]:
        """Late filters (judge, quality) if any, settle the rest; the posts to try again."""
        if not self.incremental:
            self.run.late_filters(self.verdicts, self.cands)
        for i in range(self.next, len(self.posts)):
            self._settle(i)
        self.next = len(self.posts)
        return self.retry

    def _settle(self, i: int) -> None:
        """Duplicate filters, then keep or reject the row (in post order)."""
        run, post, c = self.run, self.posts[i], self.cands[i]
        verdict = self.verdicts[i] if self.known[i] else ("teacher_error", "no reply")
        if verdict is None and c is not None:
            verdict = first_failure(c, run.ctx, run.set_filters)
        if verdict is None and c is not None:
            run.keep(post, c)
            run.on_settled(True)
            return
        name, reason = verdict or ("teacher_error", "no reply")
        final = self.attempt == run.fcfg.regenerations or name == "teacher_error"  # a failed call:
        run.result.rejected.append(rejection(post, c, name, reason, self.attempt, final))  # next run
        if final:
            run.result.stats.drop(name, contradicting(c) if c is not None and needs([name], "judges") else ())
            run.on_settled(False)
        else:
            self.retry.append(post)


class TaskRun:
    """One task's synthesis: rounds of generate → parse → filter until kept or out of tries."""

    def __init__(self, task: TaskSpec, shots: tuple[list[Example], list[Example]], pcfg: PromptConfig,
                 fcfg: FilterConfig, teacher: Teacher, judges: list[Judge], scorer: Scorer | None) -> None:
        self.task, self.shots, self.pcfg, self.fcfg = task, shots, pcfg, fcfg
        self.shot_texts = {norm(ex.text) for ex in shots[0]}
        self.hashes = (prompt_hash(task, shots[0], pcfg), prompt_hash(task, shots[1], pcfg))
        self.teacher, self.scorer = teacher, scorer
        self.ctx = Context(fcfg)
        self.row_filters = in_phase(fcfg.use, "row")
        self.set_filters = in_phase(fcfg.use, "set")
        have = frozenset({"judges", "scorer"} if scorer else {"judges"})
        self.late = in_phase(fcfg.use, "late", have)
        in_use = judges if needs(self.late, "judges") else []
        self.row_judges = [j for j in in_use if not j.batched]
        self.batch_judges = [j for j in in_use if j.batched]
        # the late filters wait for a batch when a batched judge or the scorer must run first
        self.batched_late = bool(self.batch_judges) or needs(self.late, "scorer")
        self.result = TaskResult(stats=TaskStats(task=task.name))
        self._alts: dict[str, int] = {}
        self._prompts: dict[tuple[int, str], str] = {}
        self.on_settled: Callable[[bool], None] = lambda kept: None  # a row is final (kept or not)

    def alt(self, post: Post) -> int:
        """0: the task's shots; 1: the alternate set, for a post that is one of the shots."""
        if post.id not in self._alts:
            self._alts[post.id] = int(bool(self.shot_texts) and norm(post.text) in self.shot_texts)
        return self._alts[post.id]

    def prompt(self, post: Post) -> str:
        """The post's first-try prompt with "{post}" in place of its text (for report.html)."""
        label = post.label if self.pcfg.mode == "explain" else None
        key = (self.alt(post), str(label))
        if key not in self._prompts:
            self._prompts[key] = chat_text(build_messages(self.task, "{post}", label, self.shots[key[0]], self.pcfg))
        return self._prompts[key]

    def override(self, attempt: int) -> dict[str, Any] | None:
        if attempt == 0:
            return None
        return {"temperature": self.fcfg.regen_temperature, "seed": (self.teacher.cfg.seed or 0) + attempt}

    def keep(self, post: Post, c: Candidate) -> None:
        self.result.kept[post.id] = c.explanation
        self.result.hashes[post.id] = self.hashes[self.alt(post)]
        self.ctx.index.add(post.id, c.explanation)

    def late_filters(self, verdicts: list[tuple[str, str] | None], cands: list[Candidate | None]) -> None:
        """Judge and quality score the rows that passed the row filters, in a batch each, and
        record the late filters' verdicts."""
        alive = [c for c, v in zip(cands, verdicts, strict=True) if c is not None and v is None]
        if self.batch_judges and alive:
            judge(self.batch_judges, self.task, alive, self.result.stats)
        if needs(self.late, "scorer") and self.scorer and alive:
            for c, s in zip(alive, self.scorer(self.task, alive), strict=True):
                c.score = s
        for i, c in enumerate(cands):
            if c is not None and verdicts[i] is None:
                verdicts[i] = first_failure(c, self.ctx, self.late)


def run_rounds(runs: list[tuple[TaskRun, list[Post]]], teacher: Teacher, regenerations: int,
               status: BuildStatus | None = None) -> float:
    """Every task's rounds together: round r of all tasks is one stream of requests (one ramp-up
    and one tail instead of one per task), its replies dispatched to their task. ``status``, if
    given, sees every row settle (and the teacher's own progress bar stays off). Returns seconds."""
    t0 = time.perf_counter()
    for run, posts in runs:
        run.result.stats.posts = len(posts)
        if status is not None:
            run.on_settled = status.settled
    pending = {id(run): posts for run, posts in runs}
    for attempt in range(regenerations + 1):
        rounds = [Round(run, pending[id(run)], attempt) for run, _ in runs if pending[id(run)]]
        if not rounds:
            break
        if attempt:
            for r in rounds:
                r.run.result.stats.regenerations += len(r.posts)
        starts = list(itertools.accumulate([len(r.posts) for r in rounds], initial=0))

        def dispatch(i: int, reply: Reply, rounds: list[Round] = rounds, starts: list[int] = starts) -> None:
            k = bisect.bisect_right(starts, i) - 1
            rounds[k].handle(i - starts[k], reply)

        overrides = [r.run.override(attempt) for r in rounds for _ in r.posts]
        names = ", ".join(r.run.task.name for r in rounds)
        teacher.generate(itertools.chain.from_iterable(r.requests() for r in rounds),
                         desc=names + (f" (retry {attempt})" if attempt else ""),
                         overrides=overrides if attempt else None, on_reply=dispatch, total=starts[-1],
                         progress=status is None)
        for r in rounds:
            pending[id(r.run)] = r.finish()
    took = time.perf_counter() - t0
    for run, _ in runs:
        run.result.stats.kept = len(run.result.kept)
        run.result.stats.seconds = took
    return took


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
    splits, too_long = collect_posts(recipe, base_dir, manifest)
    names = sorted({p.task for s in SPLITS for p in splits[s]})
    tasks = {n: load_task(n, recipe.prompts_dir) for n in names}
    data_base = data_root(recipe.data_dir, base_dir, base_dir)
    pools = load_pools(recipe.prompting, tasks, data_base, recipe.prompts_dir)
    cache = Path(recipe.cache) if recipe.cache else run_dir / "teacher_cache.sqlite"
    teacher = make_teacher(recipe.teacher, cache)
    judges = make_judges(recipe.filters.judge, judge_teachers(teacher, cache))
    try:
        runs = [(TaskRun(tasks[n], shot_sets(tasks[n], pools.get(n, []), recipe.prompting), recipe.prompting,
                         recipe.filters, teacher, judges, scorer),
                 [p for s in SPLITS for p in splits[s] if p.task == n]) for n in names]
        status = BuildStatus(f"build {recipe.name}", sum(len(p) for _, p in runs), teacher.stats,
                             recipe.status_every_s)
        with frozen_heap():
            with status:
                manifest.time("synthesis", run_rounds(runs, teacher, recipe.filters.regenerations, status))
            results = {run.task.name: run.result for run, _ in runs}
            by_task = {run.task.name: run for run, _ in runs}
            _write(recipe, run_dir, manifest, splits, tasks, results, teacher, too_long,
                   lambda post: by_task[post.task].prompt(post) if post.task in by_task else None)
    finally:
        for j in judges:
            j.close()
        teacher.close()
    stats = [r.stats for r in results.values()]
    require_kept(sum(s.kept for s in stats), sum(s.posts for s in stats), recipe.min_kept, run_dir,
                 merged_drops(stats))
    return run_dir


def judge_teachers(teacher: Teacher | None, cache: Path) -> TeacherFactory:
    """How an LLM judge gets its teacher: its own config (cached in the same file), or the
    build's teacher (not closed by the judge)."""
    def factory(cfg: TeacherConfig | None) -> tuple[Teacher, bool]:
        if cfg is not None:
            return make_teacher(cfg, cache), True
        if teacher is None:
            from imhi.io import InputError

            raise InputError("recipe", "the llm judge needs a teacher: set its 'teacher:'", field="filters.judge")
        return teacher, False
    return factory


def _write(recipe: BuildRecipe, run_dir: Path, manifest: Manifest, splits: dict[str, list[Post]],
           tasks: dict[str, TaskSpec], results: dict[str, TaskResult], teacher: Teacher,
           too_long: list[dict[str, Any]], prompt_of: PromptOf) -> None:
    pairs: dict[str, list[InstructionPair]] = {s: [] for s in SPLITS}
    for split in SPLITS:
        for post in splits[split]:
            res = results[post.task]
            if post.id in res.kept:
                pairs[split].append(make_pair(tasks[post.task], post, res.kept[post.id], teacher.name,
                                              res.hashes[post.id], recipe.system_prompt_in_messages))
    counts = write_dataset(run_dir, pairs, manifest, f"{recipe.name} (teacher: {teacher.name})")
    rejected = too_long + [r for res in results.values() for r in res.rejected]
    write_jsonl(run_dir / "rejected.jsonl", rejected)
    stats = [results[n].stats for n in sorted(results)]
    manifest.counts.update({"pairs": {s: len(v) for s, v in pairs.items()}, "labels": counts,
                            "rejected_final": sum(r["final"] for r in rejected),
                            "teacher": teacher.stats.as_dict()})
    assert recipe.teacher is not None
    write_text(run_dir / "build_report.md", render(
        recipe.name, teacher.name, recipe.teacher.kind, recipe.teacher.cost_factor(recipe.report.batch_discount),
        stats, recipe.report, list(recipe.filters.use),
        [*teacher_lines(teacher.stats.as_dict()), long_posts_note(manifest)]))
    kept = {pid: e for res in results.values() for pid, e in res.kept.items()}
    factor = recipe.teacher.cost_factor(recipe.report.batch_discount)
    write_build_page(run_dir, f"Build: {recipe.name}", f"teacher {recipe.teacher.kind}: {teacher.name}",
                     [p for s in SPLITS for p in splits[s]], kept, rejected, stats,
                     teacher_funnel(stats, teacher.name, factor, recipe.report), prompt_of)
    manifest.write()
