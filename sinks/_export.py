"""Bulk export of interactions as JSON lines or Parquet, streamed batch by batch.

Rows are read in the table's sort order (feature_id, timestamp, event_id), which ClickHouse
streams without sorting everything first, and written as each Arrow batch arrives: memory
stays at one batch whatever the table size.

* `jsonl`: one event per line in the seed's JSON shape (what a client sent, plus event_id and
  timestamp), ready to re-produce or feed to other tools.
* `parquet`: the stored columns (metadata as its JSON text, interaction_type as a list,
  query and duration_ms as columns), for dataframes and training pipelines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Final, Literal

import orjson
import pyarrow as pa

from schemas.errors import InvalidArgumentError
from schemas.privacy import NO_HASHING, UserIdHasher
from sinks._arrow import is_uuid
from sinks._backend import ClickHouseBackend
from sinks._queries import InteractionFilter, InteractionQueries
from sinks.ddl import (
    COL_EVENT_ID,
    COL_FEATURE_ID,
    COL_TIMESTAMP,
    INTERACTION_COLUMNS,
    INTERACTIONS_TABLE,
    interaction_from_row,
)

ExportFormat = Literal["jsonl", "parquet"]
EXPORT_FORMATS: Final = ("jsonl", "parquet")
_BATCH_ROWS: Final = 50_000
_EXPORT_COLUMNS: Final = ", ".join(c for c in INTERACTION_COLUMNS if not c.startswith("kafka_"))


def export_interactions(
    backend: ClickHouseBackend,
    out: Path | IO[bytes],
    *,
    fmt: ExportFormat = "jsonl",
    flt: InteractionFilter | None = None,
    hasher: UserIdHasher = NO_HASHING,
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write every interaction matching `flt` to `out`; returns the number of rows."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidArgumentError(
            f"format: must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}"
        )
    where, params = InteractionQueries(backend, hasher=hasher).where(flt or InteractionFilter())
    sql = (
        f"SELECT {_EXPORT_COLUMNS} FROM {INTERACTIONS_TABLE} WHERE {where} "
        f"ORDER BY {COL_FEATURE_ID}, {COL_TIMESTAMP}, {COL_EVENT_ID}"
    )
    batches = backend.query_arrow_batches(sql, params, batch_rows=_BATCH_ROWS)
    if fmt == "parquet":
        empty = backend.query_arrow(f"{sql} LIMIT 0", params)
        return _write_parquet(batches, out, on_progress, empty.schema)
    return _write_jsonl(batches, out, on_progress)


def _write_jsonl(
    batches: Iterator[pa.RecordBatch],
    out: Path | IO[bytes],
    on_progress: Callable[[int], None] | None,
) -> int:
    total = 0
    handle: IO[bytes] = out.open("wb") if isinstance(out, Path) else out
    try:
        for batch in batches:
            lines = [orjson.dumps(interaction_from_row(row)) for row in batch.to_pylist()]
            if lines:
                handle.write(b"\n".join(lines) + b"\n")
            total += len(lines)
            if on_progress is not None:
                on_progress(len(lines))
    finally:
        if isinstance(out, Path):
            handle.close()
    return total


def _write_parquet(
    batches: Iterator[pa.RecordBatch],
    out: Path | IO[bytes],
    on_progress: Callable[[int], None] | None,
    schema: pa.Schema,
) -> int:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pyarrow is a dependency; a broken install is the only way
        raise RuntimeError("Parquet needs pyarrow: pip install 'pyarrow>=15'") from exc
    total = 0
    writer: pq.ParquetWriter | None = None
    try:
        for batch in batches:
            table = pa.Table.from_batches([_parquet_friendly(batch)])
            if writer is None:
                writer = pq.ParquetWriter(out, table.schema, compression="zstd")
            writer.write_table(table)
            total += batch.num_rows
            if on_progress is not None:
                on_progress(batch.num_rows)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # no rows: still a valid file, with the columns
        empty = pa.RecordBatch.from_pylist([], schema=schema)
        pq.write_table(pa.Table.from_batches([_parquet_friendly(empty)]), out)
    return total


def _parquet_friendly(batch: pa.RecordBatch) -> pa.RecordBatch:
    """UUIDs as their canonical string: readable by every Parquet tool, unlike the extension."""
    columns = []
    for column in batch.columns:
        if is_uuid(column.type):
            column = pa.array([str(u) for u in column.to_pylist()], type=pa.string())
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
