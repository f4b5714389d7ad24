"""chDB: the ClickHouse engine in this process, persisted to a folder.

Two facts of chDB shape this module (both checked on chDB 4.4):

* A folder can be open in one process at a time: ClickHouse takes an exclusive `flock` on
  `<folder>/status`, and a second process fails with "Cannot lock file ... status".
  Closing every session of the folder lets go of the lock; closing and reopening take
  30-90 ms on the project's machine.
  So a backend opens the folder lazily, and `release()` closes it; a caller that finds the
  folder taken leaves a ticket in `<folder>/.pipeline-waiting`, waits up to `lock_timeout_s`
  (probing the lock, not hammering chDB) and then fails with `BackendBusyError` saying what
  to do. The sink keeps the folder open while nobody waits and releases it after the
  current insert when a ticket appears (`others_waiting()`, setting `sink_release_chdb`),
  so CLI readers and the HTTP service get in between batches.
* A process can have one folder open at a time, though many sessions on it. All backends of
  one process share one session per folder here, reference-counted.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from schemas.errors import BackendBusyError, BackendError
from sinks._arrow import rows_to_arrow
from sinks._backend import BackendKind, Params, as_utc, sql_head

Session = Any
"""chdb.session.Session; chDB ships no type hints."""

_PROBE_INTERVAL_S = 0.05
_WAITERS_DIR = ".pipeline-waiting"
YIELD_MAX_S = 2.0
"""How long a polite opener (the sink) lets processes already waiting go first."""
_BUSY_MARKERS = ("EmbeddedServer", "Cannot lock file", "CANNOT_OPEN_FILE")


@dataclass
class _OpenFolder:
    path: Path
    session: Session
    users: int


_registry_lock = threading.RLock()
_open_folder: _OpenFolder | None = None


def _folder_is_locked(path: Path) -> bool:
    """True when another process holds ClickHouse's lock on `<path>/status`."""
    status = path / "status"
    try:
        fd = os.open(status, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _busy_message(path: Path, waited_s: float) -> str:
    return (
        f"chDB folder {path} is open in another process (waited {waited_s:.0f} s). chDB "
        "lets one process use a folder at a time: stop that process (often `interactions "
        "sink` started with sink_release_chdb=false, or a long export), raise "
        "CHDB_LOCK_TIMEOUT_S, or point CLICKHOUSE_URL at a ClickHouse server."
    )


def _waiters_dir(path: Path) -> Path:
    return path / _WAITERS_DIR


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _other_waiters(path: Path) -> bool:
    """True while another live process waits for the folder (stale tickets are removed)."""
    folder = _waiters_dir(path)
    if not folder.is_dir():
        return False
    waiting = False
    for ticket in folder.iterdir():
        pid_text = ticket.name.split("-", 1)[0]
        pid = int(pid_text) if pid_text.isdigit() else 0
        if pid == os.getpid():
            continue
        if pid and _pid_alive(pid):
            waiting = True
        else:
            ticket.unlink(missing_ok=True)
    return waiting


@contextlib.contextmanager
def _waiting_ticket(path: Path) -> Iterator[None]:
    """Announce that this process waits for the folder, so a polite holder lets it in."""
    folder = _waiters_dir(path)
    folder.mkdir(exist_ok=True)
    ticket = folder / f"{os.getpid()}-{uuid.uuid4().hex}"
    ticket.touch()
    try:
        yield
    finally:
        ticket.unlink(missing_ok=True)


def _try_open(path: Path) -> Session | None:
    from chdb import session as chdb_session

    if _folder_is_locked(path):
        return None
    try:
        opened: Session = chdb_session.Session(str(path))  # type: ignore[no-untyped-call]
    except Exception as exc:  # chDB raises RuntimeError with ClickHouse's text
        if not any(marker in str(exc) for marker in _BUSY_MARKERS):
            raise BackendError(f"cannot open chDB folder {path}: {exc}") from exc
        return None
    return opened


def _open_session(path: Path, lock_timeout_s: float, polite: bool) -> Session:
    """Open the folder, waiting up to `lock_timeout_s` for another process to let go.

    A `polite` opener (the sink, which reopens the folder after letting a waiting process
    in) first gives processes already waiting up to YIELD_MAX_S to get in, so readers are not
    starved while the sink inserts batch after batch.
    """
    path.mkdir(parents=True, exist_ok=True)
    if polite:
        yield_until = time.monotonic() + YIELD_MAX_S
        while _other_waiters(path) and time.monotonic() < yield_until:
            time.sleep(_PROBE_INTERVAL_S)
    session = _try_open(path)
    if session is not None:
        return session
    started = time.monotonic()
    deadline = started + lock_timeout_s
    with _waiting_ticket(path):
        while True:
            session = _try_open(path)
            if session is not None:
                return session
            if time.monotonic() >= deadline:
                raise BackendBusyError(_busy_message(path, time.monotonic() - started))
            time.sleep(_PROBE_INTERVAL_S)


def _acquire(path: Path, lock_timeout_s: float, polite: bool) -> Session:
    global _open_folder
    with _registry_lock:
        if _open_folder is not None:
            if _open_folder.path != path:
                raise BackendError(
                    f"chDB can open one folder per process: {_open_folder.path} is open, "
                    f"{path} was asked for; close the other backend first"
                )
            _open_folder.users += 1
            return _open_folder.session
        session = _open_session(path, lock_timeout_s, polite)
        _open_folder = _OpenFolder(path, session, 1)
        return session


def _release(path: Path) -> None:
    global _open_folder
    with _registry_lock:
        if _open_folder is None or _open_folder.path != path:
            return
        _open_folder.users -= 1
        if _open_folder.users <= 0:
            session = _open_folder.session
            _open_folder = None
            session.close()


class ChdbBackend:
    """ClickHouseBackend on chDB. Thread-safe; see the module docstring for the folder lock."""

    def __init__(
        self,
        path: Path,
        *,
        lock_timeout_s: float = 30.0,
        hold: bool = True,
        polite: bool = False,
    ) -> None:
        self._path = path.expanduser().resolve()
        # A backend that lets go after every call reopens for every call: it lets waiting
        # processes go first too, or a reader querying in a loop starves the sink.
        self._polite = polite or not hold
        self._lock_timeout_s = lock_timeout_s
        self._hold = hold
        self._session: Session | None = None
        self._lock = threading.RLock()
        self._schemas: dict[tuple[str, tuple[str, ...]], pa.Schema] = {}
        self._closed = False

    @property
    def kind(self) -> BackendKind:
        return "chdb"

    @property
    def database(self) -> str:
        return "default"

    @property
    def path(self) -> Path:
        return self._path

    # -- folder ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _use(self) -> Iterator[Session]:
        with self._lock:
            if self._closed:
                raise BackendError("backend is closed")
            if self._session is None:
                self._session = _acquire(self._path, self._lock_timeout_s, self._polite)
            try:
                yield self._session
            finally:
                if not self._hold:
                    self.release()

    def release(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session = None
                _release(self._path)

    def close(self) -> None:
        with self._lock:
            self.release()
            self._closed = True

    def others_waiting(self) -> bool:
        """A directory listing (tens of µs): cheap enough to ask after every insert."""
        return _other_waiters(self._path)

    # -- statements ------------------------------------------------------------------------
    def _run(self, session: Session, sql: str, fmt: str, params: Params | None) -> Any:
        try:
            return session.query(sql, fmt, params=_params(params))
        except Exception as exc:
            raise BackendError(f"{exc} [in: {sql_head(sql)}]") from exc

    def command(self, sql: str, params: Params | None = None) -> None:
        with self._use() as session:
            self._run(session, sql, "CSV", params)

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        with self._use() as session:
            table = self._run(session, sql, "ArrowTable", params)
        assert isinstance(table, pa.Table)
        return table

    def query(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.query_arrow(sql, params).to_pylist()
        for row in rows:
            for key, value in row.items():
                row[key] = as_utc(value)
        return rows

    def query_arrow_batches(
        self, sql: str, params: Params | None = None, *, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        with self._use() as session:
            try:
                stream = session.send_query(sql, "Arrow", params=_params(params))
                reader = stream.record_batch(rows_per_batch=batch_rows)
            except Exception as exc:
                raise BackendError(f"{exc} [in: {sql_head(sql)}]") from exc
            try:
                yield from reader
            except Exception as exc:
                raise BackendError(f"{exc} [in: {sql_head(sql)}]") from exc
            finally:
                stream.close()

    # -- inserts ---------------------------------------------------------------------------
    def _schema(self, session: Session, table: str, columns: Sequence[str]) -> pa.Schema:
        key = (table, tuple(columns))
        schema = self._schemas.get(key)
        if schema is None:
            probe = self._run(
                session, f"SELECT {', '.join(columns)} FROM {table} LIMIT 0", "ArrowTable", None
            )
            schema = probe.schema
            self._schemas[key] = schema
        return schema

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
        with self._use() as session:
            schema = self._schema(session, table, columns)
        data = rows_to_arrow(schema, columns, rows)
        return self.insert_arrow(
            table, data, dedup_token=dedup_token, optimize_on_insert=optimize_on_insert
        )

    def insert_arrow(
        self,
        table: str,
        data: pa.Table,
        *,
        dedup_token: str | None = None,
        optimize_on_insert: bool = True,
    ) -> int:
        if data.num_rows == 0:
            return 0
        sql = f"INSERT INTO {table} ({', '.join(data.column_names)})"
        settings = [] if optimize_on_insert else ["optimize_on_insert = 0"]
        if dedup_token is not None:
            settings.append("insert_deduplication_token = " + _quote(dedup_token))
        if settings:
            sql += " SETTINGS " + ", ".join(settings)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, data.schema) as writer:
            writer.write_table(data)
        payload = sink.getvalue().to_pybytes()
        with self._use() as session:
            try:
                with session.send_insert(sql, "ArrowStream") as inserter:
                    inserter.append(payload)
                    inserter.finish()
            except Exception as exc:
                raise BackendError(f"{exc} [in: {sql_head(sql)}]") from exc
        return int(data.num_rows)


def _params(params: Params | None) -> dict[str, str] | None:
    """Parameter values as ClickHouse reads them over HTTP (`param_x=`): scalars as plain
    text, arrays and tuples as quoted literals. chDB would print a list without quotes."""
    if not params:
        return None
    return {name: _param_text(value) for name, value in params.items()}


def _param_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return _escaped(str(value))


def _escaped(text: str) -> str:
    """ClickHouse's escaped text format, which parameter values are read in."""
    return (
        text.replace("\\", "\\\\")
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("\r", "\\r")
        .replace("\0", "\\0")
    )


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, datetime):
        return _quote(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"))
    return _quote(str(value))


def _quote(text: str) -> str:
    """A ClickHouse string literal (SETTINGS values cannot be bound as parameters)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
