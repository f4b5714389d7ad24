"""Who may use the console: admin keys; loopback only without keys; pages need no key."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import Depends, FastAPI

from interaction_pipeline.http.console_guard import ConsoleGuard
from schemas.settings import API_SCOPES, ApiScope

pytestmark = pytest.mark.unit

ALL = frozenset(API_SCOPES)


def app(keys: dict[str, frozenset[ApiScope]]) -> FastAPI:
    guard = ConsoleGuard(keys)
    made = FastAPI()

    @made.get("/console/api/x", dependencies=[Depends(guard)])
    def data() -> dict[str, bool]:
        return {"ok": True}

    @made.get("/console/events", dependencies=[Depends(guard.pages)])
    def page() -> dict[str, bool]:
        return {"ok": True}

    return made


def status(made: FastAPI, path: str, key: str | None, client: str = "198.51.100.4") -> int:
    async def go() -> int:
        transport = httpx.ASGITransport(app=made, client=(client, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
            headers = {"x-api-key": key} if key else {}
            return (await http.get(path, headers=headers)).status_code

    return asyncio.run(go())


def test_without_keys_only_loopback_clients_use_the_console() -> None:
    made = app({})
    assert status(made, "/console/api/x", None, client="127.0.0.1") == 200
    assert status(made, "/console/api/x", None) == 403
    assert status(made, "/console/events", None) == 403
    assert status(made, "/console/events", None, client="::1") == 200


@pytest.mark.parametrize(
    ("key", "expected"),
    [(None, 401), ("nope", 401), ("k-read", 403), ("k-ingest", 403), ("k-admin", 200),
     ("k-all", 200)],
)  # fmt: skip
def test_with_keys_the_data_needs_the_admin_scope(key: str | None, expected: int) -> None:
    made = app({"k-read": frozenset({"read"}), "k-ingest": frozenset({"ingest"}),
                "k-admin": frozenset({"admin"}), "k-all": ALL})  # fmt: skip
    assert status(made, "/console/api/x", key) == expected
    assert status(made, "/console/events", None) == 200  # the page itself holds no data


def test_keys_without_any_admin_key_close_the_console() -> None:
    made = app({"k-read": frozenset({"read"})})
    assert status(made, "/console/api/x", "k-read") == 403
    assert status(made, "/console/api/x", None, client="127.0.0.1") == 403
