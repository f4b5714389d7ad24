"""API key scopes on every route of the assembled service, walked from the app itself.

The routes are enumerated from `build_app` (the service `interactions serve` runs): its
OpenAPI document (every documented path and method, router prefixes applied) plus the plain
routes outside it (/docs, /redoc). A route added later is checked without editing this file:
it must be public on purpose (`PUBLIC_PATHS`) or declare a scope, answer 401 without a key
and 403 to a key of every other scope. Nothing here reaches a handler (the guard answers
first), so no service runs.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import SecretStr
from starlette.routing import Route

from interaction_pipeline.http.auth import PUBLIC_PATHS, required_scope
from interaction_pipeline.http.service import build_app
from schemas.settings import API_SCOPES, ApiScope, Settings

pytestmark = pytest.mark.unit

KEYS: dict[ApiScope, str] = {scope: f"key-{scope}-{uuid.uuid4().hex[:6]}" for scope in API_SCOPES}
FULL_KEY = "key-full"

EXPECTED: dict[tuple[str, str], ApiScope] = {
    ("POST", "/v1/retrievers/interactions"): "ingest",
    ("POST", "/v1/retrievers/searches"): "ingest",
    ("GET", "/v1/retrievers/interactions"): "read",
    ("GET", "/v1/retrievers/interactions/{interaction_id}"): "read",
    ("POST", "/v1/retrievers/popularity/counts"): "read",
    ("POST", "/v1/retrievers/popularity/boost"): "read",
    ("GET", "/v1/retrievers/popularity/trending"): "read",
    ("GET", "/v1/retrievers/users/{user_id}/history"): "read",
    ("DELETE", "/v1/retrievers/interactions/{interaction_id}"): "admin",
    ("DELETE", "/v1/retrievers/users/{user_id}"): "admin",
    ("DELETE", "/v1/retrievers/interactions"): "admin",
    ("GET", "/v1/retrievers/deletions/{job_id}"): "admin",
    ("POST", "/v1/retrievers/users/{user_id}/identify"): "ingest",
}
"""The policy as the issue states it, written out: ingest POSTs events (and links ids as a
browser SDK does at login), read GETs, admin deletes and reads deletion receipts."""


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    folder = tmp_path_factory.mktemp("scopes") / "chdb"
    settings = Settings(
        clickhouse_url=f"chdb://{folder}",
        http_api_keys=[SecretStr(FULL_KEY)],
        http_api_key_scopes={SecretStr(k): [s] for s, k in KEYS.items()},
    )
    return build_app(settings)


def _all_routes(app: FastAPI) -> set[tuple[str, str]]:
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    plain = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route) and not isinstance(route, APIRoute)
        for method in route.methods or ()
        if method != "HEAD"
    }
    return documented | plain


def _guarded_routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(r for r in _all_routes(app) if r[1] not in PUBLIC_PATHS)


def test_the_walk_sees_the_documentation_routes_too(app: FastAPI) -> None:
    assert {("GET", "/docs"), ("GET", "/openapi.json"), ("GET", "/healthz")} <= _all_routes(app)


def _concrete(path: str) -> str:
    """A URL for a path template: a UUID fits every parameter (ids and user ids alike)."""
    return re.sub(r"\{[^}]+\}", str(uuid.UUID(int=7)), path)


def _call(app: FastAPI, method: str, path: str, key: str | None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("198.51.100.4", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
            headers = {"x-api-key": key} if key is not None else {}
            body = {"json": {}} if method in {"POST", "PUT", "PATCH"} else {}
            return await http.request(method, _concrete(path), headers=headers, **body)

    return asyncio.run(go())


def _policy_problems(app: FastAPI) -> list[str]:
    """Routes without a declared scope, or whose scope differs from the issue's policy."""
    problems = []
    for method, path in _guarded_routes(app):
        scope = required_scope(method, path)
        if scope is None:
            problems.append(f"{method} {path}: declare a scope in http/auth.py")
        elif EXPECTED.get((method, path)) != scope:
            problems.append(f"{method} {path}: {scope}, not in this test's policy table")
    return problems


def test_every_route_is_public_on_purpose_or_declares_a_scope(app: FastAPI) -> None:
    assert len(_guarded_routes(app)) == len(EXPECTED), "the walk found other routes"
    assert _policy_problems(app) == []


def test_the_walk_catches_a_route_added_without_a_scope(tmp_path: Path) -> None:
    app = build_app(Settings(clickhouse_url=f"chdb://{tmp_path / 'chdb'}"))

    @app.post("/v1/retrievers/console/reindex")
    def reindex() -> None:
        return None

    assert _policy_problems(app) == [
        "POST /v1/retrievers/console/reindex: declare a scope in http/auth.py"
    ]


def test_every_public_path_is_not_v1() -> None:
    assert not [p for p in PUBLIC_PATHS if p.startswith("/v1")]


@pytest.mark.parametrize("route", sorted(EXPECTED), ids=lambda r: f"{r[0]} {r[1]}")
def test_without_a_key_401_with_another_scope_403(app: FastAPI, route: tuple[str, str]) -> None:
    method, path = route
    assert route in _guarded_routes(app)
    missing = _call(app, method, path, None)
    assert missing.status_code == 401, missing.text
    assert _call(app, method, path, "not-a-key").status_code == 401
    for scope, key in KEYS.items():
        if scope == EXPECTED[route]:
            continue
        refused = _call(app, method, path, key)
        assert refused.status_code == 403, (scope, refused.text)
        assert EXPECTED[route] in refused.json()["detail"]


def test_a_plain_key_list_still_means_every_scope() -> None:
    settings = Settings(http_api_keys=[SecretStr("a")], http_api_key_scopes={"b": ["ingest"]})
    assert settings.http.key_scopes() == {"a": frozenset(API_SCOPES), "b": frozenset({"ingest"})}


def test_scopes_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "HTTP_API_KEY_SCOPES", '{"k-browser": ["ingest"], "k-ops": ["read","admin"]}'
    )
    monkeypatch.setenv("HTTP_API_KEYS", '["k-all"]')
    settings = Settings()
    assert settings.http.key_scopes() == {
        "k-browser": frozenset({"ingest"}),
        "k-ops": frozenset({"read", "admin"}),
        "k-all": frozenset(API_SCOPES),
    }
    assert "k-browser" not in repr(settings)  # keys stay secret in logs
    env = settings.environment()  # what a child process is given
    monkeypatch.setenv("HTTP_API_KEY_SCOPES", env["HTTP_API_KEY_SCOPES"])
    assert Settings().http.key_scopes() == settings.http.key_scopes()


@pytest.mark.parametrize(
    "value", ['{"k": []}', '{"k": ["write"]}', '{"": ["read"]}', '["k"]'], ids=str
)
def test_bad_scope_settings_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HTTP_API_KEY_SCOPES", value)
    with pytest.raises(ValueError, match="api_key_scopes"):
        Settings()
