"""The bundled sample: 90 invented posts with labels and reference explanations.

Reads ``imhi/sample/posts.jsonl`` (shipped inside the package); writes nothing.
The posts were written by the imhi project for demos and tests (see README.md here);
they are not taken from any dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imhi.io import read_jsonl

SAMPLE_FILE = "posts.jsonl"
SPLITS = ("train", "valid", "test")


def sample_path() -> Path:
    """Path of the bundled ``posts.jsonl`` (one JSON object per post)."""
    return Path(__file__).resolve().parent / SAMPLE_FILE


def load_sample(task: str | None = None, split: str | None = None) -> list[dict[str, Any]]:
    """Rows of the sample, optionally only one task and/or one split (train, valid, test)."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split '{split}' (known: {', '.join(SPLITS)})")
    return [row for row in read_jsonl(sample_path())
            if (task is None or row["task"] == task) and (split is None or row["split"] == split)]
