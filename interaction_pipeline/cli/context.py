"""Shared CLI plumbing: settings built once at the edge, a console, JSON printing."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console

from schemas.settings import Settings
from schemas.validation import describe

console = Console()
err_console = Console(stderr=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment; a bad setting stops the command with a clear message."""
    try:
        return Settings()
    except ValidationError as exc:
        for line in describe(exc):
            err_console.print(f"[red]setting {line}[/red]")
        raise typer.Exit(2) from None


def print_json(value: Any) -> None:
    """Machine-readable output for --json: plain JSON on stdout, nothing else."""
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())
