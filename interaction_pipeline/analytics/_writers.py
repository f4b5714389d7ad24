"""Row writers for the training export: JSON lines or Parquet, both written as they stream.

Parquet goes out in row groups of `_ROW_GROUP` rows, so memory stays flat however many pairs
there are; pyarrow is a core dependency, so there is no extra to install.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final, Literal, Protocol, Self

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from schemas.errors import InvalidArgumentError

Format = Literal["jsonl", "parquet"]

_ROW_GROUP: Final = 16_384


class RowWriter(Protocol):
    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class JsonlWriter:
    def __init__(self, path: Path) -> None:
        self._handle: IO[bytes] = path.open("wb")

    def write(self, row: dict[str, Any]) -> None:
        self._handle.write(orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")

    def close(self) -> None:
        self._handle.close()


class ParquetWriter:
    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self._schema = schema
        self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        self._rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= _ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()


class Output:
    """A writer chosen by format, usable as a context manager."""

    def __init__(self, path: Path, fmt: Format, schema: pa.Schema) -> None:
        self.path = path
        self.format = fmt
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer: RowWriter = (
            ParquetWriter(path, schema) if fmt == "parquet" else JsonlWriter(path)
        )
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        self._writer.write(row)
        self.rows += 1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._writer.close()


def format_for(path: Path, requested: str | None) -> Format:
    """An explicit format wins; otherwise `.parquet` means Parquet and anything else JSONL."""
    if requested:
        if requested not in ("jsonl", "parquet"):
            raise InvalidArgumentError(f"format: must be jsonl or parquet, got {requested!r}")
        return "parquet" if requested == "parquet" else "jsonl"
    return "parquet" if path.suffix.lower() in (".parquet", ".pq") else "jsonl"
