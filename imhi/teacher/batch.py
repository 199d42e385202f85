"""The OpenAI Batch API: upload JSONL, create a batch, poll, download, map results back.

Reads the API key from the environment; writes ``<cache>.batches.json``, a state file
that records, per chunk of requests, the uploaded file id, the batch id and its status,
so an interrupted run resumes at the step it reached (no second upload, no second batch).
Requests are split into chunks within both of the API's limits: ``batch_max_requests``
lines and ``batch_max_bytes`` bytes a file. A refused upload, a refused batch or a batch that
ends failed, expired or cancelled stops the run with :class:`~imhi.io.ServiceError`, one line
naming the chunk (the replies it did return are kept; a rerun sends the rest in a new batch).
Replies are stored in the reply cache by the cached teacher, like any other backend.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import openai

from imhi.io import InputError, ServiceError, sha256_text, write_json
from imhi.teacher.base import Job, OnReply, Tally
from imhi.teacher.config import BatchTeacher, Reply
from imhi.teacher.failures import cause
from imhi.teacher.openai_backend import api_key, timeout

FINAL = {"completed", "failed", "expired", "cancelled"}
T = TypeVar("T")


def chunk_bounds(sizes: list[int], max_requests: int, max_bytes: int) -> list[tuple[int, int]]:
    """(start, end) of consecutive chunks of lines, each within both limits."""
    out: list[tuple[int, int]] = []
    start = size = 0
    for i, n in enumerate(sizes):
        if i > start and (i - start == max_requests or size + n > max_bytes):
            out.append((start, i))
            start, size = i, 0
        size += n
    if start < len(sizes):
        out.append((start, len(sizes)))
    return out


class BatchBackend:
    """Send jobs through the Batch API in resumable chunks (see module docstring)."""

    def __init__(self, cfg: BatchTeacher, state_path: Path) -> None:
        cfg.check()
        self.cfg, self.state_path = cfg, state_path
        self.tally = Tally()
        self.client = openai.OpenAI(api_key=api_key(cfg), base_url=cfg.base_url,
                                    max_retries=cfg.max_retries, timeout=timeout(cfg))

    def _state(self) -> dict[str, dict[str, Any]]:
        if not self.state_path.is_file():
            return {}
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def _save(self, chunk_id: str, entry: dict[str, Any] | None) -> None:
        state = self._state()
        if entry is None:
            state.pop(chunk_id, None)
        else:
            state[chunk_id] = entry
        write_json(self.state_path, state)

    def close(self) -> None:
        self.client.close()

    def send(self, jobs: Iterable[Job], on_reply: OnReply) -> None:
        """Each chunk: upload → create → poll → download → one reply per job."""
        jobs = list(jobs)
        lines = [self._line(j) for j in jobs]
        too_big = next((n for n in lines if len(n) > self.cfg.batch_max_bytes), None)
        if too_big is not None:
            raise InputError("teacher", f"one request is {len(too_big):,} bytes, more than "
                             f"batch_max_bytes ({self.cfg.batch_max_bytes:,})", field="teacher.batch_max_bytes")
        bounds = chunk_bounds([len(n) for n in lines], self.cfg.batch_max_requests, self.cfg.batch_max_bytes)
        for k, (start, end) in enumerate(bounds, start=1):
            chunk = jobs[start:end]
            data = b"".join(lines[start:end])
            chunk_id = sha256_text("\n".join(sorted(j.key for j in chunk)))[:24]
            where = (f"batch chunk {k}/{len(bounds)} ({len(chunk)} requests, {len(data):,} bytes, "
                     f"id {chunk_id})")
            self._run_chunk(chunk_id, chunk, data, on_reply, where)

    def _line(self, job: Job) -> bytes:
        body = {"model": self.cfg.model, "messages": job.messages, **job.params}
        return (json.dumps({"custom_id": job.key, "method": "POST", "url": "/v1/chat/completions",
                            "body": body}, ensure_ascii=False) + "\n").encode("utf-8")

    def _call(self, where: str, step: str, fn: Callable[[], T]) -> T:
        """One API call of a chunk; a refusal or an unreachable endpoint is one line naming both."""
        try:
            return fn()
        except openai.APIStatusError as exc:
            verb, detail = "refused", f"HTTP {exc.status_code}: {exc.message}"
        except openai.APIConnectionError as exc:
            verb, detail = "failed", f"{cause(exc)}: {exc}"
        raise ServiceError(f"teacher endpoint {self.cfg.endpoint()}: {step} of {where} {verb} "
                           f"({' '.join(detail.split())[:300]})")

    def _run_chunk(self, chunk_id: str, chunk: list[Job], data: bytes, on_reply: OnReply, where: str) -> None:
        entry = self._state().get(chunk_id, {})
        if "input_file_id" not in entry:
            entry["input_file_id"] = self._call(where, "the upload", lambda: self.client.files.create(
                file=("imhi-batch.jsonl", data), purpose="batch")).id
            self._save(chunk_id, entry)
        if "batch_id" not in entry:
            batch = self._call(where, "the batch creation", lambda: self.client.batches.create(
                input_file_id=entry["input_file_id"], endpoint="/v1/chat/completions",
                completion_window=self.cfg.batch_completion_window))
            entry["batch_id"] = batch.id
            self._save(chunk_id, entry)
        self.tally.in_flight = len(chunk)
        batch = self._poll(chunk_id, entry, where)
        results = self._download(batch, where)
        self.tally.in_flight = 0
        if batch.status != "completed":
            on_reply([(job, results[job.key]) for job in chunk if job.key in results])
            self._save(chunk_id, None)  # a rerun sends the rest in a new batch
            raise ServiceError(f"teacher endpoint {self.cfg.endpoint()}: {where}: batch {batch.id} "
                               f"{batch.status}{_errors(batch)}; {len(results)} of {len(chunk)} replies kept, "
                               "a rerun sends the rest in a new batch")
        on_reply([(job, results.get(job.key) or Reply(
            error="BatchError: no result for this request", cause="batch")) for job in chunk])
        entry["status"] = "done"
        self._save(chunk_id, entry)

    def _poll(self, chunk_id: str, entry: dict[str, Any], where: str) -> Any:
        while True:
            batch = self._call(where, "polling", lambda: self.client.batches.retrieve(entry["batch_id"]))
            if batch.status != entry.get("status"):
                entry["status"] = batch.status
                self._save(chunk_id, entry)
            if batch.status in FINAL:
                return batch
            time.sleep(self.cfg.batch_poll_s)

    def _download(self, batch: Any, where: str) -> dict[str, Reply]:
        out: dict[str, Reply] = {}
        for file_id in (getattr(batch, "error_file_id", None), getattr(batch, "output_file_id", None)):
            if not file_id:
                continue
            text = self._call(where, "the download", lambda f=file_id: self.client.files.content(f).text)
            for line in text.splitlines():
                if line.strip():
                    item = json.loads(line)
                    out[item["custom_id"]] = _reply(item)
        return out


def _errors(batch: Any) -> str:
    """The batch's own error messages, if it gives any (``: message; message``)."""
    data = getattr(getattr(batch, "errors", None), "data", None) or []
    msgs = [str(getattr(e, "message", "") or getattr(e, "code", "")) for e in data]
    return (": " + "; ".join(m for m in msgs if m)[:300]) if any(msgs) else ""


def _reply(item: dict[str, Any]) -> Reply:
    """Map one output/error line of a batch to a reply."""
    resp = item.get("response") or {}
    if item.get("error") or resp.get("status_code", 200) != 200:
        err = item.get("error") or resp.get("body", {}).get("error") or {}
        return Reply(error=f"BatchError: {err.get('code', resp.get('status_code'))}: "
                           f"{err.get('message', '')}"[:300], cause="batch")
    body = resp["body"]
    choice = body["choices"][0]
    text = choice["message"].get("content")
    if not text:
        return Reply(error="EmptyReply: empty content", cause="empty")
    usage = body.get("usage") or {}
    return Reply(text=text, finish_reason=choice.get("finish_reason"),
                 usage={"prompt_tokens": usage.get("prompt_tokens", 0),
                        "completion_tokens": usage.get("completion_tokens", 0)})
