"""`interactions report --html FILE`: the weekly review as one self-contained HTML file.

Self-contained because it is forwarded: the stylesheet, the chart library (vendored Chart.js,
MIT, its licence header kept) and the chart code are inlined, and nothing is fetched, so it
opens from a mail attachment on a machine without internet access. Every number is also in
an HTML table, so a reader whose mail client blocks scripts still has the whole report; the
charts draw on top. Regressions come first, then the headline, the charts and the lists.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib import resources
from string import Template
from typing import Any, Final

import orjson

_PACKAGE = resources.files("interaction_pipeline.console")
_DRAW: Final = """
(function () {
  var view = JSON.parse(document.getElementById("report-data").textContent);
  var ctr = document.getElementById("chart-ctr");
  PipelineCharts.ctrByPosition(ctr, view.ctr_by_position,
    view.ctr_source === "impressions" ? "CTR" : "CTR proxy");
  if (view.examination) PipelineCharts.examination(document.getElementById("chart-bias"),
    view.examination);
  document.body.dataset.loaded = "true";
})();
"""


def _asset(name: str) -> str:
    return (_PACKAGE / "static" / name).read_text(encoding="utf-8")


def _script(code: str) -> str:
    """Inline script text, safe inside <script> (no early end tag)."""
    return code.replace("</script", "<\\/script")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _change(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1%}"


def _table(
    caption: str,
    rows: Sequence[dict[str, Any]] | None,
    columns: Sequence[tuple[str, str]] | None = None,
    *,
    empty: str = "none",
    formats: dict[str, Callable[[Any], str]] | None = None,
    row_class: Callable[[dict[str, Any]], str] | None = None,
) -> str:
    """An escaped HTML table; `columns` as (key, heading), default every key of the first row."""
    rows = list(rows or [])
    columns = list(columns or [(k, k) for k in (rows[0] if rows else {})])
    formats = formats or {}
    head = "".join(f'<th scope="col">{html.escape(h)}</th>' for _, h in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            text = formats[key](value) if key in formats else _fmt(value)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cells.append(f"<td{' class=num' if numeric else ''}>{html.escape(text)}</td>")
        cls = row_class(row) if row_class else ""
        body.append(f"<tr{f' class={cls}' if cls else ''}>{''.join(cells)}</tr>")
    if not rows:
        body.append(
            f'<tr><td class="empty" colspan="{max(1, len(columns))}">{html.escape(empty)}</td></tr>'
        )
    return (
        f'<table class="data"><caption>{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _regressions(view: dict[str, Any]) -> str:
    items = view["regressions"]
    if not items:
        return '<div class="ok"><strong>No regression flagged week over week.</strong></div>'
    lines = "".join(
        f"<li><strong>{html.escape(c['metric'])}</strong>: {_fmt(c['previous'])} → "
        f"{_fmt(c['current'])} ({_change(c['change'])}; {html.escape(c['better'])} is better)</li>"
        for c in items
    )
    return (
        f'<div class="alert"><strong>{len(items)} regression(s) week over week</strong>'
        f"<ul>{lines}</ul></div>"
    )


def _span(date_range: dict[str, str]) -> str:
    def short(text: str) -> str:
        return text[:16].replace("T", " ")

    return f"{short(date_range['start'])} .. {short(date_range['end'])} UTC"


def _section(key: str, title: str, *parts: str) -> str:
    return (
        f'<section aria-labelledby="{key}-title"><h2 id="{key}-title">{html.escape(title)}</h2>'
        f"{''.join(parts)}</section>"
    )


def _canvas(key: str, label: str) -> str:
    return (
        f'<div class="chart"><canvas id="chart-{key}" role="img" '
        f'aria-label="{html.escape(label)}"></canvas></div>'
    )


def _columns(rows: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Chart series (name -> values) back into table rows."""
    names = list(rows)
    return [dict(zip(names, values, strict=True)) for values in zip(*rows.values(), strict=True)]


def _lists(view: dict[str, Any]) -> list[str]:
    def missing(rows: Any, otherwise: str) -> str:
        return "needs search events" if rows is None else otherwise

    low, zero = view["low_ctr_queries"], view["zero_result_queries"]
    return [
        _section(
            "skip",
            "Top results skipped",
            _table(
                "Ranked high but clicked far less than their positions predict",
                view["skipped_top_results"],
                empty="no top result is skipped unusually often",
            ),
        ),
        _section(
            "low",
            "Low-CTR queries",
            _table(
                "Queries with enough impressions and a CTR under the threshold",
                low,
                empty=missing(low, "no low-CTR query"),
            ),
        ),
        _section(
            "zero",
            "Zero-result queries",
            _table(
                "Searches that returned nothing", zero, empty=missing(zero, "no zero-result query")
            ),
        ),
    ]


WOW_COLUMNS: Final = (
    ("metric", "metric"),
    ("better", "better"),
    ("previous", "previous"),
    ("current", "current"),
    ("change", "change"),
    ("regressed", "flag"),
)


def render_report_html(view: dict[str, Any], *, generated_at: datetime) -> str:
    """The report page for a relevance view (`relevance_view`); returns the whole document."""
    wow = view["week_over_week"]
    scope = view["retriever"] or "all retrievers"
    span = _span(view["date_range"])
    exam = view["examination"]
    exam_rows = (
        _columns({k: exam[k] for k in ("position", "estimated", "prior", "source")}) if exam else []
    )
    prior = exam["prior_label"] if exam else ""
    volume = "searches" if view["has_search_events"] else "clicks"
    ctr_caption = (
        "CTR by position (clicks / impressions)"
        if view["ctr_source"] == "impressions"
        else "CTR proxy by position (clicks / (clicks + skips); no search events)"
    )
    notes = [*view["notes"], *(exam["notes"] if exam else [])]
    lead = (
        f"{span} · week over week: {wow['previous_volume']:,} → {wow['current_volume']:,} "
        f"{volume} · generated {generated_at:%Y-%m-%d %H:%M} UTC"
    )
    parts = [
        f'<header class="report-head"><h1>Relevance report: {html.escape(scope)}</h1>'
        f'<p class="lead">{html.escape(lead)} by <code>interactions report --html</code></p>'
        "</header>",
        _section(
            "reg",
            "Regressions",
            f'<div class="regressions">{_regressions(view)}</div>',
            _table(
                "Headline metrics, the last 7 days of the range against the 7 before; "
                "regressions first",
                wow["changes"],
                WOW_COLUMNS,
                formats={"change": _change, "regressed": lambda v: "REGRESSED" if v else ""},
                row_class=lambda r: "regressed" if r["regressed"] else "",
            ),
        ),
        _section(
            "head",
            "Headline",
            _table(
                "The whole range",
                [{"metric": k, "value": v} for k, v in view["headline"].items()],
            ),
        ),
        '<div class="two">',
        _section(
            "ctr",
            "CTR by position",
            _canvas("ctr", ctr_caption),
            _table(ctr_caption, _columns(view["ctr_by_position"])),
        ),
        _section(
            "bias",
            "Examination curve",
            _canvas("bias", "Estimated examination propensity by position beside the prior"),
            _table(
                f"Estimated examination (EM) beside the prior {prior}",
                exam_rows,
                empty="no estimate",
            ),
        ),
        "</div>",
        *_lists(view),
        _section(
            "notes",
            "Notes",
            "<ul>" + ("".join(f"<li>{html.escape(n)}</li>" for n in notes) or "<li>none</li>"),
            "</ul>",
        ),
    ]
    data = orjson.dumps(view).decode()
    return Template(_REPORT).substitute(
        title=html.escape(f"Relevance report, {scope}, {span}"),
        style=_asset("console.css"),
        body="\n".join(parts),
        data=_script(data.replace("<", "\\u003c")),
        charting=_script(_asset("vendor/chart.umd.min.js")),
        charts=_script(_asset("charts.js")),
        draw=_script(_DRAW),
    )


_REPORT: Final = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<link rel="icon" href="data:,">
<style>
$style
.report-head h1 { margin-top: .2em; }
</style>
</head>
<body>
<main id="main">
$body
</main>
<script type="application/json" id="report-data">$data</script>
<script>
$charting
</script>
<script>
$charts
</script>
<script>
$draw
</script>
</body>
</html>
"""
