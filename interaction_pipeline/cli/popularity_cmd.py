"""`interactions worker | popularity | trending | history`: run and read the popularity counts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import redis
import typer
from rich.table import Table

from interaction_pipeline.cli.context import console, err_console, get_settings, print_json
from schemas.errors import RedisUnavailableError, StartupError
from schemas.interaction_types import TypeRegistry
from schemas.settings import Settings
from stream_processors import PopularityReader
from stream_processors.connection import redis_client

T = TypeVar("T")

TypesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        "-t",
        help="Interaction type to include; repeat for several (default: every type).",
    ),
]
WindowOption = Annotated[
    int | None,
    typer.Option(
        "--window-days",
        "-w",
        min=1,
        max=30,
        help="Window in days (default: the default_window_days setting).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@contextmanager
def _reader(settings: Settings) -> Iterator[PopularityReader]:
    client = redis_client(settings, socket_timeout=5, decode_responses=True)
    try:
        yield PopularityReader(client, settings)
    finally:
        client.close()


def _run(settings: Settings, read: Callable[[PopularityReader], T]) -> T:
    """Run one read with clear errors instead of tracebacks."""
    try:
        with _reader(settings) as reader:
            return read(reader)
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    except (redis.RedisError, RedisUnavailableError) as exc:  # the reader translates
        err_console.print(f"[red]Redis at {settings.redis.url} does not answer:[/red] {exc}")
        raise typer.Exit(1) from None


def worker(
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Serve Prometheus metrics on this port (default: worker_metrics_port; 0: off).",
        ),
    ] = None,
    loglevel: Annotated[
        str, typer.Option(help="Log level: debug, info, warning or error.")
    ] = "info",
) -> None:
    """Run the popularity worker until SIGTERM/SIGINT: Kafka interactions -> Redis counts."""
    from stream_processors.worker import run_worker

    if loglevel.lower() not in {"debug", "info", "warning", "error"}:
        raise typer.BadParameter("must be debug, info, warning or error", param_hint="--loglevel")
    settings = get_settings()
    if metrics_port is not None:
        settings = settings.replace(worker={"metrics_port": metrics_port})
    try:
        run_worker(settings, loglevel=loglevel.lower())
    except StartupError as exc:
        err_console.print(f"[red]worker cannot start:[/red] {exc}")
        raise typer.Exit(1) from None


def popularity(
    feature_ids: Annotated[list[str], typer.Argument(help="Feature (document) ids.")],
    types: TypesOption = None,
    window_days: WindowOption = None,
    as_json: JsonOption = False,
) -> None:
    """Interaction counts per type in the window, and the weighted count the boost uses."""
    settings = get_settings()
    days = window_days or settings.popularity.default_window_days
    counts = _run(settings, lambda r: r.counts(feature_ids, types, days))
    registry = TypeRegistry(settings.events.type_weights)
    weighted = {
        fid: sum(registry.weight(t) * c for t, c in by_type.items())
        for fid, by_type in counts.items()
    }
    if as_json:
        print_json({"window_days": days, "counts": counts, "weighted": weighted})
        return
    columns = types or sorted({t for by_type in counts.values() for t in by_type})
    table = Table(title=f"interactions in the last {days} day(s)")
    table.add_column("feature_id")
    for name in columns:
        table.add_column(name, justify="right")
    table.add_column("weighted", justify="right")
    for fid in dict.fromkeys(feature_ids):
        by_type = counts.get(fid, {})
        cells = [str(by_type.get(t, 0)) for t in columns]
        table.add_row(fid, *cells, f"{weighted.get(fid, 0.0):g}")
    console.print(table)


def trending(
    interaction_type: Annotated[
        str | None,
        typer.Option("--type", "-t", help="Rank by this type's count (default: weighted score)."),
    ] = None,
    window_days: WindowOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Top features in a precomputed window, by one type's count or by weighted score."""
    settings = get_settings()
    items = _run(settings, lambda r: r.trending(interaction_type, window_days, limit))
    if as_json:
        print_json(items)
        return
    days = window_days or settings.popularity.default_window_days
    table = Table(title=f"trending by {interaction_type or 'weighted score'}, {days} day(s)")
    table.add_column("rank", justify="right")
    table.add_column("feature_id")
    table.add_column("score", justify="right")
    for item in items:
        table.add_row(str(item.rank), item.feature_id, f"{item.score:g}")
    console.print(table)


def history(
    user_id: Annotated[str, typer.Argument(help="User id (hashed first if a key is set).")],
    types: TypesOption = None,
    days: Annotated[
        int | None, typer.Option(min=1, help="How far back (default: history_days).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Most items shown.")] = 50,
    hashed: Annotated[
        bool,
        typer.Option(
            "--hashed",
            help="USER is already the HMAC the producers send (skip hashing it here).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """What a user interacted with, newest first (e.g. to exclude past purchases)."""
    settings = get_settings()
    lookup = user_id if hashed else settings.privacy.hasher(user_id)
    items = _run(settings, lambda r: r.history(lookup, types, days, limit))
    if as_json:
        print_json(items)
        return
    table = Table(title=f"history of {user_id}")
    table.add_column("time (UTC)")
    table.add_column("type")
    table.add_column("feature_id")
    for item in items:
        table.add_row(
            item.timestamp.isoformat(timespec="seconds"), item.interaction_type, item.feature_id
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("popularity")(popularity)
    app.command("trending")(trending)
    app.command("history")(history)
