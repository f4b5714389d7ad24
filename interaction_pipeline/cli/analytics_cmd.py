"""`interactions report`, `interactions bias`, `interactions export-training`.

All three are read-only over ClickHouse (chDB or a server, from CLICKHOUSE_URL). `report`
exits with code 3 when a headline metric regressed week over week beyond the threshold, so a
cron job or CI step can alert on it; 1 means the command itself failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import orjson
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from interaction_pipeline.analytics import (
    Analytics,
    BiasEstimate,
    DateRange,
    ExportOptions,
    ExportSummary,
    RelevanceReport,
    ReportOptions,
    TextLookup,
)
from interaction_pipeline.analytics.bias import (
    DEFAULT_CLIP,
    DEFAULT_MAX_POSITIONS,
    DEFAULT_MIN_IMPRESSIONS,
    PRIOR_ETA,
)
from interaction_pipeline.cli.context import console, err_console, get_settings, print_json
from interaction_pipeline.console import relevance_view, render_report_html
from sinks import BackendError, open_backend, require_schema

REGRESSION_EXIT_CODE: Final = 3

RangeOption = Annotated[
    str,
    typer.Option(
        "--range",
        help="last_N_days, last_N_weeks, or START..END (dates: end day included; "
        "ISO-8601 times, UTC: end excluded).",
    ),
]
RetrieverOption = Annotated[
    str | None, typer.Option(help="Only this retriever_id (default: every retriever).")
]
DedupeOption = Annotated[
    bool,
    typer.Option(
        help="Read with FINAL: merge events a producer resent under the same event_id first "
        "(slower; the sink itself never writes a message twice)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _range(text: str) -> DateRange:
    try:
        return DateRange.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--range") from None


@contextlib.contextmanager
def _analytics(dedupe: bool) -> Iterator[Analytics]:
    """An Analytics over the configured backend; backend errors end the command cleanly."""
    settings = get_settings()
    backend = open_backend(settings)
    try:
        require_schema(backend)
        yield Analytics(backend, settings, dedupe=dedupe)
    except BackendError as exc:
        err_console.print(f"[red]ClickHouse:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        backend.close()


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _table(title: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    names = columns or (list(rows[0]) if rows else [])
    for name in names:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(_fmt(row.get(name)) for name in names))
    if not rows:
        table.add_column("(none)")
    return table


# -- report --------------------------------------------------------------------------------
def report(
    date_range: RangeOption = "last_7_days",
    retriever: RetrieverOption = None,
    top_k: Annotated[int, typer.Option(help="'Ranked high' means position < top-k.")] = 3,
    min_top_impressions: Annotated[
        int, typer.Option(help="Impressions a top result needs before it can be listed.")
    ] = 20,
    max_click_ratio: Annotated[
        float,
        typer.Option(help="List top results with fewer clicks than this share of expected."),
    ] = 0.5,
    min_skip_rate: Annotated[
        float, typer.Option(help="Without search events: skip rate that lists a top result.")
    ] = 0.5,
    max_ctr: Annotated[float, typer.Option(help="Low-CTR query threshold (0.05 = 5%).")] = 0.05,
    min_query_impressions: Annotated[
        int, typer.Option(help="Impressions a query needs before it can be listed as low-CTR.")
    ] = 100,
    min_searches: Annotated[
        int, typer.Option(help="Searches a query needs to appear in the first-click table.")
    ] = 10,
    limit: Annotated[int, typer.Option(help="Rows per list.")] = 50,
    regression_threshold: Annotated[
        float,
        typer.Option(help="Relative week-over-week change the bad way that flags (0.1 = 10%)."),
    ] = 0.10,
    min_weekly_volume: Annotated[
        int,
        typer.Option(help="Searches (clicks without search events) each week needs to flag."),
    ] = 200,
    dedupe: DedupeOption = False,
    as_json: JsonOption = False,
    html_file: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Also write the report as one self-contained HTML file (charts inline, "
            "regressions first) for the weekly review.",
        ),
    ] = None,
) -> None:
    """Relevance report: CTR by position, skipped top results, low-CTR and zero-result
    queries, first click, conversion, dwell, week over week. Exit code 3 on a regression."""
    try:
        options = ReportOptions(
            top_k=top_k,
            min_top_impressions=min_top_impressions,
            max_click_ratio=max_click_ratio,
            min_skip_rate=min_skip_rate,
            max_ctr=max_ctr,
            min_query_impressions=min_query_impressions,
            min_searches=min_searches,
            limit=limit,
            regression_threshold=regression_threshold,
            min_weekly_volume=min_weekly_volume,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    span = _range(date_range)
    with _analytics(dedupe) as analytics:
        result = analytics.report(span, retriever, options)
        if html_file is not None:
            _write_html(analytics, result, html_file)
    if as_json:
        print_json(result.to_dict())
    else:
        _print_report(result)
    if result.regressions:
        raise typer.Exit(REGRESSION_EXIT_CODE)


def _write_html(analytics: Analytics, result: RelevanceReport, path: Path) -> None:
    """The report as HTML, with the examination curve of the same range (one more query)."""
    bias = analytics.position_bias(result.date_range, result.retriever)
    view = relevance_view(result.to_dict(), bias.to_dict())
    document = render_report_html(view, generated_at=datetime.now(UTC))
    try:
        path.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise typer.BadParameter(str(exc), param_hint="--html") from None
    err_console.print(f"HTML report written to {path}")


def _print_report(result: RelevanceReport) -> None:
    scope = result.retriever or "all retrievers"
    console.print(
        f"[bold]relevance report[/bold] {scope}, "
        f"{result.date_range.start:%Y-%m-%d %H:%M} .. {result.date_range.end:%Y-%m-%d %H:%M} UTC"
    )
    headline = Table(title="headline", show_header=False, title_justify="left")
    for key, value in result.headline.items():
        headline.add_row(key, _fmt(value))
    console.print(headline)
    ctr_title = (
        "CTR by position (clicks / impressions)"
        if result.ctr_source == "impressions"
        else "CTR proxy by position (clicks / (clicks + skips); no search events)"
    )
    console.print(_table(ctr_title, result.ctr_by_position))
    console.print(_table("top results clicked far less than expected", result.skipped_top_results))
    for title, rows in (
        ("low-CTR queries", result.low_ctr_queries),
        ("first click by query", result.first_click_by_query),
        ("zero-result queries", result.zero_result_queries),
    ):
        if rows is not None:
            console.print(_table(title, rows))
    console.print(
        _table(
            "dwell time of clicks",
            result.dwell_distribution,
            ["lower_ms", "upper_ms", "clicks", "share", "p50_ms", "p90_ms"],
        )
    )
    wow = result.week_over_week
    changes = Table(
        title=f"week over week ({wow.previous_volume} -> {wow.current_volume})",
        title_justify="left",
    )
    for name in ("metric", "better", "previous", "current", "change", "flag"):
        changes.add_column(name)
    for c in wow.changes:
        flag = "[red]REGRESSED[/red]" if c.regressed else ""
        change = "-" if c.change is None else f"{c.change:+.1%}"
        changes.add_row(c.metric, c.better, _fmt(c.previous), _fmt(c.current), change, flag)
    console.print(changes)
    for note in result.notes:
        style = "red" if note.startswith("REGRESSION") else "yellow"
        err_console.print(f"[{style}]{note}[/{style}]")


# -- bias ----------------------------------------------------------------------------------
def bias(
    date_range: RangeOption = "last_30_days",
    retriever: RetrieverOption = None,
    min_impressions: Annotated[
        int,
        typer.Option(help="Varied impressions a position needs; below that the prior is used."),
    ] = DEFAULT_MIN_IMPRESSIONS,
    max_positions: Annotated[int, typer.Option(help="Positions to estimate.")] = (
        DEFAULT_MAX_POSITIONS
    ),
    prior_eta: Annotated[
        float, typer.Option(help="Prior where data is thin: 1/(position+1)^eta.")
    ] = PRIOR_ETA,
    dedupe: DedupeOption = False,
    as_json: JsonOption = False,
) -> None:
    """Position bias: examination propensity per position relative to position 0, fitted by
    EM on a position-based click model. Save the --json output to reuse it in
    export-training --bias."""
    span = _range(date_range)
    with _analytics(dedupe) as analytics, _spinner("estimating position bias", as_json):
        estimate = analytics.position_bias(
            span,
            retriever,
            min_impressions=min_impressions,
            max_positions=max_positions,
            prior_eta=prior_eta,
        )
    if as_json:
        print_json(estimate.to_dict() | {"date_range": span.to_dict(), "retriever": retriever})
        return
    _print_bias(estimate)


@contextlib.contextmanager
def _spinner(label: str, quiet: bool) -> Iterator[None]:
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet,
        transient=True,
    ) as progress:
        progress.add_task(label, total=None)
        yield


def _print_bias(estimate: BiasEstimate) -> None:
    table = Table(title=f"position bias ({estimate.method})", title_justify="left")
    for name in ("position", "propensity", "impressions", "clicks", "source"):
        table.add_column(name)
    for p in estimate.positions:
        table.add_row(
            str(p.position), f"{p.propensity:.4f}", str(p.impressions), str(p.clicks), p.source
        )
    console.print(table)
    fit, var = estimate.fit, estimate.rank_variation
    console.print(
        f"EM: {fit.iterations} iterations, converged={fit.converged}, "
        f"log-likelihood {fit.initial_log_likelihood:.6g} -> {fit.log_likelihood:.6g}, "
        f"{fit.pairs} pairs, {fit.impressions} impressions, {fit.clicks} clicks"
    )
    console.print(
        f"rank variation: {var.varied_pairs}/{var.pairs} (query, doc) pairs seen at 2+ "
        f"positions, {var.varied_impression_share:.0%} of impressions, "
        f"{var.mean_positions_per_pair:.2f} positions per pair"
    )
    for note in estimate.notes:
        err_console.print(f"[yellow]{note}[/yellow]")


# -- export-training -----------------------------------------------------------------------
def export_training(
    output: Annotated[
        Path, typer.Argument(help="File to write; .parquet means Parquet, else JSON lines.")
    ],
    date_range: RangeOption = "last_30_days",
    min_interactions: Annotated[
        int, typer.Option(help="Positive interactions a (query, doc) needs to be a positive.")
    ] = 2,
    retriever: RetrieverOption = None,
    layout: Annotated[
        str,
        typer.Option(
            help="full (every column) or sentence-transformers (anchor, positive, negative)."
        ),
    ] = "full",
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or parquet (default: from suffix).")
    ] = None,
    ipw: Annotated[
        bool, typer.Option(help="Weight positives by clipped inverse propensity.")
    ] = True,
    clip: Annotated[float, typer.Option(help="Largest inverse-propensity weight.")] = (
        DEFAULT_CLIP
    ),
    skip_margin: Annotated[
        int,
        typer.Option(help="Times a never-clicked result must be skipped above a click."),
    ] = 3,
    negatives: Annotated[
        str,
        typer.Option(
            help="hard: explicit, skipped-above and well-examined but unclicked results; "
            "random: a seeded draw from the query's shown results (an ablation baseline).",
        ),
    ] = "hard",
    texts: Annotated[
        Path | None,
        typer.Option(help='JSON lines {"id": ..., "text": ...} to resolve document ids.'),
    ] = None,
    bias_file: Annotated[
        Path | None,
        typer.Option("--bias", help="Propensities saved from `interactions bias --json`."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the sentence-transformers resampling.")] = 0,
    st_rows: Annotated[
        int | None,
        typer.Option(help="Rows to draw in the sentence-transformers layout (default: pairs)."),
    ] = None,
    dedupe: DedupeOption = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Training pairs (query, clicked doc, hard negative) with position-bias-corrected
    weights: the seed's get_query_document_pairs(date_range, min_interactions)."""
    span = _range(date_range)
    try:
        options = ExportOptions(
            span,
            retriever=retriever,
            min_interactions=min_interactions,
            skip_margin=skip_margin,
            ipw=ipw,
            clip=clip,
            layout=layout,  # type: ignore[arg-type]
            negatives=negatives,  # type: ignore[arg-type]
            seed=seed,
            st_rows=st_rows,
        )
        lookup = TextLookup.from_jsonl(texts) if texts is not None else None
        saved = _load_bias(bias_file) if bias_file is not None else None
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None
    with _analytics(dedupe) as analytics:
        with _spinner("estimating position bias", as_json or not ipw or saved is not None):
            exporter = analytics.exporter(options, saved)
        with Progress(
            TextColumn("[bold]exporting pairs"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            disable=as_json,
        ) as progress:
            task = progress.add_task("export", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            try:
                summary = exporter.export(output, fmt=fmt, texts=lookup, on_progress=advance)
            except ValueError as exc:
                raise typer.BadParameter(str(exc)) from None
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_export(summary)


def _load_bias(path: Path) -> BiasEstimate:
    try:
        return BiasEstimate.from_dict(orjson.loads(path.read_bytes()))
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not the JSON of `interactions bias --json` ({exc})") from None


def _print_export(summary: ExportSummary) -> None:
    table = Table(title="training export", show_header=False, title_justify="left")
    for key, value in summary.to_dict().items():
        if key == "notes":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
        table.add_row(key, _fmt(value))
    console.print(table)
    for note in summary.notes:
        err_console.print(f"[yellow]{note}[/yellow]")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("bias")(bias)
    app.command("export-training")(export_training)
