"""Counterfactual evaluation on ~10 million events in chDB, and interval coverage by simulation.

    python tests/bench/bench_counterfactual.py [--events 10000000] [--keep | --reuse DIR]
    python tests/bench/bench_counterfactual.py --coverage-runs 100   # repeated simulations
    python tests/bench/bench_counterfactual.py --skip-timing --exploration-cost   # click cost

Timing: the events are generated inside chDB by bench_analytics' generator (the simulator's
model: noisy ranker, examination 1/(position+1), clicks, purchases, 14 days). Measured:

* ours      one estimate on the SQL path (`estimate_in_sql`, counterfactual_estimate.sql):
            the logged lists reversed against the logged policy, IPS, SNIPS and DR on clicks
            with delta-method intervals of the values and of the paired differences, support
            and effective sample sizes, with the EM propensities (fitted first by
            click_counts.sql, timed apart: a gate reuses one fit for every candidate);
* baseline  the same IPS and SNIPS point estimates of the reversed lists (same propensities)
            as one raw SQL statement in chDB, without intervals, support or DR.
* boost     a boost config (the default: click + purchase, 7 days, x1.2) on the SQL path,
            with the counts of each search's time (`SqlBoost`; `--no-boost` skips it);
* --numpy   also the numpy path: read the logs into arrays, then the full report (logged,
            reversed and a boost replay x 3 estimators x 3 metrics); 336 s before this path.
Wall and CPU seconds per step, with the 1-minute load: the machine is shared, and CPU
seconds (chDB runs in this process) move much less with the load than wall seconds.
Target: an estimate in under 30 s.

Coverage: repeated seeded simulations (20,000 searches each), three candidates with known
truth (the true value by running each on 100,000 fresh searches); the share of runs whose
95 % interval contains the truth, per estimator, with the true propensities and with EM's.
Exploration cost: what logged exploration (schemas.exploration) costs in clicks, from the
simulator's truth (its examination curve and each shown result's click probability): per
search, epsilon / (depth - 1) x sum over j < depth - 1 of (theta[j] - theta[j+1]) x (r[j] -
r[j+1]), exact for one uniform adjacent swap, on 100,000 searches of the default (noisy,
quality 0.5) ranker and of a sharp one (quality 0.9, no rank noise), for a grid of epsilon
and depth; with the clicks per search without exploration, and the loss as a share of them.
Figures go to benchmarks/results/counterfactual.jsonl.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import orjson

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from interaction_pipeline.analytics import (  # noqa: E402
    ClickCounts,
    DateRange,
    estimate_position_bias,
)
from interaction_pipeline.counterfactual import (  # noqa: E402
    ESTIMATORS,
    BoostCandidate,
    Candidate,
    Estimator,
    Evaluator,
    LoggedSearches,
    OfflineEvaluation,
    SqlBoost,
    SqlOrder,
    StaticCounts,
    estimate_in_sql,
    evaluate,
    md5_folds,
    simulated_logs,
    true_values,
)
from interaction_pipeline.counterfactual._candidates import order_by_scores  # noqa: E402
from producers.simulator import SimulationConfig, Simulator  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from sinks import open_backend  # noqa: E402
from stream_processors import BoostConfig  # noqa: E402
from tests.bench.bench_analytics import DAYS, END, counts, generate  # noqa: E402
from tests.bench.results import record  # noqa: E402

K = 10
T = TypeVar("T")

_BASELINE_SQL = """
WITH
    parseDateTime64BestEffort({start:String}, 3, 'UTC') AS range_start,
    parseDateTime64BestEffort({end:String}, 3, 'UTC') AS range_end,
    splitByChar(',', {engaged_types:String}) AS engaged,
    {theta:Array(Float64)} AS theta
SELECT sum(ips) AS ips_sum, sum(a * y / e) AS snips_sum
FROM
(
    SELECT
        q,
        feature_id,
        sum(theta[len - pos]) AS a,
        sum(toUInt8(bitTest(mask, pos))) AS y,
        sum(theta[pos + 1]) AS e,
        sum(toUInt8(bitTest(mask, pos)) * theta[len - pos] / theta[pos + 1])
            AS ips
    FROM
    (
        SELECT lowerUTF8(trimBoth(s.query)) AS q, arraySlice(s.results, 1, 10) AS shown,
               length(shown) AS len, r.clicked_mask AS mask
        FROM search_events AS s
        LEFT JOIN
        (
            SELECT cityHash64(query_id) AS search_key,
                   groupBitOr(bitShiftLeft(toUInt64(1), assumeNotNull(position))) AS clicked_mask
            FROM interactions
            WHERE timestamp >= range_start AND timestamp < range_end + INTERVAL 1 DAY
              AND query_id != '' AND position < 10 AND hasAny(interaction_type, engaged)
            GROUP BY search_key
        ) AS r ON cityHash64(s.query_id) = r.search_key
        WHERE s.timestamp >= range_start AND s.timestamp < range_end AND length(s.results) > 0
    )
    ARRAY JOIN shown AS feature_id, arrayMap(i -> i - 1, arrayEnumerate(shown)) AS pos
    GROUP BY q, feature_id
)
"""
_COUNT_SQL = """
SELECT count() AS n FROM search_events
WHERE timestamp >= parseDateTime64BestEffort({start:String}, 3, 'UTC')
  AND timestamp < parseDateTime64BestEffort({end:String}, 3, 'UTC') AND length(results) > 0
"""


class Reversed:
    """The logged lists upside down: a clearly worse candidate."""

    name = "reversed"

    def rank(self, logs: LoggedSearches) -> np.ndarray:
        return order_by_scores(logs.shown, np.broadcast_to(np.arange(logs.k), logs.shown.shape))


def _cpu_s() -> float:
    """CPU seconds of this process (chDB runs in it): a figure the machine's load barely moves."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Clock:
    """Wall and CPU seconds of each named step."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}

    def run(self, name: str, step: Callable[[], T]) -> T:
        wall, cpu = time.perf_counter(), _cpu_s()
        out = step()
        self.steps[name] = {
            "wall_s": time.perf_counter() - wall,
            "cpu_s": _cpu_s() - cpu,
            "load_1m": round(os.getloadavg()[0], 2),
        }
        return out


def timing(
    db: Path, numpy_path: bool = False, boost: bool = False, numpy_boost: bool = False
) -> dict[str, Any]:
    settings = Settings(clickhouse_url=f"chdb://{db}")
    span = DateRange(END - timedelta(days=DAYS), END)
    backend = open_backend(settings)
    clock = _Clock()
    try:
        backend.query("SELECT 1")
        evaluation = OfflineEvaluation(backend, settings)
        bias = clock.run(
            "em_bias", lambda: evaluation.analytics.position_bias(span, max_positions=K)
        )
        theta = bias.propensity(np.arange(K))
        theta = theta / theta[0]
        sql = clock.run(
            "sql_estimate",
            lambda: estimate_in_sql(evaluation.runner, span, SqlOrder("reversed", "-pos"), theta),
        )
        params = {
            "start": span.params()["start"],
            "end": span.params()["end"],
            "engaged_types": evaluation.runner.params("click_counts", span, None, max_positions=K)[
                "engaged_types"
            ],
        }

        def raw_sql() -> dict[str, float]:
            sums = backend.query(_BASELINE_SQL, params | {"theta": [float(t) for t in theta]})[0]
            n = backend.query(_COUNT_SQL, {"start": params["start"], "end": params["end"]})
            count = n[0]["n"]
            return {"n": count, "ips": sums["ips_sum"] / count, "snips": sums["snips_sum"] / count}

        baseline = clock.run("baseline", raw_sql)
        numpy_figures = _numpy_path(evaluation, span, theta, bias, clock) if numpy_path else None
        boost_figures = (
            _boost(evaluation, span, theta, clock, numpy_boost) if boost or numpy_boost else None
        )
    finally:
        backend.close()
    em, est, base = clock.steps["em_bias"], clock.steps["sql_estimate"], clock.steps["baseline"]
    ours = {
        "path": "sql (counterfactual_estimate.sql)",
        "wall_s": est["wall_s"],
        "cpu_s": est["cpu_s"],
        "wall_with_em_s": est["wall_s"] + em["wall_s"],
        "steps": clock.steps,
        "searches": sql.searches,
        "ips": sql.estimates["ips"].value,
        "snips": sql.estimates["snips"].value,
        "dr": sql.estimates["dr"].value,
        "dr_difference": sql.differences["dr"].to_dict(),
        "support": sql.support,
    }
    return {
        "ours": ours,
        "baseline": {
            "wall_s": base["wall_s"],
            "cpu_s": base["cpu_s"],
            "ips": float(baseline["ips"]),
            "snips": float(baseline["snips"]),
            "searches": int(baseline["n"]),
        },
        "agree": all(
            abs(sql.estimates[e].value - float(baseline[e])) <= 1e-9 * abs(float(baseline[e]))
            for e in ("ips", "snips")
        ),
        "ratio_wall": est["wall_s"] / base["wall_s"],
        "ratio_cpu": est["cpu_s"] / max(base["cpu_s"], 1e-9),
        "numpy_path": numpy_figures,
        "boost": boost_figures,
    }


def _boost(
    evaluation: OfflineEvaluation,
    span: DateRange,
    theta: np.ndarray,
    clock: _Clock,
    numpy_reference: bool,
) -> dict[str, Any]:
    """A boost config (the default: click + purchase, 7 days, x1.2) with the counts of each
    search's time, on clicks: on the SQL path (SqlBoost), and optionally on the numpy path
    (logs into arrays, the timeline replay, the three estimators on clicks with the SQL's
    folds), whose values must agree to 1e-7."""
    config = BoostConfig()
    sql = clock.run(
        "sql_boost", lambda: estimate_in_sql(evaluation.runner, span, SqlBoost(config), theta)
    )
    out: dict[str, Any] = {
        "config": config.model_dump(),
        "sql": {
            **clock.steps["sql_boost"],
            **{e: sql.estimates[e].value for e in ("ips", "snips", "dr")},
            "dr_difference": sql.differences["dr"].to_dict(),
            "changed_share": sql.changed_share,
        },
    }
    if numpy_reference:

        def replay() -> dict[Estimator, float]:
            logs = evaluation.logs(span, k=K)
            assert logs.query_ids is not None
            evaluator = Evaluator(logs, theta, fold=md5_folds(logs.query_ids))
            policy = evaluator.score("boost", evaluation.boost(config).rank(logs))
            return {e: evaluator.estimate(policy, e, "clicks").value for e in ESTIMATORS}

        reference = clock.run("numpy_boost", replay)
        out["numpy"] = {**clock.steps["numpy_boost"], **reference}
        out["agree"] = all(
            abs(sql.estimates[e].value - v) <= 1e-7 * abs(v) for e, v in reference.items()
        )
        out["ratio_wall"] = (
            clock.steps["sql_boost"]["wall_s"] / clock.steps["numpy_boost"]["wall_s"]
        )
        out["ratio_cpu"] = clock.steps["sql_boost"]["cpu_s"] / clock.steps["numpy_boost"]["cpu_s"]
    return out


def _numpy_path(
    evaluation: OfflineEvaluation, span: DateRange, theta: np.ndarray, bias: Any, clock: _Clock
) -> dict[str, Any]:
    """The previous measurement: logs into numpy, then the full report (logged, reversed and
    a boost replay x 3 estimators x 3 metrics)."""
    logs = clock.run("numpy_read_logs", lambda: evaluation.logs(span, k=K))
    candidates: list[Candidate] = [Reversed(), evaluation.boost(BoostConfig(), "boost")]
    report = clock.run("numpy_estimate", lambda: evaluation.run(logs, candidates, bias=bias))
    reversed_ = next(c for c in report.candidates if c.name == "reversed")
    return {
        "wall_s": clock.steps["numpy_read_logs"]["wall_s"]
        + clock.steps["numpy_estimate"]["wall_s"],
        "ips": reversed_.estimates["clicks"]["ips"].value,
        "snips": reversed_.estimates["clicks"]["snips"].value,
    }


# -- coverage --------------------------------------------------------------------------------
class _Noisy:
    def __init__(self, sim: Simulator, noise: float, name: str) -> None:
        truth = sim.truth
        self.name = name
        rng = np.random.default_rng(17)
        self.score = noise * rng.standard_normal((len(truth.queries), len(truth.doc_ids) + 1))
        rows = np.repeat(np.arange(truth.candidates.shape[0]), truth.candidates.shape[1])
        self.score[rows, truth.candidates.ravel()] += truth.relevance.ravel()

    def rank(self, logs: LoggedSearches) -> np.ndarray:
        return order_by_scores(logs.shown, self.score[logs.query[:, None], logs.shown])


def coverage(runs: int, searches: int = 20_000) -> dict[str, Any]:
    hits: dict[str, list[bool]] = {}
    errors: dict[str, list[float]] = {}
    for seed in range(runs):
        config = SimulationConfig(searches=searches, seed=1000 + seed)
        sim = Simulator(config)
        logs = simulated_logs(sim)
        rng = np.random.default_rng(seed)
        popularity = {
            sim.truth.doc_ids[d]: 20 * r * (0.7 + 0.6 * rng.random())
            for q in range(sim.truth.candidates.shape[0])
            for d, r in zip(sim.truth.candidates[q], sim.truth.relevance[q], strict=True)
        }
        candidates: list[Candidate] = [
            Reversed(),
            BoostCandidate(BoostConfig(boost_multiplier=3.0), StaticCounts(popularity), "boost"),
            _Noisy(sim, 0.25, "model"),
        ]
        fresh = Simulator(replace(config, searches=searches + 100_000)).batches()
        batches = list(itertools.islice(fresh, (searches + 9_999) // 10_000, None))
        truth = {c.name: true_values(sim, c, batches)["clicks"] for c in candidates}
        table = sim.click_table()
        em = estimate_position_bias(
            ClickCounts.from_columns(
                table.query * 10**6 + table.doc, table.position, table.impressions, table.clicks
            ),
            max_positions=K,
        ).propensity(np.arange(K))
        for label, theta in (("true_theta", sim.truth.relative_propensity), ("em_theta", em)):
            report = evaluate(logs, candidates, theta)
            for c in report.candidates:
                for e, est in c.estimates["clicks"].items():
                    key = f"{label}/{e}"
                    hits.setdefault(key, []).append(est.low <= truth[c.name] <= est.high)
                    errors.setdefault(key, []).append(est.value / truth[c.name] - 1)
        print(f"  coverage run {seed + 1}/{runs}", flush=True)
    return {
        "runs": runs,
        "searches_per_run": searches,
        "intervals_per_estimator": runs * 3,
        "coverage": {k: float(np.mean(v)) for k, v in hits.items()},
        "mean_abs_relative_error": {k: float(np.mean(np.abs(v))) for k, v in errors.items()},
    }


EXPLORATION_GRID: tuple[tuple[float, int], ...] = tuple(
    (epsilon, depth) for epsilon in (0.02, 0.05, 0.1) for depth in (3, 5, 10)
)
RANKERS: dict[str, dict[str, float]] = {
    "default": {},
    "sharp": {"ranker_quality": 0.9, "rank_noise": 0.0},
}


def exploration_cost(searches: int = 100_000) -> dict[str, Any]:
    """True clicks lost per search by exploration, per ranker and (epsilon, depth)."""
    out: dict[str, Any] = {"searches": searches, "rankers": RANKERS, "cost": {}}
    for label, knobs in RANKERS.items():
        sim = Simulator(SimulationConfig(searches=searches, seed=17, **knobs))  # type: ignore[arg-type]
        theta = sim.truth.examination
        clicks, drops = [], []
        for batch in sim.batches():
            r = batch.relevance[:, : theta.size]
            clicks.append((r * theta[None, :]).sum(axis=1))
            drops.append((theta[:-1] - theta[1:])[None, :] * (r[:, :-1] - r[:, 1:]))
        per_search = float(np.concatenate(clicks).mean())
        drop = np.concatenate(drops).mean(axis=0)
        rows = []
        for epsilon, depth in EXPLORATION_GRID:
            loss = epsilon / (depth - 1) * float(drop[: depth - 1].sum())
            rows.append(
                {"epsilon": epsilon, "depth": depth, "clicks_lost_per_search": loss,
                 "share_of_clicks": loss / per_search}
            )  # fmt: skip
        out["cost"][label] = {"clicks_per_search": per_search, "grid": rows}
    return out


def main() -> None:
    load_before = [round(x, 2) for x in os.getloadavg()]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="Keep the chDB folder.")
    parser.add_argument("--reuse", type=Path, help="A folder kept by --keep: skip generation.")
    parser.add_argument("--coverage-runs", type=int, default=0, help="Also measure coverage.")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument(
        "--no-boost",
        dest="boost",
        action="store_false",
        help="Skip the boost config on the SQL path (SqlBoost; timed by default).",
    )
    parser.add_argument("--boost", action="store_true", help=argparse.SUPPRESS)  # the default
    parser.add_argument(
        "--numpy-boost",
        action="store_true",
        help="Also the same boost on the numpy path, as reference (minutes on 10M events).",
    )
    parser.add_argument(
        "--exploration-cost", action="store_true", help="Also the click cost of exploration."
    )
    parser.add_argument(
        "--numpy", action="store_true", help="Also time the numpy path (minutes on 10M events)."
    )
    parser.add_argument("--label", help="A label stored with this run's figures.")
    args = parser.parse_args()
    figures: dict[str, Any] = {"label": args.label} if args.label else {}
    if not args.skip_timing:
        work = Path(tempfile.mkdtemp(prefix="bench-counterfactual-"))
        db = args.reuse or work / "chdb"
        try:
            settings = Settings(clickhouse_url=f"chdb://{db}")
            if args.reuse:
                data = counts(settings)
            else:
                print(f"generating ~{args.events:,} events in chDB at {db} ...", flush=True)
                data = generate(settings, args.events)
            print(f"  {data['events']:,} events ({data['searches']:,} searches)", flush=True)
            figures["data"] = data
            figures["timing"] = result = timing(db, args.numpy, args.boost, args.numpy_boost)
            ours, base = result["ours"], result["baseline"]
            em = ours["steps"]["em_bias"]
            print(
                f"ours (SQL path: reversed vs logged, IPS + SNIPS + DR on clicks with intervals "
                f"and support): {ours['wall_s']:.2f} s wall, {ours['cpu_s']:.2f} s CPU | "
                f"baseline (IPS + SNIPS point estimates as raw SQL): {base['wall_s']:.2f} s wall, "
                f"{base['cpu_s']:.2f} s CPU | ratio {result['ratio_wall']:.2f}x wall, "
                f"{result['ratio_cpu']:.2f}x CPU | EM propensities {em['wall_s']:.2f} s"
            )
            print(
                f"reversed IPS {ours['ips']:.6f} vs SQL {base['ips']:.6f}, "
                f"SNIPS {ours['snips']:.6f} vs SQL {base['snips']:.6f}, DR {ours['dr']:.6f} "
                f"(agree to 1e-9: {result['agree']})"
            )
            if result["boost"]:
                b = result["boost"]
                line = (
                    f"boost (SQL path, counts at each search's time): {b['sql']['wall_s']:.2f} s "
                    f"wall, {b['sql']['cpu_s']:.2f} s CPU, DR {b['sql']['dr']:.6f}"
                )
                if "numpy" in b:
                    line += (
                        f" | numpy path: {b['numpy']['wall_s']:.2f} s wall, "
                        f"{b['numpy']['cpu_s']:.2f} s CPU, DR {b['numpy']['dr']:.6f} | ratio "
                        f"{b['ratio_wall']:.2f}x wall, {b['ratio_cpu']:.2f}x CPU | agree to "
                        f"1e-7: {b['agree']}"
                    )
                print(line)
            if result["numpy_path"]:
                print(f"numpy path (read + full report): {result['numpy_path']['wall_s']:.2f} s")
            boost = (
                f"; boost config {result['boost']['sql']['wall_s']:.2f} s "
                f"at load {result['boost']['sql']['load_1m']}"
                if result["boost"]
                else ""
            )
            print(
                f"target < 30 s: {ours['wall_s']:.2f} s ({ours['wall_with_em_s']:.2f} s with EM) "
                f"at load {ours['steps']['sql_estimate']['load_1m']}{boost}"
            )
        finally:
            if args.keep and not args.reuse:
                print(f"kept {db} (rerun with --reuse {db})")
            else:
                shutil.rmtree(work, ignore_errors=True)
    if args.coverage_runs:
        figures["coverage"] = cov = coverage(args.coverage_runs)
        for key, value in sorted(cov["coverage"].items()):
            error = cov["mean_abs_relative_error"][key]
            print(f"coverage {key:18s} {value:.1%}  (mean |error| {error:.2%})")
    if args.exploration_cost:
        figures["exploration_cost"] = cost = exploration_cost()
        for label, table in cost["cost"].items():
            per_search = table["clicks_per_search"]
            print(f"exploration cost, {label} ranker ({per_search:.4f} clicks/search):")
            for row in table["grid"]:
                print(
                    f"  epsilon {row['epsilon']:<5} depth {row['depth']:>2}: "
                    f"{row['clicks_lost_per_search']:.6f} clicks/search "
                    f"({row['share_of_clicks']:.4%})"
                )
    print(orjson.dumps(figures).decode())
    record("counterfactual", figures, load_before=load_before)


if __name__ == "__main__":
    main()
