"""`interactions sink | clickhouse migrate/status | list | export | delete | forget-user`.

The ClickHouse side of the pipeline: run the Kafka -> ClickHouse sink, create the tables,
read and export interactions, and GDPR deletion. The backend comes from CLICKHOUSE_URL
(chDB folder by default, or a ClickHouse server).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Annotated

import redis
import typer
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from interaction_pipeline.cli.context import console, err_console, get_settings, print_json
from interaction_pipeline.erasure import Erasure, JobStore
from interaction_pipeline.linked_ids import linked_anonymous_ids
from interaction_pipeline.users import forget_user
from pipeline_runtime.processes import tune_gc
from schemas.errors import ServiceUnavailableError
from schemas.settings import Settings
from sinks import (
    EXPORT_FORMATS,
    MAX_PAGE_SIZE,
    BackendError,
    ClickHouseBackend,
    ClickHouseSink,
    InteractionFilter,
    InteractionQueries,
    InvalidCursorError,
    SinkMetrics,
    SinkStats,
    delete_interaction,
    export_interactions,
    migrate,
    open_backend,
    require_schema,
)
from sinks.ddl import (
    DDL_VERSION,
    INTERACTIONS_TABLE,
    REJECTS_TABLE,
    SEARCH_EVENTS_TABLE,
    cluster_ddl,
)
from stream_processors.connection import redis_client
from stream_processors.identity import IdentityLinks
from stream_processors.keys import RedisKeys
from stream_processors.suppression import RedisTombstones

clickhouse_app = typer.Typer(help="Create and inspect the ClickHouse tables.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
PhysicalOption = Annotated[
    bool,
    typer.Option(
        "--physical",
        help="Rewrite the data parts now (a synchronous mutation) instead of a lightweight "
        "DELETE, whose rows vanish from queries at once and from disk at the next merge.",
    ),
]


@contextlib.contextmanager
def _backend(settings: Settings, *, check_schema: bool = True) -> Iterator[ClickHouseBackend]:
    """The configured backend, closed afterwards; ClickHouse errors end the command cleanly."""
    backend = open_backend(settings)
    try:
        if check_schema:
            require_schema(backend)
        yield backend
    except BackendError as exc:
        err_console.print(f"[red]ClickHouse:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        backend.close()


def consumer_tombstones(settings: Settings, component: str) -> RedisTombstones:
    """The cached tombstone view a consumer filters with (it pauses once it is too old)."""
    return RedisTombstones(
        redis_client(settings, socket_timeout=5, socket_connect_timeout=5),
        RedisKeys(settings.redis.key_prefix),
        component=component,
        refresh_s=settings.erasure.refresh_s,
        max_stale_s=settings.erasure.max_stale_s,
    )


# --- sink ---------------------------------------------------------------------------------
def sink(
    batch_rows: Annotated[
        int | None,
        typer.Option(min=1, help="Insert every N messages (default: SINK_BATCH_MAX_ROWS)."),
    ] = None,
    batch_seconds: Annotated[
        float | None,
        typer.Option(min=0.01, help="...or when the oldest is this old (SINK_BATCH_MAX_S)."),
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Consumer group (default: SINK_GROUP_ID).")
    ] = None,
    decode_workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=64,
            help="Processes that decode and validate messages; 0: in the sink process "
            "(default: SINK_DECODE_WORKERS).",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Serve Prometheus metrics here; 0: off."),
    ] = None,
    metrics_host: Annotated[
        str | None,
        typer.Option(help="Address the metrics endpoint binds to (default: SINK_METRICS_HOST)."),
    ] = None,
    max_messages: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many messages (scripts, demos).")
    ] = None,
    idle_exit: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Stop once nothing new was read for this many seconds (backfills, cron).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="Log warnings only.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Consume both event topics into ClickHouse until Ctrl-C / SIGTERM.

    Inserts in batches, commits offsets only after the insert succeeded, skips what a crashed
    run already stored, retries with backoff (holding its offsets) while ClickHouse is down,
    and keeps bad messages in the sink_rejects table.
    """
    base = get_settings()
    options = {
        "batch_max_rows": batch_rows,
        "batch_max_s": batch_seconds,
        "group_id": group,
        "decode_workers": decode_workers,
        "metrics_port": metrics_port,
        "metrics_host": metrics_host,
    }
    updates = {name: value for name, value in options.items() if value is not None}
    settings = base.replace(sink=updates) if updates else base
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )
    from prometheus_client import REGISTRY, start_http_server

    metrics = SinkMetrics(REGISTRY)
    if settings.sink.metrics_port:
        start_http_server(
            settings.sink.metrics_port, addr=settings.sink.metrics_host, registry=REGISTRY
        )
        err_console.print(
            f"metrics on http://{settings.sink.metrics_host}:{settings.sink.metrics_port}/"
        )
    backend = open_backend(settings, polite=True)
    runner = ClickHouseSink(
        settings, backend, metrics=metrics, tombstones=consumer_tombstones(settings, "sink")
    )

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        runner.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    def until(stats: SinkStats) -> bool:
        if max_messages is not None and stats.messages >= max_messages:
            return True
        if idle_exit is None:
            return False
        last = stats.last_read_at or stats.started_at or time.time()
        return time.time() - last >= idle_exit

    tune_gc(settings.worker.gc_young_threshold)
    try:
        stats = runner.run(until=until)
    except (ServiceUnavailableError, RuntimeError) as exc:
        err_console.print(f"[red]sink stopped:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        backend.close()
    summary = stats.to_json()
    if as_json:
        print_json(summary)
    else:
        err_console.print(f"sink stopped: {summary}")


# --- clickhouse migrate / status / ddl ----------------------------------------------------
@clickhouse_app.command("migrate")
def migrate_cmd(
    retention_days: Annotated[
        int | None,
        typer.Option(min=0, help="Row TTL in days, 0 keeps all (CLICKHOUSE_RETENTION_DAYS)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create or upgrade the tables (idempotent, versioned) and apply the retention TTL."""
    settings = get_settings()
    days = settings.clickhouse.retention_days if retention_days is None else retention_days
    with _backend(settings, check_schema=False) as backend:
        report = migrate(backend, retention_days=days)
    result = {"applied": report.applied, "version": report.version, "retention_days": days}
    if as_json:
        print_json(result)
        return
    applied = ", ".join(map(str, report.applied)) or "none (already current)"
    console.print(
        f"schema version {report.version}; applied: {applied}; retention: "
        f"{'forever' if not days else f'{days} days'}"
    )


@clickhouse_app.command("status")
def status_cmd(as_json: JsonOption = False) -> None:
    """Schema version and row counts of each table."""
    settings = get_settings()
    with _backend(settings) as backend:
        counts = {
            table: int(backend.query(f"SELECT count() AS n FROM {table}")[0]["n"])
            for table in (INTERACTIONS_TABLE, SEARCH_EVENTS_TABLE, REJECTS_TABLE)
        }
    result = {
        "backend": backend.kind,
        "url": settings.clickhouse.url,
        "version": DDL_VERSION,
        "rows": counts,
    }
    if as_json:
        print_json(result)
        return
    table = Table(title=f"ClickHouse ({backend.kind}: {settings.clickhouse.url})")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)


@clickhouse_app.command("ddl")
def ddl_cmd(
    cluster: Annotated[
        str | None,
        typer.Option(help="Print the ReplicatedMergeTree + Distributed DDL for this cluster."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the DDL (single node, or for a cluster; see deploy/clickhouse/)."""
    from sinks.ddl import single_node_ddl

    if cluster:
        statements = [s.strip() for s in cluster_ddl(cluster).split(";\n") if s.strip()]
    else:
        statements = single_node_ddl()
    if as_json:
        print_json({"cluster": cluster, "statements": statements})
        return
    typer.echo(";\n\n".join(statements) + ";")


# --- list / export ------------------------------------------------------------------------
FeatureOption = Annotated[str | None, typer.Option(help="Only this feature_id (document).")]
UserOption = Annotated[
    str | None, typer.Option(help="Only this user_id (hashed first when USER_ID_HMAC_KEY is set).")
]
SessionOption = Annotated[str | None, typer.Option(help="Only this session_id.")]
TypeOption = Annotated[
    list[str] | None,
    typer.Option("--type", "-t", help="Only events with this type; repeat for any of several."),
]
DaysOption = Annotated[int | None, typer.Option(min=1, max=3650, help="Only the last N days.")]
QueryOption = Annotated[str | None, typer.Option("--query", help="Only this exact query text.")]


def _filter(
    feature_id: str | None,
    user_id: str | None,
    session_id: str | None,
    types: list[str] | None,
    days: int | None,
    query: str | None,
) -> InteractionFilter:
    try:
        return InteractionFilter(
            feature_id=feature_id,
            user_id=user_id,
            session_id=session_id,
            interaction_type=types or [],
            days=days,
            query=query,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _linked_ids(settings: Settings, user_id: str, linked: bool | None) -> list[str]:
    client = redis_client(settings, socket_timeout=5)
    try:
        links = IdentityLinks(client, RedisKeys(settings.redis.key_prefix))
        return linked_anonymous_ids(links, settings.privacy.hasher(user_id), linked)
    finally:
        client.close()


def list_cmd(
    feature_id: FeatureOption = None,
    user_id: UserOption = None,
    session_id: SessionOption = None,
    types: TypeOption = None,
    days: DaysOption = None,
    query: QueryOption = None,
    limit: Annotated[
        int, typer.Option(min=1, max=MAX_PAGE_SIZE, help="Rows per page (page_size).")
    ] = 50,
    page: Annotated[int | None, typer.Option(min=1, help="Offset paging: page number.")] = None,
    cursor: Annotated[
        str | None, typer.Option(help="Keyset paging: next_cursor of the previous page.")
    ] = None,
    linked: Annotated[
        bool | None,
        typer.Option(
            "--linked/--no-linked",
            help="With --user-id, the rows of the anonymous ids linked to the user (identify) "
            "too. Unset: when Redis answers; --linked: always (exit 1 when Redis does not "
            "answer); --no-linked: only rows carrying the user id.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List interactions, newest first (the seed's GET /v1/retrievers/interactions)."""
    settings = get_settings()
    flt = _filter(feature_id, user_id, session_id, types, days, query)
    if user_id is not None and linked is not False:
        flt = flt.model_copy(update={"anonymous_ids": _linked_ids(settings, user_id, linked)})
    with _backend(settings) as backend:
        queries = InteractionQueries(backend, hasher=settings.privacy.hasher)
        try:
            result = queries.list(flt, page_size=limit, page=page, cursor=cursor)
        except (InvalidCursorError, ValueError) as exc:
            if isinstance(exc, BackendError):
                raise
            raise typer.BadParameter(str(exc)) from None
    if as_json:
        print_json(result.to_json())
        return
    table = Table(title=f"interactions ({len(result.items)})")
    for column in ("timestamp", "feature_id", "interaction_type", "position", "user_id", "query"):
        table.add_column(column)
    for item in result.items:
        table.add_row(
            item["timestamp"],
            item["feature_id"],
            ",".join(item["interaction_type"]),
            "" if item["position"] is None else str(item["position"]),
            item["user_id"] or "",
            str(item["metadata"].get("query", "")),
        )
    console.print(table)
    if result.next_cursor:
        err_console.print(f"next page: --cursor {result.next_cursor}")


def export_cmd(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="File to write; - for stdout (jsonl only).")
    ],
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl or parquet.")] = "jsonl",
    feature_id: FeatureOption = None,
    user_id: UserOption = None,
    session_id: SessionOption = None,
    types: TypeOption = None,
    days: DaysOption = None,
    query: QueryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export interactions (all, or filtered) as JSON lines or Parquet, streamed."""
    if fmt not in EXPORT_FORMATS:
        raise typer.BadParameter(
            f"must be one of {', '.join(EXPORT_FORMATS)}", param_hint="--format"
        )
    to_stdout = str(out) == "-"
    if to_stdout and fmt != "jsonl":
        raise typer.BadParameter("stdout takes jsonl only", param_hint="--out")
    settings = get_settings()
    flt = _filter(feature_id, user_id, session_id, types, days, query)
    with _backend(settings) as backend:
        total = InteractionQueries(backend, hasher=settings.privacy.hasher).count(flt)
        with Progress(
            TextColumn("[bold]exporting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=as_json or to_stdout,
        ) as progress:
            task = progress.add_task("export", total=total)
            written = export_interactions(
                backend,
                sys.stdout.buffer if to_stdout else out,
                fmt=fmt,  # type: ignore[arg-type]
                flt=flt,
                hasher=settings.privacy.hasher,
                on_progress=lambda n: progress.advance(task, n),
            )
    result = {"rows": written, "format": fmt, "out": str(out)}
    if as_json:
        print_json(result)
    elif not to_stdout:
        console.print(f"exported {written:,} interactions to {out} ({fmt})")


# --- GDPR ---------------------------------------------------------------------------------
def delete_cmd(
    interaction_id: Annotated[str, typer.Argument(help="event_id of the interaction.")],
    physical: PhysicalOption = False,
    as_json: JsonOption = False,
) -> None:
    """Delete one interaction (or search event) by its event_id."""
    settings = get_settings()
    with _backend(settings) as backend:
        try:
            report = delete_interaction(backend, interaction_id, physical=physical)
        except ValueError as exc:
            if isinstance(exc, BackendError):
                raise
            raise typer.BadParameter(f"not a UUID: {exc}", param_hint="INTERACTION_ID") from None
    if as_json:
        print_json(report.to_json())
    else:
        console.print(f"deleted {report.rows_total} row(s): {report.rows_deleted}")
    if report.rows_total == 0:
        raise typer.Exit(4)


SinceOption = Annotated[
    datetime | None,
    typer.Option(help="Only events at or after this time (UTC unless an offset is given)."),
]
UntilOption = Annotated[
    datetime | None, typer.Option(help="Only events at or before this time (default: now).")
]


def _redis_or_exit(settings: Settings) -> redis.Redis[bytes]:
    client: redis.Redis[bytes] = redis_client(settings, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        err_console.print(f"[red]Redis at {settings.redis.url} does not answer:[/red] {exc}")
        raise typer.Exit(1) from None
    return client


def forget_user_cmd(
    user_id: Annotated[str, typer.Argument(help="The user's id as the application knows it.")],
    since: SinceOption = None,
    until: UntilOption = None,
    skip_redis: Annotated[
        bool,
        typer.Option(
            help="Only ClickHouse rows, no tombstone, counts or history (when Redis is not used)."
        ),
    ] = False,
    physical: PhysicalOption = False,
    as_json: JsonOption = False,
) -> None:
    """Forget a user: tombstone (events still in Kafka are dropped), counts, rows, history.

    Hashes the id when USER_ID_HMAC_KEY is set; linked anonymous ids are forgotten too.
    """
    settings = get_settings()
    if skip_redis:
        with _backend(settings) as backend:
            report = forget_user(
                backend, user_id, hasher=settings.privacy.hasher, physical=physical
            )
        result: dict[str, object] = report.to_json()
    else:
        client = _redis_or_exit(settings)
        try:
            with _backend(settings) as backend:
                erasure = Erasure(settings, backend, client, physical=physical)
                result = erasure.forget_user(user_id, since=since, until=until).to_json()
        finally:
            client.close()
    if as_json:
        print_json(result)
        return
    console.print(
        f"forgot user {'(hashed) ' if result['hashed'] else ''}{result['matched_id']}: "
        f"{result['rows_total']} row(s) {result['rows_deleted']}, "
        f"Redis key(s) deleted {result['redis_keys_deleted']}"
        + (f", job {result['job_id']}" if "job_id" in result else "")
    )


def purge_cmd(
    since: Annotated[datetime, typer.Option(help="First event time to delete.")],
    until: Annotated[datetime, typer.Option(help="Last event time to delete.")],
    physical: PhysicalOption = False,
    as_json: JsonOption = False,
) -> None:
    """Delete everyone's events in a time range (PII sent by mistake), counts included."""
    settings = get_settings()
    client = _redis_or_exit(settings)
    try:
        with _backend(settings) as backend:
            outcome = Erasure(settings, backend, client, physical=physical).purge(since, until)
    finally:
        client.close()
    if as_json:
        print_json(outcome.job.to_json())
    else:
        console.print(f"purged {outcome.job.rows_total} row(s), job {outcome.job.job_id}")


def deletions_cmd(
    job_id: Annotated[str | None, typer.Argument(help="Show this job's receipt.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest log entries to list.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The deletion log (no personal data: digests, times, counts), or one job's receipt."""
    settings = get_settings()
    client = _redis_or_exit(settings)
    try:
        keys = RedisKeys(settings.redis.key_prefix)
        if job_id is not None:
            job = JobStore(client, keys).get(job_id)
            if job is None:
                err_console.print(f"no deletion {job_id!r}")
                raise typer.Exit(4)
            receipt = job.to_json()
            receipt["suppressed_since"] = RedisTombstones(
                client, keys, component="cli"
            ).dropped_since(job.subjects)
            print_json(receipt) if as_json else console.print(receipt)
            return
        entries = JobStore(client, keys).entries(limit)
    finally:
        client.close()
    if as_json:
        print_json(entries)
        return
    table = Table("job", "kind", "subject", "state", "finished", "rows", "events subtracted")
    for e in entries:
        table.add_row(
            e["job_id"],
            e["kind"],
            e["subject"][:12],
            e["state"],
            e["finished_at_ms"],
            e["rows_total"],
            e["events_subtracted"],
        )
    console.print(table)


def identify_cmd(
    anonymous_id: Annotated[str, typer.Argument(help="Device or cookie id used before login.")],
    user_id: Annotated[str, typer.Argument(help="The user it belongs to.")],
    as_json: JsonOption = False,
) -> None:
    """Link an anonymous id to a user (history, stored interactions, erasure follow it)."""
    settings = get_settings()
    client = _redis_or_exit(settings)
    hasher = settings.privacy.hasher
    try:
        links = IdentityLinks(client, RedisKeys(settings.redis.key_prefix))
        moved = links.identify(hasher(anonymous_id), hasher(user_id))
    finally:
        client.close()
    result = {"linked": True, "moved_from_another_user": moved is not None}
    print_json(result) if as_json else console.print(result)


def register(app: typer.Typer) -> None:
    app.command("sink")(sink)
    app.add_typer(clickhouse_app, name="clickhouse")
    app.command("list")(list_cmd)
    app.command("export")(export_cmd)
    app.command("delete")(delete_cmd)
    app.command("forget-user")(forget_user_cmd)
    app.command("purge")(purge_cmd)
    app.command("deletions")(deletions_cmd)
    app.command("identify")(identify_cmd)
