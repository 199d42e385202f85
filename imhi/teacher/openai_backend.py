"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp, LM Studio).

Reads the API key from the environment variable the config names; writes nothing (the
cached teacher stores replies). Async with a worker pool of ``concurrency``, requests/min
and tokens/min limiters, and retries with exponential backoff and jitter on 429 (honouring
Retry-After), 5xx, timeouts, dropped connections, malformed and empty replies, each counted
by cause in the backend's tally. A row whose retries run out gets a final error with its
cause; the run goes on. ``max_connection_failures`` connection-level failures in a row (see
imhi.teacher.failures) stop every worker and raise :class:`~imhi.io.ServiceError`.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from imhi.teacher.base import Job, OnReply, Tally
from imhi.teacher.config import BatchTeacher, OpenAITeacher, Reply
from imhi.teacher.failures import Breaker, EmptyReply, cause, describe, retry_after, retryable
from imhi.teacher.limits import RateLimiter, estimate_tokens
from imhi.teacher.privacy import is_loopback

# The SDK's platform headers (OS, CPU, Python and SDK versions) are not sent: the endpoint needs
# none of them, and leaving them out saves ~60 µs of header handling a request.
NO_TELEMETRY: dict[str, Any] = {h: openai.Omit() for h in (
    "X-Stainless-Lang", "X-Stainless-Package-Version", "X-Stainless-OS", "X-Stainless-Arch",
    "X-Stainless-Runtime", "X-Stainless-Runtime-Version", "X-Stainless-Async")}


def api_key(cfg: OpenAITeacher | BatchTeacher) -> str:
    """The API key from the environment (a loopback server may run without one)."""
    key = os.environ.get(cfg.api_key_env, "")
    if not key and not is_loopback(cfg.base_url):
        from imhi.io import InputError

        raise InputError("teacher", f"set the API key in the environment variable {cfg.api_key_env}",
                         field="teacher.api_key_env")
    return key or "not-needed"


def timeout(cfg: OpenAITeacher | BatchTeacher) -> openai.Timeout:
    """``timeout_s`` for the whole request, ``connect_timeout_s`` to open a connection."""
    return openai.Timeout(cfg.timeout_s, connect=min(cfg.connect_timeout_s, cfg.timeout_s))


def http_client(cfg: OpenAITeacher) -> Any:
    """The openai client's transport: aiohttp where installed (at concurrency 64 on 2 cores, +9%
    requests/s for a whole build and +16% for a bare client loop against httpx, in one run of
    benchmarks/teacher_throughput.py), else the SDK's default httpx."""
    if cfg.http_client == "aiohttp":
        try:
            return openai.DefaultAioHttpClient(timeout=timeout(cfg))
        except (AttributeError, RuntimeError):  # older openai, or no aiohttp extra
            pass
    return None


class OpenAIBackend:
    """Send chat-completion jobs concurrently (see module docstring)."""

    def __init__(self, cfg: OpenAITeacher) -> None:
        cfg.check()
        self.cfg = cfg
        self.key = api_key(cfg)
        self._backoff = wait_exponential_jitter(initial=cfg.retry_min_s, max=cfg.retry_max_s,
                                                jitter=cfg.retry_min_s)
        self.url = "/chat/completions"  # made absolute by ``client()``
        self.tally = Tally()
        self.breaker = self._breaker()
        self._process: Any = None
        # the sender process starts now, before the first send; its pipes are passed by file
        # descriptor, which needs POSIX (elsewhere the client runs in this process)
        if cfg.sender == "process" and os.name == "posix":
            from imhi.teacher.sender import ProcessSender

            self._process = ProcessSender(cfg)
            self._process.start()
            self.tally = self._process.tally

    def _breaker(self) -> Breaker:
        cfg = self.cfg
        return Breaker(cfg.max_connection_failures, cfg.endpoint(), cfg.connect_timeout_s, cfg.timeout_s)

    def send(self, jobs: Iterable[Job], on_reply: OnReply) -> None:
        """Run the async loop in the sender process, or here (in a helper thread if the caller
        is already in an event loop)."""
        if self._process is not None:
            self._process.send(jobs, on_reply)
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(self.asend(jobs, on_reply))
            return
        failed: list[BaseException] = []

        def in_thread() -> None:
            try:
                asyncio.run(self.asend(jobs, on_reply))
            except Exception as exc:  # noqa: BLE001 - raised again in the caller's thread
                failed.append(exc)

        worker = threading.Thread(target=in_thread)
        worker.start()
        worker.join()
        if failed:
            raise failed[0]

    def close(self) -> None:
        """Stop the sender process, if one was started."""
        if self._process is not None:
            self._process.close()  # a later send starts a new one

    def client(self) -> openai.AsyncOpenAI:
        """An async openai client for this endpoint (no SDK retries: ours are below)."""
        client = openai.AsyncOpenAI(api_key=self.key, base_url=self.cfg.base_url, max_retries=0,
                                    timeout=timeout(self.cfg), http_client=http_client(self.cfg),
                                    default_headers=NO_TELEMETRY)
        # an absolute URL spares the client joining it to the base URL on every request
        self.url = f"{str(client.base_url).rstrip('/')}/chat/completions"
        return client

    async def asend(self, jobs: Iterable[Job], on_reply: OnReply) -> None:
        """Send ``jobs`` (pulled lazily) with a fresh client; replies are reported as they arrive."""
        it = iter(jobs)

        async def take() -> Job | None:
            return next(it, None)

        client = self.client()
        try:
            await self.run(client, take, on_reply)
        finally:
            await client.close()

    async def run(self, client: openai.AsyncOpenAI, take: Callable[[], Awaitable[Job | None]],
                  on_reply: OnReply) -> None:
        """``concurrency`` workers, each taking the next job until ``take`` gives None. When the
        breaker trips, every worker stops at once, the jobs left are taken unsent (until ``take``
        has given one None per worker) and :class:`~imhi.io.ServiceError` is raised."""
        cfg, tally = self.cfg, self.tally
        self.breaker = breaker = self._breaker()
        rpm = RateLimiter(cfg.requests_per_minute) if cfg.requests_per_minute else None
        tpm = RateLimiter(cfg.tokens_per_minute) if cfg.tokens_per_minute else None
        ends = 0

        async def pull() -> Job | None:
            nonlocal ends
            job = await take()
            ends += job is None
            return job

        async def worker(i: int) -> None:
            if cfg.ramp_up_s:  # worker i starts i/concurrency of the ramp-up late
                await asyncio.sleep(i * cfg.ramp_up_s / cfg.concurrency)
            while not breaker.tripped and (job := await pull()) is not None:
                tally.in_flight += 1
                try:
                    reply = await self._one(client, job, rpm, tpm)
                finally:
                    tally.in_flight -= 1
                on_reply([(job, reply)])

        tasks = [asyncio.ensure_future(worker(i)) for i in range(cfg.concurrency)]
        breaker.on_trip = lambda: [t.cancel() for t in tasks]
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                raise result
        if breaker.tripped:
            while ends < cfg.concurrency:
                await pull()
            raise breaker.error()

    def _wait_after(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds before try ``attempt + 1``: the server's Retry-After, else exponential backoff
        with jitter."""
        hinted = retry_after(exc)
        if hinted is not None:
            return min(hinted, self.cfg.retry_max_s)
        state = RetryCallState(None, None, (), {})
        state.attempt_number = attempt
        return float(self._backoff(state))

    async def _one(self, client: openai.AsyncOpenAI, job: Job, rpm: RateLimiter | None,
                   tpm: RateLimiter | None) -> Reply:
        if not (rpm or tpm):  # fast path: one plain try; tenacity only once a try failed
            try:                # (building its retry state costs ~50 µs a request)
                return await self._attempt(client, job)
            except Exception as exc:  # noqa: BLE001 - every failure is retried or becomes final
                if not retryable(exc) or self.cfg.max_retries == 0:
                    return Reply(error=describe(exc), cause=cause(exc), key=job.key)
                return await self._retry(client, job, rpm, tpm, first=exc)
        return await self._retry(client, job, rpm, tpm)

    async def _retry(self, client: openai.AsyncOpenAI, job: Job, rpm: RateLimiter | None,
                     tpm: RateLimiter | None, first: BaseException | None = None) -> Reply:
        """Tries with tenacity (backoff, Retry-After); ``first``: a failed try already made. Each
        retry is counted by the cause of the try before it, when it starts."""
        done = 1 if first else 0
        causes = [cause(first)] if first else []
        if first:
            await asyncio.sleep(self._wait_after(first, 1))

        def wait(state: RetryCallState) -> float:
            return self._wait_after(state.outcome.exception() if state.outcome else None,
                                    state.attempt_number + done)

        def failed(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            causes.append(cause(exc) if exc else "other")

        def starts(state: RetryCallState) -> None:
            if causes:
                self.tally.retried(causes.pop())

        retrying = AsyncRetrying(stop=stop_after_attempt(self.cfg.max_retries + 1 - done), wait=wait,
                                 retry=retry_if_exception(retryable), before=starts, before_sleep=failed,
                                 reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    if rpm:
                        await rpm.acquire(1)
                    if tpm:
                        await tpm.acquire(estimate_tokens(job.messages, int(job.params["max_tokens"])))
                    return await self._attempt(client, job)
        except Exception as exc:  # noqa: BLE001 - every failure becomes this row's final error
            return Reply(error=describe(exc), cause=cause(exc), key=job.key)
        return Reply(error="no attempt made", key=job.key)

    async def _attempt(self, client: openai.AsyncOpenAI, job: Job) -> Reply:
        """One try; its outcome goes to the breaker (which may stop every worker)."""
        try:
            reply = await self._call(client, job)
        except Exception as exc:
            self.breaker.record(cause(exc))
            raise
        self.breaker.record(None)
        return reply

    async def _call(self, client: openai.AsyncOpenAI, job: Job) -> Reply:
        # client.post skips the SDK's per-field request transform and response model
        # construction, which cost more CPU than the HTTP exchange itself at high concurrency
        # (measured: ~2x requests/s at concurrency 64); errors, auth and retries-after are the same.
        # The cache key doubles as the idempotency key: it names this request, and the client
        # then skips drawing a random one per call.
        body = {"model": self.cfg.model, "messages": job.messages, **job.params}
        resp: Any = await client.post(self.url, body=body, cast_to=object,
                                      options={"idempotency_key": job.key})
        if not isinstance(resp, dict):
            raise ValueError(f"reply is not a JSON object: {str(resp)[:80]!r}")
        choices = resp.get("choices") or []
        if not choices:
            raise EmptyReply("reply has no choices")
        text = (choices[0].get("message") or {}).get("content")
        if not text or not text.strip():
            raise EmptyReply("empty content")
        usage = resp.get("usage") or {}
        return Reply(text=text, key=job.key, finish_reason=choices[0].get("finish_reason"),
                     usage={"prompt_tokens": int(usage.get("prompt_tokens") or 0),
                            "completion_tokens": int(usage.get("completion_tokens") or 0)})
