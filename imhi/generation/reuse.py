"""Answers keyed by the full request: which rows of a generations file can be reused.

Reads and rewrites ``generations.jsonl``; writes ``generations.stale-N.jsonl`` beside it. Each
answer row carries ``request_key``: the sha256 of the rendered chat messages, the model
fingerprint and the decoding settings (what the teacher cache keys on, too). On a rerun a row
whose key still matches is reused; a row asked differently (an edited question, another shot,
template or decoding setting) is moved to the stale file, never mixed with new answers, and
answered again; a warning line says how many.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from imhi.io import read_jsonl_tolerant, sha256_text, write_jsonl


def request_key(messages: list[dict[str, str]], fingerprint: dict[str, Any], decoding: dict[str, Any]) -> str:
    """sha256 of what was asked: the messages, the model and the decoding settings."""
    payload = {"messages": messages, "model": fingerprint, "decoding": decoding}
    return sha256_text(json.dumps(payload, sort_keys=True, ensure_ascii=False))


def stale_path(out_path: Path) -> Path:
    """The next free ``<stem>.stale-N.jsonl`` beside ``out_path``."""
    n = 1
    while (stale := out_path.with_name(f"{out_path.stem}.stale-{n}.jsonl")).exists():
        n += 1
    return stale


def retire_changed(out_path: Path, keys: dict[str, str]) -> tuple[set[Any], int, int]:
    """Move the rows of ``out_path`` whose id is in ``keys`` but whose ``request_key`` differs to a
    stale file; keep every other row. Returns (the ids of the kept rows, reused, regenerated), the
    counts among the ids of ``keys``."""
    rows = read_jsonl_tolerant(out_path)
    kept = [r for r in rows if r.get("id") not in keys or r.get("request_key") == keys[r["id"]]]
    changed = [r for r in rows if r.get("id") in keys and r.get("request_key") != keys[r["id"]]]
    reused = sum(1 for r in kept if r.get("id") in keys)
    if changed:
        stale = stale_path(out_path)
        write_jsonl(stale, changed)
        write_jsonl(out_path, kept)
        print(f"warning: {out_path}: {len(changed)} of {len(keys)} answers were asked with another prompt or "
              f"decoding settings and are answered again ({reused} reused); the old answers were moved to "
              f"{stale.name}", file=sys.stderr)
    return {r.get("id") for r in kept}, reused, len(changed)
