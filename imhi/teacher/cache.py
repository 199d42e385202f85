"""The reply cache: SQLite, one row per rendered request.

Reads and writes ``<cache_path>`` (a SQLite file, WAL mode). Key = sha256 of the
rendered request (endpoint, model, messages, generation params, n, seed); value = raw
reply text, finish reason and token usage. API keys are never part of a key or a value.
Only successful replies are stored, so a rerun retries the rows that failed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from imhi.io import sha256_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS replies (
  key TEXT PRIMARY KEY,
  text TEXT NOT NULL,
  finish_reason TEXT,
  usage TEXT NOT NULL,
  model TEXT,
  created REAL NOT NULL
)
"""


def request_key(endpoint: str, model: str, messages: list[dict[str, str]],
                params: dict[str, Any], n: int = 1) -> str:
    """sha256 of the canonical JSON of everything that shapes a reply."""
    payload = {"endpoint": endpoint, "model": model, "messages": messages,
               "params": dict(sorted(params.items())), "n": n}
    return sha256_text(json.dumps(payload, ensure_ascii=False, sort_keys=True,
                                  separators=(",", ":")))


class ReplyCache:
    """Get/put replies by request key; every put is committed at once (crash-safe)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(SCHEMA)
        self.db.commit()

    def get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Stored replies for the given keys (missing keys are absent)."""
        out: dict[str, dict[str, Any]] = {}
        uniq = list(dict.fromkeys(keys))
        for i in range(0, len(uniq), 500):
            chunk = uniq[i:i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT key, text, finish_reason, usage FROM replies WHERE key IN ({marks})",  # noqa: S608
                chunk)
            for key, text, finish, usage in rows:
                out[key] = {"text": text, "finish_reason": finish, "usage": json.loads(usage)}
        return out

    def put_many(self, items: list[tuple[str, str, dict[str, int], str | None, str]]) -> None:
        """Store replies (key, text, usage, finish reason, model) in one commit, so a killed
        run keeps them."""
        if not items:
            return
        now = time.time()
        self.db.executemany("INSERT OR REPLACE INTO replies VALUES (?, ?, ?, ?, ?, ?)",
                            [(k, text, finish, json.dumps(usage), model, now)
                             for k, text, usage, finish, model in items])
        self.db.commit()

    def __len__(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        self.db.close()
