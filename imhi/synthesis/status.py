"""The live status of a teacher build: rows done, requests in flight, retried (by cause),
failed, kept, ETA — one line.

Reads the teacher's counters (from another thread: they may be a moment old); writes to
stderr only. On a terminal the line is refreshed in place (tqdm); elsewhere (a log, CI) a
plain line is printed every ``every_s`` seconds and once at the end. ``IMHI_NO_PROGRESS=1``
silences it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO

from tqdm.auto import tqdm

from imhi.teacher import Stats


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 \
        else f"{s}s"


def _width(stream: TextIO) -> int:
    """The terminal's columns (0 when it reports none, as a bare pseudo-terminal does: tqdm would
    then draw nothing)."""
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError):
        return 0


class BuildStatus:
    """One status line over every round of a build (see module docstring)."""

    def __init__(self, name: str, total: int, stats: Stats, every_s: float,
                 stream: TextIO | None = None) -> None:
        self.name, self.total, self.stats, self.every_s = name, total, stats, every_s
        self.stream = stream or sys.stderr
        self.done = self.kept = 0
        self.on = os.environ.get("IMHI_NO_PROGRESS") != "1" and total > 0
        self.tty = self.stream.isatty()
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._bar: Any = None
        self._thread: threading.Thread | None = None

    def settled(self, kept: bool) -> None:
        """One row is final: kept, or dropped after its last try."""
        self.done += 1
        self.kept += int(kept)
        if self._bar is not None:
            self._bar.update(1)

    def counts(self) -> str:
        """In flight, retried (by cause), failed, kept."""
        retries = dict(self.stats.tally.retries)
        causes = ", ".join(f"{k} {v}" for k, v in sorted(retries.items()))
        retried = f"{sum(retries.values())} retried" + (f" ({causes})" if causes else "")
        return f"{self.stats.tally.in_flight} in flight, {retried}, {self.stats.errors} failed, {self.kept} kept"

    def line(self) -> str:
        """The whole status line (as a log shows it)."""
        elapsed = time.monotonic() - self._t0
        eta = _duration(elapsed / self.done * (self.total - self.done)) if self.done else "?"
        return (f"{self.name}: {self.done}/{self.total} rows done, {self.counts()}; "
                f"{_duration(elapsed)} elapsed, ETA {eta}")

    def __enter__(self) -> BuildStatus:
        if self.on:
            if self.tty:
                self._bar = tqdm(total=self.total, desc=self.name, unit="row", file=self.stream, mininterval=0.5,
                                 ncols=None if _width(self.stream) else 120,
                                 bar_format="{desc}: {n_fmt}/{total_fmt} rows [{elapsed}<{remaining}]{postfix}")
            self._thread = threading.Thread(target=self._tick, name="imhi-status", daemon=True)
            self._thread.start()
        return self

    def _tick(self) -> None:
        while not self._stop.wait(0.5 if self.tty else self.every_s):
            self._show()

    def _show(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix_str(self.counts(), refresh=True)
        else:
            print(self.line(), file=self.stream, flush=True)

    def __exit__(self, exc_type: object, *exc: object) -> None:
        """Stop; the last line shows the final counts (unless an error is on its way: its own
        line then says what happened)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            if exc_type is None or self._bar is not None:
                self._show()
        if self._bar is not None:
            self._bar.close()
