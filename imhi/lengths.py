"""Post size limits: a cheap token estimate and the one function that shortens a long post.

Reads and writes nothing. Where no tokenizer is at hand (teacher prompts to an API, ``imhi data
inspect``) tokens are estimated from the text: each CJK character counts one token, and the
rest counts the larger of characters / 4 and words × 4 / 3 (English BPE vocabularies average
about 4 characters and 0.75 words per token), so the estimate errs on the long side. Where
training or local generation has the model's tokenizer, its real count is used.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field

MARKER = " […]"  # appended to a shortened post, so neither a model nor a reader takes it as whole
DEFAULT_MAX_POST_TOKENS = 2048
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORD = re.compile(r"\S+")


# The recipe fields, declared once: ``max_post_tokens: MaxPostTokens = DEFAULT_MAX_POST_TOKENS``.
MaxPostTokens = Annotated[int | None, Field(ge=16, description="longest post in tokens; a longer one is "
                                            "shortened (or rejected, see long_posts); null: no limit")]
LongPosts = Annotated[Literal["shorten", "reject"], Field(
    description="a post over max_post_tokens: shorten (keep its head, add a marker) or reject (leave it "
    "out, with the reason)")]


class Tokenizer(Protocol):
    """The two calls of a Hugging Face tokenizer this module needs."""

    def __call__(self, text: str, add_special_tokens: bool = ...) -> Any: ...

    def decode(self, ids: list[int]) -> str: ...


def estimate_tokens(text: str) -> int:
    """Estimated token count of ``text`` (see the module docstring)."""
    cjk = len(_CJK.findall(text))
    rest = _CJK.sub(" ", text) if cjk else text
    words = len(_WORD.findall(rest))
    return cjk + max(math.ceil(len(rest.strip()) / 4), math.ceil(words * 4 / 3))


def count_tokens(text: str, tok: Tokenizer | None = None) -> int:
    """Tokens of ``text``: the tokenizer's count, or the estimate without one."""
    if tok is None:
        return estimate_tokens(text)
    return len(tok(text, add_special_tokens=False)["input_ids"])


def shorten(text: str, limit: int, tok: Tokenizer | None = None) -> str:
    """``text`` cut to at most ``limit`` tokens, marker included; unchanged when it fits."""
    if tok is None:
        if estimate_tokens(text) <= limit:
            return text
        return _estimated_head(text, max(limit - estimate_tokens(MARKER), 1)) + MARKER
    ids = tok(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= limit:
        return text
    return tok.decode(ids[:max(limit - count_tokens(MARKER, tok), 1)]).rstrip() + MARKER


def _estimated_head(text: str, room: int) -> str:
    """The longest prefix whose estimate fits ``room`` (binary search; ≥ 1 char per token bounds it),
    cut back to a word boundary when one is near."""
    lo, hi = 0, min(len(text), 4 * room + 4)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= room:
            lo = mid
        else:
            hi = mid - 1
    head = text[:lo]
    space = head.rfind(" ")
    return (head[:space] if space > 0.8 * len(head) else head).rstrip()


def apply_limit(text: str, max_tokens: int | None, long_posts: str = "shorten",
                tok: Tokenizer | None = None) -> tuple[str | None, str | None]:
    """(the post to use, or None when rejected; what was done and why, or None when it fit)."""
    if max_tokens is None:
        return text, None
    n = count_tokens(text, tok)
    if n <= max_tokens:
        return text, None
    how = "tokens" if tok is not None else "estimated tokens"
    if long_posts == "reject":
        return None, f"post has {n} {how}, over max_post_tokens={max_tokens}"
    return shorten(text, max_tokens, tok), f"post shortened from {n} {how} to max_post_tokens={max_tokens}"
