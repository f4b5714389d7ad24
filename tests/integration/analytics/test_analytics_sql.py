"""The shipped SQL files against tables built from sinks/ddl.py.

The SQL files spell table and column names so that an analyst can run them by hand; these
tests keep them tied to the one DDL: every file runs on a database made by `migrate`, and the
tables it reads are the ones schemas names.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from interaction_pipeline.analytics import DateRange, QueryRunner, sql_names, sql_text
from schemas.settings import Settings
from sinks import ClickHouseBackend
from sinks.ddl import INTERACTIONS_TABLE, SEARCH_EVENTS_TABLE
from tests.analytics_support import chdb_settings, migrated_backend

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
