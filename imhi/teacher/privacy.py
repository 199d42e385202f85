"""Privacy: mask user handles, e-mail addresses, URLs and phone numbers in posts.

Reads and writes nothing. Applied to every message before it leaves the machine for a
non-loopback endpoint (on by default); ``local_only`` refuses such endpoints entirely.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlparse

from imhi.io import InputError

# Order matters: e-mails before handles (the "@" of an address is not a handle),
# URLs before phone numbers (digits inside a URL are part of the URL).
PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "email": (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[EMAIL]"),
    "url": (re.compile(r"(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|org|net|io|ly|co)/\S*",
                       re.IGNORECASE), "[URL]"),
    "reddit_user": (re.compile(r"(?<![\w/])/?u/[A-Za-z0-9_-]{2,}"), "[USER]"),
    "handle": (re.compile(r"(?<![\w@])@[A-Za-z0-9_]{2,}"), "[USER]"),
    "phone": (re.compile(r"(?<!\w)(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{3,4}[\s.-]\d{3,4}"
                         r"(?:[\s.-]\d{2,4})?(?!\w)|(?<!\d)1[3-9]\d{9}(?!\d)"), "[PHONE]"),
}

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def mask_text(text: str) -> str:
    """Replace handles, e-mails, URLs and phone numbers by placeholders."""
    for pattern, placeholder in PATTERNS.values():
        text = pattern.sub(placeholder, text)
    return text


def mask_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Mask the content of user and assistant turns (system prompts are the project's)."""
    return [m if m.get("role") == "system" else {**m, "content": mask_text(m.get("content", ""))}
            for m in messages]


def is_loopback(base_url: str | None) -> bool:
    """True when the endpoint's host is this machine (localhost, 127.0.0.0/8, ::1)."""
    if not base_url:
        return False
    host = urlparse(base_url).hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(base_url: str | None, local_only: bool) -> None:
    """Refuse a remote endpoint when the recipe says local_only."""
    if local_only and not is_loopback(base_url):
        raise InputError("teacher", f"local_only is set but the endpoint "
                         f"'{base_url or 'https://api.openai.com/v1'}' is not on this machine",
                         field="teacher.base_url")
