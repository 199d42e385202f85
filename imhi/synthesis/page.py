"""The build's ``report.html``: per task the funnel (posts in → kept, dropped or flagged per
filter and per judge, regenerations, tokens, cost) and every post in one searchable table whose
rows open to show the prompt sent and every try.

Reads the build's posts, kept explanations, rejected rows and counters (handed over by
:mod:`imhi.synthesis.pipeline` and :mod:`imhi.synthesis.offline` as they write the run folder);
writes ``report.html`` through :mod:`imhi.html`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from imhi import html
from imhi.schema import Post
from imhi.synthesis.report import ReportConfig, TaskStats, cost

# post → its prompt (chat messages as text, see chat_text) with "{post}" for its text (None: no prompt)
PromptOf = Callable[[Post], str | None]
COLUMNS = [("id", "id"), ("task", "cat"), ("split", "cat"), ("label", "cat"), ("status", "cat"),
           ("filter", "cat"), ("tries", "num"), ("text", "text"), ("explanation", "text"), ("reason", "text")]


def write_build_page(run_dir: Path, title: str, mode: str, posts: list[Post], kept: dict[str, str],
                     rejected: list[dict[str, Any]], stats: list[TaskStats], funnel: html.Block,
                     prompt_of: PromptOf | None = None) -> Path:
    """``report.html`` of a build: ``kept`` maps post id → the explanation in the dataset
    (flagged rows included), ``funnel`` is the per-task table of the Markdown report's numbers."""
    tries: dict[str, list[dict[str, Any]]] = {}
    for r in rejected:
        tries.setdefault(r["id"], []).append(r)
    shared: dict[str, int] = {}
    rows, details = [], []
    for post in posts:
        row, detail = _row(post, kept.get(post.id), tries.get(post.id, []))
        if prompt_of is not None and (prompt := prompt_of(post)):
            detail["prompt sent"] = {"refs": [shared.setdefault(prompt, len(shared))]}
        rows.append(row)
        details.append(detail)
    table = html.rows_block("rows", COLUMNS, rows, details, list(shared), fill="text")
    sections = [{"title": "Funnel per task", "blocks": [funnel, *_drops(stats), *_judges(stats)]},
                {"title": "Every post", "blocks": [
                    html.text("Click a row to open it: the prompt sent (the post in place of {post}) and "
                              "every try with its filter and reason."), table]}]
    kept_n = sum(s.kept for s in stats)
    page = {"title": title, "kind": "build", "subtitle": f"{mode}; {len(posts)} posts, {kept_n} kept",
            "headline": {"posts": len(posts), "kept": kept_n}, "sections": sections}
    return html.write_page(run_dir / "report.html", page)


def _row(post: Post, explanation: str | None, tries: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    final = next((t for t in reversed(tries) if t.get("final")), None)
    status = "kept" if explanation is not None and final is None else \
        "flagged" if explanation is not None else "dropped"
    last = final or (tries[-1] if tries else {})
    row = {"id": post.id, "task": post.task, "split": post.split, "label": post.label, "status": status,
           "filter": last.get("filter", "") if status != "kept" else "",
           "tries": len(tries) + (status == "kept"), "text": post.text,
           "explanation": explanation if explanation is not None else last.get("reply", ""),
           "reason": last.get("reason", "") if status != "kept" else ""}
    detail = {"tries": [{"try": (t.get("attempt") or 0) + 1, "filter": t.get("filter"), "reason": t.get("reason"),
                         "reply": t.get("reply"), "judges": _verdicts(t.get("verdicts"))} for t in tries]}
    if not tries:
        detail = {}  # one try, kept: the row shows it
    elif status == "kept":
        detail["tries"].append({"try": len(tries) + 1, "filter": "", "reason": "kept (the explanation above)"})
    if post.explanation and explanation != post.explanation:
        detail["reference explanation"] = post.explanation
    return row, detail


def teacher_funnel(stats: list[TaskStats], teacher: str, factor: float, cfg: ReportConfig) -> html.Block:
    """The teacher build's per-task table (as in build_report.md)."""
    def dollars(s: TaskStats) -> str:
        c = cost(s, teacher, factor, cfg)
        return "n/a" if c is None else f"{c:.4f}"

    return html.table(["task", "posts in", "kept", "dropped", "regenerations", "requests", "cached",
                       "prompt tokens", "completion tokens", "cost $"],
                      [[s.task, s.posts, s.kept, sum(s.dropped.values()), s.regenerations, s.requests, s.cached,
                        s.prompt_tokens, s.completion_tokens, dollars(s)] for s in stats])


def reference_funnel(stats: list[TaskStats], drop: bool) -> html.Block:
    """The reference build's per-task table: rows read, rejected (dropped or flagged), kept."""
    verb = "dropped" if drop else "flagged"
    return html.table(["task", "posts in", "kept", verb],
                      [[s.task, s.posts, s.kept, sum(s.dropped.values())] for s in stats])


def _verdicts(verdicts: dict[str, Any] | None) -> str:
    return "; ".join(f"{k}: {v}" for k, v in (verdicts or {}).items())


def chat_text(messages: list[dict[str, str]]) -> str:
    """Chat messages as one text: each message under its role."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


def _drops(stats: list[TaskStats]) -> list[html.Block]:
    used = sorted({k for s in stats for k in s.dropped})
    if not used:
        return []
    return [html.text("Rejected per filter (after all regenerations):"),
            html.table(["task", "posts", *used], [[s.task, s.posts, *(s.dropped.get(n, 0) for n in used)]
                                                  for s in stats])]


def _judges(stats: list[TaskStats]) -> list[html.Block]:
    keys = ("read", "no verdict", "contradicted", "failed", "dropped")
    rows = [[s.task, j, *(c.get(k, 0) for k in keys)] for s in stats for j, c in sorted(s.judges.items())]
    if not rows:
        return []
    return [html.text("Consistency judges (every try; 'dropped' after all regenerations):"),
            html.table(["task", "judge", *keys], rows)]
