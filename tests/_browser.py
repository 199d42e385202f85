"""Debian chromium driven by Playwright's Python API, for the report tests and the benchmark.

``playwright install`` is never run (it downloads from a CDN): the browser is the system's
``chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it). ``missing()`` says why
a browser test cannot run here, or returns None.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("IMHI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# a closed network refuses chromium's background connections; these keep it from trying
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def missing() -> str | None:
    """Why no browser test can run here (None: they can)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; bash scripts/setup.sh dev)"
    if not Path(CHROMIUM).is_file():
        return f"chromium not found at {CHROMIUM} (apt-get install -y chromium; .ci/run installs it)"
    return None


@dataclass
class Opened:
    """A report open in a page, with every console error and request seen."""

    page: Any
    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def network(self) -> list[str]:
        """Requests other than the report file itself (none: the page is self-contained)."""
        return [u for u in self.requests if u != self.url]

    def count(self, table: str = "") -> str:
        """The pager's text ("1–50 of 1234 rows …") of the first (or the named) row table."""
        scope = f'[data-table="{table}"] ' if table else ""
        return self.page.locator(f"{scope}.pager .count").first.inner_text()


def open_report(browser: Any, path: Path, width: int = 1300, height: int = 900) -> Opened:
    """Open ``path`` from file:// and wait until the page says it has rendered."""
    page = browser.new_page(viewport={"width": width, "height": height})
    opened = Opened(page, path.resolve().as_uri())
    page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: opened.errors.append(str(e)))
    page.on("request", lambda r: opened.requests.append(r.url))
    page.goto(opened.url)
    page.wait_for_selector("body[data-ready]")
    return opened
