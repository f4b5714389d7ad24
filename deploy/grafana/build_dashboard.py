"""Build relevance-dashboard.json from the SQL files under interaction_pipeline/analytics/sql/.

    python deploy/grafana/build_dashboard.py          # rewrite the dashboard
    python deploy/grafana/build_dashboard.py --check  # exit 1 if it is out of date

The dashboard runs the very SQL `interactions report` runs (one source of truth), through
the ClickHouse data source plugin (grafana-clickhouse-datasource): the date range becomes the
dashboard's time range ($__fromTime / $__toTime), the retriever a text variable (empty = all),
and the type vocabulary and thresholds are written in as literals with the report's defaults.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import orjson

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from interaction_pipeline.analytics import sql_text, vocabulary  # noqa: E402
from interaction_pipeline.analytics.report import ReportOptions, query_parameters  # noqa: E402
from schemas.settings import Settings  # noqa: E402

OUTPUT = Path(__file__).with_name("relevance-dashboard.json")
DATASOURCE = {"type": "grafana-clickhouse-datasource", "uid": "${datasource}"}
_PARAM = re.compile(r"\{(\w+):([^}]+)\}")
_START = "parseDateTime64BestEffort({start:String}, 3, 'UTC')"
_END = "parseDateTime64BestEffort({end:String}, 3, 'UTC')"
_PREVIOUS_START = "parseDateTime64BestEffort({previous_start:String}, 3, 'UTC')"
_PREVIOUS_END = "parseDateTime64BestEffort({previous_end:String}, 3, 'UTC')"
_SPAN = "toIntervalSecond(dateDiff('second', $__fromTime, $__toTime))"


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


def grafana_sql(name: str, start: str = "$__fromTime", end: str = "$__toTime") -> str:
    """The file's SQL with the time range, retriever and parameters filled in for Grafana."""
    values = {**vocabulary(Settings.model_construct()), **query_parameters(ReportOptions())[name]}
    text = "\n".join(line for line in sql_text(name).splitlines() if not line.startswith("--"))
    text = text.replace(_START, f"toDateTime64({start}, 3, 'UTC')")
    text = text.replace(_END, f"toDateTime64({end}, 3, 'UTC')")
    # The comparison window of query_stats: the same length just before the dashboard's.
    text = text.replace(_PREVIOUS_START, f"toDateTime64({start}, 3, 'UTC') - {_SPAN}")
    text = text.replace(_PREVIOUS_END, f"toDateTime64({start}, 3, 'UTC')")

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "retriever":
            return "'${retriever}'"
        return _literal(values[key])

    return _PARAM.sub(fill, text).strip()


def _target(sql: str, ref: str = "A") -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "editorType": "sql",
        "format": 1,
        "queryType": "table",
        "rawSql": sql,
        "refId": ref,
    }


def _panel(
    title: str, kind: str, sql: str, grid: tuple[int, int, int, int], **extra: Any
) -> dict[str, Any]:
    x, y, w, h = grid
    return {
        "title": title,
        "type": kind,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [_target(sql)],
        **extra,
    }


def _period_over_period(stats: str) -> str:
    """The dashboard's range against the same length of time just before it."""
    return f"SELECT * FROM (\n{stats}\n) WHERE kind != 'query'"


def build() -> dict[str, Any]:
    headline_fields = (
        "ctr|search_ctr|zero_result_rate|conversion_rate|long_click_share|"
        "avg_first_click_position|median_time_to_first_click_s"
    )
    stats = grafana_sql("query_stats")
    panels = [
        _panel(
            "Headline",
            "stat",
            f"SELECT * FROM (\n{stats}\n) WHERE kind = 'total'",
            (0, 0, 24, 5),
            options={"reduceOptions": {"fields": f"/^({headline_fields})$/", "values": False}},
        ),
        _panel(
            "CTR by position (clicks / impressions)",
            "barchart",
            grafana_sql("ctr_by_position"),
            (0, 5, 12, 8),
            options={"xField": "position"},
        ),
        _panel(
            "Dwell time of clicks",
            "barchart",
            grafana_sql("dwell_distribution"),
            (12, 5, 12, 8),
            options={"xField": "lower_ms"},
        ),
        _panel(
            "Top results clicked far less than expected",
            "table",
            grafana_sql("skipped_top_results"),
            (0, 13, 24, 8),
        ),
        _panel(
            "Low-CTR queries",
            "table",
            f"SELECT * FROM (\n{stats}\n) WHERE low_ctr_rank > 0 ORDER BY low_ctr_rank",
            (0, 21, 12, 8),
        ),
        _panel("Zero-result queries", "table", grafana_sql("zero_result_queries"), (12, 21, 12, 8)),
        _panel(
            "Time to first click and first-click position by query",
            "table",
            f"SELECT * FROM (\n{stats}\n) WHERE busy_rank > 0 ORDER BY busy_rank",
            (0, 29, 12, 8),
        ),
        _panel(
            "This period against the one before (week over week for a 7-day range)",
            "table",
            _period_over_period(stats),
            (12, 29, 12, 8),
        ),
        _panel("Retrievers", "table", grafana_sql("retrievers"), (0, 37, 24, 5)),
        {
            "title": "Deployments without search events",
            "type": "row",
            "collapsed": True,
            "gridPos": {"x": 0, "y": 42, "w": 24, "h": 1},
            "panels": [
                _panel(
                    "Headline (interactions only)",
                    "stat",
                    grafana_sql("headline_no_search"),
                    (0, 43, 24, 5),
                ),
                _panel(
                    "CTR proxy by position: clicks / (clicks + skips)",
                    "barchart",
                    grafana_sql("ctr_by_position_no_search"),
                    (0, 48, 12, 8),
                    options={"xField": "position"},
                ),
                _panel(
                    "Top results users skip",
                    "table",
                    grafana_sql("skipped_top_results_no_search"),
                    (12, 48, 12, 8),
                ),
            ],
        },
    ]
    for number, panel in enumerate(_all_panels(panels), start=1):
        panel["id"] = number
    return {
        "title": "Interaction pipeline: relevance",
        "uid": "interaction-relevance",
        "description": (
            "The panels of `interactions report`, from interaction_pipeline/analytics/sql/."
        ),
        "tags": ["interactions", "relevance"],
        "timezone": "utc",
        "schemaVersion": 39,
        "time": {"from": "now-7d", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "ClickHouse",
                    "type": "datasource",
                    "query": "grafana-clickhouse-datasource",
                },
                {
                    "name": "retriever",
                    "label": "retriever_id (empty = all)",
                    "type": "textbox",
                    "query": "",
                },
            ]
        },
        "panels": panels,
    }


def _all_panels(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for panel in panels:
        found.append(panel)
        found.extend(_all_panels(panel.get("panels", [])))
    return found


def render() -> bytes:
    return orjson.dumps(build(), option=orjson.OPT_INDENT_2) + b"\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Fail if the file is stale.")
    args = parser.parse_args()
    wanted = render()
    if args.check:
        if not OUTPUT.is_file() or OUTPUT.read_bytes() != wanted:
            print(f"{OUTPUT} is out of date: run python {Path(__file__).relative_to(REPO_ROOT)}")
            sys.exit(1)
        return
    OUTPUT.write_bytes(wanted)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
