"""The cached teacher: render requests, answer from the cache, send the rest.

Reads and writes the reply cache (SQLite) through :class:`ReplyCache`. A backend (OpenAI
endpoint, Batch API, local model) only sends jobs that the cache cannot answer; every reply
is committed as it arrives, so a killed run resends nothing that was answered.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm.auto import tqdm

from imhi.teacher.cache import ReplyCache, request_key
from imhi.teacher.config import Reply, TeacherConfig
from imhi.teacher.privacy import is_loopback, mask_messages


@dataclass
class Job:
    """One request to send: its cache key, the messages as sent, and the parameters."""

    key: str
    messages: list[dict[str, str]]
    params: dict[str, Any]


OnReply = Callable[[Job, Reply], None]


class Backend(Protocol):
    """Sends jobs and reports each reply (text or final error) through ``on_reply``."""

    def send(self, jobs: list[Job], on_reply: OnReply) -> None: ...


@dataclass
class Stats:
    """Counters over the life of a teacher (requests sent, cache hits, tokens)."""

    sent: int = 0
    cached: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "cached": self.cached, "errors": self.errors,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


class Teacher:
    """Cached, resumable teacher around one backend (see module docstring)."""

    def __init__(self, cfg: TeacherConfig, cache: ReplyCache, backend: Backend) -> None:
        self.cfg, self.cache, self.backend = cfg, cache, backend
        self.stats = Stats()
        self.mask = cfg.mask_pii and cfg.kind != "local" and not is_loopback(cfg.base_url)

    @property
    def name(self) -> str:
        """Provenance name of the teacher: kind and model (no endpoint secrets)."""
        return self.cfg.local.path if self.cfg.kind == "local" and self.cfg.local else self.cfg.model

    def job(self, messages: list[dict[str, str]], override: dict[str, Any] | None = None) -> Job:
        """Render one request: mask it if it leaves the machine, then key it."""
        sent = mask_messages(messages) if self.mask else [dict(m) for m in messages]
        params = {**self.cfg.params(), **(override or {})}
        key = request_key(self.cfg.endpoint(), self.cfg.model, sent, params)
        return Job(key=key, messages=sent, params=params)

    def generate(self, requests: list[list[dict[str, str]]], desc: str = "",
                 overrides: list[dict[str, Any]] | None = None,
                 on_reply: Callable[[int, Reply], None] | None = None) -> list[Reply]:
        """One reply per request, in order; cached replies are not sent again.

        ``on_reply(index, reply)``, if given, sees each reply as soon as it is known (cached
        ones first), so a caller can parse and filter while other requests are in flight.
        """
        jobs = [self.job(m, overrides[i] if overrides else None) for i, m in enumerate(requests)]
        found = self.cache.get_many([j.key for j in jobs])
        replies: dict[str, Reply] = {k: Reply(text=v["text"], usage=v["usage"], cached=True, key=k,
                                              finish_reason=v["finish_reason"])
                                     for k, v in found.items()}
        todo = list({j.key: j for j in jobs if j.key not in replies}.values())
        self.stats.cached += len(jobs) - len(todo)
        where: dict[str, list[int]] = {}
        for i, j in enumerate(jobs):
            if j.key in replies:
                if on_reply:
                    on_reply(i, replies[j.key])
            else:
                where.setdefault(j.key, []).append(i)
        if todo:
            self._send(todo, replies, desc, where if on_reply else None, on_reply)
        return [replies[j.key] for j in jobs]

    def _send(self, todo: list[Job], replies: dict[str, Reply], desc: str,
              where: dict[str, list[int]] | None = None,
              notify: Callable[[int, Reply], None] | None = None) -> None:
        disable = os.environ.get("IMHI_NO_PROGRESS") == "1" or None
        with tqdm(total=len(todo), desc=desc or "teacher", unit="req", mininterval=0.5,
                  disable=disable) as bar:
            def on_reply(job: Job, reply: Reply) -> None:
                reply.key = job.key
                self._count(reply)
                if reply.ok:
                    self.cache.put(job.key, reply.text or "", reply.usage, reply.finish_reason,
                                   self.cfg.model)
                replies[job.key] = reply
                bar.update(1)
                if notify and where:
                    for i in where.get(job.key, ()):
                        notify(i, reply)

            self.backend.send(todo, on_reply)
        for job in todo:  # a backend that lost a job still yields one reply per row
            if job.key not in replies:
                replies[job.key] = Reply(error="no reply from backend", key=job.key)
                for i in (where or {}).get(job.key, ()):
                    assert notify is not None
                    notify(i, replies[job.key])

    def _count(self, reply: Reply) -> None:
        self.stats.sent += 1
        self.stats.prompt_tokens += int(reply.usage.get("prompt_tokens", 0))
        self.stats.completion_tokens += int(reply.usage.get("completion_tokens", 0))
        if not reply.ok:
            self.stats.errors += 1
            kind = (reply.error or "").split(":", 1)[0]
            self.stats.error_kinds[kind] = self.stats.error_kinds.get(kind, 0) + 1

    def close(self) -> None:
        self.cache.close()
