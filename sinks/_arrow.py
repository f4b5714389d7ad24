"""Python rows to an Arrow table typed like the ClickHouse columns they go into.

chDB ingests Arrow in C++ without a per-value Python step, which makes it the fast insert
path; the conversion below is the only Python work per value and runs column by column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pyarrow as pa


def _uuid_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, UUID):
        return value.bytes
    return UUID(str(value)).bytes


def is_uuid(arrow_type: pa.DataType) -> bool:
    return (
        isinstance(arrow_type, pa.BaseExtensionType) and arrow_type.extension_name == "arrow.uuid"
    )


def column_array(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    """One column as an Arrow array of `arrow_type` (UUIDs accepted as UUID or str)."""
    if is_uuid(arrow_type) and not (values and isinstance(values[0], UUID)):
        storage = pa.array([_uuid_bytes(v) for v in values], type=arrow_type.storage_type)
        return pa.ExtensionArray.from_storage(arrow_type, storage)
    if pa.types.is_string(arrow_type) and values and isinstance(values[0], bytes):
        # Raw bytes (a rejected message) go in as binary: ClickHouse String holds any bytes.
        return pa.array(values, type=pa.binary())
    return pa.array(values, type=arrow_type)


def rows_to_arrow(
    schema: pa.Schema, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> pa.Table:
    """Rows (tuples in `columns` order) as a table with the schema's types for those columns."""
    if rows:
        transposed: list[Sequence[Any]] = list(zip(*rows, strict=True))
    else:
        transposed = [() for _ in columns]
    arrays = [
        column_array(values, schema.field(name).type)
        for values, name in zip(transposed, columns, strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=list(columns))
