"""API key scopes against the real service: each scope does its job and nothing else.

The unit test (tests/unit/http/test_http_scopes.py) walks every route for 401 and 403; here
each scope's own routes answer for real (Kafka acknowledges, ClickHouse and Redis answer), so
a guard that refused too much would show, and the GET and DELETE routes run under keys.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from interaction_pipeline.http import INTERACTIONS_PATH, serve_in_thread
from interaction_pipeline.http.service import build_app
from schemas.events import InteractionEvent
from schemas.settings import Settings
from sinks import migrate, open_backend
from sinks.ddl import INTERACTION_COLUMNS, INTERACTIONS_TABLE, interaction_row

pytestmark = pytest.mark.integration

KEYS = {"ingest": "k-browser", "read": "k-dashboard", "admin": "k-ops"}


def _stored(settings: Settings, count: int) -> list[InteractionEvent]:
    now = datetime.now(UTC)
    events = [
        InteractionEvent(
            feature_id=f"doc_{i}",
            interaction_type=["click"],
            user_id="user_scoped",
            timestamp=now - timedelta(minutes=i + 1),
        )
        for i in range(count)
    ]
    backend = open_backend(settings)
    try:
        migrate(backend)
        backend.insert(
            INTERACTIONS_TABLE, INTERACTION_COLUMNS, [interaction_row(e) for e in events]
        )
    finally:
        backend.close()
    return events


def test_each_scope_reaches_its_routes_and_only_those(unique_settings: Settings) -> None:
    settings = unique_settings.replace(
        http_api_keys=[SecretStr("k-all")],
        http_api_key_scopes={SecretStr(k): [s] for s, k in KEYS.items()},
    )
    first, second, third = _stored(settings, 3)
    event = {"feature_id": "doc_new", "interaction_type": ["click"]}
    with serve_in_thread(build_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as h:

        def as_(scope: str) -> dict[str, str]:
            return {"x-api-key": KEYS.get(scope, "k-all")}

        # ingest: POST events, nothing else
        assert h.post(INTERACTIONS_PATH, json=event, headers=as_("ingest")).status_code == 200
        assert h.get(INTERACTIONS_PATH, headers=as_("ingest")).status_code == 403
        delete_path = f"{INTERACTIONS_PATH}/{first.event_id}"
        assert h.delete(delete_path, headers=as_("ingest")).status_code == 403

        # read: GET lists, one interaction, history; popularity POSTs that only read
        listed = h.get(INTERACTIONS_PATH, params={"user_id": "user_scoped"}, headers=as_("read"))
        assert listed.status_code == 200, listed.text
        assert {i["event_id"] for i in listed.json()["items"]} == {
            str(e.event_id) for e in (first, second, third)
        }
        one = h.get(f"{INTERACTIONS_PATH}/{second.event_id}", headers=as_("read"))
        assert one.status_code == 200 and one.json()["feature_id"] == second.feature_id
        history = h.get("/v1/retrievers/users/user_scoped/history", headers=as_("read"))
        assert history.status_code == 200, history.text
        counts = h.post(
            "/v1/retrievers/popularity/counts", json={"feature_ids": ["doc_0"]}, headers=as_("read")
        )
        assert counts.status_code == 200, counts.text
        assert h.post(INTERACTIONS_PATH, json=event, headers=as_("read")).status_code == 403
        assert h.delete(delete_path, headers=as_("read")).status_code == 403
        assert h.delete("/v1/retrievers/users/user_scoped", headers=as_("read")).status_code == 403

        # admin: DELETE one interaction, forget a user; no reading, no ingesting
        assert h.get(INTERACTIONS_PATH, headers=as_("admin")).status_code == 403
        assert h.post(INTERACTIONS_PATH, json=event, headers=as_("admin")).status_code == 403
        deleted = h.delete(delete_path, headers=as_("admin"))
        assert deleted.status_code == 200, deleted.text
        assert deleted.json()["rows_total"] == 1
        forgot = h.delete("/v1/retrievers/users/user_scoped", headers=as_("admin"))
        assert forgot.status_code == 200, forgot.text

        # a plain HTTP_API_KEYS key keeps full access
        assert h.post(INTERACTIONS_PATH, json=event, headers=as_("all")).status_code == 200
        left = h.get(INTERACTIONS_PATH, params={"user_id": "user_scoped"}, headers=as_("all"))
        assert left.status_code == 200 and left.json()["items"] == []
        assert h.delete(delete_path, headers=as_("all")).status_code == 404
