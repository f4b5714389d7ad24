"""Python rows to Arrow tables typed like the ClickHouse columns they go into.

chDB ingests Arrow in C++ without a per-value Python step, which makes it the fast insert
path; the conversion below is the only Python work per value and runs column by column.

The sink types its Arrow tables from the table's ClickHouse column types (`system.columns`,
the same on chDB and a server), mapped here once: its decode workers build Arrow blocks
without a connection, and a type the map does not know fails at the sink's start, not at
the first insert.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pyarrow as pa

if TYPE_CHECKING:
    from sinks._backend import ClickHouseBackend

_SCALAR_TYPES: Mapping[str, pa.DataType] = {
    "String": pa.string(),
    "UUID": pa.uuid(),
    "Bool": pa.bool_(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Date": pa.date32(),
    "Date32": pa.date32(),
}
_WRAPPERS = ("LowCardinality", "Nullable")
_DATETIME64 = re.compile(r"DateTime64\((\d)(?:,\s*'([^']*)')?\)")
_DATETIME = re.compile(r"DateTime(?:\('([^']*)'\))?")
_UNITS = {0: "s", 3: "ms", 6: "us", 9: "ns"}


def arrow_type(clickhouse_type: str) -> pa.DataType:
    """The Arrow type that holds a ClickHouse column type's values as the row builders make
    them (naive times are UTC, as everywhere in this project)."""
    text = clickhouse_type.strip()
    scalar = _SCALAR_TYPES.get(text)
    if scalar is not None:
        return scalar
    name, _, rest = text.partition("(")
    if name in _WRAPPERS and rest.endswith(")"):
        return arrow_type(rest[:-1])
    if name == "Array" and rest.endswith(")"):
        return pa.list_(arrow_type(rest[:-1]))
    if match := _DATETIME64.fullmatch(text):
        unit = _UNITS.get(int(match.group(1)))
        if unit is not None:
            return pa.timestamp(unit, tz=match.group(2) or "UTC")
    if match := _DATETIME.fullmatch(text):
        return pa.timestamp("s", tz=match.group(1) or "UTC")
    raise ValueError(
        f"no Arrow type for ClickHouse type {clickhouse_type!r}: add it to sinks/_arrow.py"
    )


def table_schema(backend: ClickHouseBackend, table: str, columns: Sequence[str]) -> pa.Schema:
    """The Arrow schema of `columns` of `table`, from the column types ClickHouse reports."""
    rows = backend.query(
        "SELECT name, type FROM system.columns "
        "WHERE database = currentDatabase() AND table = {table:String}",
        {"table": table},
    )
    types = {str(row["name"]): str(row["type"]) for row in rows}
    missing = [c for c in columns if c not in types]
    if missing:
        raise ValueError(f"table {table} has no column(s) {', '.join(missing)}")
    return pa.schema([pa.field(c, arrow_type(types[c])) for c in columns])


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
