"""Training data pieces one by one: the split file, conversations from a pair's messages, the
stage's task list, max_post_tokens per row and fitting rows to max_length."""

from __future__ import annotations

from pathlib import Path

import pytest
from _training_fixtures import tiny_dataset

from imhi.io import InputError, read_jsonl
from imhi.lengths import MARKER, count_tokens
from imhi.models import ModelRef, load_tokenizer
from imhi.schema import InstructionPair
from imhi.training.data import (
    _n_tokens,
    check_stage_data,
    conversation,
    fit_to_length,
    interleave_labels,
    limit_posts,
    split_file,
)
from imhi.training.recipe import DataSpec

LONG = " ".join(["I keep thinking about the week ahead and nothing feels right at all."] * 40)


def _pair(messages: list[dict[str, str]], **extra: str) -> InstructionPair:
    return InstructionPair(id="p1", source="s", task="dr", text="the post", label="yes", explanation="why",
                           query="Q: the post?", answer="A: yes", messages=messages, **extra)


def _row(post: str, content: str | None = None) -> dict:
    return {"prompt": [{"role": "system", "content": "Be careful."},
                       {"role": "user", "content": f"Post: {post}\nQuestion?" if content is None else content}],
            "completion": [{"role": "assistant", "content": "Yes. Reasoning: tired."}], "id": "r", "post": post}


def test_split_file_names_the_missing_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text("")
    assert split_file(tmp_path, "train") == tmp_path / "train.jsonl"
    with pytest.raises(InputError) as err:
        split_file(tmp_path, "valid")
    assert err.value.file == str(tmp_path / "valid.jsonl") and err.value.field == "data.path"
    assert str(err.value) == (f"{tmp_path / 'valid.jsonl'}, field 'data.path': dataset file not found "
                              "(run `imhi build` first, or fix data.path)")


def test_conversation_from_messages_system_prompt_and_fallbacks() -> None:
    chat = [{"role": "system", "content": "Own system."}, {"role": "user", "content": "Q1"},
            {"role": "assistant", "content": "draft"}, {"role": "user", "content": "Q2"},
            {"role": "assistant", "content": "final"}]
    conv = conversation(_pair(chat), system_prompt="Recipe system.")
    assert conv["prompt"] == chat[:2] + chat[3:4]  # the pair's own system message is kept
    assert conv["completion"] == [{"role": "assistant", "content": "final"}]  # the last answer
    assert (conv["id"], conv["task"], conv["post"]) == ("p1", "dr", "the post")
    conv = conversation(_pair([{"role": "user", "content": "Q1"}]), system_prompt="Recipe system.")
    assert conv["prompt"] == [{"role": "system", "content": "Recipe system."}, {"role": "user", "content": "Q1"}]
    assert conv["completion"] == [{"role": "assistant", "content": "A: yes"}]  # no assistant message: the answer
    conv = conversation(_pair([{"role": "assistant", "content": "only"}]))
    assert conv["prompt"] == [{"role": "user", "content": "Q: the post?"}]  # no prompt message: the query
    assert conv["completion"] == [{"role": "assistant", "content": "only"}]


def test_check_stage_data_lists_each_task_once_in_file_order(tmp_path: Path) -> None:
    both = tiny_dataset(tmp_path / "both", n_train=2, tasks=("dreaddit", "dr"))
    only = tiny_dataset(tmp_path / "only", n_train=2, tasks=("dr", "loneliness"))
    (only / "valid.jsonl").unlink()  # only the train split is read
    assert check_stage_data([DataSpec(path=str(both)), DataSpec(path=str(only))]) == ["dreaddit", "dr", "loneliness"]
    assert check_stage_data([DataSpec(path=str(only), tasks=["loneliness"])]) == ["loneliness"]
    (both / "train.jsonl").unlink()
    with pytest.raises(InputError, match=r"both/train\.jsonl.*dataset file not found"):
        check_stage_data([DataSpec(path=str(only)), DataSpec(path=str(both))])


def test_interleave_labels_of_nothing_is_nothing() -> None:
    assert interleave_labels([]) == []


def test_limit_posts_shortens_or_rejects_and_counts(tmp_path: Path) -> None:
    short, long, bare = _row("A short post."), _row(LONG), _row("")
    elsewhere = _row(LONG, content="The post is attached.")  # the post is not in the prompt
    assert limit_posts([short, long], None, None) == ([short, long], 0, 0)
    n = count_tokens(LONG, None)
    out, shortened, rejected = limit_posts([short, long, bare, elsewhere], None, 50)
    assert (shortened, rejected) == (1, 0) and len(out) == 4
    assert out[0] == short and out[2] == bare and out[3] == elsewhere
    cut = out[1]
    assert cut["post"].endswith(MARKER) and count_tokens(cut["post"], None) <= 50 < n
    assert cut["prompt"][-1]["content"] == f"Post: {cut['post']}\nQuestion?"
    assert cut["prompt"][0] == long["prompt"][0] and cut["completion"] == long["completion"]
    assert long["post"] == LONG  # the input row is not changed
    out, shortened, rejected = limit_posts([long, short, elsewhere, bare], None, 50, "reject")
    assert out == [short, bare] and (shortened, rejected) == (0, 2)


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(ModelRef(path="smollm2"), padding_side="right")


def test_n_tokens_counts_the_chat_template(tok) -> None:
    row = _row("A short post.")
    ids = tok.apply_chat_template(row["prompt"] + row["completion"], tokenize=True)
    assert _n_tokens(tok, row) == len(ids["input_ids"] if hasattr(ids, "keys") else ids) > 10


def test_fit_to_length_leaves_fitting_rows_and_rows_it_cannot_cut(tok) -> None:
    short, long = _row("A short post."), _row(LONG)
    elsewhere, bare = _row(LONG, content="The post is attached. " + LONG[:300]), _row("", content=LONG)
    exact = _n_tokens(tok, short)
    assert fit_to_length([short, long], tok, None) == ([short, long], 0)
    assert fit_to_length([short], tok, exact) == ([short], 0)  # exactly max_length fits
    out, n = fit_to_length([elsewhere, bare, short, long], tok, exact + 30)
    assert n == 1 and out[:3] == [elsewhere, bare, short]  # nothing to shorten in the first two
    assert _n_tokens(tok, out[3]) <= exact + 30 and out[3]["post"].endswith(MARKER)
    assert out[3]["prompt"][-1]["content"] == f"Post: {out[3]['post']}\nQuestion?"


def test_fit_to_length_cuts_just_enough(tok) -> None:
    long = _row(LONG)
    limit = _n_tokens(tok, long) - 20
    (out,), n = fit_to_length([long], tok, limit)
    assert n == 1 and limit - 12 <= _n_tokens(tok, out) <= limit  # a few tokens' slack, not half the post
    assert count_tokens(out["post"], tok) > count_tokens(LONG, tok) - 40


def test_fit_to_length_needs_a_chat_template(tok) -> None:
    class Plain:
        chat_template = None

    long = _row(LONG)
    assert fit_to_length([long], Plain(), 10) == ([long], 0)


def test_shortening_replaces_the_post_once() -> None:
    twice = _row(LONG, content=f"Post: {LONG}\nAgain: {LONG}")
    out, n, _ = limit_posts([twice], None, 50)
    assert n == 1
    assert out[0]["prompt"][-1]["content"] == f"Post: {out[0]['post']}\nAgain: {LONG}"


def test_real_pairs_fit(tmp_path: Path, tok) -> None:
    data = tiny_dataset(tmp_path / "d", n_train=2)
    pairs = [InstructionPair.model_validate(r) for r in read_jsonl(data / "train.jsonl")]
    rows = [conversation(p) for p in pairs]
    assert fit_to_length(rows, tok, 10_000) == (rows, 0)


def test_limits_count_every_row_and_use_the_tokenizer(tok) -> None:
    user_only = {**_row(LONG), "prompt": [{"role": "user", "content": f"Post: {LONG}\nQuestion?"}]}
    out, shortened, _ = limit_posts([user_only, _row(LONG)], tok, 40)
    assert shortened == 2 and all(count_tokens(r["post"], tok) <= 40 for r in out)
    assert out[0]["prompt"] == [{"role": "user", "content": f"Post: {out[0]['post']}\nQuestion?"}]
    long = _row(LONG)
    limit = _n_tokens(tok, long) - 20
    out, n = fit_to_length([long, _row(LONG + " Again.")], tok, limit)
    assert n == 2 and all(_n_tokens(tok, r) <= limit for r in out)


def test_a_bad_row_says_it_is_no_instruction_pair(tmp_path: Path) -> None:
    data = tiny_dataset(tmp_path / "d", n_train=1)
    (data / "train.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(InputError, match=r"train\.jsonl, row 1: not an instruction pair:\n"):
        check_stage_data([DataSpec(path=str(data))])
