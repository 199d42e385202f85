"""Masking patterns, which endpoints count as this machine, and ``local_only``. (What a server
receives: test_teacher_privacy_wire.py.)"""

from __future__ import annotations

import pytest

from imhi.io import InputError
from imhi.teacher.privacy import check_endpoint, is_loopback, mask_messages, mask_text


@pytest.mark.parametrize(("text", "masked"), [
    ("write to jo.doe+x@mail.co.uk today", "write to [EMAIL] today"),
    ("see https://x.io/a?b=1 now", "see [URL] now"),
    ("see www.example.org/page", "see [URL]"),
    ("see bit.ly/abc", "see [URL]"),
    ("ask u/throwaway_99 or /u/ab", "ask [USER] or [USER]"),
    ("thanks @jane_d!", "thanks [USER]!"),
    ("call 555-123-4567", "call [PHONE]"),
    ("call +1 (555) 123-4567 x", "call [PHONE] x"),
    ("call 555.123.4567", "call [PHONE]"),
    ("手机 13812345678 号", "手机 [PHONE] 号"),
    ("mail a@b.com, then @bob", "mail [EMAIL], then [USER]"),
])
def test_each_kind_is_replaced_by_its_placeholder(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize("text", [
    "I slept 8 hours and walked 5 km in 2023.",  # numbers that are no phone
    "my email@ is broken",  # no address
    "@a is too short",  # a handle needs 2 characters
    "u/x too",  # so does a reddit user
    "12345678901 is no mobile (starts 12)",
    "the 3.5-inch disk",
    "word.com without a path stays",
])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_only_user_and_assistant_turns_are_masked() -> None:
    msgs = [{"role": "system", "content": "reply to @admin"}, {"role": "user", "content": "I am @jane_d"},
            {"role": "assistant", "content": "hi jo@x.com"}, {"role": "user"}]
    assert mask_messages(msgs) == [{"role": "system", "content": "reply to @admin"},
                                   {"role": "user", "content": "I am [USER]"},
                                   {"role": "assistant", "content": "hi [EMAIL]"}, {"role": "user", "content": ""}]
    assert msgs[1]["content"] == "I am @jane_d"  # the input is not changed


@pytest.mark.parametrize(("url", "local"), [
    ("http://localhost:8000/v1", True), ("http://LOCALHOST.localdomain/v1", True),
    ("http://localhost.localdomain/v1", True), ("http://ip6-localhost/v1", True),
    ("http://127.0.0.1:1/v1", True), ("http://127.8.9.10/v1", True), ("http://[::1]:80/v1", True),
    ("http://192.0.2.2:80/v1", False), ("https://api.openai.com/v1", False), ("http://10.0.0.1/v1", False),
    ("http://mylocalhost/v1", False), (None, False), ("", False),
])
def test_is_loopback(url: str | None, local: bool) -> None:
    assert is_loopback(url) is local


def test_local_only_refuses_a_remote_endpoint_only() -> None:
    check_endpoint("https://api.example.com/v1", local_only=False)
    check_endpoint("http://127.0.0.1:9/v1", local_only=True)
    with pytest.raises(InputError, match="local_only is set but the endpoint 'https://api.example.com/v1' is not"):
        check_endpoint("https://api.example.com/v1", local_only=True)
    with pytest.raises(InputError, match="endpoint 'https://api.openai.com/v1' is not on this machine") as err:
        check_endpoint(None, local_only=True)
    assert str(err.value).startswith("teacher, field 'teacher.base_url': local_only is set")
