"""`interactions stack up|down|status`: the real local services, via deploy/local/stack.py.

deploy/ is not a Python package that others import (see DESIGN.md); the CLI runs the script
as a subprocess so the dependency direction stays one way.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from interactions_cli.context import err_console

STACK_SCRIPT = Path(__file__).resolve().parent.parent / "deploy" / "local" / "stack.py"

stack_app = typer.Typer(help="Start, stop and check local Kafka and Redis on loopback.")


def _run(*args: str) -> None:
    if not STACK_SCRIPT.is_file():
        err_console.print(
            f"[red]{STACK_SCRIPT} not found[/red]: `interactions stack` works from a source "
            "checkout (pip install -e .)."
        )
        raise typer.Exit(2)
    code = subprocess.call([sys.executable, str(STACK_SCRIPT), *args])
    if code:
        raise typer.Exit(code)


@stack_app.command()
def up() -> None:
    """Start Kafka (KRaft) and Redis; wait until both answer; create topics."""
    _run("up")


@stack_app.command()
def down(
    purge: Annotated[bool, typer.Option(help="Also delete their data.")] = False,
) -> None:
    """Stop the services started by `up`."""
    _run("down", *(["--purge"] if purge else []))


@stack_app.command()
def status() -> None:
    """Show each service, its port and whether it answers; exit 1 if one does not."""
    _run("status")


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
