"""Reading a POST body into a list of raw events: one object, an array, or a wrapper object.

The body is parsed with orjson and validated event by event later, so one bad event is
reported by its index instead of failing the whole request.
"""

from __future__ import annotations

from typing import Any

import orjson

from interaction_pipeline.http.limits import MAX_EVENTS_PER_REQUEST, PayloadTooLarge
from schemas.errors import DecodeError

_JSON_TYPES = ("application/json",)


class BodyError(DecodeError):
    """The body as a whole is unusable (not JSON, wrong shape); 422 with this reason."""


def check_content_type(content_type: str | None) -> str | None:
    """None when acceptable, else the reason (415). A missing header is taken as JSON."""
    if not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return None
    return f"content-type: must be application/json, got {media!r}"


def is_beacon(content_type: str | None) -> bool:
    """A `text/plain` body: what `navigator.sendBeacon` sends for a string, and what the browser
    SDK sends so its POSTs need no CORS preflight. The ingest routes read it as JSON, from
    allowed origins only (`interaction_pipeline.http.cors.beacon_refusal`)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "text/plain"


def parse_events(body: bytes, wrapper_key: str) -> list[Any]:
    """The raw events of a body, in request order.

    Accepted shapes: `{...event...}`, `[{...}, ...]`, `{"<wrapper_key>": [{...}, ...]}`.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(f"body: not valid JSON ({exc})") from None
    if isinstance(data, dict) and wrapper_key in data and isinstance(data[wrapper_key], list):
        if len(data) > 1:
            extra = sorted(k for k in data if k != wrapper_key)
            raise BodyError(f"body: {', '.join(extra)}: is not a known field next to {wrapper_key}")
        items: list[Any] = data[wrapper_key]
    elif isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        items = [data]
    else:
        raise BodyError(
            f"body: must be an event object, an array of events or "
            f'{{"{wrapper_key}": [...]}}, got {type(data).__name__}'
        )
    if not items:
        raise BodyError("body: must contain at least one event")
    if len(items) > MAX_EVENTS_PER_REQUEST:
        raise PayloadTooLarge(
            f"body: must contain at most {MAX_EVENTS_PER_REQUEST} events, got {len(items)}"
        )
    return items
