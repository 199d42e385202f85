"""Masking on the wire: a build against the loopback server reached through a non-loopback
address of this machine (so the teacher treats it as remote) sends placeholders, never the
originals, for the chat and the Batch API; ``local_only`` refuses a remote endpoint for both."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI
from test_synthesis_pipeline import build, write_recipe

from imhi.io import InputError, write_jsonl
from imhi.teacher import BatchTeacher, OpenAITeacher, make_teacher

os.environ["IMHI_NO_PROGRESS"] = "1"
SECRETS = ("jo.doe@mail.com", "555-123-4567", "https://x.io/a", "u/throwaway_99", "@jane_d", "13812345678")
POSTS = [
    "Mail me at jo.doe@mail.com if you want, I have not slept properly for weeks and nothing helps.",
    "Call 555-123-4567 or read https://x.io/a, every morning I wake up tired and hopeless again.",
    "Ask u/throwaway_99 or @jane_d, they know I stopped seeing friends and stay in bed all day.",
    "My number is 13812345678 and I feel fine today, busy with work and cooking dinner later.",
]


def machine_address() -> str:
    """A non-loopback IP address of this machine (the first of ``hostname -I``), or a skip."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"no non-loopback address: hostname -I failed ({exc})")
    for word in out.split():
        addr = ipaddress.ip_address(word)
        if addr.version == 4 and not addr.is_loopback:
            return word
    pytest.skip(f"this machine has no non-loopback IPv4 address (hostname -I: {out.strip()!r})")


def _source(tmp: Path) -> Path:
    path = tmp / "posts.jsonl"
    write_jsonl(path, [{"id": f"p{i}", "task": "dr", "text": text, "label": "yes" if i < 3 else "no",
                        "split": "train"} for i, text in enumerate(POSTS)])
    return path


def _sources(tmp: Path) -> list[dict[str, object]]:
    return [{"name": "pii", "format": "jsonl", "path": str(_source(tmp)),
             "columns": {"text": "text", "label": "label", "id": "id", "task": "task", "split": "split"}}]


def _assert_masked(sent: str) -> None:
    for secret in SECRETS:
        assert secret not in sent, secret
    for placeholder in ("[EMAIL]", "[PHONE]", "[URL]", "[USER]"):
        assert placeholder in sent, placeholder


def test_build_sends_placeholders_never_originals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wire-test")
    with FakeOpenAI(host=machine_address()) as server:
        recipe = write_recipe(tmp_path, server.base_url, sources=_sources(tmp_path), tasks=["dr"],
                              prompting={"k": 0}, min_kept=0.1)
        run = build(recipe, tmp_path / "run")
        sent = json.dumps(server.requests, ensure_ascii=False)
    assert len(server.requests) >= len(POSTS)
    _assert_masked(sent)
    for path in run.rglob("*"):  # nothing written holds the key
        if path.is_file():
            assert b"sk-wire-test" not in path.read_bytes(), path


def test_batch_uploads_placeholders_never_originals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wire-test")
    with FakeOpenAI(host=machine_address()) as server:
        cfg = BatchTeacher(kind="batch", model="fake", base_url=server.base_url, batch_poll_s=0.05, max_retries=0)
        teacher = make_teacher(cfg, tmp_path / "c.sqlite")
        replies = teacher.generate([[{"role": "user", "content": f"{text} correct answer is: Yes."}] for text in POSTS])
        assert all(r.ok for r in replies), [r.error for r in replies]
        inputs = [server.files[b["input_file_id"]].decode() for b in server.batches.values()]
    assert inputs
    _assert_masked("".join(inputs))


@pytest.mark.parametrize("kind", ["openai", "batch"])
def test_local_only_refuses_a_remote_endpoint(tmp_path: Path, kind: str) -> None:
    cls = OpenAITeacher if kind == "openai" else BatchTeacher
    remote = cls.model_validate({"kind": kind, "model": "m", "base_url": "https://api.example.com/v1",
                                 "local_only": True})
    with pytest.raises(InputError, match="local_only is set but the endpoint 'https://api.example.com/v1'"):
        make_teacher(remote, tmp_path / "c.sqlite")
    loopback = cls.model_validate({"kind": kind, "model": "m", "base_url": "http://127.0.0.1:9/v1",
                                   "local_only": True})
    make_teacher(loopback, tmp_path / "ok.sqlite").close()  # this machine: allowed
