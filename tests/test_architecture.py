"""The one-way imports of DESIGN.md (import-linter) and a clean ruff run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def test_import_layers() -> None:
    res = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_clean() -> None:
    paths = [p for p in ("imhi", "tests", "benchmarks") if (REPO / p).is_dir()]
    res = subprocess.run([_tool("ruff"), "check", *paths], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_heavy_libraries_are_not_imported_by_build_path() -> None:
    """`imhi build` against an API teacher must run without torch: check the import graph."""
    code = ("import sys, imhi.cli.build, imhi.cli.check, imhi.cli.data, imhi.synthesis.offline; "
            "bad = [m for m in ('torch', 'transformers', 'trl', 'peft', 'bitsandbytes') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
