"""A real HTTP server on 127.0.0.1 (or another address of this machine: ``host``) speaking the
OpenAI chat-completions, files and batches API.

Used by the teacher/synthesis tests and by benchmarks/teacher_throughput.py. Replies are
scripted by a responder (messages → text); faults are injected per request by a trigger
substring found in the request: each trigger maps to a list of actions for its successive
attempts ("429:<retry-after>", "500" or any status, "slow:<s>", "drop", "badjson", "empty", "ok"). Random
faults: ``fail_rates`` maps an action to the share of other requests that get it (seeded).
Batch API limits: ``max_file_bytes`` refuses larger uploads (HTTP 400), ``fail_batches`` ends
that many batches ``failed``. Run standalone: ``python tests/fakeserver.py --latency 0.2
--port-file PORT [--fail 429:0=0.1,500=0.1]``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

Responder = Callable[[list[dict[str, str]]], str]
HINT = re.compile(r"(?:correct answer is|正确答案是)[:：]\s*(.+)")
VOCAB = ("sleep", "work", "mood", "friends", "family", "energy", "worry", "school", "money",
         "health", "hope", "tears", "anger", "calm", "routine", "appetite")
SUPPORTS = re.compile(r"\[supports: (.+?)\]")


def default_responder(messages: list[dict[str, str]]) -> str:
    """Explain mode: restate the given answer and write a post-specific explanation.

    A judge request (it quotes an explanation) is answered with the answer the fake
    explanation says it supports, so the consistency filter keeps it.
    """
    last = messages[-1]["content"]
    found = SUPPORTS.search(last)
    if found:
        return found.group(1)
    hint = HINT.search(last)
    sentence = hint.group(1).strip() if hint else "Yes, the poster suffers from depression."
    digest = hashlib.sha256(last.encode()).digest()
    words = " ".join(VOCAB[b % len(VOCAB)] + str(b) for b in digest[:20])
    return (f"{sentence} Reasoning: The author writes about {words}, which in this post "
            f"point to the stated answer. [supports: {sentence}]")


class FakeOpenAI:
    """Scripted OpenAI-compatible server (see module docstring)."""

    def __init__(self, latency: float = 0.0, responder: Responder = default_responder,
                 faults: dict[str, list[str]] | None = None, fail_rates: dict[str, float] | None = None,
                 seed: int = 0, host: str = "127.0.0.1") -> None:
        self.latency, self.responder, self.host = latency, responder, host
        self.faults = {k: list(v) for k, v in (faults or {}).items()}
        self.fail_rates = dict(fail_rates or {})
        self.rng = random.Random(seed)
        self.served: dict[str, int] = {}  # chat actions other than "ok", by action
        self.uploaded: list[int] = []  # sizes of the batch input files accepted
        self.max_file_bytes: int | None = None  # refuse larger uploads (the Batch API's 200 MB)
        self.fail_batches = 0  # end this many batches "failed"
        self.hold_batches = False  # when set, batches stay "in_progress" however often polled
        self.requests: list[dict[str, Any]] = []  # every chat request body received
        self.headers: list[dict[str, str]] = []  # ... its headers
        self.arrivals: list[float] = []  # ... and when it came (time.monotonic)
        self.answered: list[dict[str, Any]] = []  # bodies answered with 200 + content
        self.hold = False  # when set, chat requests hang (to interrupt a client mid-run)
        self.answer_limit: int | None = None  # after this many answers, hang like `hold`
        self.fail_batch_create = 0  # answer this many batch creations with HTTP 500
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.port = 0
        self.keep_bodies = True  # the tests read them; the benchmark server only counts
        self.received = self.n_answered = 0
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 28)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/v1/files/{id}/content", self.file_content)
        app.router.add_post("/v1/batches", self.create_batch)
        app.router.add_get("/v1/batches/{id}", self.get_batch)
        app.router.add_get("/stats", self.stats)
        return app

    def _action(self, body: dict[str, Any]) -> str:
        if self.faults:
            text = json.dumps(body, ensure_ascii=False)
            for trigger, actions in self.faults.items():
                if trigger in text and actions:
                    return actions.pop(0)
        draw = self.rng.random() if self.fail_rates else 1.0
        for action, rate in self.fail_rates.items():
            if draw < rate:
                return action
            draw -= rate
        return "ok"

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received += 1
        if self.keep_bodies:
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            self.arrivals.append(time.monotonic())
        action = self._action(body)
        if action != "ok":
            self.served[action] = self.served.get(action, 0) + 1
        while self.hold or (self.answer_limit is not None and self.n_answered >= self.answer_limit):
            await asyncio.sleep(0.05)
        if self.latency:
            await asyncio.sleep(self.latency)
        if action.startswith("429"):
            wait = action.split(":", 1)[1] if ":" in action else "0"
            return web.json_response({"error": {"message": "rate limited"}}, status=429,
                                     headers={"Retry-After": wait})
        if action.isdigit():  # "500", "400", "401", "404", ...: that status
            return web.json_response({"error": {"message": "boom" if action == "500" else "bad request"}},
                                     status=int(action))
        if action.startswith("slow:"):
            await asyncio.sleep(float(action.split(":", 1)[1]))
        if action == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if action == "badjson":
            return web.Response(text='{"id": "x", "choices": [', content_type="application/json")
        content = "" if action == "empty" else self.responder(body["messages"])
        if content:
            self.n_answered += 1
            if self.keep_bodies:
                self.answered.append(body)
        return web.json_response(completion(body, content))

    async def stats(self, request: web.Request) -> web.Response:
        """Counts for benchmarks: chat requests received and answered."""
        return web.json_response({"requests": self.received, "answered": self.n_answered})

    async def upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        field = form["file"]
        data = field.file.read() if hasattr(field, "file") else bytes(str(field), "utf-8")
        if self.max_file_bytes is not None and len(data) > self.max_file_bytes:
            return web.json_response({"error": {"message": f"file of {len(data)} bytes exceeds the "
                                                f"{self.max_file_bytes} bytes limit"}}, status=400)
        fid = f"file-{len(self.files)}"
        self.files[fid] = data
        self.uploaded.append(len(data))
        return web.json_response({"id": fid, "object": "file", "bytes": len(data),
                                  "created_at": int(time.time()), "filename": "batch.jsonl",
                                  "purpose": "batch", "status": "processed"})

    async def file_content(self, request: web.Request) -> web.Response:
        return web.Response(body=self.files[request.match_info["id"]],
                            content_type="application/octet-stream")

    async def create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.fail_batch_create > 0:
            self.fail_batch_create -= 1
            return web.json_response({"error": {"message": "boom"}}, status=500)
        bid = f"batch-{len(self.batches)}"
        self.batches[bid] = {"id": bid, "object": "batch", "endpoint": body["endpoint"],
                             "input_file_id": body["input_file_id"], "status": "validating",
                             "completion_window": body["completion_window"],
                             "created_at": int(time.time()), "polls": 0}
        return web.json_response(self._public(bid))

    async def get_batch(self, request: web.Request) -> web.Response:
        bid = request.match_info["id"]
        batch = self.batches[bid]
        batch["polls"] += 1
        if batch["status"] == "validating":
            batch["status"] = "in_progress"
        elif batch["status"] == "in_progress" and not self.hold_batches:
            self._run_batch(batch)
        return web.json_response(self._public(bid))

    def _run_batch(self, batch: dict[str, Any]) -> None:
        if self.fail_batches > 0:
            self.fail_batches -= 1
            batch.update(status="failed", errors={"object": "list", "data": [
                {"code": "invalid_request", "message": "the input file is invalid"}]})
            return
        lines = []
        for raw in self.files[batch["input_file_id"]].decode().splitlines():
            item = json.loads(raw)
            self.requests.append(item["body"])
            if self._action(item["body"]) == "500":
                lines.append({"id": "r", "custom_id": item["custom_id"], "response": None,
                              "error": {"code": "server_error", "message": "boom"}})
                continue
            content = self.responder(item["body"]["messages"])
            self.answered.append(item["body"])
            lines.append({"id": "r", "custom_id": item["custom_id"], "error": None,
                          "response": {"status_code": 200, "body": completion(item["body"], content)}})
        fid = f"file-{len(self.files)}"
        self.files[fid] = "".join(json.dumps(x) + "\n" for x in lines).encode()
        batch.update(status="completed", output_file_id=fid)

    def _public(self, bid: str) -> dict[str, Any]:
        return {k: v for k, v in self.batches[bid].items() if k != "polls"}

    # -- running in a background thread (tests) -------------------------------------------
    def __enter__(self) -> FakeOpenAI:
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.hold, self.answer_limit = False, None
        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._start())
        ready.set()
        self._loop.run_forever()

    async def _start(self, port: int = 0) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5)  # cut slow replies at exit
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    """A chat.completion object for ``content`` with word-count usage."""
    prompt = sum(len(m.get("content", "").split()) for m in body.get("messages", []))
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": len(content.split()),
                      "total_tokens": prompt + len(content.split())}}


class LeanChat(asyncio.Protocol):
    """``--lean``: chat completions (default responder, fixed latency) and ``/stats`` on a bare
    HTTP/1.1 keep-alive protocol, no faults, no files or batches.

    For benchmarks only: the stand-in endpoint shares the client's CPU cores, where a remote
    one would not, so the less CPU it spends per request the less it colours the figures.
    The aiohttp server (the default) stays the reference that every test uses.
    """

    counts = {"requests": 0, "answered": 0}
    latency = 0.2

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = self.buf[:end].decode("latin-1").split("\r\n")
            length = next((int(line.split(":", 1)[1]) for line in head[1:]
                           if line[:15].lower() == "content-length:"), 0)
            if len(self.buf) < end + 4 + length:
                return
            body, self.buf = self.buf[end + 4:end + 4 + length], self.buf[end + 4 + length:]
            if head[0].split(" ")[1].endswith("/stats"):
                self._send(json.dumps(self.counts).encode())
            else:
                self.counts["requests"] += 1
                self.loop.call_later(self.latency, self._answer, body)

    def _answer(self, raw: bytes) -> None:
        body = json.loads(raw)
        self.counts["answered"] += 1
        self._send(json.dumps(completion(body, default_responder(body["messages"]))).encode())

    def _send(self, payload: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))


def serve_lean(latency: float, port_file: str) -> None:
    """Run :class:`LeanChat` until killed; write the chosen port to ``port_file``."""
    LeanChat.latency = latency

    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(LeanChat, "127.0.0.1", 0)
        Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
        await server.serve_forever()

    asyncio.run(run())


def spawn(latency: float, port_file: Path, lean: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    """Start this server in a subprocess; returns it and its base URL (without ``/v1``)."""
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, __file__, "--latency", str(latency),  # noqa: S603
                             "--port-file", str(port_file), *(["--lean"] if lean else [])])
    for _ in range(200):
        if port_file.is_file() and port_file.read_text():
            return proc, f"http://127.0.0.1:{port_file.read_text()}"
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("fake server did not start")


def main() -> None:
    """Serve until killed; write the chosen port to --port-file."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--lean", action="store_true", help="the bare-protocol chat server (benchmarks)")
    parser.add_argument("--fail", default="", help="random faults: ACTION=RATE,... (e.g. 429:0=0.1,500=0.1)")
    args = parser.parse_args()
    if args.lean:
        serve_lean(args.latency, args.port_file)
        return
    rates = {a: float(r) for a, r in (x.rsplit("=", 1) for x in args.fail.split(",") if x)}
    server = FakeOpenAI(latency=args.latency, fail_rates=rates)
    server.keep_bodies = False  # tens of thousands of request bodies would only slow its GC

    async def run() -> None:
        await server._start()
        Path(args.port_file).write_text(str(server.port))
        while True:
            await asyncio.sleep(3600)

    asyncio.run(run())


if __name__ == "__main__":
    main()
