"""The OpenAI Batch API: upload JSONL, create a batch, poll, download, map results back.

Reads the API key from the environment; writes ``<cache>.batches.json``, a state file
that records, per chunk of requests, the uploaded file id, the batch id and its status,
so an interrupted run resumes at the step it reached (no second upload, no second batch).
Replies are stored in the reply cache by the cached teacher, like any other backend.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import openai

from imhi.io import sha256_text, write_json
from imhi.teacher.base import Job, OnReply
from imhi.teacher.config import Reply, TeacherConfig
from imhi.teacher.openai_backend import api_key
from imhi.teacher.privacy import check_endpoint

FINAL = {"completed", "failed", "expired", "cancelled"}


class BatchBackend:
    """Send jobs through the Batch API in resumable chunks (see module docstring)."""

    def __init__(self, cfg: TeacherConfig, state_path: Path) -> None:
        check_endpoint(cfg.base_url, cfg.local_only)
        self.cfg, self.state_path = cfg, state_path
        self.client = openai.OpenAI(api_key=api_key(cfg), base_url=cfg.base_url,
                                    max_retries=cfg.max_retries, timeout=cfg.timeout_s)

    def _state(self) -> dict[str, dict[str, Any]]:
        if not self.state_path.is_file():
            return {}
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    def _save(self, chunk_id: str, entry: dict[str, Any]) -> None:
        state = self._state()
        state[chunk_id] = entry
        write_json(self.state_path, state)

    def close(self) -> None:
        self.client.close()

    def send(self, jobs: Iterable[Job], on_reply: OnReply) -> None:
        """Each chunk: upload → create → poll → download → one reply per job."""
        jobs = list(jobs)
        size = self.cfg.batch_max_requests
        for start in range(0, len(jobs), size):
            chunk = jobs[start:start + size]
            chunk_id = sha256_text("\n".join(sorted(j.key for j in chunk)))[:24]
            self._run_chunk(chunk_id, chunk, on_reply)

    def _run_chunk(self, chunk_id: str, chunk: list[Job], on_reply: OnReply) -> None:
        entry = self._state().get(chunk_id, {})
        if "input_file_id" not in entry:
            entry["input_file_id"] = self._upload(chunk)
            self._save(chunk_id, entry)
        if "batch_id" not in entry:
            batch = self.client.batches.create(input_file_id=entry["input_file_id"],
                                               endpoint="/v1/chat/completions",
                                               completion_window=self.cfg.batch_completion_window)
            entry["batch_id"] = batch.id
            self._save(chunk_id, entry)
        batch = self._poll(chunk_id, entry)
        results = self._download(batch)
        on_reply([(job, results.get(job.key) or Reply(
            error=f"BatchError: no result for this request (batch status {batch.status})")) for job in chunk])
        entry["status"] = "done"
        self._save(chunk_id, entry)

    def _upload(self, chunk: list[Job]) -> str:
        lines = [json.dumps({"custom_id": j.key, "method": "POST", "url": "/v1/chat/completions",
                             "body": {"model": self.cfg.model, "messages": j.messages, **j.params}},
                            ensure_ascii=False) for j in chunk]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        return self.client.files.create(file=("imhi-batch.jsonl", data), purpose="batch").id

    def _poll(self, chunk_id: str, entry: dict[str, Any]) -> Any:
        while True:
            batch = self.client.batches.retrieve(entry["batch_id"])
            if batch.status != entry.get("status"):
                entry["status"] = batch.status
                self._save(chunk_id, entry)
            if batch.status in FINAL:
                return batch
            time.sleep(self.cfg.batch_poll_s)

    def _download(self, batch: Any) -> dict[str, Reply]:
        out: dict[str, Reply] = {}
        for file_id in (getattr(batch, "error_file_id", None), getattr(batch, "output_file_id", None)):
            if not file_id:
                continue
            text = self.client.files.content(file_id).text
            for line in text.splitlines():
                if line.strip():
                    item = json.loads(line)
                    out[item["custom_id"]] = _reply(item)
        return out


def _reply(item: dict[str, Any]) -> Reply:
    """Map one output/error line of a batch to a reply."""
    resp = item.get("response") or {}
    if item.get("error") or resp.get("status_code", 200) != 200:
        err = item.get("error") or resp.get("body", {}).get("error") or {}
        return Reply(error=f"BatchError: {err.get('code', resp.get('status_code'))}: "
                           f"{err.get('message', '')}"[:300])
    body = resp["body"]
    choice = body["choices"][0]
    text = choice["message"].get("content")
    if not text:
        return Reply(error="EmptyReply: empty content")
    usage = body.get("usage") or {}
    return Reply(text=text, finish_reason=choice.get("finish_reason"),
                 usage={"prompt_tokens": usage.get("prompt_tokens", 0),
                        "completion_tokens": usage.get("completion_tokens", 0)})


