"""The one interface every ClickHouse user in the project talks to, and how to get one.

Two implementations sit behind it: chDB in-process (`chdb:///path`, the default) and a
ClickHouse server through clickhouse-connect (`http://host:8123/db`). The same SQL runs on
both. Parameters use ClickHouse's own server-side syntax, `{name:Type}`, on both backends,
so values are never formatted into SQL text.

Rows come back as plain Python values on both backends: UUID columns as `uuid.UUID`,
DateTime64 as timezone-aware `datetime` (UTC), arrays as lists, Nullable as None.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa


Params = Mapping[str, Any]
"""Values for `{name:Type}` placeholders in the SQL text."""

BackendKind = Literal["chdb", "server"]


@runtime_checkable
class ClickHouseBackend(Protocol):
    """What analytics, the sink, the query API and GDPR deletion need from ClickHouse.

    Kept small on purpose: anything else is SQL passed to these methods.
    """

    @property
    def kind(self) -> BackendKind:
        """ "chdb" or "server", for the rare SQL that must differ (there is none today)."""
        ...

    @property
    def database(self) -> str:
        """The database unqualified table names resolve to."""
        ...

    def command(self, sql: str, params: Params | None = None) -> None:
        """Run a statement that returns nothing useful (DDL, DELETE, ALTER, OPTIMIZE)."""
        ...

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        """Run a SELECT and return every row as a column -> value dict (small results)."""
        ...

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        """Run a SELECT and return one Arrow table (medium results, dataframes)."""
        ...

    def query_arrow_batches(
        self, sql: str, params: Params | None = None, *, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """Stream a SELECT as Arrow record batches, so exports stay memory-flat.

        Consume the iterator fully (or close it) before issuing the next statement.
        """
        ...

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        dedup_token: str | None = None,
        optimize_on_insert: bool = True,
    ) -> int:
        """Insert rows (tuples in `columns` order) as one block; returns the row count.

        With `dedup_token`, ClickHouse ignores a repeat of an insert that already succeeded
        under the same token (tables keep a deduplication window), even a partial one.
        `optimize_on_insert=False` skips folding rows with equal sorting keys inside the
        block (ReplacingMergeTree): they fold at the next merge instead, as rows of
        different inserts always do, and `FINAL` reads see them folded either way. It makes
        a chDB insert ~3x cheaper; the sink uses it (it never writes a message twice).
        """
        ...

    def insert_arrow(
        self,
        table: str,
        data: pa.Table,
        *,
        dedup_token: str | None = None,
        optimize_on_insert: bool = True,
    ) -> int:
        """Insert an Arrow table whose column names are table columns; returns the row count.
        Options as for `insert`."""
        ...

    def release(self) -> None:
        """Let go of exclusive resources until the next call (chDB: its folder lock)."""
        ...

    def others_waiting(self) -> bool:
        """True while another process waits for what this backend holds exclusively (chDB:
        the folder); a long-running writer calls `release()` then. Always False on a server."""
        ...

    def close(self) -> None:
        """Release everything; the backend must not be used afterwards."""
        ...


def as_utc(value: Any) -> Any:
    """Naive datetimes from a driver are UTC (all our columns are DateTime64(3, 'UTC'))."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def sql_head(sql: str, limit: int = 120) -> str:
    """The start of a statement on one line, for error messages."""
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
