"""The real CLI in a subprocess: exit code, output, and the one-line error contract."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# a hub that cannot answer: a loopback port where nothing listens (connection refused at once)
DEAD_HUB = {"HF_HUB_OFFLINE": None, "HF_ENDPOINT": "http://127.0.0.1:9"}


def imhi_process(*args: str, cwd: Path | None = None, env: dict[str, str | None] | None = None,
                 timeout: float = 300, prelude: str = "pass") -> subprocess.CompletedProcess[str]:
    """Run ``imhi ARGS`` in a subprocess (this checkout first on the path; ``prelude``: Python run
    first; an ``env`` value of None removes that variable); the finished process, with ``seconds`` set."""
    merged: dict[str, str | None] = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    full_env = {k: v for k, v in merged.items() if v is not None}
    code = f"import sys; {prelude}; from imhi.cli import main; sys.argv[0] = 'imhi'; main()"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    proc.seconds = time.perf_counter() - t0  # type: ignore[attr-defined]
    return proc


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Assert a failed run printed no traceback and one error line holding every needle; return it."""
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, text
    for needle in needles:
        assert needle in lines[0], text
    return lines[0]
