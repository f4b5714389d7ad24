"""The connection the root API's module-level calls use: settings from the environment, read
once, and a ClickHouse backend opened on first use.

`interaction_pipeline.configure(settings)` replaces both (for a script that builds its own
settings, or a test). With chDB the backend is opened with `hold=False`, so a sink in
another process can share the folder between calls.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from schemas.settings import Settings
from sinks import ClickHouseBackend, open_backend


@dataclass
class _Context:
    settings: Settings | None = None
    backend: ClickHouseBackend | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_CURRENT = _Context()


def configure(
    settings: Settings | None = None, *, backend: ClickHouseBackend | None = None
) -> None:
    """Use these settings (and this backend, if given) for the module-level calls."""
    with _CURRENT.lock:
        if _CURRENT.backend is not None and _CURRENT.backend is not backend:
            _CURRENT.backend.close()
        _CURRENT.settings = settings
        _CURRENT.backend = backend


def current_settings() -> Settings:
    with _CURRENT.lock:
        if _CURRENT.settings is None:
            _CURRENT.settings = Settings()
        return _CURRENT.settings


def current_backend() -> ClickHouseBackend:
    settings = current_settings()
    with _CURRENT.lock:
        if _CURRENT.backend is None:
            _CURRENT.backend = open_backend(settings, hold=False)
        return _CURRENT.backend
