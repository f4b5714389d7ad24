"""The shipped SQL files against tables built from sinks/ddl.py.

The SQL files spell table and column names so that an analyst can run them by hand; these
tests keep them tied to the one DDL: every file runs on a database made by `migrate`, and the
tables it reads are the ones schemas names.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from interaction_pipeline.analytics import DateRange, QueryRunner, sql_names, sql_text
from schemas.settings import Settings
from sinks import ClickHouseBackend
from sinks.ddl import INTERACTIONS_TABLE, SEARCH_EVENTS_TABLE
from tests.analytics_support import (
    at,
    chdb_settings,
    insert_events,
    interaction,
    migrated_backend,
    search,
)

pytestmark = pytest.mark.integration

EXTRA = {
    "max_positions": 20,
    "top_k": 3,
    "min_impressions": 1,
    "max_click_ratio": 0.5,
    "min_skip_rate": 0.5,
    "max_ctr": 0.05,
    "min_query_impressions": 1,
    "min_searches": 1,
    "limit": 10,
    "clip": 20.0,
    "propensity": "1,0.5,0.33",
    "min_interactions": 1,
    "skip_margin": 1,
    "previous_start": "2025-01-01",
    "previous_end": "2025-01-08",
    # counterfactual_estimate.sql
    "metric_types": "click,long_view",
    "theta": [1.0, 0.5, 0.33],
    "prior_strength": 1.0,
    "support_ratio": 0.5,
    # counterfactual_boost_counts.sql
    "boost_type_names": "click,purchase",
    "boost_type_weights": "1,5",
    "window_ms": 7 * 24 * 3_600_000,
    "counts_start": "2024-12-24",
}
RANGE = DateRange.parse("last_7_days")


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseBackend]:
    backend = migrated_backend(chdb_settings(tmp_path_factory.mktemp("sql") / "chdb"))
    yield backend
    backend.close()


def test_every_metric_has_a_file() -> None:
    assert set(sql_names()) >= {
        "query_stats",
        "ctr_by_position",
        "skipped_top_results",
        "zero_result_queries",
        "dwell_distribution",
        "click_counts",
        "training_pairs",
    }


@pytest.mark.parametrize("name", sql_names())
@pytest.mark.parametrize("dedupe", [False, True])
def test_sql_runs_on_the_ddl_tables(
    backend: ClickHouseBackend, settings: Settings, name: str, dedupe: bool
) -> None:
    runner = QueryRunner(backend, settings, dedupe=dedupe)
    rows = runner.rows(name, RANGE, None, **EXTRA)
    assert isinstance(rows, list)


@pytest.mark.parametrize("name", sql_names())
def test_sql_reads_only_tables_named_in_schemas(name: str) -> None:
    text = re.sub(r"--[^\n]*", "", sql_text(name))
    ctes = set(re.findall(r"(\w+)\s+AS\s*\(", text))
    read = set(re.findall(r"\b(?:FROM|(?<!ARRAY )JOIN)\s+(\w+)", text)) - ctes
    assert read <= {INTERACTIONS_TABLE, SEARCH_EVENTS_TABLE}, read


@pytest.mark.parametrize("name", sql_names())
def test_sql_documents_its_parameters(name: str) -> None:
    text = sql_text(name)
    header = "\n".join(line for line in text.splitlines() if line.startswith("--"))
    assert "Parameters" in header
    for param in set(re.findall(r"\{(\w+):", text)) - {"start", "end", "retriever"}:
        assert param in header or "see query_stats.sql" in header, f"{name}: undocumented {param}"


def _dashboard_module() -> ModuleType:
    """deploy/ is not a package (nothing imports it), so load the generator by path."""
    path = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "build_dashboard.py"
    spec = importlib.util.spec_from_file_location("build_dashboard", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_grafana_dashboard_is_up_to_date() -> None:
    module = _dashboard_module()
    assert module.OUTPUT.read_bytes() == module.render(), "run deploy/grafana/build_dashboard.py"


def test_grafana_panels_run_on_the_ddl_tables(backend: ClickHouseBackend) -> None:
    module = _dashboard_module()
    panels = module._all_panels(module.build()["panels"])
    queries = [t["rawSql"] for p in panels for t in p.get("targets", [])]
    assert len(queries) >= 12
    for sql in queries:
        # What the ClickHouse data source plugin puts in place of its macros and variables.
        filled = (
            sql.replace("$__fromTime", "toDateTime(1735689600)")
            .replace("$__toTime", "toDateTime(1736294400)")
            .replace("${retriever}", "")
        )
        assert "$" not in filled and "{" not in filled.replace("'{}'", "")
        assert isinstance(backend.query(filled), list)


# -- known duplicates, known answers ---------------------------------------------------------
#
# r1: S1 "Red Shoes" [a b c] stored TWICE (a producer's resend: same event_id), its click on
#     b@1 stored TWICE too; S2 "red shoes" [a b] with a click on a@0; S3 "blue hat" with
#     zero results, stored TWICE. r2: S4 "red shoes" [a b c] with a click on c@2.
# Each copy is its own insert (its own part) and merges are stopped, so the duplicates stay
# until a query folds them: without FINAL they count, with FINAL (dedupe=True) they do not.

DUP_RANGE = DateRange.parse("2025-01-01..2025-01-31")


@pytest.fixture(scope="module")
def duplicated(backend: ClickHouseBackend) -> ClickHouseBackend:
    """The module's database (chDB opens one folder per process), with the rows above."""
    for table in (INTERACTIONS_TABLE, SEARCH_EVENTS_TABLE):
        backend.command(f"SYSTEM STOP MERGES {table}")
    t = at("2025-01-10 10:00")
    s1 = search("q1", "Red Shoes", ["a", "b", "c"], t)
    s2 = search("q2", "red shoes", ["a", "b"], t + timedelta(hours=1))
    s3 = search("q3", "blue hat", [], t + timedelta(hours=2), total_hits=0)
    s4 = search("q4", "red shoes", ["a", "b", "c"], t + timedelta(hours=3), retriever="r2")
    c1 = interaction("b", ["click"], 1, t + timedelta(seconds=5), query_id="q1")
    c2 = interaction("a", ["click"], 0, t + timedelta(hours=1, seconds=5), query_id="q2")
    c4 = interaction(
        "c", ["click"], 2, t + timedelta(hours=3, seconds=5), query_id="q4", retriever="r2"
    )
    for batch in ([s1, s2, s3, s4, c1, c2, c4], [s1, c1], [s3]):  # resends: own inserts
        insert_events(backend, batch)
    return backend


def _ctr(rows: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    return {int(r["position"]): (int(r["impressions"]), int(r["clicks"])) for r in rows}


@pytest.mark.parametrize(
    ("retriever", "dedupe", "expected"),
    [
        ("r1", False, {0: (3, 1), 1: (3, 2), 2: (2, 0)}),
        ("r1", True, {0: (2, 1), 1: (2, 1), 2: (1, 0)}),
        ("", False, {0: (4, 1), 1: (4, 2), 2: (3, 1)}),
        ("", True, {0: (3, 1), 1: (3, 1), 2: (2, 1)}),
    ],
    ids=["r1-raw", "r1-final", "all-raw", "all-final"],
)
def test_ctr_by_position_on_known_duplicates(
    duplicated: ClickHouseBackend,
    settings: Settings,
    retriever: str,
    dedupe: bool,
    expected: dict[int, tuple[int, int]],
) -> None:
    runner = QueryRunner(duplicated, settings, dedupe=dedupe)
    rows = runner.rows("ctr_by_position", DUP_RANGE, retriever or None, max_positions=20)
    assert _ctr(rows) == expected
    for row in rows:
        impressions, clicks = expected[int(row["position"])]
        assert row["ctr"] == pytest.approx(clicks / impressions)


@pytest.mark.parametrize(
    ("retriever", "dedupe", "searches", "all_searches"),
    [("r1", False, 2, 5), ("r1", True, 1, 3), ("", False, 2, 6), ("", True, 1, 4)],
    ids=["r1-raw", "r1-final", "all-raw", "all-final"],
)
def test_zero_result_queries_on_known_duplicates(
    duplicated: ClickHouseBackend,
    settings: Settings,
    retriever: str,
    dedupe: bool,
    searches: int,
    all_searches: int,
) -> None:
    runner = QueryRunner(duplicated, settings, dedupe=dedupe)
    rows = runner.rows("zero_result_queries", DUP_RANGE, retriever or None, limit=10)
    assert [(r["query"], int(r["searches"])) for r in rows] == [("blue hat", searches)]
    assert rows[0]["share_of_searches"] == pytest.approx(searches / all_searches)


def test_the_duplicates_really_are_stored_twice(duplicated: ClickHouseBackend) -> None:
    """The premise of the two tests above: without FINAL the copies are all there."""
    raw = duplicated.query(f"SELECT count() AS n FROM {SEARCH_EVENTS_TABLE}")[0]["n"]
    final = duplicated.query(f"SELECT count() AS n FROM {SEARCH_EVENTS_TABLE} FINAL")[0]["n"]
    assert (int(raw), int(final)) == (6, 4)
