"""Which ClickHouse backend a deployment uses: chDB in-process, or a server over HTTP."""

from __future__ import annotations

from schemas.settings import Settings
from sinks._backend import ClickHouseBackend
from sinks._chdb import ChdbBackend
from sinks._server import ServerBackend


def open_backend(
    settings: Settings, *, hold: bool = True, polite: bool = False
) -> ClickHouseBackend:
    """The backend `settings.clickhouse.url` names. Nothing is opened until the first call.

    chDB only (a server ignores both): `hold=False` releases the folder after every call, so
    a long-running reader (an HTTP service) never keeps the sink or the CLI out for longer
    than one query; `polite=True` lets processes already waiting for the folder go first
    each time it is opened (the sink uses it, as it reopens the folder after letting others
    in; `hold=False` implies it, since such a backend reopens the folder for every call).
    """
    if settings.clickhouse.chdb_path is not None:
        return ChdbBackend(
            settings.clickhouse.chdb_path,
            lock_timeout_s=settings.clickhouse.chdb_lock_timeout_s,
            hold=hold,
            polite=polite,
        )
    return ServerBackend.from_url(settings.clickhouse.url)
