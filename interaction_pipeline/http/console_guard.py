"""Who may use the web console (/console): the same API keys, `admin` scope; loopback only
without keys. It lives with the other auth code; the console's routes stay free of auth and
are handed these dependencies by the assembly (service.py).

The console shows raw events (user ids, queries, payloads of refused events), so its data
routes need the `admin` scope, not `read`. The decision itself is `ApiKeyGuard`'s (the one
place that compares keys): the guard is built over the admin keys only, and a key that is
valid but lacks `admin` is told so (403) instead of being called unknown. With no key
configured, `ApiKeyGuard`'s loopback rule applies unchanged.

Every console route is a GET (a POST would need its own line in auth.py's scope table), so
the boost preview takes its candidates as a query parameter.

The pages themselves (HTML, scripts, the chart library) hold no data: with keys configured
they are served to anyone, so that a browser, which cannot send a header on navigation, can
load the page and ask for the key; without keys they follow the loopback rule too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from interaction_pipeline.http.auth import ApiKeyGuard
from schemas.settings import API_SCOPES, ApiScope

_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_bearer = HTTPBearer(auto_error=False)

NEEDED_SCOPE: ApiScope = "admin"


class ConsoleGuard:
    """A FastAPI dependency for the console's data routes."""

    def __init__(self, key_scopes: Mapping[str, frozenset[ApiScope]]) -> None:
        everything = frozenset(API_SCOPES)
        self._configured = bool(key_scopes)
        self._admins = ApiKeyGuard(
            {k: everything for k, scopes in key_scopes.items() if NEEDED_SCOPE in scopes}
        )
        self._known = ApiKeyGuard(dict.fromkeys(key_scopes, everything))

    def __call__(
        self,
        request: Request,
        api_key: Annotated[str | None, Security(_header)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    ) -> None:
        if not self._configured:
            self._admins(request, None, None)  # loopback only
            return
        if self._admins.open_to_loopback_only:
            raise HTTPException(
                status_code=403,
                detail="the console needs an API key with the 'admin' scope; none is configured",
            )
        try:
            self._admins(request, api_key, bearer)
        except HTTPException as exc:
            if exc.status_code != 401 or (api_key is None and bearer is None):
                raise
            self._known(request, api_key, bearer)  # 401 when the key is unknown
            raise HTTPException(
                status_code=403, detail="the console needs a key with the 'admin' scope"
            ) from None

    def pages(self, request: Request) -> None:
        """For the data-free pages: open with keys configured, loopback-only without."""
        if not self._configured:
            self._admins(request, None, None)
