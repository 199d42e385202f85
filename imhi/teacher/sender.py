"""Send chat-completion jobs from a separate process (``teacher.sender: process``, the default).

Reads and writes nothing itself. The child (forked where that is safe, else ``python -m
imhi.teacher.sender``, a fresh interpreter, so the caller's main module is never re-imported) runs the same
:class:`~imhi.teacher.openai_backend.OpenAIBackend` workers (openai client, retries, rate
limits) on one event loop and one client for its whole life, and streams each reply back as
it arrives; the calling process meanwhile renders the next requests and caches, parses and
filters the replies, on the other CPU core. At concurrency 64 on 2 cores the event loop then
does nothing but HTTP, which is what keeps requests going out on time
(benchmarks/teacher_throughput.py). Jobs go to the child in chunks as they are rendered, so
sending starts before the last request exists.

Pipes, parent → child: ``("jobs", [Job, ...])``, ``("end", None)`` after a batch's last chunk,
``None`` to exit. Child → parent: lists of ``(key, reply dict)``; ``("#", {"in_flight": n,
"retries": {cause: n}})`` reports the child's requests in flight and its retries since the last
report (with every group of replies, and every quarter second while they change); ``("", None)``
ends a batch, ``("", {"abort": message})`` ends one that the child gave up (endpoint down).
The child reads the API key from the environment itself (nothing secret crosses a pipe) and
exits when told, when a pipe breaks, or when its parent process is gone.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from imhi.io import ServiceError
from imhi.teacher.base import Job, OnReply, Tally
from imhi.teacher.config import OpenAITeacher, Reply

CHUNK = 32  # jobs per pipe message, parent → child
FLUSH = 256  # replies per pipe message at most, child → parent
BATCH, EXIT = "batch", "exit"  # markers between batches in the child's inbox


def _writer(conn: Connection, out: queue.SimpleQueue[Any]) -> None:
    """Send replies to the parent in small batches; a broken pipe ends the child."""
    while True:
        batch = list(out.get())
        while len(batch) < FLUSH:
            try:
                batch += out.get_nowait()
            except queue.Empty:
                break
        try:
            conn.send(batch)
        except (BrokenPipeError, OSError):
            os._exit(1)


def _reader(conn: Connection, loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[Any],
            workers: int) -> None:
    """Pipe → event loop: a BATCH marker, the batch's jobs, then one None per worker."""
    started = False
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            msg = None
        items: list[Any] = []
        if msg is None:
            items = [EXIT]
        elif not started:
            items, started = [BATCH], True
        if msg is not None and msg[0] == "jobs":
            items += msg[1]
        elif msg is not None:  # "end"
            items += [None] * workers
            started = False
        loop.call_soon_threadsafe(lambda xs=items: [inbox.put_nowait(x) for x in xs])
        if msg is None:
            return


def _watch_parent(parent: int) -> None:
    """Exit when the parent process is gone (a killed build leaves no sender behind)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


async def serve(jobs_in: Connection, out: queue.SimpleQueue[Any], cfg: OpenAITeacher) -> None:
    """The child's loop: one client, batch after batch, until told to exit."""
    from imhi.teacher.openai_backend import OpenAIBackend

    backend = OpenAIBackend(cfg.model_copy(update={"sender": "inline"}))
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    threading.Thread(target=_reader, args=(jobs_in, asyncio.get_running_loop(), inbox, cfg.concurrency),
                     daemon=True).start()
    loop = asyncio.get_running_loop()
    done: list[tuple[str, Any]] = []  # replies of this loop iteration, handed over together
    report = _Reporter(backend.tally, out)

    def flush() -> None:
        if done:
            out.put([*done, report.item()])
            done.clear()

    def on_reply(group: list[tuple[Job, Reply]]) -> None:
        if not done:
            loop.call_soon(flush)  # after every task woken in this iteration has run
        done.extend((job.key, reply.model_dump()) for job, reply in group)

    client = backend.client()
    ticker = asyncio.ensure_future(report.every(0.25))
    try:
        while await inbox.get() == BATCH:
            end = None
            try:
                await backend.run(client, inbox.get, on_reply)
            except ServiceError as exc:
                end = {"abort": str(exc)}
            flush()
            out.put([report.item(), ("", end)])
    finally:
        ticker.cancel()
        await client.close()


class _Reporter:
    """The child's tally as pipe items: requests in flight, retries since the last report."""

    def __init__(self, tally: Tally, out: queue.SimpleQueue[Any]) -> None:
        self.tally, self.out = tally, out
        self.flight = 0

    def item(self) -> tuple[str, dict[str, Any]]:
        retries, self.tally.retries = self.tally.retries, {}
        self.flight = self.tally.in_flight
        return "#", {"in_flight": self.flight, "retries": retries}

    async def every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            if self.tally.retries or self.tally.in_flight != self.flight:
                self.out.put([self.item()])


def child_main(jobs_in: Connection, replies_out: Connection, cfg: OpenAITeacher, parent: int) -> None:
    """The sender process (see module docstring)."""
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    out: queue.SimpleQueue[Any] = queue.SimpleQueue()
    threading.Thread(target=_writer, args=(replies_out, out), daemon=True).start()
    asyncio.run(serve(jobs_in, out, cfg))
    while not out.empty():  # let the writer flush what is left
        time.sleep(0.01)


@dataclass
class _Link:
    """One child process and its two pipe ends."""

    proc: _Child
    jobs: Connection
    replies: Connection


class ProcessSender:
    """The parent's side: starts the children and relays jobs and replies.

    With more than one child (``teacher.sender_processes``; 2 from concurrency 32 up on more than 2 cores) the
    concurrency (and any requests/tokens-per-minute budget) is split evenly between them;
    chunks of jobs go to them in turn.
    """

    def __init__(self, cfg: OpenAITeacher) -> None:
        self.cfg = cfg
        self.links: list[_Link | None] = [None] * cfg.senders()
        self.tally = Tally()
        self._flight: dict[Any, int] = {}  # pipe → that child's requests in flight

    def _child_cfg(self) -> OpenAITeacher:
        n = len(self.links)
        return self.cfg.model_copy(update={
            "concurrency": -(-self.cfg.concurrency // n),
            "requests_per_minute": self.cfg.requests_per_minute and self.cfg.requests_per_minute / n,
            "tokens_per_minute": self.cfg.tokens_per_minute and self.cfg.tokens_per_minute / n})

    def start(self) -> list[_Link]:
        """Start the children that are not running (returns at once)."""
        for i, link in enumerate(self.links):
            if link is None or not link.proc.alive():
                self.links[i] = self._start_one()
        return [link for link in self.links if link is not None]

    def _start_one(self) -> _Link:
        job_r, job_w = os.pipe()
        rep_r, rep_w = os.pipe()
        cfg = self._child_cfg()
        if _can_fork():
            _warm_transport(cfg)
            proc = _Child.fork(job_r, rep_w, (job_w, rep_r), cfg)
        else:
            proc = _Child.spawn(job_r, rep_w, cfg)
        os.close(job_r)
        os.close(rep_w)
        link = _Link(proc, Connection(job_w, readable=False), Connection(rep_r, writable=False))
        weakref.finalize(self, _stop, link)
        return link

    def send(self, jobs: Iterable[Job], on_reply: OnReply) -> None:
        """Stream ``jobs`` to the children in chunks, then call ``on_reply`` here, in this
        thread, with each group of replies as it comes back."""
        by_key: dict[str, Job] = {}
        chunk: list[Job] = []
        links: list[_Link] = []
        posted = 0  # chunks so far: chunk k goes to child k mod n

        def post() -> None:
            nonlocal links, posted
            links = links or self.start()
            self._post(links[posted % len(links)], ("jobs", chunk))
            posted += 1

        for job in jobs:
            by_key[job.key] = job
            chunk.append(job)
            if len(chunk) == CHUNK:
                post()
                chunk = []
        if not by_key:  # everything was cached: no child is even asked
            return
        if chunk:
            post()
        waiting = {link.replies: link for link in links if self._post(link, ("end", None))}
        aborted = [data["abort"] for data in self._relay(waiting, by_key, on_reply) if data]
        if aborted:
            raise ServiceError(aborted[0])

    def _relay(self, waiting: dict[Any, _Link], by_key: dict[str, Job], on_reply: OnReply) -> list[Any]:
        """Hand the children's replies to ``on_reply`` and their tallies to ours until every child
        has ended the batch; returns each child's end marker (None, or ``{"abort": message}``)."""
        ends: list[Any] = []
        while waiting:
            for conn in wait(list(waiting)):
                try:
                    batch = conn.recv()  # type: ignore[union-attr]
                except (EOFError, OSError):  # that child died: the teacher marks its rows as failed
                    batch = [("", None)]
                    self._drop(waiting[conn])
                group = [(by_key[key], Reply.model_validate(data)) for key, data in batch if len(key) > 1]
                for key, data in batch:
                    if key == "#":
                        self._count(conn, data)
                if group:
                    on_reply(group)
                for key, data in batch:
                    if key == "":
                        waiting.pop(conn, None)
                        self._count(conn, {"in_flight": 0, "retries": {}})
                        ends.append(data)
        return ends

    def _count(self, conn: Any, data: dict[str, Any]) -> None:
        for why, n in data["retries"].items():
            self.tally.retried(why, n)
        self._flight[conn] = data["in_flight"]
        self.tally.in_flight = sum(self._flight.values())

    def _post(self, link: _Link, msg: Any) -> bool:
        try:
            link.jobs.send(msg)
            return True
        except OSError:  # a dead child: dropped, started again next time
            self._drop(link)
            return False

    def _drop(self, link: _Link) -> None:
        _stop(link)
        self.links = [None if x is link else x for x in self.links]

    def close(self) -> None:
        for link in self.links:
            if link is not None:
                _stop(link)
        self.links = [None] * len(self.links)


_WARM: set[str] = set()  # transports built once in this process


def _warm_transport(cfg: OpenAITeacher) -> None:
    """Build one HTTP transport here before forking, so the children inherit its imports
    (~0.1 s of CPU each, at the moment the first requests should go out)."""
    from imhi.teacher.openai_backend import http_client

    if cfg.http_client not in _WARM:
        _WARM.add(cfg.http_client)
        http_client(cfg)


def _can_fork() -> bool:
    """Fork (instant: openai is already imported here) on Linux when this process runs no other
    thread but tqdm's progress monitor; otherwise start a fresh interpreter (~2 s of imports)."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    return sys.platform == "linux" and all(t.name == "tqdm_monitor" for t in others)


class _Child:
    """The sender process, forked or spawned: alive / stop."""

    def __init__(self, pid: int, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.pid, self.popen = pid, popen
        self.done = False

    @classmethod
    def fork(cls, job_r: int, rep_w: int, parent_ends: tuple[int, int], cfg: OpenAITeacher) -> _Child:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns, never runs the parent's exit handlers
            try:
                for fd in parent_ends:
                    os.close(fd)
                gc.freeze()  # the inherited heap is not the child's garbage: keep GC pauses short
                child_main(Connection(job_r, writable=False), Connection(rep_w, readable=False), cfg, parent)
            finally:
                os._exit(0)
        return cls(pid)

    @classmethod
    def spawn(cls, job_r: int, rep_w: int, cfg: OpenAITeacher) -> _Child:
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "imhi.teacher.sender", str(job_r), str(rep_w), str(os.getpid())],
            pass_fds=(job_r, rep_w), stdin=subprocess.PIPE)
        assert popen.stdin is not None
        popen.stdin.write(json.dumps(cfg.model_dump(mode="json")).encode())
        popen.stdin.close()
        return cls(popen.pid, popen)

    def alive(self) -> bool:
        if self.done:
            return False
        if self.popen is not None:
            self.done = self.popen.poll() is not None
        else:
            self.done = os.waitpid(self.pid, os.WNOHANG)[0] != 0
        return not self.done

    def wait(self, timeout: float) -> bool:
        """True once the child has exited (within ``timeout`` seconds)."""
        end = time.monotonic() + timeout
        while self.alive() and time.monotonic() < end:
            time.sleep(0.01)
        return not self.alive()

    def kill(self) -> None:
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.wait(5)


def _stop(link: _Link) -> None:
    try:
        if not link.jobs.closed:
            link.jobs.send(None)
    except OSError:
        pass
    if not link.proc.wait(5):
        link.proc.kill()
    for conn in (link.jobs, link.replies):
        if not conn.closed:
            conn.close()


def main() -> None:
    """``python -m imhi.teacher.sender JOBS_FD REPLIES_FD PARENT_PID`` (config JSON on stdin)."""
    job_fd, rep_fd, parent = (int(a) for a in sys.argv[1:4])
    cfg = OpenAITeacher.model_validate(json.loads(sys.stdin.read()))
    child_main(Connection(job_fd, writable=False), Connection(rep_fd, readable=False), cfg, parent)


if __name__ == "__main__":
    main()
