"""API key scopes on every route of the assembled service, walked from the app itself.

The routes are enumerated from `build_app` (the service `interactions serve` runs): its
OpenAPI document (every documented path and method, router prefixes applied) plus the plain
routes outside it (/docs, /redoc). A route added later is checked without editing this file:
it must be public on purpose (`PUBLIC_PATHS`) or declare a scope, answer 401 without a key
and 403 to a key of every other scope. Nothing here reaches a handler (the guard answers
first), so no service runs.

The web console's routes are left out of the OpenAPI document, and have their own guard
(http/console_guard.py), so they are walked from the app's route table instead: every route
served and not documented must be a console route, its data routes (/console/api/...) answer
401 without a key or with an unknown one and 403 to a key without `admin`, and its pages,
which hold no data, are served without a key once keys are configured.
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
from starlette.routing import BaseRoute, Route

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


CONSOLE_DATA: frozenset[str] = frozenset(
    f"/console/api/{name}"
    for name in ("config", "events", "rejected", "relevance", "trending", "boost", "experiments")
)
"""The console's data routes (all GET): raw events and user ids, so `admin` only."""
CONSOLE_PAGES: frozenset[str] = frozenset(
    {"/console", "/console/static/{path}"}
    | {f"/console/{page}" for page in ("events", "relevance", "popularity", "experiments")}
)
"""The console's pages and their scripts (all GET): no data in them."""


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


_CONVERTER = re.compile(r"\{(\w+):[^}]+\}")


def _served(route: BaseRoute) -> list[tuple[str, str, bool]]:
    """(method, path template, in the OpenAPI document) of every endpoint under `route`.
    FastAPI before 0.16x copies an included router's routes into `app.routes`; later
    versions keep the router there and expose its endpoints as `effective_route_contexts`."""
    nested = getattr(route, "effective_route_contexts", None)
    if nested is not None:
        return [
            (method, _CONVERTER.sub(r"{\1}", context.path), bool(context.include_in_schema))
            for context in nested()
            for method in context.methods or ()
        ]
    if isinstance(route, Route):
        in_schema = isinstance(route, APIRoute) and route.include_in_schema
        path = _CONVERTER.sub(r"{\1}", route.path)
        return [(m, path, in_schema) for m in route.methods or () if m != "HEAD"]
    return []


def _undocumented_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Routes the app serves that neither the OpenAPI document nor the plain-route list
    (what the walk above covers) names."""
    served = {(m, p) for route in app.routes for m, p, _ in _served(route)}
    return served - _all_routes(app)


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
            body: dict[str, object] | None = {} if method in {"POST", "PUT", "PATCH"} else None
            return await http.request(method, _concrete(path), headers=headers, json=body)

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


def _console_problems(app: FastAPI) -> list[str]:
    """Routes outside the OpenAPI walk that are not in the console tables, and table entries
    the app does not serve."""
    console = {("GET", p) for p in CONSOLE_DATA | CONSOLE_PAGES}
    undocumented = _undocumented_routes(app)
    return [f"{m} {p}: outside both walks" for m, p in sorted(undocumented - console)] + [
        f"{m} {p}: not served" for m, p in sorted(console - undocumented)
    ]


def test_every_route_outside_the_openapi_walk_is_a_console_route(app: FastAPI) -> None:
    assert _console_problems(app) == []


def test_the_console_walk_catches_a_route_outside_both_walks(tmp_path: Path) -> None:
    app = build_app(Settings(clickhouse_url=f"chdb://{tmp_path / 'chdb'}"))

    @app.get("/console/api/export", include_in_schema=False)
    def export() -> None:
        return None

    assert _console_problems(app) == ["GET /console/api/export: outside both walks"]


@pytest.mark.parametrize("path", sorted(CONSOLE_DATA))
def test_console_data_without_a_key_401_without_admin_403(app: FastAPI, path: str) -> None:
    assert ("GET", path) in _undocumented_routes(app)
    missing = _call(app, "GET", path, None)
    assert missing.status_code == 401, missing.text
    assert _call(app, "GET", path, "not-a-key").status_code == 401
    for scope, key in KEYS.items():
        if scope == "admin":
            continue
        refused = _call(app, "GET", path, key)
        assert refused.status_code == 403, (scope, refused.text)
        assert "admin" in refused.json()["detail"]


@pytest.mark.parametrize("path", sorted(CONSOLE_PAGES))
def test_console_pages_hold_no_data_and_need_no_key(app: FastAPI, path: str) -> None:
    """A browser cannot send a header when it navigates; the page asks for the key."""
    assert ("GET", path) in _undocumented_routes(app)
    assert _call(app, "GET", path, None).status_code not in {401, 403}
