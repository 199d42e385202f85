"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, llama.cpp, LM Studio).

Reads the API key from the environment variable the config names; writes nothing (the
cached teacher stores replies). Async with a worker pool of ``concurrency``, requests/min
and tokens/min limiters, and retries with exponential backoff and jitter on 429 (honouring
Retry-After), 5xx, timeouts, dropped connections, malformed and empty replies. A row whose
retries run out gets a final error; the run goes on.
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

from imhi.teacher.base import Job, OnReply
from imhi.teacher.config import Reply, TeacherConfig
from imhi.teacher.limits import RateLimiter, estimate_tokens
from imhi.teacher.privacy import check_endpoint, is_loopback

# The SDK's platform headers (OS, CPU, Python and SDK versions) are not sent: the endpoint needs
# none of them, and leaving them out saves ~60 µs of header handling a request.
NO_TELEMETRY: dict[str, Any] = {h: openai.Omit() for h in (
    "X-Stainless-Lang", "X-Stainless-Package-Version", "X-Stainless-OS", "X-Stainless-Arch",
    "X-Stainless-Runtime", "X-Stainless-Runtime-Version", "X-Stainless-Async")}
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}


class EmptyReply(Exception):
    """The endpoint answered 200 but with no content."""


def api_key(cfg: TeacherConfig) -> str:
    """The API key from the environment (a loopback server may run without one)."""
    key = os.environ.get(cfg.api_key_env, "")
    if not key and not is_loopback(cfg.base_url):
        from imhi.io import InputError

        raise InputError("teacher", f"set the API key in the environment variable {cfg.api_key_env}",
                         field="teacher.api_key_env")
    return key or "not-needed"


def retryable(exc: BaseException) -> bool:
    """Transient failures worth another try; client errors (400, 401, 404) are final."""
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRY_STATUS or exc.status_code >= 500
    return isinstance(exc, (openai.APIConnectionError, openai.APIResponseValidationError,
                            EmptyReply, ValueError))


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if any."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


def describe(exc: BaseException) -> str:
    """A short final error for a row: kind, status and message."""
    if isinstance(exc, openai.APIStatusError):
        return f"{type(exc).__name__}: HTTP {exc.status_code}: {str(exc)[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200] or 'no detail'}"


def http_client(cfg: TeacherConfig) -> Any:
    """The openai client's transport: aiohttp where installed (at concurrency 64 on 2 cores, +9%
    requests/s for a whole build and +16% for a bare client loop against httpx, in one run of
    benchmarks/teacher_throughput.py), else the SDK's default httpx."""
    if cfg.http_client == "aiohttp":
        try:
            return openai.DefaultAioHttpClient(timeout=cfg.timeout_s)
        except (AttributeError, RuntimeError):  # older openai, or no aiohttp extra
            pass
    return None


class OpenAIBackend:
    """Send chat-completion jobs concurrently (see module docstring)."""

    def __init__(self, cfg: TeacherConfig) -> None:
        check_endpoint(cfg.base_url, cfg.local_only)
        self.cfg = cfg
        self.key = api_key(cfg)
        self._backoff = wait_exponential_jitter(initial=cfg.retry_min_s, max=cfg.retry_max_s,
                                                jitter=cfg.retry_min_s)
        self.url = "/chat/completions"  # made absolute by ``client()``
        self._process: Any = None
        # the sender process starts now, before the first send; its pipes are passed by file
        # descriptor, which needs POSIX (elsewhere the client runs in this process)
        if cfg.sender == "process" and os.name == "posix":
            from imhi.teacher.sender import ProcessSender

            self._process = ProcessSender(cfg)
            self._process.start()

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
        worker = threading.Thread(target=lambda: asyncio.run(self.asend(jobs, on_reply)))
        worker.start()
        worker.join()

    def close(self) -> None:
        """Stop the sender process, if one was started."""
        if self._process is not None:
            self._process.close()  # a later send starts a new one

    def client(self) -> openai.AsyncOpenAI:
        """An async openai client for this endpoint (no SDK retries: ours are below)."""
        client = openai.AsyncOpenAI(api_key=self.key, base_url=self.cfg.base_url, max_retries=0,
                                    timeout=self.cfg.timeout_s, http_client=http_client(self.cfg),
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
        """``concurrency`` workers, each taking the next job until ``take`` gives None."""
        cfg = self.cfg
        rpm = RateLimiter(cfg.requests_per_minute) if cfg.requests_per_minute else None
        tpm = RateLimiter(cfg.tokens_per_minute) if cfg.tokens_per_minute else None

        async def worker(i: int) -> None:
            if cfg.ramp_up_s:  # worker i starts i/concurrency of the ramp-up late
                await asyncio.sleep(i * cfg.ramp_up_s / cfg.concurrency)
            while (job := await take()) is not None:
                on_reply([(job, await self._one(client, job, rpm, tpm))])

        await asyncio.gather(*(worker(i) for i in range(cfg.concurrency)))

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
                return await self._call(client, job)
            except Exception as exc:  # noqa: BLE001 - every failure is retried or becomes final
                if not retryable(exc) or self.cfg.max_retries == 0:
                    return Reply(error=describe(exc), key=job.key)
                return await self._retry(client, job, rpm, tpm, first=exc)
        return await self._retry(client, job, rpm, tpm)

    async def _retry(self, client: openai.AsyncOpenAI, job: Job, rpm: RateLimiter | None,
                     tpm: RateLimiter | None, first: BaseException | None = None) -> Reply:
        """Tries with tenacity (backoff, Retry-After); ``first``: a failed try already made."""
        done = 1 if first else 0
        if first:
            await asyncio.sleep(self._wait_after(first, 1))
        def wait(state: RetryCallState) -> float:
            return self._wait_after(state.outcome.exception() if state.outcome else None,
                                    state.attempt_number + done)

        retrying = AsyncRetrying(stop=stop_after_attempt(self.cfg.max_retries + 1 - done), wait=wait,
                                 retry=retry_if_exception(retryable), reraise=True)
        try:
            async for attempt in retrying:
                with attempt:
                    if rpm:
                        await rpm.acquire(1)
                    if tpm:
                        await tpm.acquire(estimate_tokens(job.messages, int(job.params["max_tokens"])))
                    return await self._call(client, job)
        except Exception as exc:  # noqa: BLE001 - every failure becomes this row's final error
            return Reply(error=describe(exc), key=job.key)
        return Reply(error="no attempt made", key=job.key)

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
