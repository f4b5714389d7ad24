"""Read-only analytics over ClickHouse: relevance report, position bias, training export.

The SQL behind every number ships under analytics/sql/ for analysts to run by hand.
"""

from interaction_pipeline.analytics._api import Analytics
from interaction_pipeline.analytics._sql import QueryRunner, sql_names, sql_text
from interaction_pipeline.analytics.bias import (
    BiasEstimate,
    ClickCounts,
    PositionPropensity,
    RankVariation,
    effective_sample_size,
    estimate_position_bias,
    prior_propensity,
)
from interaction_pipeline.analytics.daterange import DateRange
from interaction_pipeline.analytics.export import (
    ExportOptions,
    ExportSummary,
    TextLookup,
    TrainingExporter,
    TrainingPair,
)
from interaction_pipeline.analytics.report import (
    MetricChange,
    RelevanceReport,
    ReportOptions,
    WeekOverWeek,
)

__all__ = [
    "Analytics",
    "BiasEstimate",
    "ClickCounts",
    "DateRange",
    "ExportOptions",
    "ExportSummary",
    "MetricChange",
    "PositionPropensity",
    "QueryRunner",
    "RankVariation",
    "RelevanceReport",
    "ReportOptions",
    "TextLookup",
    "TrainingExporter",
    "TrainingPair",
    "WeekOverWeek",
    "effective_sample_size",
    "estimate_position_bias",
    "prior_propensity",
    "sql_names",
    "sql_text",
]
