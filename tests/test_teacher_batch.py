"""The OpenAI Batch API backend against the loopback server: upload, create, poll, download,
map back, and resume after an interruption between steps."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI

from imhi.io import ServiceError
from imhi.teacher import BatchTeacher, make_teacher

os.environ["IMHI_NO_PROGRESS"] = "1"


def _reqs(n: int, tag: str = "") -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": f"post {i} {tag} correct answer is: No."}] for i in range(n)]


def test_batch_round_trip_and_resume_between_steps(tmp_path: Path) -> None:
    with FakeOpenAI(faults={"post 3 ": ["500"]}) as server:
        cfg = BatchTeacher(kind="batch", model="fake", base_url=server.base_url, batch_poll_s=0.05,
                            max_retries=0, batch_max_requests=4)
        cache = tmp_path / "cache.sqlite"
        server.fail_batch_create = 1
        teacher = make_teacher(cfg, cache)
        with pytest.raises(ServiceError, match=r"batch creation of batch chunk 1/2 \(4 requests, .*HTTP 500"):
            teacher.generate(_reqs(6))  # interrupted after the upload, before the batch exists
        state = json.loads(Path(str(cache) + ".batches.json").read_text())
        assert len(state) == 1 and "batch_id" not in next(iter(state.values()))
        uploads = len(server.files)
        replies = make_teacher(cfg, cache).generate(_reqs(6))
        # the first chunk's file was not uploaded again: 1 new input upload + 2 outputs
        assert len(server.files) == uploads + 1 + 2
        assert [r.ok for r in replies] == [True, True, True, False, True, True]
        assert "server_error" in (replies[3].error or "")
        assert all(r.text and r.text.startswith("No.") for i, r in enumerate(replies) if i != 3)
        state = json.loads(Path(str(cache) + ".batches.json").read_text())
        assert all(e["status"] == "done" for e in state.values())
        # a rerun sends only the failed row, in a new batch
        sent = len(server.requests)
        again = make_teacher(cfg, cache).generate(_reqs(6))
        assert len(server.requests) == sent + 1 and again[3].ok


def test_killed_batch_build_polls_the_same_batch_and_uploads_nothing(tmp_path: Path) -> None:
    """A `kind: batch` build killed (SIGKILL) once its batch exists: the rerun polls that batch,
    uploads no file and creates no batch, and ends with the dataset of an uninterrupted build."""
    import signal
    import time

    from test_synthesis_pipeline import build, write_recipe
    from test_synthesis_resume import _start

    from imhi.io import dump_yaml, load_yaml

    with FakeOpenAI() as server:
        recipe = write_recipe(tmp_path, server.base_url, tasks=["dr"], filters={"regenerations": 0})
        spec = load_yaml(recipe)
        spec["teacher"] = {"kind": "batch", "model": "fake", "base_url": server.base_url, "batch_poll_s": 0.5,
                           "max_retries": 0}
        recipe.write_text(dump_yaml(spec), encoding="utf-8")
        server.hold_batches = True  # batches stay in_progress until released
        proc = _start(recipe, tmp_path / "run")
        deadline = time.monotonic() + 120
        while not any(b["polls"] for b in server.batches.values()) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:] if proc.stdout else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert len(server.batches) == 1 and len(server.uploaded) == 1, (server.batches, server.uploaded)
        (batch_id, batch), = server.batches.items()
        polls = batch["polls"]
        server.hold_batches = False
        run = build(recipe, tmp_path / "run")
        assert len(server.uploaded) == 1 and list(server.batches) == [batch_id]  # nothing new
        assert batch["polls"] > polls and batch["status"] == "completed"
        build(recipe, tmp_path / "fresh")  # uninterrupted, with a fresh cache: a second batch
        assert len(server.batches) == 2
    for split in ("train", "valid", "test"):
        assert (run / "dataset" / f"{split}.jsonl").read_text() == \
            (tmp_path / "fresh" / "dataset" / f"{split}.jsonl").read_text()
    assert sum(1 for _ in (run / "dataset" / "train.jsonl").open()) > 0
