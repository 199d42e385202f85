"""The command line: ``imhi build|train|eval|sheet|check|data|demo``.

The only composition root: verb modules under imhi/cli/ wire the stage packages
together; nothing below imports from here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer
from rich.console import Console

from imhi.io import InputError

app = typer.Typer(
    name="imhi",
    help="Explainable mental-health analysis with LLMs: build instruction corpora, train "
    "sequential QLoRA stages, evaluate labels and explanations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)


def _registrars() -> list[Callable[[typer.Typer], None]]:
    """Verb modules, imported here explicitly (no registration by import side effect)."""
    from imhi.cli import check, data

    return [check.register, data.register]


def main(argv: list[str] | None = None) -> None:
    """Console entry point: clear one-line errors for bad input, no tracebacks."""
    for register in _registrars():
        register(app)
    try:
        app(args=argv, standalone_mode=False)
    except InputError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        console.print("[yellow]interrupted; finished work is kept, rerun to continue[/]")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors arrive here with standalone_mode=False
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
