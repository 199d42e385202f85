"""Kill ``imhi build`` (a subprocess) half-way, rerun it: no answered request is sent again
and the dataset equals that of an uninterrupted build."""

from __future__ import annotations

import json
import os
import signal
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
        time.sleep(0.5)  # the client has stored the 12 answers it received
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
