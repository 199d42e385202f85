"""``imhi view RUN…``: open a run's report.html (several runs: one comparison page).

Reads each run folder's ``report.html``; with several runs writes one comparison page
(``--out``, default ``runs/compare/report.html``) through :mod:`imhi.html`.
"""

from __future__ import annotations

import os
import sys
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from imhi.cli.common import EXIT_CODES, out
from imhi.html import view
from imhi.io import InputError


def _has_display() -> bool:
    """A graphical browser can open (Linux without a display would get a console browser)."""
    return not sys.platform.startswith("linux") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def register(app: typer.Typer) -> None:
    """Add ``imhi view``."""

    @app.command("view", epilog=EXIT_CODES)
    def view_cmd(runs: Annotated[list[Path], typer.Argument(help="run folders (or their report.html)")],
                 out_path: Annotated[Path | None, typer.Option("--out", help="comparison page of several runs "
                                                               "(default runs/compare/report.html)")] = None,
                 print_only: Annotated[bool, typer.Option("--print", help="print the path, open nothing")] = False,
                 ) -> None:
        """Open the report(s) in your browser, or print the path where no browser can open."""
        opener = None if print_only or not _has_display() else webbrowser.open
        try:
            path, opened = view(runs, out_path, opener)
        except (FileNotFoundError, ValueError) as exc:
            raise InputError("imhi view", str(exc)) from exc
        out.print(f"{'opened' if opened else 'report'}: {path}", highlight=False)
