"""`report` and `export-training` on ~10 million simulated events in chDB: wall time, memory.

    python tests/bench/bench_analytics.py [--events 10000000] [--keep | --reuse DIR]

Generation happens inside chDB with INSERT ... SELECT FROM numbers(), modelled on
producers/simulator.py (Zipf-like query popularity, 30 candidates per query, a noisy ranker
showing 10, clicks from a position-based model with examination 1/(position+1), long clicks
and purchases for relevant documents, returns to results, reported skips above a click,
3 % zero-result searches), so 10 M events over 14 days take about a minute, not an hour
through Kafka. The report covers its default range, the last 7 days, and compares them with
the 7 before: every event is read. The export covers all 14 days (and, for memory, 3.5).

Each measured run is its own process (chDB lives in-process):

* ours      `Analytics.report(...)` / `Analytics.export_training(...)` (bias fitted by EM
            first, pairs streamed to Parquet), what `interactions report|export-training` run;
* baseline  the very same SQL statements with the same parameters (recorded from our run),
            executed directly with chdb and fetched whole, without our Python layer.

Memory: resident-set growth during the timed work (chDB's own memory included), and the
export's Python heap peak (tracemalloc) for a quarter and for all of the events, which
streaming keeps flat. Targets: report < 5 s, export < 60 s. Needs no Kafka or Redis (the
embedded engine). The last line is every figure as JSON.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from interaction_pipeline.analytics import Analytics, BiasEstimate, DateRange, ExportOptions  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from sinks import ClickHouseBackend, migrate, open_backend  # noqa: E402
from sinks.ddl import INTERACTIONS_TABLE, SEARCH_EVENTS_TABLE  # noqa: E402
from tests.bench.results import record  # noqa: E402

END = datetime(2025, 6, 1, tzinfo=UTC)
DAYS = 14
"""Generated span; the report covers its last week and compares it with the first."""
QUERIES = 5_000
DOCS = 200_000
CANDIDATES = 30
SHOWN = 10
INTERACTIONS_PER_SEARCH = 1.95
"""Roughly what the model below yields; used to size the search count for --events."""
CHILD_TIMEOUT_S = 900

# u(a, b, salt): a uniform number in [0, 1) from a hash, so generation is deterministic.
_U = "((cityHash64({a}, {b}, {salt}) % 1000000) / 1000000.0)"


def u(a: str, b: str, salt: int) -> str:
    return _U.format(a=a, b=b, salt=salt)


# One row per search, the same expressions for both inserts so searches and reactions agree.
_SEARCHES = f"""
SELECT
    number AS n,
    {u("number", "0", 1)} < 0.03 AS zero,
    if(zero,
       {QUERIES} + toUInt32({u("number", "0", 2)} * 250),
       toUInt32(floor({QUERIES} * pow({u("number", "0", 3)}, 2.5)))) AS qi,
    arraySlice(
        arraySort(
            c -> -(0.6 * pow({u("qi", "c", 4)}, 2) + 0.5 * ({u("qi", "c", 5)} - 0.5)
                   + 0.6 * ({u("number", "c", 6)} - 0.5)),
            range({CANDIDATES})),
        1, {SHOWN}) AS ranked,
    arrayMap(c -> 0.6 * pow({u("qi", "c", 4)}, 2), ranked) AS rel,
    toDateTime64({{end_s:UInt32}} - 3600 - (cityHash64(number, 7) % {{span_s:UInt32}}), 3, 'UTC')
        AS ts
FROM numbers({{searches:UInt64}})
"""

_INSERT_SEARCHES = f"""
INSERT INTO {SEARCH_EVENTS_TABLE}
    (event_id, timestamp, query_id, query, results, total_hits, user_id, session_id,
     retriever_id, metadata, kafka_topic, kafka_partition, kafka_offset)
SELECT
    generateUUIDv4(n), ts, concat('q_', toString(n)), concat('query ', toString(qi)),
    if(zero, [], arrayMap(c -> concat('doc_', toString((qi * 7919 + c * 104729) % {DOCS})),
                          ranked)),
    if(zero, 0, {CANDIDATES}),
    concat('user_', toString(cityHash64(n, 8) % 50000)), concat('sess_', toString(intDiv(n, 2))),
    'ret_default', '{{}}', '', 0, n
FROM ({_SEARCHES})
"""

_INSERT_INTERACTIONS = f"""
INSERT INTO {INTERACTIONS_TABLE}
    (event_id, timestamp, feature_id, interaction_type, position, user_id, session_id,
     retriever_id, query_id, query, duration_ms, metadata, kafka_topic, kafka_partition,
     kafka_offset)
SELECT
    generateUUIDv4(cityHash64(n, ev.1, ev.2)), ts + toIntervalMillisecond(ev.4),
    concat('doc_', toString((qi * 7919 + ranked[ev.1 + 1] * 104729) % {DOCS})),
    if(ev.2 = 'click',
       if(ev.3 >= 4000, ['click', 'long_view'], ['click']), [ev.2]),
    ev.1,
    concat('user_', toString(cityHash64(n, 8) % 50000)), concat('sess_', toString(intDiv(n, 2))),
    'ret_default', concat('q_', toString(n)), concat('query ', toString(qi)),
    if(ev.3 > 0, toUInt32(ev.3), NULL), '{{}}', '', 0, n
FROM
(
    SELECT *,
        arrayMap(k -> {u("n", "k", 9)} < 1 / (k + 1) AND {u("n", "k", 10)} < rel[k + 1],
                 range({SHOWN})) AS clicked,
        arrayMap(k -> clicked[k + 1] AND {u("n", "k", 11)} < rel[k + 1], range({SHOWN}))
            AS satisfied,
        arrayLastIndex(x -> x, clicked) - 1 AS last_click,
        arrayFlatten(arrayMap(
            k -> arrayConcat(
                if(clicked[k + 1],
                   [(k, 'click',
                     toUInt32(if(satisfied[k + 1], 4000 + 60000 * {u("n", "k", 12)},
                                 200 + 3700 * {u("n", "k", 12)})),
                     1500 * (k + 1))],
                   []),
                if(satisfied[k + 1] AND {u("n", "k", 13)} < 0.2,
                   [(k, 'purchase', toUInt32(0), 1500 * (k + 1) + 3000)], []),
                if(clicked[k + 1] AND NOT satisfied[k + 1],
                   [(k, 'return_to_results', toUInt32(0), 1500 * (k + 1) + 2000)], []),
                if(NOT clicked[k + 1] AND k < last_click AND {u("n", "k", 9)} < 1 / (k + 1)
                       AND {u("n", "k", 14)} < 0.3,
                   [(k, 'skip', toUInt32(0), 1500 * (k + 1))], [])),
            range({SHOWN}))) AS events
    FROM ({_SEARCHES})
    WHERE NOT zero
)
ARRAY JOIN events AS ev
"""


def generate(settings: Settings, total_events: int) -> dict[str, Any]:
    backend = open_backend(settings)
    try:
        migrate(backend)
        searches = int(total_events / (1 + INTERACTIONS_PER_SEARCH))
        params = {
            "searches": searches,
            "end_s": int(END.timestamp()),
            "span_s": DAYS * 86_400,
        }
        started = time.perf_counter()
        backend.command(_INSERT_SEARCHES, params)
        backend.command(_INSERT_INTERACTIONS, params)
        counts = {
            table: backend.query(f"SELECT count() AS n FROM {table}")[0]["n"]
            for table in (SEARCH_EVENTS_TABLE, INTERACTIONS_TABLE)
        }
        backend.command(f"OPTIMIZE TABLE {SEARCH_EVENTS_TABLE} FINAL")
        backend.command(f"OPTIMIZE TABLE {INTERACTIONS_TABLE} FINAL")
        return {
            "searches": counts[SEARCH_EVENTS_TABLE],
            "interactions": counts[INTERACTIONS_TABLE],
            "events": sum(counts.values()),
            "generate_s": time.perf_counter() - started,
        }
    finally:
        backend.close()


def counts(settings: Settings) -> dict[str, Any]:
    backend = open_backend(settings)
    try:
        found = {
            table: backend.query(f"SELECT count() AS n FROM {table}")[0]["n"]
            for table in (SEARCH_EVENTS_TABLE, INTERACTIONS_TABLE)
        }
    finally:
        backend.close()
    return {
        "searches": found[SEARCH_EVENTS_TABLE],
        "interactions": found[INTERACTIONS_TABLE],
        "events": sum(found.values()),
        "generate_s": None,
    }


# -- children ------------------------------------------------------------------------------
class RecordingBackend:
    """Passes every call through and remembers the SQL and parameters (for the baseline)."""

    def __init__(self, inner: ClickHouseBackend) -> None:
        self.inner = inner
        self.log: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def query(self, sql: str, params: Any = None) -> Any:
        self.log.append({"sql": sql, "params": dict(params or {})})
        return self.inner.query(sql, params)

    def query_arrow(self, sql: str, params: Any = None) -> Any:
        self.log.append({"sql": sql, "params": dict(params or {})})
        return self.inner.query_arrow(sql, params)

    def query_arrow_batches(self, sql: str, params: Any = None, **kwargs: Any) -> Any:
        self.log.append({"sql": sql, "params": dict(params or {})})
        return self.inner.query_arrow_batches(sql, params, **kwargs)


def _cpu_s() -> float:
    """CPU seconds of this process, every thread (chDB's included): on a shared machine a
    steadier figure of the work than wall time, which waits for other people's jobs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    with Path("/proc/self/statm").open() as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


class RssSampler:
    """Highest resident set size seen while running, sampled every 10 ms.

    chDB maps a large library into the process, so the process high-water mark (ru_maxrss)
    is mostly that library; growth above the level before the timed work is what the work
    itself costs.
    """

    def __init__(self) -> None:
        self.start_mb = _rss_mb()
        self.peak_mb = self.start_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, _rss_mb())
        return {"peak_rss_mb": self.peak_mb, "growth_mb": self.peak_mb - self.start_mb}


def child(kind: str, db: Path, days: float, log: Path, out: Path) -> dict[str, Any]:
    settings = Settings(clickhouse_url=f"chdb://{db}")
    span = DateRange(END - timedelta(days=days), END)
    if kind == "baseline":
        from chdb import session as chdb_session

        session_class: Any = chdb_session.Session  # chDB ships no type hints
        session = session_class(str(db))
        session.query("SELECT 1")
        calls = orjson.loads(log.read_bytes())
        sampler = RssSampler()
        started, cpu = time.perf_counter(), _cpu_s()
        rows = 0
        for call in calls:
            table = session.query(call["sql"], "ArrowTable", params=call["params"] or None)
            rows += table.num_rows
        wall, cpu = time.perf_counter() - started, _cpu_s() - cpu
        memory = sampler.stop()
        session.close()
        return {"wall_s": wall, "cpu_s": cpu, **memory, "rows": rows}
    if kind == "export_python":
        return _python_heap(settings, span, out)
    backend = RecordingBackend(open_backend(settings))
    backend.query("SELECT 1")  # open the folder before timing, as the baseline does
    backend.log.clear()
    analytics = Analytics(backend, settings)
    sampler = RssSampler()
    started, cpu = time.perf_counter(), _cpu_s()
    if kind == "report":
        report = analytics.report(span)
        orjson.dumps(report.to_dict())
        extra: dict[str, Any] = {"ctr_at_0": report.ctr_by_position[0]["ctr"]}
    else:
        summary = analytics.export_training(out, ExportOptions(span))
        extra = {
            "pairs": summary.pairs,
            "queries": summary.queries,
            "ess_ratio": round(summary.effective_sample_ratio, 3),
            "ipw_ess_ratio": round(summary.ipw_effective_sample_ratio, 3),
        }
    wall, cpu = time.perf_counter() - started, _cpu_s() - cpu
    memory = sampler.stop()
    backend.close()
    log.write_bytes(orjson.dumps(backend.log))
    return {"wall_s": wall, "cpu_s": cpu, **memory, **extra}


def _python_heap(settings: Settings, span: DateRange, out: Path) -> dict[str, Any]:
    """Peak Python heap of the export (tracemalloc): what streaming keeps flat. The bias is
    the prior here, so only the export itself is measured."""
    backend = open_backend(settings)
    backend.query("SELECT 1")
    tracemalloc.start()
    summary = Analytics(backend, settings).export_training(
        out, ExportOptions(span), bias=BiasEstimate.prior_only(50)
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    backend.close()
    return {"python_peak_mb": peak / 2**20, "pairs": summary.pairs}


def run_child(kind: str, db: Path, days: float, log: Path, out: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, "--db", str(db), "--days", str(days),
               "--log", str(log), "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, timeout=CHILD_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    load_before = [round(x, 2) for x in os.getloadavg()]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="Keep the chDB folder.")
    parser.add_argument("--reuse", type=Path, help="A folder kept by --keep: skip generation.")
    parser.add_argument("--child", choices=["report", "export", "baseline", "export_python"])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--days", type=float, default=DAYS)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        print(orjson.dumps(child(args.child, args.db, args.days, args.log, args.out)).decode())
        return

    work = Path(tempfile.mkdtemp(prefix="bench-analytics-"))
    db = args.reuse or work / "chdb"
    try:
        if args.reuse:
            data = counts(Settings(clickhouse_url=f"chdb://{db}"))
        else:
            print(f"generating ~{args.events:,} events in chDB at {db} ...", flush=True)
            data = generate(Settings(clickhouse_url=f"chdb://{db}"), args.events)
        made = "reused" if data["generate_s"] is None else f"in {data['generate_s']:.1f} s"
        print(
            f"  {data['events']:,} events ({data['searches']:,} searches, "
            f"{data['interactions']:,} interactions) {made}",
            flush=True,
        )
        figures: dict[str, Any] = {"data": data}
        for label, kind, days in (
            ("report", "report", 7.0),  # `interactions report` default: last 7 days (+ WoW)
            ("export", "export", float(DAYS)),
            ("export_quarter", "export", DAYS / 4),
        ):
            log, out = work / f"{label}.json", work / f"{label}.parquet"
            ours = run_child(kind, db, days, log, out)
            base = run_child("baseline", db, days, log, out)
            figures[label] = {"ours": ours, "baseline": base}
            ratio = ours["wall_s"] / base["wall_s"] if base["wall_s"] else float("nan")
            print(
                f"{label:>15}: ours {ours['wall_s']:6.2f} s (cpu {ours['cpu_s']:5.1f} s), "
                f"+{ours['growth_mb']:5.0f} MB (peak {ours['peak_rss_mb']:5.0f}) | baseline "
                f"(same SQL, raw chDB) {base['wall_s']:6.2f} s (cpu {base['cpu_s']:5.1f} s), "
                f"+{base['growth_mb']:5.0f} MB (peak {base['peak_rss_mb']:5.0f}) | "
                f"time ratio {ratio:.2f}",
                flush=True,
            )
        full, quarter = figures["export"]["ours"], figures["export_quarter"]["ours"]
        heap = {
            label: run_child("export_python", db, days, work / "heap.json", work / "heap.parquet")
            for label, days in (("quarter", DAYS / 4), ("full", float(DAYS)))
        }
        figures["export_python_heap"] = heap
        print(
            f"export memory: process growth {quarter['growth_mb']:.0f} MB for a quarter of the "
            f"events, {full['growth_mb']:.0f} MB for all (mostly ClickHouse's own); Python heap "
            f"peak {heap['quarter']['python_peak_mb']:.0f} MB vs "
            f"{heap['full']['python_peak_mb']:.0f} MB (streamed)"
        )
        print(
            f"targets: report < 5 s: {figures['report']['ours']['wall_s']:.2f} s; "
            f"export < 60 s: {full['wall_s']:.2f} s"
        )
        print(orjson.dumps(figures).decode())
        record("analytics", figures, load_before=load_before)
    finally:
        if args.keep and not args.reuse:
            for item in work.iterdir():
                if item != db:
                    item.unlink()
            print(f"kept {db} (rerun with --reuse {db})")
        else:
            shutil.rmtree(work, ignore_errors=True)  # a --reuse folder lives outside `work`


if __name__ == "__main__":
    main()
