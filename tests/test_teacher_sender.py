"""The sender process(es) of the OpenAI-compatible teacher, against a real loopback server."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI

from imhi.teacher import OpenAITeacher, make_teacher
from imhi.teacher import sender as sender_mod

os.environ["IMHI_NO_PROGRESS"] = "1"


def _msgs(i: int, extra: str = "") -> list[dict[str, str]]:
    return [{"role": "user", "content": f"post {i} {extra} correct answer is: Yes."}]


def _cfg(server: FakeOpenAI, **kw: object) -> OpenAITeacher:
    base = {"model": "fake", "base_url": server.base_url, "concurrency": 8, "max_retries": 2,
            "retry_min_s": 0.01, "retry_max_s": 1.0, "timeout_s": 5.0}
    return OpenAITeacher.model_validate({**base, **kw})


def _alive(pid: int) -> bool:
    """Running (an exited child not yet reaped, a zombie, counts as gone)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.parametrize("start", ["fork", "spawn"])
@pytest.mark.parametrize("processes", [1, 2])
def test_sender_processes_answer_every_row_and_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    start: str, processes: int) -> None:
    monkeypatch.setattr(sender_mod, "_can_fork", lambda: start == "fork")
    with FakeOpenAI(latency=0.05, faults={"F500": ["500"]}) as server:
        teacher = make_teacher(_cfg(server, sender_processes=processes), tmp_path / "c.sqlite")
        reqs = [_msgs(i, "F500" if i == 3 else "") for i in range(150)] + [_msgs(0)]  # last: a duplicate
        seen: list[int] = []
        replies = teacher.generate(reqs, on_reply=lambda i, r: seen.append(i))
        assert all(r.ok for r in replies) and sorted(seen) == list(range(151))
        assert [r.text for r in replies][0] == replies[-1].text
        assert teacher.stats.sent == 150 and len(server.requests) == 151  # 150 distinct + one retry
        backend = teacher.backend
        links = [x for x in backend._process.links if x is not None]  # type: ignore[attr-defined]
        assert len(links) == processes
        pids = [x.proc.pid for x in links]
        assert pids and all(_alive(p) for p in pids)
        # a second call reuses the running children; the cache answers what was answered
        again = teacher.generate(reqs[:10] + [_msgs(500)])
        assert [r.cached for r in again] == [True] * 10 + [False]
        assert [x.proc.pid for x in backend._process.links if x] == pids  # type: ignore[attr-defined]
        teacher.close()
        deadline = time.time() + 10
        while any(_alive(p) for p in pids) and time.time() < deadline:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)


def test_a_killed_sender_fails_its_rows_and_the_next_call_starts_another(tmp_path: Path) -> None:
    with FakeOpenAI(latency=0.05) as server:
        teacher = make_teacher(_cfg(server, concurrency=2), tmp_path / "c.sqlite")
        assert all(r.ok for r in teacher.generate([_msgs(i) for i in range(4)]))
        link = teacher.backend._process.links[0]  # type: ignore[attr-defined]
        server.hold = True  # requests hang until the child is killed under them
        threading.Timer(0.5, lambda: os.kill(link.proc.pid, signal.SIGKILL)).start()
        replies = teacher.generate([_msgs(i) for i in range(4, 10)])
        assert [r.error for r in replies] == ["no reply from backend"] * 6
        server.hold = False
        replies = teacher.generate([_msgs(i) for i in range(4, 10)])  # a new child sends them
        assert all(r.ok for r in replies)
        assert teacher.backend._process.links[0].proc.pid != link.proc.pid  # type: ignore[attr-defined]
        teacher.close()


def test_concurrency_and_rate_limits_are_split_between_processes() -> None:
    cfg = OpenAITeacher(model="m", base_url="http://127.0.0.1:1/v1", concurrency=9, sender_processes=2,
                        requests_per_minute=600, tokens_per_minute=None)
    sender = sender_mod.ProcessSender(cfg)
    child = sender._child_cfg()
    assert child.concurrency == 5 and child.requests_per_minute == 300 and child.tokens_per_minute is None
    assert len(sender_mod.ProcessSender(cfg.model_copy(update={"concurrency": 1})).links) == 1


def test_two_senders_by_default_from_concurrency_32_on_more_than_2_cores(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert OpenAITeacher(model="m", concurrency=64).senders() == 2
    assert OpenAITeacher(model="m", concurrency=16).senders() == 1
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert OpenAITeacher(model="m", concurrency=64).senders() == 1
    assert OpenAITeacher(model="m", concurrency=64, sender_processes=1).senders() == 1
    assert OpenAITeacher(model="m", concurrency=2, sender_processes=4).senders() == 2
