"""API keys for /v1: X-API-Key or `Authorization: Bearer`, compared in constant time.

With no key configured the service is open only to loopback clients: a developer's laptop or
a sidecar works out of the box, and a service exposed by mistake refuses the world instead of
accepting anonymous writes. Behind a reverse proxy every client looks like the proxy, so a
proxied deployment must configure keys.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="One of HTTP_API_KEYS."
)
_bearer = HTTPBearer(auto_error=False, description="One of HTTP_API_KEYS, as a bearer token.")


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class ApiKeyGuard:
    """A FastAPI dependency; use as `dependencies=[Depends(guard)]` on the /v1 routers."""

    def __init__(self, keys: list[SecretStr]) -> None:
        self._keys = [k.get_secret_value().encode() for k in keys if k.get_secret_value()]

    @property
    def open_to_loopback_only(self) -> bool:
        return not self._keys

    def __call__(
        self,
        request: Request,
        api_key: Annotated[str | None, Security(_api_key_header)] = None,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    ) -> None:
        if not self._keys:
            client = request.client.host if request.client else None
            if is_loopback(client):
                return
            raise HTTPException(
                status_code=403,
                detail=(
                    "no API keys are configured, so only loopback clients may call this "
                    "service; set HTTP_API_KEYS and send X-API-Key"
                ),
            )
        given = api_key or (bearer.credentials if bearer else None)
        if given is None:
            raise HTTPException(
                status_code=401,
                detail="X-API-Key (or Authorization: Bearer) is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        candidate = given.encode()
        # Compare against every key so the time taken does not tell which one matched.
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(candidate, key)
        if not matched:
            raise HTTPException(
                status_code=401,
                detail="API key is not valid",
                headers={"WWW-Authenticate": "Bearer"},
            )
