"""The OpenAI-compatible teacher against a real loopback HTTP server with injected faults."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI

from imhi.teacher import OpenAITeacher, make_teacher
from imhi.teacher.limits import estimate_tokens

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["IMHI_NO_PROGRESS"] = "1"


def _msgs(i: int, extra: str = "") -> list[dict[str, str]]:
    return [{"role": "system", "content": "sys"},
            {"role": "user", "content": f"post {i} {extra} correct answer is: Yes."}]


def _cfg(server: FakeOpenAI, **kw: object) -> OpenAITeacher:
    base = {"model": "fake", "base_url": server.base_url, "concurrency": 4, "max_retries": 3,
            "retry_min_s": 0.01, "retry_max_s": 2.0, "timeout_s": 2.0}
    return OpenAITeacher.model_validate({**base, **kw})


TRANSPORTS = pytest.mark.parametrize("http_client", ["aiohttp", "httpx"])


def test_aiohttp_transport_is_used_by_default() -> None:
    from imhi.teacher.openai_backend import http_client

    client = http_client(OpenAITeacher(model="m", base_url="http://127.0.0.1:1/v1"))
    assert client is not None and "AioHttp" in type(client).__name__
    assert http_client(OpenAITeacher(model="m", http_client="httpx")) is None  # the SDK's own httpx


def _arrivals(server: FakeOpenAI, tag: str) -> list[float]:
    """When the server received each request whose body holds ``tag`` (time.monotonic)."""
    return [t for body, t in zip(server.requests, server.arrivals, strict=True) if tag in json.dumps(body)]


@TRANSPORTS
def test_faults_are_retried_and_replies_cached(tmp_path: Path, http_client: str) -> None:
    faults = {"F429": ["429:1", "429:0"], "F500": ["500", "500"], "FDROP": ["drop"],
              "FJSON": ["badjson"], "FEMPTY": ["empty"], "FSLOW": ["slow:5"]}
    with FakeOpenAI(faults=faults) as server:
        teacher = make_teacher(_cfg(server, http_client=http_client, retry_max_s=6.0), tmp_path / "cache.sqlite")
        reqs = [_msgs(0, "F429"), _msgs(1, "F500"), _msgs(2, "FDROP"), _msgs(3, "FJSON"),
                _msgs(4, "FEMPTY"), _msgs(5, "FSLOW"), _msgs(6)]
        replies = teacher.generate(reqs, desc="faults")
        assert all(r.ok for r in replies), [r.error for r in replies]
        assert all(r.text and r.text.startswith("Yes.") for r in replies)
        # Retry-After: 1 honoured, measured between the server's arrivals of that row's tries:
        # at least the second asked for, and far less than the 6 s cap (the hint was not ignored
        # in favour of the longest wait); Retry-After: 0 then retries at once (backoff 0.01 s)
        first, second, third = _arrivals(server, "F429")
        assert 1.0 <= second - first < 4.0, second - first
        assert third - second < second - first, (second - first, third - second)
        assert len(server.requests) == 7 + 2 + 2 + 1 + 1 + 1 + 1  # one retry per injected fault
        assert teacher.stats.sent == 7 and teacher.stats.errors == 0
        assert teacher.stats.completion_tokens > 0
        # second call: everything from the cache, nothing sent
        again = teacher.generate(reqs)
        assert len(server.requests) == 15
        assert all(r.cached for r in again) and [r.text for r in again] == [r.text for r in replies]


def test_final_error_per_row_does_not_stop_the_run(tmp_path: Path) -> None:
    faults = {"ALWAYS": ["500"] * 10, "BAD": ["400"]}
    with FakeOpenAI(faults=faults) as server:
        teacher = make_teacher(_cfg(server, max_retries=2), tmp_path / "c.sqlite")
        replies = teacher.generate([_msgs(0, "ALWAYS"), _msgs(1), _msgs(2, "BAD")])
        assert replies[1].ok
        assert not replies[0].ok and "HTTP 500" in (replies[0].error or "")
        assert not replies[2].ok and "HTTP 400" in (replies[2].error or "")
        assert len(server.requests) == 3 + 1 + 1  # 400 is final at once; 500 tried 3 times
        # failed rows are not cached: a rerun sends them again
        teacher.generate([_msgs(0, "ALWAYS")])
        assert len(server.requests) == 5 + 3


def test_privacy_masking_of_a_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What Teacher.job() would send to a remote endpoint (the bytes a server receives are
    checked in test_teacher_privacy_wire.py)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    teacher = make_teacher(OpenAITeacher(model="m", base_url="https://api.example.com/v1"),
                           tmp_path / "c.sqlite")
    job = teacher.job([{"role": "user", "content":
                        "mail me at jo.doe@mail.com or call 555-123-4567, see https://x.io/a "
                        "and ask u/throwaway_99 or @jane_d"}])
    sent = job.messages[0]["content"]
    for secret in ("jo.doe", "555-123", "x.io", "throwaway_99", "jane_d"):
        assert secret not in sent
    assert "[EMAIL]" in sent and "[PHONE]" in sent and "[URL]" in sent and "[USER]" in sent


def _steady_span(arrivals: list[float], burst: int) -> float:
    """Seconds between the first request after the limiter's burst and the last one, as the
    server received them (no client start-up or ramp-up inside the window)."""
    times = sorted(arrivals)
    return times[-1] - times[burst]


def test_rate_limit_requests_per_minute(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        teacher = make_teacher(_cfg(server, concurrency=8, requests_per_minute=600, ramp_up_s=0),
                               tmp_path / "c.sqlite")
        assert all(r.ok for r in teacher.generate([_msgs(i) for i in range(25)]))
        arrivals = list(server.arrivals)
    # 10 requests/s with a burst of 10: requests 11..25 are released 0.1 s apart, 1.4 s in all;
    # bounded above too (a limiter refilling per minute instead of per second would take 84 s)
    span = _steady_span(arrivals, burst=10)
    assert 1.2 <= span < 4.2, span


@TRANSPORTS
def test_timeout_is_a_final_error(tmp_path: Path, http_client: str) -> None:
    with FakeOpenAI(faults={"SLOW": ["slow:3"] * 5}) as server:
        teacher = make_teacher(_cfg(server, timeout_s=0.3, max_retries=1, http_client=http_client),
                               tmp_path / "c.sqlite")
        replies = teacher.generate([_msgs(0, "SLOW"), _msgs(1)])
        assert replies[1].ok
        assert not replies[0].ok and "Timeout" in (replies[0].error or "")


def test_rate_limit_tokens_per_minute(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        teacher = make_teacher(_cfg(server, concurrency=8, tokens_per_minute=12000, max_tokens=20, ramp_up_s=0),
                               tmp_path / "c.sqlite")
        reqs = [_msgs(i) for i in range(12)]
        assert all(r.ok for r in teacher.generate(reqs))
        arrivals = list(server.arrivals)
    # 200 tokens/s with a one-second burst: the burst holds 200 // size requests, every later one
    # waits size / 200 s for its tokens
    size = estimate_tokens(reqs[0], 20)
    burst = 200 // size
    expected = (len(reqs) - 1 - burst) * size / 200
    span = _steady_span(arrivals, burst=burst)
    assert 0.8 * expected <= span < 3 * expected, (span, expected)


def test_requests_carry_no_platform_headers(tmp_path: Path) -> None:
    """The SDK's telemetry headers (OS, CPU, runtime versions) never leave the machine."""
    with FakeOpenAI() as server:
        teacher = make_teacher(_cfg(server), tmp_path / "c.sqlite")
        assert teacher.generate([_msgs(0)])[0].ok
        sent = {k.lower() for k in server.headers[0]}
    assert "authorization" in sent and "content-type" in sent
    assert not {"x-stainless-os", "x-stainless-arch", "x-stainless-runtime-version"} & sent


@pytest.mark.parametrize("ramp", [0.0, 0.6])
def test_ramp_up_spreads_the_first_requests(tmp_path: Path, ramp: float) -> None:
    """The server holds every request: all 4 workers' first requests arrive without waiting for
    a reply; with a ramp-up, worker i's arrives i/4 of it after the first (measured between
    the server's arrival times)."""
    import threading

    with FakeOpenAI() as server:
        server.hold = True
        teacher = make_teacher(_cfg(server, concurrency=4, ramp_up_s=ramp, sender="inline"),
                               tmp_path / "c.sqlite")
        out: list[list[object]] = []
        worker = threading.Thread(target=lambda: out.append(teacher.generate([_msgs(i) for i in range(4)])))
        worker.start()
        deadline = time.monotonic() + 60
        while len(server.arrivals) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        first = sorted(server.arrivals)
        assert len(first) == 4 and server.n_answered == 0, first
        server.hold = False
        worker.join(60)
        assert out and all(r.ok for r in out[0])  # type: ignore[attr-defined]
    if ramp:  # 0.15 s between workers' starts
        gaps = [b - a for a, b in zip(first, first[1:], strict=False)]
        assert all(gap >= 0.9 * ramp / 4 for gap in gaps), gaps


def test_lean_benchmark_server_answers_through_the_openai_client(tmp_path: Path) -> None:
    """benchmarks/teacher_throughput.py --server lean: the bare-protocol chat server speaks
    enough HTTP/1.1 (keep-alive, Content-Length) for the real client, and counts requests."""
    import json
    import urllib.request

    from fakeserver import spawn

    proc, url = spawn(0.05, tmp_path / "port", lean=True)
    try:
        cfg = OpenAITeacher(model="fake", base_url=f"{url}/v1", concurrency=2, sender="inline")
        replies = make_teacher(cfg, tmp_path / "c.sqlite").generate([_msgs(i) for i in range(5)])
        assert all(r.ok and (r.text or "").startswith("Yes.") for r in replies)
        assert all(r.usage["prompt_tokens"] > 0 for r in replies)
        with urllib.request.urlopen(f"{url}/stats") as resp:  # noqa: S310 - loopback only
            assert json.load(resp) == {"requests": 5, "answered": 5}
    finally:
        proc.kill()


@TRANSPORTS
def test_failures_are_classified_by_cause(tmp_path: Path, http_client: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each row's final error names what happened on the wire (the SDK calls a refused connection
    a timeout under its aiohttp transport)."""
    import socket

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    faults = {"F429": ["429:0"], "F500": ["500"], "F400": ["400"], "F401": ["401"], "F404": ["404"],
              "FDROP": ["drop"], "FSLOW": ["slow:3"], "FJSON": ["badjson"], "FEMPTY": ["empty"]}
    with FakeOpenAI(faults=faults) as server:
        teacher = make_teacher(_cfg(server, http_client=http_client, max_retries=0, timeout_s=0.5,
                                    sender="inline"), tmp_path / "c.sqlite")
        replies = teacher.generate([_msgs(i, tag) for i, tag in enumerate(faults)])
        causes = [r.cause for r in replies]
        assert causes == ["429", "5xx", "4xx", "auth", "not_found", "reset", "timeout", "malformed", "empty"], \
            [r.error for r in replies]
        assert teacher.stats.failures == {c: 1 for c in causes}
        tls = make_teacher(_cfg(server, base_url=server.base_url.replace("http:", "https:"), max_retries=0,
                                http_client=http_client, sender="inline"), tmp_path / "t.sqlite")
        assert tls.generate([_msgs(0)])[0].cause == "tls"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    for url, cause in ((f"http://127.0.0.1:{port}/v1", "refused"), ("http://no-such-host.invalid/v1", "dns")):
        cfg = OpenAITeacher(model="m", base_url=url, max_retries=0, http_client=http_client, sender="inline")
        reply = make_teacher(cfg, tmp_path / f"{cause}.sqlite").generate([_msgs(0)])[0]
        assert reply.cause == cause, reply.error


@pytest.mark.parametrize("sender", ["inline", "process"])
def test_connection_failures_in_a_row_stop_the_run(tmp_path: Path, sender: str) -> None:
    """Refused 5 times in a row: every worker stops, sleeping retries included, in well under the
    backoff the rows would otherwise wait; a healthy endpoint with transient faults never trips."""
    import socket

    from imhi.io import ServiceError

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    sock.close()
    cfg = OpenAITeacher(model="m", base_url=url, concurrency=4, sender=sender, retry_min_s=1.0)
    teacher = make_teacher(cfg, tmp_path / "c.sqlite")
    with pytest.raises(ServiceError, match=rf"^teacher endpoint {url} refused the connection \(5 in a row\)"):
        teacher.generate([_msgs(i) for i in range(50)])
    # stopped after the 5th refusal: no row was retried 6 times (tries counted by the tally)
    assert sum(teacher.stats.tally.retries.values()) < 50, teacher.stats.tally.retries
    assert teacher.stats.tally.in_flight == 0
    teacher.close()
    with FakeOpenAI(fail_rates={"404": 1.0}) as server:  # a wrong base_url or model: every request 404
        wrong = make_teacher(_cfg(server, sender=sender), tmp_path / "n.sqlite")
        with pytest.raises(ServiceError, match=r"answered 404 Not Found \(5 in a row\); does base_url end in /v1"):
            wrong.generate([_msgs(i) for i in range(50)])
        wrong.close()
    with FakeOpenAI(faults={"DROP": ["drop"] * 4}) as server:  # 4 drops, then answers: no trip
        ok = make_teacher(_cfg(server, sender=sender, max_connection_failures=5, max_retries=6),
                          tmp_path / "d.sqlite")
        assert ok.generate([_msgs(0, "DROP")])[0].ok
        assert ok.stats.tally.retries == {"reset": 4}
        ok.close()
