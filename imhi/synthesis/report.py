"""The teacher build report: per task posts in, kept, dropped per filter, regenerations,
tokens, cost (from a configurable price table); wall time of the synthesis.

Writes ``build_report.md`` into the run folder (via the caller).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from imhi.config import Strict


class Price(Strict):
    """US dollars per million tokens."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)


# List prices per 1M tokens at the time of writing; edit them in the recipe (report.prices).
DEFAULT_PRICES = {
    "gpt-3.5-turbo": Price(input=0.5, output=1.5),
    "gpt-4o-mini": Price(input=0.15, output=0.6),
    "gpt-4o": Price(input=2.5, output=10.0),
    "gpt-4.1-mini": Price(input=0.4, output=1.6),
}


class ReportConfig(Strict):
    """Price table for the cost column (local teachers cost nothing)."""

    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    batch_discount: float = Field(default=0.5, ge=0, le=1, description="Batch API price factor")


@dataclass
class TaskStats:
    """Counters for one task of a teacher build."""

    task: str
    posts: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    regenerations: int = 0
    requests: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    judge_requests: int = 0
    seconds: float = 0.0
    judges: dict[str, dict[str, int]] = field(default_factory=dict)  # judge → verdicts, contradictions, …

    def drop(self, name: str, judges: list[str] | tuple[str, ...] = ()) -> None:
        """Count a final drop by filter ``name`` (and, for consistency, by each judge behind it)."""
        self.dropped[name] = self.dropped.get(name, 0) + 1
        for j in judges:
            self._count(j, "dropped")

    def judged(self, judge: str, verdict: Any, contradicts: bool) -> None:
        """Count one judge reading: a verdict or none, a contradiction, a failure; its tokens."""
        self._count(judge, "read")
        if verdict is not None and getattr(verdict, "error", None):
            self._count(judge, "failed")
        elif verdict is None or getattr(verdict, "label", None) is None and not getattr(verdict, "absent", ()):
            self._count(judge, "no verdict")
        if contradicts:
            self._count(judge, "contradicted")
        usage = getattr(verdict, "usage", None) or {}
        if usage:
            self.judge_requests += 1
            self.prompt_tokens += int(usage.get("prompt_tokens", 0))
            self.completion_tokens += int(usage.get("completion_tokens", 0))

    def _count(self, judge: str, key: str) -> None:
        counts = self.judges.setdefault(judge, {})
        counts[key] = counts.get(key, 0) + 1

    def usage(self, usage: dict[str, Any], cached: bool, judge: bool = False) -> None:
        """Count one reply (teacher or judge) and its tokens."""
        if judge:
            self.judge_requests += 1
        else:
            self.requests += 1
            self.cached += int(cached)
        self.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.completion_tokens += int(usage.get("completion_tokens", 0))


def cost(stats: TaskStats, model: str, factor: float, cfg: ReportConfig) -> float | None:
    """Dollar cost of every token behind the task's replies (cached ones included); ``factor``:
    the share of the list price the teacher pays (0 for a local model, the Batch API's discount)."""
    if factor == 0:
        return 0.0
    price = cfg.prices.get(model)
    if price is None:
        return None
    return factor * (stats.prompt_tokens * price.input + stats.completion_tokens * price.output) / 1e6


def render(name: str, teacher: str, kind: str, factor: float, stats: list[TaskStats], cfg: ReportConfig,
           filters: list[str], extra: list[str] | None = None) -> str:
    """Markdown report: one row per task plus a drop table per filter; ``kind`` is shown, ``factor``
    prices the tokens (see :func:`cost`)."""
    lines = [f"# Build report: {name}", "", f"Mode: teacher ({kind}: `{teacher}`).", "",
             "| task | posts in | kept | dropped | regenerations | requests (cached) | prompt tok "
             "| completion tok | cost $ |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in stats:
        c = cost(s, teacher, factor, cfg)
        lines.append(f"| {s.task} | {s.posts} | {s.kept} | {sum(s.dropped.values())} | "
                     f"{s.regenerations} | {s.requests} ({s.cached}) | {s.prompt_tokens} | "
                     f"{s.completion_tokens} | {'n/a' if c is None else f'{c:.4f}'} |")
    if stats:
        lines += ["", f"Wall time of the synthesis: {max(s.seconds for s in stats):.1f} s (the tasks' "
                  "requests go out together, one stream per round)."]
    names = [*filters, *sorted({k for s in stats for k in s.dropped} - set(filters))]
    used = [n for n in names if any(s.dropped.get(n) for s in stats)]
    if used:
        lines += ["", "Dropped per filter (after all regenerations):", "",
                  "| task | " + " | ".join(used) + " |", "| --- |" + " ---: |" * len(used)]
        lines += [f"| {s.task} | " + " | ".join(str(s.dropped.get(n, 0)) for n in used) + " |"
                  for s in stats]
    lines += judge_table(stats)
    if any(s.task and cost(s, teacher, factor, cfg) is None for s in stats):
        lines += ["", f"No price for `{teacher}` in report.prices: cost not computed."]
    return "\n".join(lines + [""] + (extra or [])) + "\n"


def judge_table(stats: list[TaskStats]) -> list[str]:
    """Markdown lines: per task and judge, explanations read, with no verdict, contradicting the
    gold label, judge failures, and rows finally dropped because of that judge."""
    rows = [(s.task, j, c) for s in stats for j, c in sorted(s.judges.items())]
    if not rows:
        return []
    keys = ("read", "no verdict", "contradicted", "failed", "dropped")
    lines = ["", "Consistency judges (every try; 'dropped' after all regenerations):", "",
             "| task | judge | " + " | ".join(keys) + " |", "| --- | --- |" + " ---: |" * len(keys)]
    lines += [f"| {t} | {j} | " + " | ".join(str(c.get(k, 0)) for k in keys) + " |" for t, j, c in rows]
    return lines


def teacher_lines(stats: dict[str, Any]) -> list[str]:
    """Markdown lines: requests sent this run, cache hits, final failures and retries by cause
    (``stats``: :meth:`imhi.teacher.Stats.as_dict`)."""
    def by_cause(counts: dict[str, int]) -> str:
        return f" ({', '.join(f'{k}: {v}' for k, v in counts.items())})" if counts else ""

    return [f"Teacher requests this run: {stats['sent']} sent, {stats['cached']} answered from the cache; "
            f"failed after every retry: {stats['errors']}{by_cause(stats['failures'])}; "
            f"retries: {stats['retries']}{by_cause(stats['retries_by_cause'])}."]
