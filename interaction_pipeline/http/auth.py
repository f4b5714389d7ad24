"""API keys with scopes for /v1: X-API-Key or `Authorization: Bearer`, compared in constant time;
`?api_key=` too, for the ingest scope only (browser beacons cannot send headers).

A key a browser SDK ships is public in all but name, so keys carry scopes
(`HTTP_API_KEY_SCOPES`): `ingest` may only POST events, `read` reads counts, history and
stored events, `admin` deletes. A plain `HTTP_API_KEYS` key has every scope. No key (or a key
that is not configured) answers 401; a known key without the route's scope answers 403.

Which scope a route needs is decided here, in one table, from the route's method and path
template (not from the route modules, which stay free of auth): GET reads and DELETE is admin
unless listed otherwise, and a POST must be listed, since POST both ingests and (popularity
counts, boost) reads. A route that matches no rule needs a scope no key has, so it is refused
until declared; `tests/unit/http/test_http_scopes.py` walks every route of the app for that.

With no key configured the service is open only to loopback clients: a developer's laptop or
a sidecar works out of the box, and a service exposed by mistake refuses the world instead of
accepting anonymous writes. Behind a reverse proxy every client looks like the proxy, so a
proxied deployment must configure keys.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Final

from fastapi import HTTPException, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import (
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBearer,
)

from interaction_pipeline.http.routes.ingest import INTERACTIONS_PATH, SEARCHES_PATH
from schemas.settings import ApiScope

_api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="One of HTTP_API_KEYS or HTTP_API_KEY_SCOPES.",
)
_api_key_query = APIKeyQuery(
    name="api_key",
    auto_error=False,
    description="A key in the query string, for browser beacons (which cannot send headers): "
    "it may only ingest, whatever its scopes, since URLs end up in logs.",
)
_bearer = HTTPBearer(
    auto_error=False, description="One of HTTP_API_KEYS or HTTP_API_KEY_SCOPES, as a bearer token."
)

PUBLIC_PATHS: Final = frozenset(
    {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
"""Served without a key: probes, Prometheus, and the API's own documentation."""

ROUTE_SCOPES: Final[Mapping[tuple[str, str], ApiScope]] = {
    ("POST", INTERACTIONS_PATH): "ingest",
    ("POST", SEARCHES_PATH): "ingest",
    # a browser SDK links its anonymous id at login, as it sends events
    ("POST", "/v1/retrievers/users/{user_id}/identify"): "ingest",
    ("POST", "/v1/retrievers/popularity/counts"): "read",
    ("POST", "/v1/retrievers/popularity/boost"): "read",
    # what a deletion removed is for whoever may delete, not for every reader
    ("GET", "/v1/retrievers/deletions/{job_id}"): "admin",
}
"""Routes whose scope is not their method's: every POST, and GETs that are not plain reads."""

QUERY_KEY_SCOPES: Final[frozenset[ApiScope]] = frozenset({"ingest"})
"""What a key sent as `?api_key=` may do: a browser beacon cannot send headers, and a URL is
logged by proxies and servers, so such a key only ever writes events."""

METHOD_SCOPES: Final[Mapping[str, ApiScope]] = {"GET": "read", "HEAD": "read", "DELETE": "admin"}
"""Every other route: GET reads, DELETE is admin. POST, PUT and PATCH have no default."""

_CONVERTER = re.compile(r"\{(\w+):\w+\}")


def required_scope(method: str, path: str) -> ApiScope | None:
    """The scope a route needs; None: undeclared, so refused. `path` is the route's template
    as the app (`{user_id:path}`) or the OpenAPI document (`{user_id}`) writes it."""
    declared = ROUTE_SCOPES.get((method, _CONVERTER.sub(r"{\1}", path)))
    return declared or METHOD_SCOPES.get(method)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class ApiKeyGuard:
    """A FastAPI dependency; use as `dependencies=[Depends(guard)]` on the /v1 routers."""

    def __init__(self, key_scopes: Mapping[str, frozenset[ApiScope]]) -> None:
        self._keys = [(k.encode(), scopes) for k, scopes in key_scopes.items() if k]

    @property
    def open_to_loopback_only(self) -> bool:
        return not self._keys

    def __call__(
        self,
        request: Request,
        api_key: Annotated[str | None, Security(_api_key_header)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
        query_key: Annotated[str | None, Security(_api_key_query)] = None,
    ) -> None:
        if not self._keys:
            client = request.client.host if request.client else None
            if is_loopback(client):
                return
            raise HTTPException(
                status_code=403,
                detail=(
                    "no API keys are configured, so only loopback clients may call this "
                    "service; set HTTP_API_KEYS (or HTTP_API_KEY_SCOPES) and send X-API-Key"
                ),
            )
        given = api_key or (bearer.credentials if bearer else None)
        from_query = given is None and query_key is not None
        if from_query:
            given = query_key
        if given is None:
            raise HTTPException(
                status_code=401,
                detail="X-API-Key (or Authorization: Bearer) is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        scopes = self._scopes_of(given.encode())
        if scopes is None:
            raise HTTPException(
                status_code=401,
                detail="API key is not valid",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if from_query:
            scopes = scopes & QUERY_KEY_SCOPES
        needed = self._needed(request)
        if from_query and needed not in scopes:
            raise HTTPException(
                status_code=403,
                detail="a key in the query string (api_key) may only ingest; send it as "
                "X-API-Key for this route",
            )
        if needed is None or needed not in scopes:
            raise HTTPException(
                status_code=403,
                detail=(
                    f"this API key lacks the {needed!r} scope this route needs"
                    if needed
                    else "this route declares no scope, so no key may call it"
                ),
            )

    def _scopes_of(self, candidate: bytes) -> frozenset[ApiScope] | None:
        # Compare against every key so the time taken does not tell which one matched.
        found: frozenset[ApiScope] | None = None
        for key, scopes in self._keys:
            if hmac.compare_digest(candidate, key):
                found = scopes
        return found

    @staticmethod
    def _needed(request: Request) -> ApiScope | None:
        route = request.scope.get("route")
        if not isinstance(route, APIRoute):
            return None
        return required_scope(request.method, route.path)
