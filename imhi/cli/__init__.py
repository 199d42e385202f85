"""The command line: ``imhi build|train|eval|sheet|check|data|demo``.

The only composition root: verb modules under imhi/cli/ wire the stage packages
together; nothing below imports from here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from imhi import logs
from imhi.cli.common import EXIT_CODES
from imhi.io import InputError, ServiceError, TooLittle

app = typer.Typer(
    name="imhi",
    help="Explainable mental-health analysis with LLMs: build instruction corpora, train "
    "sequential QLoRA stages, evaluate labels and explanations.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)


@app.callback()
def _global_options(
    ctx: typer.Context,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="also show third-party warnings, logs and "
                                          "progress bars (transformers, TRL, …) on the terminal; they always "
                                          "go to the run folder's imhi.log")] = False,
) -> None:
    """Quiet by default: the terminal shows imhi's steps, progress and results."""
    logs.setup(verbose or os.environ.get("IMHI_VERBOSE", "") not in ("", "0"))
    ctx.call_on_close(_say_where_logs_went)


def _say_where_logs_went() -> None:
    line = logs.summary()
    if line:
        console.print(f"[dim]{escape(line)}[/]", highlight=False)


def _registrars() -> list[Callable[[typer.Typer], None]]:
    """Verb modules, imported here explicitly (no registration by import side effect)."""
    from imhi.cli import build, check, data, demo, view
    from imhi.cli import evaluate as evaluate_cli
    from imhi.cli import train as train_cli

    return [check.register, data.register, build.register, demo.register, train_cli.register,
            evaluate_cli.register, view.register]


_registered: list[bool] = []


def get_app() -> typer.Typer:
    """The typer app with every verb registered (once)."""
    if not _registered:
        for register in _registrars():
            register(app)
        _registered.append(True)
    return app


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every known failure is one clear line and its exit code
    (``EXIT_CODES``): bad input names the file, row and field (2); a failed service names it and
    the cause (3); a run that kept too little says so as a warning (4)."""
    try:
        get_app()(args=argv, prog_name="imhi")
    except InputError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except ServiceError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(exc.exit_code)
    except TooLittle as exc:
        console.print(f"[bold yellow]warning:[/] {escape(str(exc))}", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; finished work is kept, rerun to continue[/]")
        sys.exit(130)
