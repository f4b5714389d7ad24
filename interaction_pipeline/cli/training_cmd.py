"""`interactions evaluate | fine-tune | lift | dataset cranfield/synthetic`.

evaluate scores a retriever (a registered model name or a fine-tuned model folder) on a BEIR
folder, and with --compare shows each metric's difference with a paired-bootstrap interval.
fine-tune trains a query adapter from a pairs file or straight from ClickHouse. lift runs the
whole loop on a judged dataset through the real pipeline (see interaction_pipeline.lift).
Errors of the training package end the command with their message and exit code 1; bad
arguments exit with 2.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Final

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from interaction_pipeline.analytics import Analytics, DateRange
from interaction_pipeline.cli.context import console, err_console, get_settings, print_json
from interaction_pipeline.lift import (
    DEFAULT_RESULTS,
    ClickModel,
    LiftConfig,
    TrafficPlan,
    record_run,
    run_lift,
    write_synthetic,
)
from interaction_pipeline.orchestration import CLI, TrafficStats, settings_env
from interaction_pipeline.training import (
    DEFAULT_CACHE_DIR,
    DEFAULT_METRICS,
    DEFAULT_MODEL,
    Comparison,
    Dataset,
    EmbeddingRetriever,
    EvaluationResult,
    FineTunedModel,
    compare,
    cranfield_to_beir,
    evaluate,
    fine_tune,
    load_beir,
    load_model,
)
from schemas.errors import InteractionPipelineError
from sinks import BackendError, open_backend, require_schema

CARD_FILE: Final = "model_card.json"

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
CacheOption = Annotated[
    Path,
    typer.Option(help="Embedding cache folder (corpus vectors are computed once per model)."),
]
SplitOption = Annotated[str, typer.Option(help="qrels split: qrels/<split>.tsv.")]

dataset_app = typer.Typer(help="Prepare judged datasets in the BEIR layout.", no_args_is_help=True)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """The pipeline's errors as one red line and exit code 1 (2 for bad arguments)."""
    try:
        yield
    except (InteractionPipelineError, BackendError) as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except ValueError as exc:
        err_console.print(f"[red]invalid argument:[/red] {exc}")
        raise typer.Exit(2) from None


def _retriever(spec: str, cache_dir: Path, progress: bool) -> EmbeddingRetriever:
    """A fine-tuned model folder (has model_card.json) or a registered model name."""
    path = Path(spec)
    if (path / CARD_FILE).is_file():
        return load_model(path, cache_dir=cache_dir, progress=progress)
    if path.exists():
        raise typer.BadParameter(f"{path}: a folder without {CARD_FILE} (not a saved model)")
    return EmbeddingRetriever(spec, cache_dir=cache_dir, progress=progress)


def _label(spec: str) -> str:
    return Path(spec).name if (Path(spec) / CARD_FILE).is_file() else spec


# -- evaluate ------------------------------------------------------------------------------
def evaluate_cmd(
    dataset: Annotated[
        Path, typer.Option(help="BEIR folder: corpus.jsonl, queries.jsonl, qrels/.")
    ],
    model: Annotated[
        str, typer.Option(help="Model name (registered) or a fine-tuned model folder.")
    ] = DEFAULT_MODEL,
    compare_with: Annotated[
        str | None,
        typer.Option("--compare", help="A second model (name or folder): show the differences."),
    ] = None,
    split: SplitOption = "test",
    metrics: Annotated[
        str, typer.Option(help="Comma-separated metrics (ndcg@k, recall@k, mrr@k, ...).")
    ] = ",".join(DEFAULT_METRICS),
    resamples: Annotated[int, typer.Option(min=100, help="Bootstrap resamples.")] = 10_000,
    cache_dir: CacheOption = DEFAULT_CACHE_DIR,
    as_json: JsonOption = False,
) -> None:
    """Score a retriever on a judged dataset; with --compare, the paired difference and its 95%
    interval per metric (bootstrap over queries)."""
    names = [m.strip() for m in metrics.split(",") if m.strip()]
    with _errors():
        data = load_beir(dataset, split=split)
        first = evaluate(
            _retriever(model, cache_dir, not as_json), data, metrics=names, name=_label(model)
        )
        if compare_with is None:
            _show_result(first, data, as_json)
            return
        second = evaluate(
            _retriever(compare_with, cache_dir, not as_json),
            data,
            metrics=names,
            name=_label(compare_with),
        )
        _show_comparison(compare(first, second, resamples=resamples), data, as_json)


def _show_result(result: EvaluationResult, data: Dataset, as_json: bool) -> None:
    if as_json:
        print_json({"dataset": data.name, **result.to_dict()})
        return
    table = Table(
        title=f"{result.name} on {data.name} ({len(result.query_ids)} judged queries)",
        title_justify="left",
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    for metric, value in result.means.items():
        table.add_row(metric, f"{value:.4f}")
    console.print(table)


def _show_comparison(result: Comparison, data: Dataset, as_json: bool) -> None:
    if as_json:
        print_json({"dataset": data.name, **result.to_dict()})
        return
    table = Table(
        title=f"{result.other.name} vs {result.base.name} on {data.name} "
        f"({len(result.base.query_ids)} queries; {result.confidence:.0%} paired bootstrap)",
        title_justify="left",
    )
    for name in ("metric", result.base.name, result.other.name, "difference", "interval", "rel."):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for d in result.deltas.values():
        rel = "-" if d.relative_pct is None else f"{d.relative_pct:+.1f}%"
        table.add_row(
            d.metric,
            f"{d.base:.4f}",
            f"{d.other:.4f}",
            f"{d.absolute:+.4f}",
            f"[{d.ci_low:+.4f}, {d.ci_high:+.4f}]",
            rel,
        )
    console.print(table)


# -- fine-tune -----------------------------------------------------------------------------
def fine_tune_cmd(
    out: Annotated[Path, typer.Option(help="Folder for the adapter and its model card.")],
    pairs: Annotated[
        Path | None, typer.Option(help="Training pairs, JSONL or Parquet (export-training).")
    ] = None,
    from_clickhouse: Annotated[
        bool, typer.Option(help="Read the pairs from ClickHouse (CLICKHOUSE_URL) instead.")
    ] = False,
    date_range: Annotated[
        str, typer.Option("--range", help="With --from-clickhouse: last_N_days or START..END.")
    ] = "last_30_days",
    min_interactions: Annotated[
        int, typer.Option(min=1, help="With --from-clickhouse: engagements for a positive.")
    ] = 2,
    retriever: Annotated[
        str | None, typer.Option(help="With --from-clickhouse: only this retriever_id.")
    ] = None,
    ipw: Annotated[
        bool, typer.Option(help="With --from-clickhouse: position-bias correction of weights.")
    ] = True,
    texts: Annotated[
        Path | None,
        typer.Option(
            help="With --from-clickhouse: document texts, JSONL with _id/id/feature_id and text "
            "(and title), e.g. a BEIR corpus.jsonl."
        ),
    ] = None,
    base_model: Annotated[str, typer.Option(help="Registered base model name.")] = DEFAULT_MODEL,
    eval_dataset: Annotated[
        Path | None, typer.Option(help="BEIR folder: compare base and tuned, into the card.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Adapter epochs.")] = None,
    learning_rate: Annotated[float | None, typer.Option(min=0, help="Adam step size.")] = None,
    rank: Annotated[
        int | None, typer.Option(min=1, help="Low-rank adapter (default: a full map).")
    ] = None,
    cache_dir: CacheOption = DEFAULT_CACHE_DIR,
    as_json: JsonOption = False,
) -> None:
    """Train a query adapter on (query, positive, hard negative) pairs and save it to --out."""
    if (pairs is None) == (not from_clickhouse):
        raise typer.BadParameter("give exactly one of --pairs FILE and --from-clickhouse")
    if from_clickhouse and texts is None:
        raise typer.BadParameter(
            "--from-clickhouse needs --texts: ClickHouse holds document ids, fine-tuning "
            "needs their texts"
        )
    overrides: dict[str, Any] = {
        k: v
        for k, v in {"epochs": epochs, "learning_rate": learning_rate, "rank": rank}.items()
        if v is not None
    }
    with _errors():
        evaluation = load_beir(eval_dataset) if eval_dataset is not None else None
        data: Any = pairs
        data_range = None
        if from_clickhouse and texts is not None:
            parsed = DateRange.parse(date_range)
            data = _pairs_from_clickhouse(
                parsed, min_interactions, retriever, ipw, read_texts(texts), not as_json
            )
            data_range = f"{parsed.to_dict()['start']}..{parsed.to_dict()['end']}"
        model = fine_tune(
            base_model,
            data,
            eval_dataset=evaluation,
            output_dir=out,
            cache_dir=cache_dir,
            data_range=data_range,
            progress=not as_json,
            **overrides,
        )
    _show_model(model, out, as_json)


def read_texts(path: Path) -> dict[str, str]:
    """Document id -> text from JSONL (BEIR corpus: _id, title, text; or id / feature_id)."""
    if not path.is_file():
        raise typer.BadParameter(f"{path}: file not found", param_hint="--texts")
    mapping: dict[str, str] = {}
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
                key = row.get("_id", row.get("id", row.get("feature_id")))
                text = row["text"]
            except (orjson.JSONDecodeError, KeyError, AttributeError):
                raise typer.BadParameter(
                    f"{path}:{number}: expected a JSON object with an id and text",
                    param_hint="--texts",
                ) from None
            title = row.get("title") or ""
            mapping[str(key)] = f"{title} {text}".strip() if title else str(text)
    return mapping


def _pairs_from_clickhouse(
    date_range: DateRange,
    min_interactions: int,
    retriever: str | None,
    ipw: bool,
    texts: dict[str, str],
    progress: bool,
) -> list[Any]:
    settings = get_settings()
    backend = open_backend(settings)
    try:
        require_schema(backend)
        analytics = Analytics(backend, settings)
        rows = analytics.get_query_document_pairs(
            date_range, min_interactions, retriever_id=retriever, ipw=ipw, texts=texts
        )
        out: list[Any] = []
        with Progress(
            TextColumn("[bold]reading pairs"),
            BarColumn(),
            TextColumn("{task.completed:,} pairs"),
            TimeElapsedColumn(),
            console=err_console,
            disable=not progress,
        ) as bar:
            task = bar.add_task("pairs", total=None)
            for row in rows:
                if row.positive_text is not None:
                    out.append(row)
                bar.advance(task)
    finally:
        backend.close()
    if not out:
        raise typer.BadParameter(
            f"no pairs with a known text in {date_range.to_dict()} "
            f"(min_interactions={min_interactions}); is --texts the right corpus?"
        )
    return out


def _show_model(model: FineTunedModel, out: Path, as_json: bool) -> None:
    card = model.card
    if as_json:
        print_json({"path": str(out), "card": card})
        return
    data, training = card["data"], card["training"]
    console.print(
        f"saved {out}: {data['pairs']:,} pairs ({data['pairs_with_hard_negative']:,} with a hard "
        f"negative) from {data['queries']:,} queries; loss {training['initial_loss']:.4f} -> "
        f"{training['final_loss']:.4f} in {training['seconds']:.1f} s"
    )
    evaluation = card.get("evaluation")
    if evaluation:
        for metric, d in evaluation["deltas"].items():
            rel = "" if d["relative_pct"] is None else f" ({d['relative_pct']:+.1f}%)"
            console.print(
                f"  {metric}: {d['base']:.4f} -> {d['other']:.4f}{rel} "
                f"[{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"
            )


# -- lift ----------------------------------------------------------------------------------
def lift_cmd(
    dataset: Annotated[
        Path | None, typer.Option(help="BEIR folder with human judgements (qrels).")
    ] = None,
    cranfield: Annotated[
        Path | None,
        typer.Option(
            help="Cranfield SMART folder (cran.all.1400, cran.qry, cranqrel): converted "
            "to BEIR under --out first."
        ),
    ] = None,
    synthetic: Annotated[
        bool, typer.Option(help="Generate a small synthetic judged dataset under --out and use it.")
    ] = False,
    split: SplitOption = "test",
    seeds: Annotated[
        str, typer.Option(help="Comma-separated seeds; each is its own simulated deployment.")
    ] = "1,2,3",
    searches: Annotated[int, typer.Option(min=10, help="Simulated searches per seed.")] = 6_000,
    traffic_share: Annotated[
        float, typer.Option(help="Share of judged queries that get traffic (rest: held out).")
    ] = 0.5,
    eval_share: Annotated[
        float, typer.Option(help="Share of sessions held out for evaluation (a later window).")
    ] = 0.25,
    zipf: Annotated[float, typer.Option(min=0, help="Query popularity skew exponent.")] = 1.0,
    searches_per_session: Annotated[float, typer.Option(min=1)] = 1.5,
    rank_noise: Annotated[
        float, typer.Option(min=0, help="Per-impression noise on the shown order, in positions.")
    ] = 1.0,
    eta: Annotated[float, typer.Option(min=0, help="Examination curve (pos+1)^-eta.")] = 1.0,
    click_noise: Annotated[
        float, typer.Option(min=0, max=1, help="Click probability of an irrelevant result.")
    ] = 0.05,
    click_max: Annotated[
        float, typer.Option(min=0, max=1, help="Click probability of a top-grade result.")
    ] = 0.9,
    min_interactions: Annotated[int, typer.Option(min=1, help="Export threshold.")] = 2,
    base_model: Annotated[str, typer.Option(help="Registered base model name.")] = DEFAULT_MODEL,
    epochs: Annotated[int | None, typer.Option(min=1, help="Adapter epochs.")] = None,
    learning_rate: Annotated[float | None, typer.Option(min=0, help="Adam step size.")] = None,
    resamples: Annotated[int, typer.Option(min=100, help="Bootstrap resamples.")] = 10_000,
    ablations: Annotated[
        bool, typer.Option(help="Also train without bias correction and with random negatives.")
    ] = True,
    worker: Annotated[bool, typer.Option(help="Also run the popularity worker.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for datasets, run data and lift.json.")] = Path(
        "out/lift"
    ),
    cache_dir: CacheOption = DEFAULT_CACHE_DIR,
    stack: Annotated[
        bool, typer.Option(help="Start the local Kafka and Redis first if they are not up.")
    ] = True,
    record: Annotated[
        bool, typer.Option(help="Append the figures to --record-file (one JSON line per run).")
    ] = False,
    record_file: Annotated[Path, typer.Option(help="Results file for --record.")] = DEFAULT_RESULTS,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune on simulated users' clicks sent through the real pipeline, and measure the
    lift on human judgements: held-out sessions and held-out queries, over several seeds,
    with two ablations (no position-bias correction, random negatives)."""
    chosen = sum(x is not None and x is not False for x in (dataset, cranfield, synthetic))
    if chosen != 1:
        raise typer.BadParameter("give exactly one of --dataset, --cranfield and --synthetic")
    load_before = [round(x, 2) for x in os.getloadavg()]
    settings = get_settings()
    with _errors():
        data = _lift_dataset(dataset, cranfield, synthetic, out, split)
        adapter = {k: v for k, v in {"epochs": epochs, "learning_rate": learning_rate}.items() if v}
        config = LiftConfig(
            seeds=tuple(int(s) for s in seeds.split(",") if s.strip()),
            traffic_share=traffic_share,
            plan=TrafficPlan(
                searches=searches,
                zipf=zipf,
                searches_per_session=searches_per_session,
                eval_share=eval_share,
                rank_noise=rank_noise,
            ),
            clicks=ClickModel(
                eta=eta,
                click_noise=click_noise,
                click_max=click_max,
                long_view_ms=settings.events.long_view_ms,
            ),
            min_interactions=min_interactions,
            base_model=base_model,
            adapter=adapter,
            resamples=resamples,
            ablations=ablations,
            worker=worker,
        )
        if stack:
            _stack_up()
        report = _run_with_progress(data, config, out, cache_dir, quiet=as_json)
    (out / "lift.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    if record:
        path = record_run(report, record_file, load_before=load_before)
        err_console.print(f"recorded in {path}")
    if as_json:
        print_json(report)
    else:
        _print_lift(report, out)


def _lift_dataset(
    dataset: Path | None, cranfield: Path | None, synthetic: bool, out: Path, split: str
) -> Dataset:
    if cranfield is not None:
        target = out / "cranfield-beir"
        cranfield_to_beir(cranfield, target)
        return load_beir(target)
    if synthetic:
        return load_beir(write_synthetic(out / "synthetic-beir"))
    assert dataset is not None
    return load_beir(dataset, split=split)


def _stack_up() -> None:
    """`interactions stack up` (idempotent); its chatter goes to stderr, not to --json."""
    code = subprocess.call(
        [*CLI, "stack", "up"], env=settings_env(get_settings()), stdout=sys.stderr
    )
    if code:
        raise typer.Exit(code)


def _run_with_progress(
    data: Dataset, config: LiftConfig, out: Path, cache_dir: Path, *, quiet: bool
) -> dict[str, Any]:
    def say(message: str) -> None:
        err_console.print(f"[bold cyan]lift:[/bold cyan] {message}")

    with Progress(
        TextColumn("[bold]traffic"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events  http {task.fields[http]:,}  sdk {task.fields[sdk]:,}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("traffic", total=None, http=0, sdk=0)

        def on_traffic(stats: TrafficStats, total: int) -> None:
            bar.update(
                task,
                total=total,
                completed=stats.events,
                http=stats.http.events,
                sdk=stats.sdk.events,
            )

        return run_lift(
            data,
            get_settings(),
            out,
            config,
            cache_dir=cache_dir,
            progress=True,
            say=say,
            on_traffic=on_traffic,
        )


def _span(counts: list[int]) -> str:
    """Queries per seed as one figure, or its range when the seeds differ."""
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}-{high}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def _interval(values: list[float | None]) -> str:
    low, high = values
    return "-" if low is None or high is None else f"[{low:+.1f}, {high:+.1f}]"


def _print_lift(report: dict[str, Any], out: Path) -> None:
    cfg = report["config"]
    console.rule(f"[bold]lift on {cfg['dataset']} ({len(cfg['seeds'])} seeds)")
    table = Table(
        title="nDCG@10 on human judgements, mean over seeds; lift and its 95% interval in %",
        title_justify="left",
    )
    for name in ("held out", "queries", "base", "tuned", "lift %", "95% CI", "per seed"):
        table.add_column(name, justify="left" if name == "held out" else "right")
    for split, s in report["splits"].items():
        table.add_row(
            split.removeprefix("held_out_"),
            _span(s["queries"]),
            f"{s['base']['ndcg@10']:.4f}",
            f"{s['tuned']['ndcg@10']:.4f}",
            _pct(s["lift_pct"]),
            _interval(s["ci95"]),
            " ".join(_pct(x) for x in s["per_seed_lift_pct"]),
        )
    console.print(table)
    if report["ablations"]:
        abl = Table(
            title="ablations on held-out sessions (negative vs full: the removed part helped)",
            title_justify="left",
        )
        for name in ("ablation", "tuned", "lift %", "95% CI", "vs full %", "95% CI "):
            abl.add_column(name, justify="left" if name == "ablation" else "right")
        short = {
            "no_position_bias_correction": "no bias correction",
            "random_negatives": "random negatives",
        }
        for name, splits in report["ablations"].items():
            s = splits["held_out_sessions"]
            abl.add_row(
                short.get(name, name),
                f"{s['tuned']['ndcg@10']:.4f}",
                _pct(s["lift_pct"]),
                _interval(s["ci95"]),
                _pct(s["vs_full"]["lift_pct"]),
                _interval(s["vs_full"]["ci95"]),
            )
        console.print(abl)
    timing = report["timing"]
    traffic = report["traffic"]
    http = traffic["http"]["interactions"] + traffic["http"]["searches"]
    sdk = traffic["sdk"]["interactions"] + traffic["sdk"]["searches"]
    console.print(
        f"{traffic['events']:,} events (http {http:,}, sdk {sdk:,}); "
        f"{timing['total_s']:.0f} s in total (embedding {timing['embed_corpus_s']:.0f} s, "
        f"pipeline {timing['pipeline_s']:.0f} s, training and evaluation "
        f"{timing['train_eval_s']:.0f} s). Full report: {out / 'lift.json'}"
    )


# -- dataset -------------------------------------------------------------------------------
@dataset_app.command("cranfield")
def dataset_cranfield(
    src: Annotated[Path, typer.Argument(help="Folder with cran.all.1400, cran.qry, cranqrel.")],
    out: Annotated[Path, typer.Argument(help="BEIR folder to write.")],
) -> None:
    """Convert the Cranfield 1400 collection (SMART files) to the BEIR layout."""
    with _errors():
        data = cranfield_to_beir(src, out)
    console.print(
        f"wrote {out}: {len(data.corpus):,} documents, {len(data.queries)} queries, "
        f"{sum(len(v) for v in data.qrels.values()):,} judgements"
    )


@dataset_app.command("synthetic")
def dataset_synthetic(
    out: Annotated[Path, typer.Argument(help="BEIR folder to write.")],
    products: Annotated[int, typer.Option(min=1, max=40, help="Products (8 queries each).")] = 24,
    docs_per_kind: Annotated[int, typer.Option(min=1, help="Documents per product and kind.")] = 2,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
) -> None:
    """Write a small generated judged dataset (products x intents) in the BEIR layout."""
    write_synthetic(out, products=products, docs_per_kind=docs_per_kind, seed=seed)
    data = load_beir(out)
    console.print(f"wrote {out}: {len(data.corpus):,} documents, {len(data.queries)} queries")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_cmd)
    app.command("fine-tune")(fine_tune_cmd)
    app.command("lift")(lift_cmd)
    app.add_typer(dataset_app, name="dataset")
