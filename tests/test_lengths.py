"""Post size limits (issue 14 item 5): the estimate, the one shortening function, and a 2 MB post
through the real CLI (teacher build against a loopback server, data inspect), generation, training."""

from __future__ import annotations

import json
from pathlib import Path

from _cli_process import imhi_process
from fakeserver import FakeOpenAI

from imhi.generation import limit_queries
from imhi.io import dump_yaml, read_jsonl
from imhi.lengths import MARKER, apply_limit, count_tokens, estimate_tokens, shorten
from imhi.models import ModelRef, load_tokenizer
from imhi.training.data import limit_posts

HUGE = ("I cannot sleep and every day feels heavier than the one before. " * 33_000)[:2_000_000]  # 2 MB


def test_estimate_and_shorten_without_a_tokenizer() -> None:
    assert estimate_tokens("one two three four") == 6  # words × 4/3 beats characters / 4
    assert estimate_tokens("我很难过") == 4  # one token per CJK character
    short = shorten(HUGE, 100)
    assert short.endswith(MARKER) and estimate_tokens(short) <= 100 and HUGE.startswith(short[: -len(MARKER)])
    assert shorten("fits", 100) == "fits"
    assert apply_limit(HUGE, 2048, "reject")[0] is None
    assert apply_limit(HUGE, None) == (HUGE, None)


def test_shorten_with_the_real_tokenizer_and_in_training_and_generation_rows() -> None:
    tok = load_tokenizer(ModelRef(path="smollm2"))
    short = shorten(HUGE[:20_000], 64, tok)
    assert short.endswith(MARKER) and count_tokens(short, tok) <= 66
    row = {"prompt": [{"role": "user", "content": f"Post: {HUGE[:20_000]}\nQuestion: q"}],
           "completion": [{"role": "assistant", "content": "Yes."}], "post": HUGE[:20_000]}
    rows, shortened, rejected = limit_posts([row], tok, 64)
    assert (shortened, rejected) == (1, 0) and rows[0]["prompt"][-1]["content"].endswith(f"{MARKER}\nQuestion: q")
    assert limit_posts([row], tok, 64, "reject")[1:] == (0, 1)
    queries, n = limit_queries([{"id": "a", "text": HUGE, "query": f"Post: {HUGE}\nQuestion: q"}], 100)
    assert n == 1 and queries[0]["query"].endswith(f"{MARKER}\nQuestion: q") and len(queries[0]["query"]) < 600


def _recipe(tmp_path: Path, base_url: str) -> Path:
    src = tmp_path / "posts.jsonl"
    rows = [{"text": HUGE, "label": "yes"}, {"text": "I feel fine and slept well.", "label": "no"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(dump_yaml({
        "name": "t", "mode": "teacher", "split": {"valid": 0.0, "test": 0.0},
        "sources": [{"name": "s", "format": "jsonl", "task": "dr", "path": str(src)}],
        "teacher": {"kind": "openai", "model": "fake", "base_url": base_url, "timeout_s": 20},
        "prompting": {"k": 1}, "filters": {"regenerations": 0, "use": ["empty", "correctness"]}}))
    return recipe


def test_a_2mb_post_is_shortened_before_the_teacher_or_rejected(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        recipe = _recipe(tmp_path, server.base_url)
        proc = imhi_process("build", str(recipe), "--out", str(tmp_path / "run"), env={"OPENAI_API_KEY": "x"})
        assert proc.returncode == 0, proc.stderr
        assert max(len(json.dumps(b)) for b in server.requests) < 30_000  # not ~2 MB
        assert any(MARKER in b["messages"][-1]["content"] for b in server.requests)
        manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
        assert manifest["counts"]["long_posts"] == {"max_post_tokens": 2048, "action": "shorten",
                                                    "shortened": 1, "rejected": 0}
        assert "Posts over max_post_tokens (2048 estimated tokens): 1 shortened" in \
            (tmp_path / "run" / "build_report.md").read_text()
        sent = len(server.requests)
        proc = imhi_process("build", str(recipe), "long_posts=reject", "--out", str(tmp_path / "rej"),
                            env={"OPENAI_API_KEY": "x"})
        assert proc.returncode == 0, proc.stderr
        assert len(server.requests) == sent + 1  # only the short post went to the teacher
    rejected = [r for r in read_jsonl(tmp_path / "rej" / "rejected.jsonl") if r["filter"] == "max_post_tokens"]
    assert len(rejected) == 1 and "over max_post_tokens=2048" in rejected[0]["reason"]


def test_data_inspect_warns_about_long_posts(tmp_path: Path) -> None:
    src = tmp_path / "posts.csv"
    src.write_text("text,label\n" + "\n".join(f"short post number {i},no" for i in range(20)) + f"\n{HUGE},yes\n")
    proc = imhi_process("data", "inspect", str(src), "--task", "dr")
    assert proc.returncode == 0, proc.stderr
    flat = proc.stdout.replace("\n", " ")
    assert "warning: 1 posts over max_post_tokens=2048" in flat and f"{src} row 21: ≈" in flat
    assert "warning: 1 posts over 10 × their task's median length" in flat
