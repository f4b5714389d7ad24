"""The browser SDK in headless Chromium against the real stack: `interactions serve` (CORS, a
write-only key, text/plain bodies), Kafka, and `interactions sink` into chDB.

One visit, as a visitor makes it: a search (reported twice, by two widgets), a click on the
third result, back to the results, a click on the fourth result read long enough on its page,
back again, identify at login, a share, the tab closed (everything so far leaves by
`navigator.sendBeacon` on page exits: the SDK's batch timer is set far out; the test waits for
the closed tab's beacon to be stored before it stops the collector, since a beacon has no
answer and one still in flight when the collector stops is lost by design). Then an offline
spell: the collector is stopped, a second tab searches and buys, its POSTs fail and back off
while its queue waits in localStorage, the collector comes back, and the retries deliver.

Every event must be in ClickHouse exactly once (count() without FINAL) with the types,
positions, dwell and ids the page produced, and the skips of the results above the click.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from interaction_pipeline.http.server import free_port
from interaction_pipeline.orchestration import Children, wait_until
from schemas.privacy import hash_user_id
from schemas.settings import Settings
from sinks import open_backend
from sinks.ddl import INTERACTIONS_TABLE, SEARCH_EVENTS_TABLE
from tests.integration.browser.support import build_bundle, require_tools, static_site

pytestmark = pytest.mark.integration

BROWSER_KEY = "k-browser-public"
PIPELINE_TIMEOUT_S = 120.0
RETRY_TIMEOUT_MS = 120_000
RESULTS = ["doc_a", "doc_b", "doc_c", "doc_d"]

SEARCH_PAGE = """<!doctype html><meta charset="utf-8"><title>search</title>
<script src="config.js"></script><script src="interactions.js"></script>
<ol id="results"></ol>
<script>
  const params = new URLSearchParams(location.search);
  const queryId = params.get("q") || "q-browser-1";
  Interactions.init({ ...CONFIG, flushMs: Number(params.get("flush") || 600000),
                      longViewMs: 600000, skipAbove: true });
  const results = RESULTS;
  const view = { queryId, query: "wireless earbuds", results, totalHits: 40 };
  window.shownQueryId = Interactions.searched(view);
  Interactions.searched(view); // a second widget reporting the same view
  results.forEach((id, position) => {
    const a = document.createElement("a");
    a.id = id;
    a.textContent = id;
    a.href = `doc.html?id=${id}` + (position === 3 ? "&lv=300" : "");
    a.addEventListener("click", () => Interactions.clicked({ featureId: id, position, queryId }));
    const li = document.createElement("li");
    li.append(a);
    document.getElementById("results").append(li);
  });
</script>
"""

DOC_PAGE = """<!doctype html><meta charset="utf-8"><title>doc</title>
<script src="config.js"></script><script src="interactions.js"></script>
<h1 id="doc"></h1>
<script>
  const params = new URLSearchParams(location.search);
  document.getElementById("doc").textContent = params.get("id");
  Interactions.init({ ...CONFIG, flushMs: 600000, longViewMs: Number(params.get("lv") || 600000) });
</script>
"""

QUEUED = """() => Object.keys(localStorage).filter(k => k.startsWith("ip:q:"))
    .reduce((n, k) => n + JSON.parse(localStorage.getItem(k)).q.length, 0)"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    require_tools()
    folder = tmp_path / "site"
    folder.mkdir()
    build_bundle(folder)
    (folder / "search.html").write_text(
        SEARCH_PAGE.replace("RESULTS", orjson.dumps(RESULTS).decode())
    )
    (folder / "doc.html").write_text(DOC_PAGE)
    with static_site(folder) as origin:
        yield folder, origin


def _wait_healthy(url: str, children: Children) -> None:
    def up() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, "interactions serve answering", 60, children=children, interval_s=0.2)


def _rows(settings: Settings, table: str, columns: str) -> list[dict[str, Any]]:
    return open_backend(settings, hold=False).query(f"SELECT {columns} FROM {table}")


def test_a_visit_lands_in_clickhouse_exactly_once(
    site: tuple[Path, str], unique_settings: Settings, tmp_path: Path
) -> None:
    chromium, _ = require_tools()
    from playwright.sync_api import sync_playwright

    folder, origin = site
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    settings = unique_settings.replace(
        http_port=port,
        http_api_key_scopes={BROWSER_KEY: ["ingest"]},
        http_cors_allowed_origins=[origin],
        sink_group_id=f"sink-browser-{uuid.uuid4().hex[:8]}",
        sink_batch_max_s=0.3,
    )
    (folder / "config.js").write_text(
        f"window.CONFIG = {orjson.dumps({'endpoint': api, 'key': BROWSER_KEY}).decode()};"
    )
    with Children(settings, tmp_path / "logs") as children, sync_playwright() as p:
        children.start("sink", ["sink", "--quiet"])
        serve = children.start("serve", ["serve"])
        _wait_healthy(api, children)
        browser = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        context = browser.new_context()

        # -- one visit, delivered by beacons on page exits ---------------------------------
        page = context.new_page()
        page.goto(f"{origin}/search.html")
        query_id = page.evaluate("window.shownQueryId")
        assert query_id == "q-browser-1"
        in_chromium = page.evaluate(
            "() => Interactions.hashUserId('user_123', 'project-key', crypto)"
        )
        assert in_chromium == hash_user_id("user_123", "project-key")

        clicked_at = time.monotonic()
        page.click("#doc_c")
        page.wait_for_url("**/doc.html?id=doc_c")
        page.go_back()
        page.wait_for_url("**/search.html")
        page.wait_for_function("() => sessionStorage.getItem('ip:clk') === null")
        dwell_upper_ms = (time.monotonic() - clicked_at) * 1000

        page.click("#doc_d")
        page.wait_for_url("**/doc.html?id=doc_d&lv=300")
        page.wait_for_function("() => JSON.parse(sessionStorage.getItem('ip:clk')).lv === 1")
        page.go_back()
        page.wait_for_url("**/search.html")

        assert page.evaluate("() => Interactions.identify('user_browser_1')") is True
        share_id = page.evaluate(
            "() => Interactions.track('share', {featureId: 'doc_a', position: 0, "
            "queryId: window.shownQueryId})"
        )
        anonymous_id = page.evaluate("() => localStorage.getItem('ip:aid')")
        page.close(run_before_unload=True)

        def beaconed() -> bool:  # stopping the collector now would race the beacon's flight
            ids = _rows(settings, INTERACTIONS_TABLE, "toString(event_id) AS event_id")
            return share_id in {r["event_id"] for r in ids}

        wait_until(beaconed, "the closed tab's beacon", PIPELINE_TIMEOUT_S, children=children)

        # -- an offline spell: the collector stopped, then restarted ------------------------
        children.stop(serve)
        offline = context.new_page()
        with offline.expect_event("requestfailed"):
            offline.goto(f"{origin}/search.html?q=q-browser-2&flush=100")
        purchase_id = offline.evaluate(
            "() => Interactions.converted({featureId: 'doc_b', position: 1, "
            "queryId: 'q-browser-2'})"
        )
        assert offline.evaluate(QUEUED) == 2, "both events wait in localStorage"
        children.start("serve", ["serve"])
        _wait_healthy(api, children)
        offline.wait_for_function(f"{QUEUED} === 0", timeout=RETRY_TIMEOUT_MS)
        offline.close()
        browser.close()

        # -- what ClickHouse holds ---------------------------------------------------------
        expected_interactions = 8
        columns = (
            "toString(event_id) AS event_id, feature_id, interaction_type, position, "
            "query_id, duration_ms, user_id, anonymous_id"
        )

        found: list[Any] = []

        def stored() -> bool:
            rows = _rows(settings, INTERACTIONS_TABLE, columns)
            searches = _rows(settings, SEARCH_EVENTS_TABLE, "query_id")
            found[:] = [*rows, *searches]
            return len(rows) >= expected_interactions and len(searches) >= 2

        try:
            wait_until(stored, "the visit's rows", PIPELINE_TIMEOUT_S, children=children)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; stored: {found}") from None
        children.check_alive()

    rows = _rows(settings, INTERACTIONS_TABLE, columns)
    searches = _rows(settings, SEARCH_EVENTS_TABLE, "query_id, results, total_hits")
    listing = "\n".join(
        f"{r['event_id']} {r['feature_id']} {r['interaction_type']} {r['position']}" for r in rows
    )
    assert len({r["event_id"] for r in rows}) == len(rows) == expected_interactions, listing
    assert sorted(s["query_id"] for s in searches) == ["q-browser-1", "q-browser-2"]
    assert all(list(s["results"]) == RESULTS and s["total_hits"] == 40 for s in searches)

    seen = sorted(
        (r["query_id"], r["feature_id"], r["position"], list(r["interaction_type"])) for r in rows
    )
    assert seen == sorted(
        [
            ("q-browser-1", "doc_c", 2, ["click"]),
            ("q-browser-1", "doc_a", 0, ["skip"]),
            ("q-browser-1", "doc_b", 1, ["skip"]),
            ("q-browser-1", "doc_c", 2, ["return_to_results"]),
            ("q-browser-1", "doc_d", 3, ["click"]),
            ("q-browser-1", "doc_d", 3, ["long_view"]),
            ("q-browser-1", "doc_a", 0, ["share"]),
            ("q-browser-2", "doc_b", 1, ["purchase"]),
        ]
    )
    by_type = {(r["feature_id"], r["interaction_type"][0]): r for r in rows}
    back = by_type[("doc_c", "return_to_results")]
    assert 0 < back["duration_ms"] <= dwell_upper_ms
    assert by_type[("doc_d", "long_view")]["duration_ms"] >= 300
    assert by_type[("doc_a", "share")]["event_id"] == share_id
    assert by_type[("doc_b", "purchase")]["event_id"] == purchase_id
    # one browser, one anonymous id; the user id from identify on, and not before
    assert {r["anonymous_id"] for r in rows} == {anonymous_id}
    assert by_type[("doc_a", "share")]["user_id"] == "user_browser_1"
    assert by_type[("doc_c", "click")]["user_id"] == ""
