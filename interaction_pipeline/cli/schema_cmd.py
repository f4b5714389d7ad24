"""`interactions schema`: write or check the generated contracts: the JSON Schema files for
non-Python producers and the configuration reference (docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from interaction_pipeline.cli.context import console, err_console
from schemas.jsonschema import FILES, SCHEMA_DIR, render, write_all
from schemas.settings_reference import REFERENCE_NAME, render_reference

DocsOption = Annotated[
    Path,
    typer.Option(help="Folder of the configuration reference (a checkout's docs/)."),
]


def schema(
    check: Annotated[bool, typer.Option(help="Exit 1 if the committed files are stale.")] = False,
    docs: DocsOption = Path("docs"),
) -> None:
    """Regenerate schemas/jsonschema/*.json and docs/configuration.md from the models."""
    reference = docs / REFERENCE_NAME
    if check:
        stale = [
            SCHEMA_DIR / name
            for name, model in FILES.items()
            if (SCHEMA_DIR / name).read_bytes() != render(model)
        ]
        if not reference.is_file() or reference.read_text("utf-8") != render_reference():
            stale.append(reference)
        for path in stale:
            err_console.print(f"[red]stale:[/red] {path} (run `interactions schema`)")
        if stale:
            raise typer.Exit(1)
        console.print("JSON Schema files and the configuration reference are current")
        return
    for path in write_all():
        console.print(f"wrote {path}")
    reference.parent.mkdir(parents=True, exist_ok=True)
    reference.write_text(render_reference(), "utf-8")
    console.print(f"wrote {reference}")


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)
