"""`interactions stack up|down|status`: real Kafka and Redis on loopback.

The stack ships inside the package with its Maven POM and log4j config, so these commands work
the same from a checkout and from an installed wheel.
"""

from __future__ import annotations

import json
import subprocess
from typing import Annotated

import typer

from interaction_pipeline.cli.context import err_console, get_settings
from interaction_pipeline.stack import StackError, all_answering, down, print_status, status, up

stack_app = typer.Typer(help="Start, stop and check local Kafka and Redis on loopback.")


def _fail(exc: Exception) -> typer.Exit:
    err_console.print(f"stack: error: {exc}")
    return typer.Exit(1)


@stack_app.command("up")
def up_command() -> None:
    """Start Kafka (KRaft) and Redis; wait until both answer; create topics."""
    try:
        up(get_settings())
    except (StackError, subprocess.SubprocessError) as exc:
        raise _fail(exc) from None


@stack_app.command("down")
def down_command(
    purge: Annotated[bool, typer.Option(help="Also delete their data.")] = False,
) -> None:
    """Stop the services started by `up`."""
    try:
        down(get_settings(), purge=purge)
    except (StackError, subprocess.SubprocessError) as exc:
        raise _fail(exc) from None


@stack_app.command("status")
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Show each service, its port and whether it answers; exit 1 if one does not."""
    info = status(get_settings())
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        print_status(info)
    if not all_answering(info):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
