"""A ClickHouse server through clickhouse-connect: a thin pass-through, on purpose.

No ClickHouse server can run on the project's machines, so this path is kept to direct
calls of the driver; everything interesting (DDL, SQL, batching) is shared with chDB.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa

from schemas.errors import BackendError
from sinks._backend import BackendKind, Params, as_utc, sql_head


class ServerBackend:
    """ClickHouseBackend on a ClickHouse server (HTTP interface)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        database: str,
        username: str = "default",
        password: str = "",
        secure: bool = False,
    ) -> None:
        self._params: dict[str, Any] = {
            "host": host,
            "port": port,
            "database": database,
            "username": username,
            "password": password,
            "secure": secure,
        }
        self._database = database
        self._client: Any = None

    @classmethod
    def from_url(cls, url: str) -> ServerBackend:
        """`http(s)://user:password@host:port/database`; port 8123 (8443 for https) if absent."""
        parsed = urlparse(url)
        secure = parsed.scheme == "https"
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (8443 if secure else 8123),
            database=parsed.path.strip("/") or "default",
            username=unquote(parsed.username) if parsed.username else "default",
            password=unquote(parsed.password) if parsed.password else "",
            secure=secure,
        )

    @property
    def kind(self) -> BackendKind:
        return "server"

    @property
    def database(self) -> str:
        return self._database

    def _conn(self) -> Any:
        if self._client is None:
            import clickhouse_connect

            try:
                self._client = clickhouse_connect.get_client(**self._params)
            except Exception as exc:
                raise BackendError(f"cannot connect to ClickHouse: {exc}") from exc
        return self._client

    def _call(self, sql: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"{exc} [in: {sql_head(sql)}]") from exc

    def command(self, sql: str, params: Params | None = None) -> None:
        self._call(sql, lambda: self._conn().command(sql, parameters=dict(params or {})))

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        result = self._call(sql, lambda: self._conn().query(sql, parameters=dict(params or {})))
        return [{k: as_utc(v) for k, v in row.items()} for row in result.named_results()]

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        return self._call(
            sql,
            lambda: self._conn().query_arrow(sql, parameters=dict(params or {}), use_strings=True),
        )

    def query_arrow_batches(
        self, sql: str, params: Params | None = None, *, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        stream = self._call(
            sql,
            lambda: self._conn().query_arrow_stream(
                sql,
                parameters=dict(params or {}),
                settings={"max_block_size": batch_rows},
                use_strings=True,
            ),
        )
        try:
            with stream:
                for item in stream:
                    if isinstance(item, pa.Table):
                        yield from item.to_batches()
                    else:
                        yield item
        except Exception as exc:
            raise BackendError(f"{exc} [in: {sql_head(sql)}]") from exc

    def insert(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        dedup_token: str | None = None,
        optimize_on_insert: bool = True,
    ) -> int:
        if not rows:
            return 0
        settings: dict[str, Any] = {} if optimize_on_insert else {"optimize_on_insert": 0}
        if dedup_token:
            settings["insert_deduplication_token"] = dedup_token
        self._call(
            f"INSERT INTO {table}",
            lambda: self._conn().insert(
                table, list(rows), column_names=list(columns), settings=settings or None
            ),
        )
        return len(rows)

    def insert_arrow(
        self,
        table: str,
        data: pa.Table,
        *,
        dedup_token: str | None = None,
        optimize_on_insert: bool = True,
    ) -> int:
        """As Python rows through the driver's Native insert, like `insert`: servers' Arrow
        input handles UUID (arrow.uuid, the sink's blocks) differently across versions."""
        if data.num_rows == 0:
            return 0
        rows = list(zip(*(column.to_pylist() for column in data.columns), strict=True))
        return self.insert(
            table,
            data.column_names,
            rows,
            dedup_token=dedup_token,
            optimize_on_insert=optimize_on_insert,
        )

    def release(self) -> None:
        """Nothing exclusive is held; the HTTP connection pool stays."""

    def others_waiting(self) -> bool:
        return False

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
