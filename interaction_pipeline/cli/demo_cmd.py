"""`interactions demo`: the whole product in one command, on local defaults.

Starts the local stack if needed, runs the popularity worker, the ClickHouse sink and the HTTP
service as child processes, drives simulated search traffic (half over HTTP, half with the
SDK) for a few minutes, waits until both consumers have caught up, then shows what a user
came for: trending documents and a boosted candidate list (read over HTTP), the relevance
report, the estimated position bias beside the simulator's true one, and the exported
training pairs. Every child is stopped on the way out, on success, failure or Ctrl-C.

chDB lets one process use its folder at a time, so ClickHouse is read over HTTP while the sink
runs (the service opens the folder per request, the sink lets go after each insert), and the
analytics commands run after the sink and the service have stopped.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Final

import httpx
import orjson
import typer
from confluent_kafka import Producer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from interaction_pipeline.cli.context import console, err_console, get_settings, print_json
from interaction_pipeline.http import free_port
from interaction_pipeline.orchestration import (
    CLI,
    Children,
    TrafficStats,
    consumer_lag,
    drive,
    service_ready,
    settings_env,
    wait_until,
)
from producers.simulator import SimulationConfig, Simulator
from schemas.settings import Settings

READY_TIMEOUT_S: Final = 120.0
CATCH_UP_TIMEOUT_S: Final = 180.0
ANALYTICS_TIMEOUT_S: Final = 600.0
QUICK_SECONDS: Final = 20.0
QUICK_RATE: Final = 400.0
SIM_DAYS: Final = 6.0
"""Simulated sessions start up to 6 days (+1 h) back: inside the 7-day window and report."""
TOP_N: Final = 10


def _say(message: str) -> None:
    err_console.print(f"[bold cyan]demo:[/bold cyan] {message}")


# -- the pipeline --------------------------------------------------------------------------
def _stack_up(settings: Settings) -> None:
    """`interactions stack up`: idempotent; its chatter goes to stderr, not to --json output."""
    code = subprocess.call([*CLI, "stack", "up"], env=settings_env(settings), stdout=sys.stderr)
    if code:
        raise RuntimeError(f"`interactions stack up` failed with exit code {code}")


# -- reading results -----------------------------------------------------------------------
def _read_results(url: str, headers: dict[str, str], simulator: Simulator) -> dict[str, Any]:
    """What a reranker and a retriever read back over HTTP, while the pipeline runs."""
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        trending = http.get("/v1/retrievers/popularity/trending", params={"n": TOP_N})
        trending.raise_for_status()
        purchases = http.get(
            "/v1/retrievers/popularity/trending", params={"interaction_type": "purchase", "n": 5}
        )
        purchases.raise_for_status()
        recent = http.get("/v1/retrievers/interactions", params={"page_size": 1000})
        recent.raise_for_status()
        items = recent.json()["items"]
        # The retriever's candidates for the most clicked recent query, in its own score
        # order (the catalogue's, here): what a reranker would get before boosting.
        truth = simulator.truth
        query = _most_common(
            [i["metadata"].get("query") for i in items if "click" in i["interaction_type"]],
            default=truth.queries[0],
        )
        row = truth.queries.index(query) if query in truth.queries else 0
        docs = [truth.doc_ids[int(d)] for d in truth.candidates[row][:TOP_N]]
        candidates = [
            {"feature_id": doc, "score": round(0.9 - 0.02 * i, 2)} for i, doc in enumerate(docs)
        ]
        config = {"interaction_types": ["click", "purchase"], "time_window_days": 7}
        boost = http.post(
            "/v1/retrievers/popularity/boost",
            json={
                "candidates": candidates,
                "boost_by_interaction_count": config | {"boost_multiplier": 1.2},
            },
        )
        boost.raise_for_status()
        user = _most_common([i.get("user_id") for i in items], default="user_00000")
        history = http.get(
            f"/v1/retrievers/users/{user}/history", params={"interaction_type": "purchase"}
        )
        history.raise_for_status()
        stored = http.get("/v1/retrievers/interactions", params={"user_id": user, "limit": 5})
        stored.raise_for_status()
    return {
        "trending": trending.json(),
        "trending_purchases": purchases.json(),
        "boost": {"query": truth.queries[row], "candidates": candidates, "result": boost.json()},
        "user": {"user_id": user, "purchases": history.json(), "latest": stored.json()},
    }


def _most_common(values: list[Any], *, default: str) -> str:
    present = [v for v in values if isinstance(v, str)]
    return max(set(present), key=present.count) if present else default


def _run_json(settings: Settings, args: list[str], ok_codes: tuple[int, ...] = (0,)) -> Any:
    """Run an `interactions ... --json` command; its progress goes to our stderr."""
    done = subprocess.run(
        [*CLI, *args, "--json"],
        env=settings_env(settings),
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        timeout=ANALYTICS_TIMEOUT_S,
        check=False,
    )
    if done.returncode not in ok_codes:
        raise RuntimeError(f"`interactions {' '.join(args)}` exited with {done.returncode}")
    return orjson.loads(done.stdout)


def _analytics(settings: Settings, out: Path) -> dict[str, Any]:
    report = _run_json(settings, ["report", "--range", "last_7_days"], ok_codes=(0, 3))
    (out / "report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    bias = _run_json(settings, ["bias", "--range", "last_30_days"])
    bias_path = out / "bias.json"
    bias_path.write_bytes(orjson.dumps(bias, option=orjson.OPT_INDENT_2))
    full = _run_json(
        settings,
        ["export-training", str(out / "training_pairs.jsonl"), "--bias", str(bias_path)],
    )
    st = _run_json(
        settings,
        [
            "export-training",
            str(out / "training_pairs_st.parquet"),
            "--layout",
            "sentence-transformers",
            "--bias",
            str(bias_path),
        ],
    )
    return {"report": report, "bias": bias, "export": full, "export_st": st}


# -- the command ---------------------------------------------------------------------------
def demo(
    seconds: Annotated[
        float, typer.Option(min=1, help="Seconds of simulated traffic to send.")
    ] = 150.0,
    rate: Annotated[
        float, typer.Option(min=10, help="Events/s in total; half over HTTP, half via the SDK.")
    ] = 800.0,
    quick: Annotated[
        bool,
        typer.Option(help=f"{QUICK_SECONDS:g} s at {QUICK_RATE:g} events/s (tests, a first look)."),
    ] = False,
    seed: Annotated[
        int | None, typer.Option(help="Simulator seed (default: random; printed).")
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Folder for the report, bias, training pairs and logs.")
    ] = Path("out/demo"),
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of the HTTP service (0: a free one).")
    ] = 0,
    stack: Annotated[
        bool, typer.Option(help="Start the local Kafka and Redis first if they are not up.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Run the whole pipeline on simulated traffic and show trending documents, a boost, the
    relevance report, the position bias and the exported training pairs."""
    settings = get_settings()
    if quick:
        seconds, rate = QUICK_SECONDS, QUICK_RATE
    seed = random.randrange(1, 1_000_000) if seed is None else seed
    out.mkdir(parents=True, exist_ok=True)
    simulator = Simulator(
        SimulationConfig(seed=seed, searches=10_000_000, days=SIM_DAYS, users=500)
    )
    simulator.write_truth(out / "truth.json")
    api_key = settings.http.api_keys[0].get_secret_value() if settings.http.api_keys else None
    headers = {"X-API-Key": api_key} if api_key else {}
    try:
        results = _run(settings, simulator, out, seconds, rate, port, stack, headers)
    except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
        err_console.print(f"[red]demo failed:[/red] {exc}")
        err_console.print(f"service logs: {out / 'logs'}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]demo interrupted; every service was stopped[/yellow]")
        raise typer.Exit(130) from None
    results["seed"] = seed
    results["out"] = str(out)
    # What `interactions serve` (same settings) answers at once the demo has stopped.
    results["console_url"] = f"http://{settings.http.host}:{settings.http.port}/console"
    (out / "summary.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    if as_json:
        print_json(results)
    else:
        _print(results, simulator)


def _run(
    settings: Settings,
    simulator: Simulator,
    out: Path,
    seconds: float,
    rate: float,
    port: int,
    stack: bool,
    headers: dict[str, str],
) -> dict[str, Any]:
    if stack:
        _say("starting the local stack (Kafka, Redis) if it is not up")
        _stack_up(settings)
    port = port or free_port(settings.http.host)
    url = f"http://{settings.http.host}:{port}"
    with Children(settings, out / "logs") as children:
        _say("starting the popularity worker, the ClickHouse sink and the HTTP service")
        worker = children.start("worker", ["worker", "--loglevel", "warning"])
        sink = children.start("sink", ["sink", "--quiet"])
        service = children.start("serve", ["serve", "--port", str(port), "--log-level", "warning"])
        wait_until(lambda: service_ready(url), f"{url}/readyz", READY_TIMEOUT_S, children=children)
        _say(
            f"sending {seconds:g} s of simulated traffic at ~{rate:g} events/s "
            f"(half POSTed to {url}, half with the SDK)"
        )
        traffic = _send(simulator, settings, url, seconds, rate, headers, children)
        if traffic.http.failures or traffic.sdk.failures:
            first = (traffic.http.failures + traffic.sdk.failures)[0]
            raise RuntimeError(f"some events were not accepted; first: {first}")
        rejected = _send_rejected_samples(settings, url, headers)
        _say(f"{traffic.events:,} events acknowledged; waiting for the worker and the sink")
        lags = _catch_up(settings, children)
        results = _read_results(url, headers, simulator)
        _say("stopping the HTTP service, the sink and the worker")
        for child in (service, sink, worker):
            code = children.stop(child)
            if code not in (0, -15):
                raise RuntimeError(f"`{child.name}` exited with {code}; see {child.log_path}")
    _say("running the relevance report, the bias estimate and the training export")
    analytics = _analytics(settings, out)
    return {
        "traffic": traffic.to_dict(),
        "lag_after_catch_up": lags,
        "rejected_samples": rejected,
        **results,
        **analytics,
    }


BAD_HTTP_EVENTS: Final = (
    {"feature_id": "doc_demo_bad", "interaction_type": ["click"], "position": -1},
    {"feature_id": "", "interaction_type": ["click"], "user_id": "user_demo"},
    {"feature_id": "doc_demo_bad", "interaction_type": ["Not A Type"], "user_id": "user_demo"},
)
BAD_KAFKA_MESSAGES: Final = (b'{"feature_id": "doc_demo_bad", "interaction_type": 42}', b"not json")


def _send_rejected_samples(settings: Settings, url: str, headers: dict[str, str]) -> dict[str, int]:
    """A few bad events, so the console's Events page shows each kind of refusal: HTTP 422s
    (kept by the serving process only), and malformed messages written straight to Kafka,
    which the worker dead-letters and the sink stores in `sink_rejects` (both persist)."""
    answer = httpx.post(
        f"{url}/v1/retrievers/interactions", json=list(BAD_HTTP_EVENTS), headers=headers
    )
    if answer.status_code != 422:
        raise RuntimeError(f"bad sample events answered {answer.status_code}, expected 422")
    producer = Producer({"bootstrap.servers": settings.kafka.bootstrap_servers})
    for value in BAD_KAFKA_MESSAGES:
        producer.produce(settings.topics.interactions, value=value, key=b"doc_demo_bad")
    if producer.flush(30):
        raise RuntimeError("Kafka did not acknowledge the malformed sample messages")
    return {"http_422": len(BAD_HTTP_EVENTS), "malformed_kafka": len(BAD_KAFKA_MESSAGES)}


def _send(
    simulator: Simulator,
    settings: Settings,
    url: str,
    seconds: float,
    rate: float,
    headers: dict[str, str],
    children: Children,
) -> TrafficStats:
    with Progress(
        TextColumn("[bold]traffic"),
        BarColumn(),
        TextColumn(
            "{task.fields[events]:>8,} events  http {task.fields[http]:,}  sdk {task.fields[sdk]:,}"
        ),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task("traffic", total=seconds, events=0, http=0, sdk=0)
        started = time.monotonic()
        last_check = [started]

        def update(stats: TrafficStats) -> None:
            now = time.monotonic()
            progress.update(
                task,
                completed=min(seconds, now - started),
                events=stats.events,
                http=stats.http.events,
                sdk=stats.sdk.events,
            )
            if now - last_check[0] > 2.0:
                last_check[0] = now
                children.check_alive()

        stats = drive(
            simulator,
            settings,
            url,
            seconds=seconds,
            rate=rate,
            headers=headers,
            on_progress=update,
        )
        progress.update(task, completed=seconds)
    return stats


def _catch_up(settings: Settings, children: Children) -> dict[str, int]:
    groups = {
        "worker": (settings.worker_group_id, [settings.topics.interactions]),
        "sink": (settings.sink.group_id, [settings.topics.interactions, settings.topics.searches]),
    }
    lags: dict[str, int] = {}

    def caught_up() -> bool:
        for name, (group, topics) in groups.items():
            lags[name] = consumer_lag(settings, group, topics)
        return not any(lags.values())

    try:
        wait_until(
            caught_up,
            "worker and sink catching up",
            CATCH_UP_TIMEOUT_S,
            children=children,
            interval_s=1.0,
        )
    except TimeoutError:
        raise TimeoutError(f"still behind after {CATCH_UP_TIMEOUT_S:g} s: {lags}") from None
    return lags


# -- printing ------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _print(results: dict[str, Any], simulator: Simulator) -> None:
    traffic = results["traffic"]
    http, sdk = traffic["http"], traffic["sdk"]
    console.rule("[bold]interaction-pipeline demo")
    console.print(
        f"{traffic['events']:,} events in {traffic['seconds']} s ({traffic['events_per_s']:,}/s): "
        f"{http['interactions'] + http['searches']:,} over HTTP, "
        f"{sdk['interactions'] + sdk['searches']:,} with the SDK; all acknowledged by Kafka "
        f"and applied by the worker and the sink (lag {results['lag_after_catch_up']})."
    )
    _print_trending(results)
    _print_boost(results)
    _print_user(results)
    _print_report(results["report"])
    _print_bias(results["bias"], simulator)
    _print_export(results)
    _print_console(results)


def _print_console(results: dict[str, Any]) -> None:
    """Where to see all of this in a browser; the demo's own service has stopped by now."""
    samples = results.get("rejected_samples", {})
    console.print(
        f"[bold]console[/bold]: the demo's traffic, its {sum(samples.values())} rejected sample "
        "events and the relevance charts, in a browser:\n"
        f"  interactions serve   (or: make console), then open "
        f"[link]{results['console_url']}[/link]\n"
        "  (HTTP 422s are kept by the process that answered them; dead letters and sink "
        "rejects stay in Kafka and ClickHouse)"
    )


def _print_trending(results: dict[str, Any]) -> None:
    trending = results["trending"]
    table = Table(
        title=f"trending: top {TOP_N} by weighted score, last {trending['window_days']} days",
        title_justify="left",
    )
    table.add_column("rank", justify="right")
    table.add_column("feature_id")
    table.add_column("weighted score", justify="right")
    for item in trending["items"]:
        table.add_row(str(item["rank"]), item["feature_id"], f"{item['score']:g}")
    console.print(table)
    bought = ", ".join(
        f"{i['feature_id']} ({i['score']:g})" for i in results["trending_purchases"]["items"]
    )
    console.print(f"most purchased: {bought or '-'}")


def _print_boost(results: dict[str, Any]) -> None:
    boost = results["boost"]
    before = [c["feature_id"] for c in boost["candidates"]]
    table = Table(
        title=f"boost for the query {boost['query']!r}: the seed's boost_by_interaction_count "
        "(click, purchase; 7 days; x1.2 max)",
        title_justify="left",
    )
    for name in ("rank", "was", "feature_id", "score", "boosted", "x", "clicks", "buys"):
        table.add_column(name, justify="left" if name == "feature_id" else "right", no_wrap=True)
    for rank, c in enumerate(boost["result"]["candidates"], 1):
        table.add_row(
            str(rank), str(before.index(c["feature_id"]) + 1), c["feature_id"],
            f"{c['score']:.3f}", f"{c['boosted_score']:.3f}", f"{c['multiplier']:.3f}",
            str(c["counts"].get("click", 0)), str(c["counts"].get("purchase", 0)),
        )  # fmt: skip
    console.print(table)


def _print_user(results: dict[str, Any]) -> None:
    user = results["user"]
    purchases = [i["feature_id"] for i in user["purchases"]["items"]]
    latest = user["latest"]["items"]
    console.print(
        f"user {user['user_id']}: {len(purchases)} purchased document(s) in Redis history "
        f"(exclude them from results: {', '.join(purchases[:5]) or '-'}); "
        f"latest stored interactions (ClickHouse, over HTTP): "
        + ", ".join(f"{i['feature_id']} {'+'.join(i['interaction_type'])}" for i in latest)
    )


def _print_report(report: dict[str, Any]) -> None:
    table = Table(
        title="relevance report, last 7 days (headline)", title_justify="left", show_header=False
    )
    for key, value in report.get("headline", {}).items():
        table.add_row(key, _fmt(value))
    console.print(table)
    rows = report.get("ctr_by_position") or []
    if rows:
        ctr = Table(title=f"CTR by position ({report.get('ctr_source', '')})", title_justify="left")
        columns = list(rows[0])
        for name in columns:
            ctr.add_column(name, justify="right")
        for row in rows[:TOP_N]:
            ctr.add_row(*(_fmt(row.get(n)) for n in columns))
        console.print(ctr)
    lists = {
        "top results skipped": report.get("skipped_top_results"),
        "low-CTR queries": report.get("low_ctr_queries"),
        "zero-result queries": report.get("zero_result_queries"),
    }
    console.print(
        "; ".join(
            f"{name}: {len(rows) if rows is not None else 'n/a'}" for name, rows in lists.items()
        )
        + f"; regressions flagged: {report.get('regressions') or 'none'}"
    )
    for note in report.get("notes", []):
        console.print(f"[dim]note: {note}[/dim]")


def _print_bias(bias: dict[str, Any], simulator: Simulator) -> None:
    truth = simulator.truth.relative_propensity
    table = Table(
        title="position bias: estimated examination propensity vs the simulator's truth",
        title_justify="left",
    )
    for name in ("position", "estimated", "true", "impressions", "source"):
        table.add_column(name, justify="right")
    for p in bias.get("positions", [])[: len(truth)]:
        k = int(p["position"])
        table.add_row(
            str(k),
            _fmt(p.get("propensity")),
            _fmt(float(truth[k])),
            _fmt(p.get("impressions")),
            str(p.get("source", "")),
        )
    console.print(table)
    for note in bias.get("notes", []):
        console.print(f"[dim]note: {note}[/dim]")


def _print_export(results: dict[str, Any]) -> None:
    full, st = results["export"], results["export_st"]
    console.print(
        f"training pairs: {full.get('pairs', 0):,} (query, clicked document, hard negative) "
        f"from {full.get('queries', 0):,} queries, effective sample size "
        f"{_fmt(full.get('effective_sample_size'))}\n"
        f"  full layout:            {full.get('path')}\n"
        f"  sentence-transformers:  {st.get('path')} ({st.get('rows', 0):,} rows)\n"
        f"  report, bias, truth, logs: {results['out']}/"
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
