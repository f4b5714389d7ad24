"""`interactions schema`: write or check the JSON Schema files for non-Python producers."""

from __future__ import annotations

from typing import Annotated

import typer

from interactions_cli.context import console, err_console
from schemas.jsonschema import FILES, SCHEMA_DIR, render, write_all


def schema(
    check: Annotated[bool, typer.Option(help="Exit 1 if the committed files are stale.")] = False,
) -> None:
    """Regenerate schemas/jsonschema/*.json from the pydantic models."""
    if check:
        stale = [n for n, m in FILES.items() if (SCHEMA_DIR / n).read_bytes() != render(m)]
        for name in stale:
            err_console.print(f"[red]stale:[/red] {SCHEMA_DIR / name}")
        if stale:
            raise typer.Exit(1)
        console.print("JSON Schema files are current")
        return
    for path in write_all():
        console.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)
