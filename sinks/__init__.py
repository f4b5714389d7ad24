"""The Kafka-to-ClickHouse sink, the ClickHouse backends, the query/export API and GDPR deletion.

Other packages use the backend interface: `open_backend(settings)` returns a
`ClickHouseBackend` (chDB in-process or a ClickHouse server) with `command`, `query`,
`query_arrow`, `query_arrow_batches`, `insert`, `insert_arrow`, `release`, `others_waiting`,
`close`.
"""

from sinks._backend import (
    BackendBusyError,
    BackendError,
    BackendKind,
    ClickHouseBackend,
    Params,
    open_backend,
)
from sinks._export import EXPORT_FORMATS, ExportFormat, export_interactions
from sinks._gdpr import DeletionReport, delete_interaction, forget_user
from sinks._metrics import SinkMetrics
from sinks._migrate import MigrationReport, migrate, require_schema
from sinks._queries import (
    MAX_PAGE_SIZE,
    InteractionFilter,
    InteractionPage,
    InteractionQueries,
    InvalidCursorError,
)
from sinks._sink import ClickHouseSink, SinkStats, consumer_config

__all__ = [
    "EXPORT_FORMATS",
    "MAX_PAGE_SIZE",
    "BackendBusyError",
    "BackendError",
    "BackendKind",
    "ClickHouseBackend",
    "ClickHouseSink",
    "DeletionReport",
    "ExportFormat",
    "InteractionFilter",
    "InteractionPage",
    "InteractionQueries",
    "InvalidCursorError",
    "MigrationReport",
    "Params",
    "SinkMetrics",
    "SinkStats",
    "consumer_config",
    "delete_interaction",
    "export_interactions",
    "forget_user",
    "migrate",
    "open_backend",
    "require_schema",
]
