"""Read-only analytics over ClickHouse: relevance report, position bias, training export.

The seed's calls work at module level on the default connection
(`analytics.get_query_document_pairs(date_range="last_30_days", min_interactions=2)`);
`Analytics(backend, settings)` gives the same on a backend of your own. The SQL behind
every number ships under interaction_pipeline/analytics/sql/ for analysts to run by hand.
"""

from interaction_pipeline.analytics._api import Analytics
from interaction_pipeline.analytics._default import (
    get_query_document_pairs,
    get_retriever_signals,
    position_bias,
)
from interaction_pipeline.analytics._sql import QueryRunner, sql_names, sql_text, vocabulary
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
from interaction_pipeline.analytics.export import ExportSummary, TrainingExporter
from interaction_pipeline.analytics.pairs import ExportOptions, TextLookup, TrainingPair
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
    "get_query_document_pairs",
    "get_retriever_signals",
    "position_bias",
    "prior_propensity",
    "sql_names",
    "sql_text",
    "vocabulary",
]
