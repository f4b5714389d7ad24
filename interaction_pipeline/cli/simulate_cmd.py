"""`interactions simulate`: realistic search traffic with a known position bias and relevance.

Publishes through the SDK to Kafka by default; `--output FILE.jsonl` writes seed-format JSON
lines instead (load them later with `interactions produce`), and `--truth FILE.json` saves
the ground truth (propensity curve, relevance of every (query, doc)).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from interaction_pipeline.cli.context import console, err_console, get_settings, print_json
from producers import InteractionProducer
from producers.simulator import SimulationConfig, SimulationSummary, Simulator


def simulate(
    searches: Annotated[int, typer.Option(help="Searches to simulate.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed; the same seed gives the same events.")] = 7,
    queries: Annotated[int, typer.Option(help="Distinct answerable queries.")] = 200,
    docs: Annotated[int, typer.Option(help="Documents in the catalogue.")] = 5_000,
    page_size: Annotated[int, typer.Option(help="Results shown per search.")] = 10,
    eta: Annotated[
        float, typer.Option(help="Examination curve 1/(position+1)^eta; larger is steeper.")
    ] = 1.0,
    rank_noise: Annotated[
        float,
        typer.Option(help="Per-impression ranking noise (0: same order every time)."),
    ] = 0.6,
    zero_result_share: Annotated[
        float, typer.Option(help="Share of searches that find nothing.")
    ] = 0.03,
    days: Annotated[float, typer.Option(help="Days of traffic, ending now (or at --end).")] = 14,
    end: Annotated[
        datetime | None, typer.Option(help="Latest event time, UTC (default: now).")
    ] = None,
    retrievers: Annotated[
        str, typer.Option(help="Comma-separated retriever ids searches are spread over.")
    ] = "ret_default",
    search_events: Annotated[
        bool,
        typer.Option(help="Send search events (off: a deployment sending interactions only)."),
    ] = True,
    output: Annotated[
        Path | None, typer.Option(help="Write JSON lines here instead of publishing.")
    ] = None,
    publish: Annotated[
        bool | None,
        typer.Option(help="Publish to Kafka (default: yes unless --output is given)."),
    ] = None,
    truth: Annotated[
        Path | None, typer.Option(help="Save the ground truth (propensities, relevance).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Simulate search sessions: result lists, position-biased clicks, dwell, purchases,
    skips, returns to results and zero-result queries."""
    names = tuple(r.strip() for r in retrievers.split(",") if r.strip())
    try:
        config = SimulationConfig(
            seed=seed,
            searches=searches,
            queries=queries,
            docs=docs,
            page_size=page_size,
            propensity_eta=eta,
            rank_noise=rank_noise,
            zero_result_share=zero_result_share,
            days=days,
            end=end.replace(tzinfo=end.tzinfo or UTC) if end else None,
            retrievers=names,
            include_search_events=search_events,
            long_view_ms=get_settings().events.long_view_ms,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if config.end is not None and config.end > datetime.now(UTC):
        raise typer.BadParameter("must not be in the future", param_hint="--end")
    to_kafka = publish if publish is not None else output is None
    if not to_kafka and output is None:
        raise typer.BadParameter("nothing to do: give --output or leave --publish on")
    simulator = Simulator(config)
    summaries: list[SimulationSummary] = []
    with Progress(
        TextColumn("[bold]simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=as_json,
    ) as progress:
        if output is not None:
            task = progress.add_task("file", total=searches)
            with output.open("wb") as stream:
                summaries.append(
                    simulator.write_jsonl(stream, on_progress=lambda n: progress.advance(task, n))
                )
        if to_kafka:
            task = progress.add_task("kafka", total=searches)
            with InteractionProducer(get_settings()) as producer:
                summaries.append(
                    simulator.publish(producer, on_progress=lambda n: progress.advance(task, n))
                )
    if truth is not None:
        simulator.write_truth(truth)
    summary = summaries[-1]
    result = summary.to_dict() | {
        "published": to_kafka,
        "output": str(output) if output else None,
        "truth": str(truth) if truth else None,
        "propensity": simulator.truth.relative_propensity.round(6).tolist(),
    }
    if as_json:
        print_json(result)
    else:
        table = Table(title="simulation", show_header=False, title_justify="left")
        for key, value in result.items():
            table.add_row(key, str(value))
        console.print(table)
    if summary.failed:
        err_console.print(
            f"[red]{len(summary.failed)} events not delivered:[/red] {summary.failed[0]}"
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
