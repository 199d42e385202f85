"""Shared fixtures: the repo root, the shared real data (skipped when absent), CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture
def shared_data() -> Path:
    """The real published data of ../shared/data, or a skip with the reason."""
    if not (SHARED / "imhi").is_dir():
        pytest.skip(f"shared data not present at {SHARED} (a fresh clone has none)")
    return SHARED


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run ``imhi ARGS`` in-process; return (exit code, stdout, stderr)."""
    from imhi.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
