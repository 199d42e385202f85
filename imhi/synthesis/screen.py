"""Run a recipe's filters and judges over explanations that already exist (reference builds,
``imhi data inspect``): row filters, then the judges, then the late filters, then the set
filters in post order.

Reads and writes nothing; the judges it is given may call a cached teacher.
"""

from __future__ import annotations

from imhi.judges import Judge, contradicts
from imhi.schema import Post
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
from imhi.synthesis.report import TaskStats
from imhi.tasks import TaskSpec

Verdicts = list[tuple[str, str] | None]


def judge(judges: list[Judge], task: TaskSpec, cands: list[Candidate], stats: TaskStats) -> None:
    """Attach each judge's verdict to the candidates (one call per judge for the batch)."""
    for j in judges:
        for c, v in zip(cands, j.read(task, [c.explanation for c in cands]), strict=True):
            c.verdicts[j.name] = v
            stats.judged(j.name, v, contradicts=contradicts(task, v, c.gold))


def reference_candidate(task: TaskSpec, post: Post) -> Candidate:
    """A post's own (reference) explanation as a candidate: its stated label is the gold."""
    expl = (post.explanation or "").strip()
    return Candidate(id=post.id, task=task, gold=post.label, raw=task.render_answer(post.label, expl),
                     stated=post.label, explanation=expl)


def screen(task: TaskSpec, cands: list[Candidate], cfg: FilterConfig, judges: list[Judge],
           stats: TaskStats) -> Verdicts:
    """The first (filter, reason) that rejects each candidate, or None; judges run only when
    the ``consistency`` filter (or another that needs them) is in use."""
    ctx = Context(cfg)
    verdicts: Verdicts = [first_failure(c, ctx, in_phase(cfg.use, "row")) for c in cands]
    alive = [c for c, v in zip(cands, verdicts, strict=True) if v is None]
    late = in_phase(cfg.use, "late", frozenset({"judges"}))
    if needs(late, "judges"):
        judge(judges, task, alive, stats)
    set_filters = in_phase(cfg.use, "set")
    for i, c in enumerate(cands):
        if verdicts[i] is None:
            verdicts[i] = first_failure(c, ctx, late)
        if verdicts[i] is None:
            prepare(c, ctx, set_filters)
            verdicts[i] = first_failure(c, ctx, set_filters)
        if verdicts[i] is None:
            ctx.index.add(c.id, c.explanation)
    return verdicts


def contradictions(posts: list[Post], judges: list[Judge], prompts_dir: str | None = None,
                   ) -> list[tuple[Post, Candidate, list[str]]]:
    """Posts whose own explanation a judge reads as another label than theirs: (post, the
    candidate with its verdicts, the judges that disagree), in input order."""
    from imhi.tasks import load_task

    out: list[tuple[Post, Candidate, list[str]]] = []
    for name in sorted({p.task for p in posts if (p.explanation or "").strip()}):
        task = load_task(name, prompts_dir)
        mine = [p for p in posts if p.task == name and (p.explanation or "").strip()]
        cands = [reference_candidate(task, p) for p in mine]
        judge(judges, task, cands, TaskStats(task=name))
        for p, c in zip(mine, cands, strict=True):
            if names := contradicting(c):
                out.append((p, c, names))
    return out
