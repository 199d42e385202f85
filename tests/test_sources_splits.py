"""A source's ``splits:`` keeps only the rows of the splits named (the demo build leaves the
sample's test posts to the reference build)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from imhi.config import validate_data
from imhi.io import InputError
from imhi.sources import SourceSpec, read_source

SAMPLE = Path(__file__).resolve().parents[1] / "imhi" / "sample" / "posts.jsonl"
COLUMNS = {"text": "text", "label": "label", "id": "id", "task": "task", "split": "split"}


def spec(**extra: object) -> SourceSpec:
    return validate_data({"name": "s", "format": "jsonl", "path": str(SAMPLE), "columns": COLUMNS, **extra},
                         SourceSpec, "recipe")


def test_splits_keep_only_the_named_splits() -> None:
    every = Counter(p.split for p in read_source(spec()))
    kept = Counter(p.split for p in read_source(spec(splits=["train", "valid"])))
    assert kept == {"train": every["train"], "valid": every["valid"]} and every["test"] == 37


def test_unknown_split_is_a_recipe_error() -> None:
    with pytest.raises(InputError, match="splits.0"):
        spec(splits=["dev"])
