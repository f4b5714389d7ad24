"""`interactions produce FILE.jsonl`: bulk-load seed-format JSON lines into Kafka."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from interaction_pipeline.cli.context import console, err_console, get_settings, print_json
from producers import InteractionProducer
from producers.file_loader import Kind, LoadSummary, load_jsonl

_MAX_ERRORS_SHOWN = 50


def produce(
    file: Annotated[Path, typer.Argument(help="JSON lines file, one event per line; - for stdin.")],
    kind: Annotated[
        str, typer.Option(help="auto (search events have 'results'), interaction or search.")
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Validate and publish events; bad lines are reported with their line numbers."""
    if kind not in ("auto", "interaction", "search"):
        raise typer.BadParameter("must be auto, interaction or search", param_hint="--kind")
    settings = get_settings()
    stream = sys.stdin.buffer if str(file) == "-" else _open(file)
    total = None if str(file) == "-" else _count_lines(file)
    kind_: Kind = kind  # type: ignore[assignment]
    with Progress(
        TextColumn("[bold]producing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=as_json,
        transient=False,
    ) as progress:
        task = progress.add_task("produce", total=total)
        with InteractionProducer(settings) as producer:
            summary = load_jsonl(
                producer, stream, kind=kind_, on_progress=lambda n: progress.advance(task, n)
            )
        progress.update(task, completed=summary.lines)
    _report(summary, as_json)
    if not summary.ok:
        raise typer.Exit(1)


def _open(file: Path) -> typer.FileBinaryRead:
    if not file.is_file():
        raise typer.BadParameter(f"{file} is not a file", param_hint="FILE")
    return file.open("rb")  # type: ignore[return-value]


def _count_lines(file: Path) -> int:
    with file.open("rb") as handle:
        return sum(1 for _ in handle)


def _report(summary: LoadSummary, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "lines": summary.lines,
                "interactions": summary.interactions,
                "searches": summary.searches,
                "delivered": summary.delivered,
                "blank": summary.blank,
                "bad": [{"line": n, "error": e} for n, e in summary.bad],
                "not_delivered": [{"line": n, "error": e} for n, e in summary.not_delivered],
            }
        )
        return
    for number, error in summary.bad[:_MAX_ERRORS_SHOWN]:
        err_console.print(f"[red]line {number}:[/red] {error}")
    if len(summary.bad) > _MAX_ERRORS_SHOWN:
        err_console.print(f"... and {len(summary.bad) - _MAX_ERRORS_SHOWN} more bad lines")
    for number, error in summary.not_delivered[:_MAX_ERRORS_SHOWN]:
        err_console.print(f"[red]line {number}: not delivered:[/red] {error}")
    table = Table(title="produce summary", show_header=False)
    table.add_row("lines read", str(summary.lines))
    table.add_row("interactions sent", str(summary.interactions))
    table.add_row("search events sent", str(summary.searches))
    table.add_row("acknowledged by Kafka", str(summary.delivered))
    table.add_row("bad lines", str(len(summary.bad)))
    table.add_row("not delivered", str(len(summary.not_delivered)))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("produce")(produce)
