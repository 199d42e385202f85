"""The reply cache: what a key depends on, storing and reading replies, a reopened file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from imhi.teacher.cache import ReplyCache, request_key

MSGS = [{"role": "user", "content": "post"}]
BASE = ("https://e/v1", "m", MSGS, {"temperature": 0.0, "max_tokens": 5})


def test_key_is_a_stable_sha256_of_everything_that_shapes_a_reply() -> None:
    key = request_key(*BASE)
    assert len(key) == 64 and int(key, 16) >= 0
    assert key == request_key("https://e/v1", "m", [{"role": "user", "content": "post"}],
                              {"max_tokens": 5, "temperature": 0.0})  # parameter order is irrelevant
    assert key == request_key(*BASE, n=1)
    changed = [request_key("https://f/v1", *BASE[1:]), request_key(BASE[0], "m2", *BASE[2:]),
               request_key(*BASE[:2], [{"role": "user", "content": "post!"}], BASE[3]),
               request_key(*BASE[:3], {"temperature": 0.5, "max_tokens": 5}), request_key(*BASE, n=2)]
    assert len({key, *changed}) == 6


def test_key_format_is_pinned() -> None:
    """Golden values: a changed key format would orphan every cache already on disk."""
    assert request_key(*BASE) == "f2eb1b770ab0513534619be0b3089bfaaea8a14d2a2fa384a722d17810a359d2"
    assert request_key("https://e/v1", "m", [{"role": "user", "content": "pöst"}], {}, n=3) == \
        "a85f0d205cb644dea2b0d00abeb766239097b8ed31837b6c940b474813c60ecf"


def test_put_get_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "c.sqlite"
    cache = ReplyCache(path)
    assert len(cache) == 0 and cache.get_many(["a"]) == {}
    cache.put_many([])
    cache.put_many([("a", "text a", {"prompt_tokens": 3, "completion_tokens": 2}, "stop", "m"),
                    ("b", "text b", {}, None, "m")])
    assert len(cache) == 2
    assert cache.get_many(["b", "a", "a", "zz"]) == {
        "a": {"text": "text a", "finish_reason": "stop", "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
        "b": {"text": "text b", "finish_reason": None, "usage": {}}}
    cache.put_many([("a", "newer", {}, "length", "m")])  # the same key is replaced
    cache.close()
    again = ReplyCache(path)  # committed: a killed run keeps its replies
    assert len(again) == 2 and again.get_many(["a"])["a"]["text"] == "newer"
    with pytest.raises(sqlite3.ProgrammingError):
        cache.get_many(["a"])  # the first handle is closed
    assert again.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again.close()


def test_many_keys_are_read_in_chunks(tmp_path: Path) -> None:
    cache = ReplyCache(tmp_path / "c.sqlite")
    cache.put_many([(f"k{i}", f"t{i}", {"n": i}, None, "m") for i in range(1203)])
    got = cache.get_many([f"k{i}" for i in range(1203)] + ["absent"])
    assert len(got) == 1203 and got["k1202"] == {"text": "t1202", "finish_reason": None, "usage": {"n": 1202}}
    cache.close()


def test_usable_from_another_thread(tmp_path: Path) -> None:
    """The relay thread stores replies through the handle the main thread opened."""
    import threading

    cache = ReplyCache(tmp_path / "c.sqlite")
    worker = threading.Thread(target=cache.put_many, args=([("k", "t", {}, None, "m")],))
    worker.start()
    worker.join()
    assert cache.get_many(["k"])["k"]["text"] == "t"
    cache.close()
