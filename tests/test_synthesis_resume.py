"""Kill ``imhi build`` (a subprocess) half-way, rerun it: no answered request is sent again
and the dataset equals that of an uninterrupted build."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from fakeserver import FakeOpenAI
from test_synthesis_pipeline import build, write_recipe

SPLITS = ("train", "valid", "test")


def _start(recipe: Path, run: Path) -> subprocess.Popen[bytes]:
    code = f"from imhi.cli import main; main(['build', {str(recipe)!r}, '--out', {str(run)!r}])"
    env = {**os.environ, "IMHI_NO_PROGRESS": "1"}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)


def _cached(path: Path) -> int:
    """Replies stored in the build's cache so far (0 before it exists)."""
    if not path.is_file():
        return 0
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])
        except sqlite3.OperationalError:  # the table is not created yet
            return 0


def _key(body: dict) -> str:
    return json.dumps(body, sort_keys=True)


def test_killed_build_resumes_without_resending(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        recipe = write_recipe(tmp_path, server.base_url, tasks=["dr", "dreaddit"],
                              teacher={"concurrency": 4})
        server.answer_limit = 12
        proc = _start(recipe, tmp_path / "run")
        deadline = time.time() + 60
        while len(server.requests) < 14 and time.time() < deadline:
            time.sleep(0.05)
        cache = tmp_path / "run" / "teacher_cache.sqlite"
        while _cached(cache) < 12 and time.time() < deadline:  # the client stores the 12 answers
            time.sleep(0.05)
        assert _cached(cache) == 12
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        answered = {_key(b) for b in server.answered}
        assert len(answered) == 12 and not (tmp_path / "run" / "dataset").exists()
        n_before = len(server.requests)
        server.answer_limit = None
        proc = _start(recipe, tmp_path / "run")
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out.decode()[-2000:]
        resent = [b for b in server.requests[n_before:] if _key(b) in answered]
        assert resent == []
        # an uninterrupted build with a fresh cache gives the same dataset
        build(recipe, tmp_path / "fresh")
    for split in SPLITS:
        a = (tmp_path / "run" / "dataset" / f"{split}.jsonl").read_text()
        b = (tmp_path / "fresh" / "dataset" / f"{split}.jsonl").read_text()
        assert a == b and a
