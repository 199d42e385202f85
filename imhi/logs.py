"""Quiet by default: third-party warnings, log records and progress bars go to the run's log file.

Writes ``imhi.log`` into the run folder of the command (the first folder a
:class:`imhi.config.Manifest` opens; a folder inside it, a training stage, keeps the same log).
Python warnings (FutureWarning, …) are routed into :mod:`logging` by ``logging.captureWarnings``;
records logged before a run folder exists are held in memory and written once it does.
Hugging Face progress bars (weight loading, downloads, dataset maps) are switched off through the
libraries' own environment switches, and transformers' logger is made to propagate to the root
logger instead of printing. ``verbose`` (``imhi -v``) also shows all of it on the terminal.
Imports no heavy library: it only adjusts those already imported.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

LOG_NAME = "imhi.log"
QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
             "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _State:
    verbose = False
    buffer: logging.handlers.MemoryHandler | None = None
    file: logging.FileHandler | None = None
    folder: Path | None = None
    records: dict[Path | None, int] = {}  # log folder (None: not known yet) → records written there


class _Count(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        _State.records[_State.folder] = _State.records.get(_State.folder, 0) + 1
        return True


def setup(verbose: bool = False) -> None:
    """Route warnings and library logs to the run's log (and, when ``verbose``, to stderr)."""
    _State.verbose = verbose
    if not verbose:
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
    logging.captureWarnings(True)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_imhi", False)]:
        root.removeHandler(handler)
        handler.close()  # an earlier command of this process (tests): its records written out
    if _State.file is not None:
        _State.file.close()
    root.setLevel(logging.INFO)
    _State.buffer = logging.handlers.MemoryHandler(capacity=100_000, flushLevel=logging.CRITICAL + 1)
    _State.buffer.addFilter(_Count())
    _State.file, _State.folder, _State.records = None, None, {}
    handlers: list[logging.Handler] = [_State.buffer]
    if verbose:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler._imhi = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    adopt_library_logs()


class _RunLog(logging.FileHandler):
    """A log file opened on its first record, its folder made then (a run folder may not exist yet)."""

    def _open(self):  # type: ignore[no-untyped-def]
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def log_to(run_dir: str | Path) -> None:
    """Write the log into ``run_dir`` (unless the log already lives in a folder holding it).

    Nothing is written at once: records held so far go out with the next one (or at exit)."""
    folder = Path(run_dir).resolve()
    if _State.buffer is None or (_State.folder is not None and folder.is_relative_to(_State.folder)):
        return
    handler = _RunLog(folder / LOG_NAME, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter(_FORMAT))
    if _State.file is not None:
        _State.buffer.flush()
        _State.file.close()
    _State.buffer.setTarget(handler)
    _State.buffer.capacity = 1  # from now on every record is passed on as it comes
    held = _State.records.pop(_State.folder, 0) if _State.file is None else 0  # records before any run
    _State.file, _State.folder = handler, folder
    if held:
        _State.records[folder] = _State.records.get(folder, 0) + held


def adopt_library_logs() -> None:
    """Make an already imported transformers log through the root logger (not its own stderr
    handler) and, unless verbose, stop its progress bars. Cheap and idempotent: call it after a
    lazy import of transformers."""
    if "transformers" not in sys.modules or _State.buffer is None:
        return
    from transformers.utils import logging as hf_logging

    hf_logging.enable_propagation()
    if _State.verbose:
        return
    handler = getattr(hf_logging, "_default_handler", None)
    if handler is not None and handler in hf_logging.get_logger().handlers:
        hf_logging.disable_default_handler()
    hf_logging.disable_progress_bar()


def verbose() -> bool:
    """True when the user asked to see third-party output on the terminal (``imhi -v``)."""
    return _State.verbose


def summary() -> str | None:
    """One line on where the third-party messages went, when there were any and they were hidden."""
    if _State.verbose or not any(_State.records.values()):
        return None
    places = [f"{_shown(folder / LOG_NAME) if folder else 'nowhere (no run folder)'} ({n})"
              for folder, n in _State.records.items() if n]
    return f"third-party warnings and log lines went to {', '.join(places)}; imhi -v shows them"


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
