"""The cached teacher: render requests, answer from the cache, send the rest.

Reads and writes the reply cache (SQLite) through :class:`ReplyCache`. A backend (OpenAI
endpoint, Batch API, local model) only sends jobs that the cache cannot answer; every reply
is committed as it arrives, so a killed run resends nothing that was answered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm.auto import tqdm

from imhi.teacher.cache import ReplyCache, request_key
from imhi.teacher.config import Reply, TeacherConfig
from imhi.teacher.privacy import mask_messages


@dataclass
class Job:
    """One request to send: its cache key, the messages as sent, and the parameters."""

    key: str
    messages: list[dict[str, str]]
    params: dict[str, Any]


OnReply = Callable[[list[tuple[Job, Reply]]], None]


class Backend(Protocol):
    """Sends jobs and reports replies (text or final error) through ``on_reply``, in groups:
    the replies that arrived together (the teacher commits each group to the cache at once).

    ``jobs`` may be a lazy iterator: a backend that can start sending before it has seen them
    all (the OpenAI endpoint) should, the others may take them all first."""

    tally: Tally

    def send(self, jobs: Iterable[Job], on_reply: OnReply) -> None: ...

    def close(self) -> None: ...


@dataclass
class Tally:
    """What a backend reports while it works: requests in flight and retries by cause (refused,
    dns, tls, reset, timeout, 429, 5xx, malformed, ...). Read by a status line from another
    thread; plain counters, so a reading may be a moment old."""

    in_flight: int = 0
    retries: dict[str, int] = field(default_factory=dict)

    def retried(self, cause: str, n: int = 1) -> None:
        self.retries[cause] = self.retries.get(cause, 0) + n


@dataclass
class Stats:
    """Counters over the life of a teacher (requests sent, cache hits, final failures by cause,
    tokens); retries by cause are the backend's :class:`Tally`."""

    sent: int = 0
    cached: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # final errors by cause
    tally: Tally = field(default_factory=Tally)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "cached": self.cached, "errors": self.errors,
                "failures": dict(sorted(self.failures.items())),
                "retries": sum(self.tally.retries.values()),
                "retries_by_cause": dict(sorted(self.tally.retries.items())),
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


class Teacher:
    """Cached, resumable teacher around one backend (see module docstring)."""

    def __init__(self, cfg: TeacherConfig, cache: ReplyCache, backend: Backend) -> None:
        self.cfg, self.cache, self.backend = cfg, cache, backend
        self.stats = Stats(tally=backend.tally)
        self.mask = cfg.masks()

    @property
    def name(self) -> str:
        """Provenance name of the teacher: the model (a local model's path; no endpoint secrets)."""
        return self.cfg.provenance()

    def job(self, messages: list[dict[str, str]], override: dict[str, Any] | None = None) -> Job:
        """Render one request: mask it if it leaves the machine, then key it."""
        sent = mask_messages(messages) if self.mask else [dict(m) for m in messages]
        params = {**self.cfg.params(), **(override or {})}
        key = request_key(self.cfg.endpoint(), self.cfg.model, sent, params)
        return Job(key=key, messages=sent, params=params)

    def generate(self, requests: Iterable[list[dict[str, str]]], desc: str = "",
                 overrides: Sequence[dict[str, Any] | None] | None = None,
                 on_reply: Callable[[int, Reply], None] | None = None,
                 total: int | None = None, progress: bool = True) -> list[Reply]:
        """One reply per request, in order; cached replies are not sent again.

        ``requests`` may be lazy: they are rendered, keyed and looked up in the cache block by
        block while earlier blocks are already in flight. ``on_reply(index, reply)``, if given,
        sees each reply as soon as it is known (cached ones at once), so a caller can parse and
        filter while other requests are in flight. ``total`` sizes the progress bar; ``progress``
        False leaves the terminal to the caller's own status line.

        Raises :class:`~imhi.io.ServiceError` when the backend gives up on the endpoint (replies
        that arrived before are cached).
        """
        if total is None and isinstance(requests, Sized):
            total = len(requests)
        run = _Run(self, on_reply)
        disable = os.environ.get("IMHI_NO_PROGRESS") == "1" or not progress or None
        with tqdm(total=total, desc=desc or "teacher", unit="req", mininterval=0.5,
                  disable=disable) as run.bar:
            self.backend.send(run.todo(requests, overrides), run.answered)
        run.settle_lost()
        return [run.replies[j.key] for j in run.jobs]

    def _count(self, reply: Reply) -> None:
        self.stats.sent += 1
        self.stats.prompt_tokens += int(reply.usage.get("prompt_tokens", 0))
        self.stats.completion_tokens += int(reply.usage.get("completion_tokens", 0))
        if not reply.ok:
            self.stats.errors += 1
            cause = reply.cause or "other"
            self.stats.failures[cause] = self.stats.failures.get(cause, 0) + 1

    def close(self) -> None:
        """Stop the backend (a sender process, if any) and close the cache."""
        self.backend.close()
        self.cache.close()


BLOCK = 64  # requests rendered and looked up in the cache at a time


class _Run:
    """The state of one ``Teacher.generate`` call: jobs so far, replies by key, waiting rows."""

    def __init__(self, teacher: Teacher, notify: Callable[[int, Reply], None] | None) -> None:
        self.teacher, self.notify = teacher, notify
        self.jobs: list[Job] = []
        self.replies: dict[str, Reply] = {}
        self.waiting: dict[str, list[int]] = {}  # key in flight → rows that want its reply
        self.bar: Any = None

    def todo(self, requests: Iterable[list[dict[str, str]]],
             overrides: Sequence[dict[str, Any] | None] | None) -> Iterator[Job]:
        """Render and look up requests block by block; yield each key not yet answered, once."""
        block: list[Job] = []
        for i, msgs in enumerate(requests):
            block.append(self.teacher.job(msgs, overrides[i] if overrides else None))
            if len(block) == BLOCK:
                yield from self._lookup(block)
                block = []
        yield from self._lookup(block)

    def _lookup(self, block: list[Job]) -> Iterator[Job]:
        t = self.teacher
        found = t.cache.get_many([j.key for j in block if j.key not in self.replies]) if block else {}
        for job in block:
            i = len(self.jobs)
            self.jobs.append(job)
            if job.key in found and job.key not in self.replies:
                v = found[job.key]
                self.replies[job.key] = Reply(text=v["text"], usage=v["usage"], cached=True, key=job.key,
                                              finish_reason=v["finish_reason"])
            if job.key in self.replies:  # from the cache, or an identical request answered before
                t.stats.cached += 1
                self._tell(i, self.replies[job.key])
            elif job.key in self.waiting:  # an identical request is in flight
                t.stats.cached += 1
                self.waiting[job.key].append(i)
            else:
                self.waiting[job.key] = [i]
                yield job

    def _tell(self, i: int, reply: Reply) -> None:
        self.bar.update(1)
        if self.notify:
            self.notify(i, reply)

    def answered(self, group: list[tuple[Job, Reply]]) -> None:
        """Replies that arrived together: count them, cache the good ones in one commit, then
        hand each to every row that waits for it."""
        t = self.teacher
        for job, reply in group:
            reply.key = job.key
            t._count(reply)
        t.cache.put_many([(job.key, reply.text or "", reply.usage, reply.finish_reason, t.cfg.model)
                          for job, reply in group if reply.ok])
        for job, reply in group:
            self.replies[job.key] = reply
            for i in self.waiting.pop(job.key, ()):
                self._tell(i, reply)

    def settle_lost(self) -> None:
        """A backend that lost a job still yields one reply (an error) per row."""
        for key in list(self.waiting):
            self.replies[key] = reply = Reply(error="no reply from backend", cause="lost", key=key)
            for i in self.waiting.pop(key):
                self._tell(i, reply)
