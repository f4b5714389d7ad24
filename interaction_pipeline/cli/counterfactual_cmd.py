"""`interactions counterfactual`: an offline A/B of ranking changes from logged interactions.

Exit codes, for a CI job that should block a change: 0 no candidate is worse with confidence,
3 a candidate is worse with confidence (as `interactions report` on a regression), 4 with
--fail-on-inconclusive when the logs support a candidate too thinly to say, 1 the command
failed (ClickHouse unreachable, tables missing), 2 a bad option.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Final

import orjson
import typer
from pydantic import ValidationError
from rich.table import Table

from interaction_pipeline.analytics import BiasEstimate, DateRange
from interaction_pipeline.cli.analytics_cmd import REGRESSION_EXIT_CODE
from interaction_pipeline.cli.context import console, err_console, get_settings, print_json
from interaction_pipeline.cli.training_cmd import read_texts
from interaction_pipeline.counterfactual import (
    DEFAULT_K,
    ESTIMATORS,
    LOGGED,
    Candidate,
    CounterfactualReport,
    EvaluationOptions,
    OfflineEvaluation,
    RankingCandidate,
    ScorerCandidate,
    SqlBoost,
    SqlCandidate,
    SqlOrder,
    embedding_scorer,
)
from schemas.errors import InteractionPipelineError
from sinks import BackendError, open_backend, require_schema
from stream_processors import BoostConfig

INCONCLUSIVE_EXIT_CODE: Final = 4
KINDS: Final = ("boost", "model", "ranking", "order")
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def counterfactual(
    candidate: Annotated[
        list[str],
        typer.Option(
            "--candidate",
            "-c",
            help="NAME=KIND:SPEC, repeatable. boost:'{json}' or boost:@config.json (a "
            "BoostConfig), model:FOLDER_OR_NAME (re-ranks logged results; needs --texts), "
            "ranking:FILE.jsonl ({query_id or query, ranking: [ids]}), order:EXPR (a "
            "ClickHouse sort key over doc, pos, len, query, e.g. order:-pos; estimated inside "
            "ClickHouse, seconds on millions of searches; the gate's metric only). NAME= is "
            "optional.",
        ),
    ],
    date_range: Annotated[
        str, typer.Option("--range", help="last_N_days, last_N_weeks or START..END.")
    ] = "last_30_days",
    retriever: Annotated[str | None, typer.Option(help="Only this retriever_id.")] = None,
    k: Annotated[int, typer.Option("--k", min=2, max=64, help="Top positions evaluated.")] = (
        DEFAULT_K
    ),
    baseline: Annotated[
        str, typer.Option(help="'logged' (what was shown) or the NAME of a candidate.")
    ] = LOGGED,
    estimator: Annotated[str, typer.Option(help="What the gate reads: ips, snips, dr.")] = "dr",
    metric: Annotated[
        str, typer.Option(help="What the gate reads: clicks, conversions, reward.")
    ] = "clicks",
    tolerance: Annotated[
        float, typer.Option(min=0, help="Relative drop tolerated by the gate (0.01 = 1 %).")
    ] = 0.0,
    min_support: Annotated[
        float, typer.Option(min=0, max=1, help="Support below which a verdict is inconclusive.")
    ] = 0.7,
    interval: Annotated[str, typer.Option(help="delta (CLT over searches) or bootstrap.")] = (
        "delta"
    ),
    resamples: Annotated[int, typer.Option(min=20, help="Bootstrap resamples.")] = 200,
    texts: Annotated[
        Path | None,
        typer.Option(help="Corpus JSONL (_id, title, text) for model candidates."),
    ] = None,
    bias_file: Annotated[
        Path | None, typer.Option("--bias", help="`interactions bias --json` output to reuse.")
    ] = None,
    bias_source: Annotated[
        str, typer.Option(help="auto, em or swaps (logged exploration).")
    ] = "auto",
    cache_dir: Annotated[Path, typer.Option(help="Embedding cache for model candidates.")] = Path(
        ".cache/embeddings"
    ),
    fail_on_inconclusive: Annotated[
        bool, typer.Option(help="Exit 4 when a candidate's support is too thin to conclude.")
    ] = False,
    dedupe: Annotated[bool, typer.Option(help="Read with FINAL (merge resent events).")] = False,
    sql: Annotated[
        bool,
        typer.Option(
            "--sql",
            help="Estimate boost: candidates inside ClickHouse, as order: ones are (the counts "
            "of each search's time computed once in SQL; faster on millions of searches; the "
            "gate's metric only, against the logged policy).",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Estimate what candidate rankings would collect (clicks, conversions, reward per
    search) from logged searches and clicks: IPS, SNIPS and DR with 95 % intervals, support
    and effective sample size. Exit 3 when a candidate is worse than the baseline with
    confidence."""
    try:
        options = EvaluationOptions(
            estimator=estimator,  # type: ignore[arg-type]
            metric=metric,  # type: ignore[arg-type]
            interval=interval,  # type: ignore[arg-type]
            resamples=resamples,
            tolerance=tolerance,
            min_support=min_support,
        )
        span = DateRange.parse(date_range)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if bias_source not in ("auto", "em", "swaps"):
        raise typer.BadParameter("auto, em or swaps", param_hint="--bias-source")
    specs = [_parse_spec(text) for text in candidate]
    bias = _read_bias(bias_file) if bias_file else None
    corpus = read_texts(texts) if texts else None
    orders = [s for s in specs if s[1] == "order" or (sql and s[1] == "boost")]
    if orders:
        report = _run_sql(orders, len(specs), span, retriever, k, baseline, options, bias,
                          bias_source, dedupe)  # fmt: skip
        _finish(report, span, retriever, as_json, fail_on_inconclusive)
        return
    with _evaluation(dedupe) as evaluation:
        logs = evaluation.logs(span, retriever, k)
        if logs.n == 0:
            err_console.print("[red]no answered search events in this range[/red]")
            raise typer.Exit(1)
        built = [_build(evaluation, name, kind, spec, corpus, cache_dir, as_json)
                 for name, kind, spec in specs]  # fmt: skip
        try:
            report = evaluation.run(
                logs, built, baseline=baseline, options=options, bias=bias,
                bias_source=bias_source,
            )  # fmt: skip
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
    _finish(report, span, retriever, as_json, fail_on_inconclusive)


def _finish(
    report: CounterfactualReport,
    span: DateRange,
    retriever: str | None,
    as_json: bool,
    fail_on_inconclusive: bool,
) -> None:
    """Print the report and exit with the gate's code."""
    if as_json:
        print_json(report.to_dict() | {"date_range": span.to_dict(), "retriever": retriever})
    else:
        _print(report)
    if report.worse:
        raise typer.Exit(REGRESSION_EXIT_CODE)
    if fail_on_inconclusive and any(c.verdict == "inconclusive" for c in report.candidates):
        raise typer.Exit(INCONCLUSIVE_EXIT_CODE)


def _run_sql(
    orders: list[tuple[str, str, str]],
    candidates: int,
    span: DateRange,
    retriever: str | None,
    k: int,
    baseline: str,
    options: EvaluationOptions,
    bias: BiasEstimate | None,
    bias_source: str,
    dedupe: bool,
) -> CounterfactualReport:
    """order: (and, with --sql, boost:) candidates on the SQL path: against the logged
    policy, delta intervals, EM propensities (or --bias); they cannot be mixed with array
    candidates."""
    if len(orders) != candidates:
        raise typer.BadParameter(
            "order: (and --sql boost:) candidates run inside ClickHouse and cannot be mixed "
            "with others",
            param_hint="--candidate",
        )
    if baseline != LOGGED or bias_source == "swaps":
        raise typer.BadParameter(
            "order: candidates are compared with the logged policy, with EM or --bias propensities",
            param_hint="--baseline",
        )
    try:
        built: list[SqlCandidate] = [
            SqlBoost(_boost_config(spec), name or f"boost:{spec}")
            if kind == "boost"
            else SqlOrder(name or f"order:{spec}", spec)
            for name, kind, spec in orders
        ]
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--candidate") from None
    with _evaluation(dedupe) as evaluation:
        try:
            return evaluation.run_sql(
                built, span, retriever=retriever, k=k, options=options, bias=bias
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None


@contextlib.contextmanager
def _evaluation(dedupe: bool) -> Iterator[OfflineEvaluation]:
    settings = get_settings()
    backend = open_backend(settings)
    try:
        require_schema(backend)
        yield OfflineEvaluation(backend, settings, dedupe=dedupe)
    except (BackendError, InteractionPipelineError) as exc:
        if isinstance(exc, ValueError):
            raise typer.BadParameter(str(exc)) from None
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        backend.close()


def _parse_spec(text: str) -> tuple[str, str, str]:
    """'name=kind:spec' or 'kind:spec' -> (name, kind, spec)."""
    head, sep, spec = text.partition(":")
    name, eq, kind = head.partition("=")
    if not eq:
        name, kind = "", head
    if not sep or kind not in KINDS:
        raise typer.BadParameter(
            f"{text!r}: expected [NAME=]KIND:SPEC with KIND one of {', '.join(KINDS)}",
            param_hint="--candidate",
        )
    return name.strip(), kind, spec


def _boost_config(spec: str) -> BoostConfig:
    """boost:'{json}' or boost:@config.json."""
    try:
        raw = Path(spec[1:]).read_bytes() if spec.startswith("@") else spec.encode()
        return BoostConfig.model_validate(orjson.loads(raw or b"{}"))
    except (OSError, orjson.JSONDecodeError, ValidationError) as exc:
        raise typer.BadParameter(f"{spec!r}: {exc}", param_hint="--candidate") from None


def _build(
    evaluation: OfflineEvaluation,
    name: str,
    kind: str,
    spec: str,
    corpus: dict[str, str] | None,
    cache_dir: Path,
    quiet: bool,
) -> Candidate:
    if kind == "boost":
        return evaluation.boost(_boost_config(spec), name or f"boost:{spec}")
    if kind == "ranking":
        return _ranking(Path(spec), name or Path(spec).stem)
    if corpus is None:
        raise typer.BadParameter("model candidates need --texts", param_hint="--candidate")
    from interaction_pipeline.training import EmbeddingRetriever, load_model

    folder = Path(spec)
    model = (
        load_model(folder, cache_dir=cache_dir, progress=not quiet)
        if (folder / "model_card.json").is_file()
        else EmbeddingRetriever(spec, cache_dir=cache_dir, progress=not quiet)
    )
    return ScorerCandidate(embedding_scorer(model), corpus, name or folder.name)


def _ranking(path: Path, name: str) -> RankingCandidate:
    if not path.is_file():
        raise typer.BadParameter(f"{path}: file not found", param_hint="--candidate")
    by_id: dict[str, list[str]] = {}
    by_query: dict[str, list[str]] = {}
    for number, line in enumerate(path.read_bytes().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
            ranking = [str(d) for d in row["ranking"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise typer.BadParameter(
                f"{path}:{number}: expected {{query_id or query, ranking: [ids]}}",
                param_hint="--candidate",
            ) from None
        if "query_id" in row:
            by_id[str(row["query_id"])] = ranking
        elif "query" in row:
            by_query[str(row["query"]).strip().lower()] = ranking
    return RankingCandidate(by_id, by_query, name)


def _read_bias(path: Path) -> BiasEstimate:
    try:
        return BiasEstimate.from_dict(orjson.loads(path.read_bytes()))
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--bias") from None


def _interval(value: dict[str, Any], signed: bool = False) -> str:
    fmt = "{:+.4f}" if signed else "{:.4f}"
    return f"{fmt.format(value['value'])} [{fmt.format(value['low'])}, {fmt.format(value['high'])}]"


def _print(report: CounterfactualReport) -> None:
    data = report.to_dict()
    gate = data["gate"]
    console.print(
        f"[bold]offline A/B[/bold] {report.searches:,} searches, top {report.k}, baseline "
        f"{report.baseline}; propensity ({report.propensity_source}) "
        + " ".join(f"{p:.3g}" for p in report.propensity)
    )
    for metric in report.logged:  # the SQL path reports the gate's metric only
        table = Table(title=f"{metric} per search (95 % interval)", title_justify="left")
        table.add_column("candidate")
        for e in ESTIMATORS:
            table.add_column(e)
        table.add_column(f"vs {report.baseline} ({gate['estimator']})")
        if report.baseline == LOGGED:
            table.add_row("logged (observed)", f"{report.logged[metric]:.4f}", "", "", "")
        for c in data["candidates"]:
            est = c["estimates"][metric]
            table.add_row(
                c["name"],
                *(_interval(est[e]) for e in ESTIMATORS),
                _interval(c["difference"][metric][gate["estimator"]], signed=True),
            )
        console.print(table)
    summary = Table(title="support and verdict", title_justify="left")
    for column in ("candidate", "support", "shown", "ESS ips", "ESS snips", "changed", "verdict"):
        summary.add_column(column)
    for c in data["candidates"]:
        style = {"worse": "red", "better": "green", "inconclusive": "yellow"}.get(c["verdict"])
        verdict = f"[{style}]{c['verdict']}[/{style}]" if style else c["verdict"]
        summary.add_row(
            c["name"], f"{c['support']:.0%}", f"{c['shown_share']:.0%}",
            f"{c['effective_sample_share']['ips']:.0%}",
            f"{c['effective_sample_share']['snips']:.0%}", f"{c['changed_share']:.0%}", verdict,
        )  # fmt: skip
    console.print(summary)
    if report.exploration:
        x = report.exploration
        console.print(
            f"exploration: {x['explored_searches']:,} searches with epsilon {x['epsilon']:g} "
            f"at depth {x['depth']}; cost {x['cost_clicks_per_search']:.4f} clicks per search "
            f"({x['cost_share']:.2%})"
        )
    for note in [*report.notes, *(n for c in report.candidates for n in c.notes)]:
        err_console.print(f"[yellow]{note}[/yellow]")
    if report.worse:
        err_console.print(
            f"[red]GATE: {', '.join(report.worse)} worse than {report.baseline} with "
            f"confidence ({gate['estimator']}, {gate['metric']})[/red]"
        )


def register(app: typer.Typer) -> None:
    app.command("counterfactual")(counterfactual)
