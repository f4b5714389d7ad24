"""The Kafka-to-ClickHouse sink, the ClickHouse backends and their DDL (`sinks.ddl`), the
query/export API and GDPR deletion of rows.

Other packages use the backend interface: `open_backend(settings)` returns a
`ClickHouseBackend` (chDB in-process or a ClickHouse server) with `command`, `query`,
`query_arrow`, `query_arrow_batches`, `insert`, `insert_arrow`, `release`, `others_waiting`,
`close`.
"""

from schemas.errors import BackendBusyError, BackendError, InvalidCursorError
from sinks._backend import BackendKind, ClickHouseBackend, Params
from sinks._deletion import (
    DeletionReport,
    RowMatch,
    counted_events,
    delete_interaction,
    delete_matching,
    delete_user_rows,
    latest_per_member,
    people_in,
)
from sinks._export import EXPORT_FORMATS, ExportFormat, export_interactions
from sinks._metrics import SinkMetrics
from sinks._migrate import MigrationReport, migrate, require_schema
from sinks._open import open_backend
from sinks._queries import (
    MAX_PAGE_SIZE,
    InteractionFilter,
    InteractionPage,
    InteractionQueries,
    StoredInteraction,
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
    "RowMatch",
    "SinkMetrics",
    "SinkStats",
    "StoredInteraction",
    "consumer_config",
    "counted_events",
    "delete_interaction",
    "delete_matching",
    "delete_user_rows",
    "export_interactions",
    "latest_per_member",
    "migrate",
    "open_backend",
    "people_in",
    "require_schema",
]
