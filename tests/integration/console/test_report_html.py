"""`interactions report --html FILE`: one self-contained file, checked in a real browser.

Opened from disk with every request recorded: nothing but the file itself may be loaded (the
chart library is inlined). The regressions come first, both charts are drawn with one point
per position of the simulated world, and every number is also in a table (mail clients that
block scripts still show the whole report).
"""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interaction_pipeline.orchestration import CLI, settings_env
from producers.simulator import Simulator
from tests.analytics_support import chdb_settings, insert_events, migrated_backend
from tests.integration.console.support import CONFIG, PAGE_SIZE, keep_screenshot

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    settings = chdb_settings(folder / "chdb")
    backend = migrated_backend(settings)
    try:
        insert_events(
            backend, Simulator(dataclasses.replace(CONFIG, end=datetime.now(UTC))).events()
        )
    finally:
        backend.close()
    path = folder / "weekly.html"
    done = subprocess.run(
        [*CLI, "report", "--html", str(path), "--json"],
        env=settings_env(settings),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 3), done.stderr.decode()  # 3: a regression was flagged
    return path


def test_the_file_stands_alone(report_file: Path) -> None:
    text = report_file.read_text()
    assert "Chart.js v4.6.2" in text and "Released under the MIT License" in text
    assert "<script src=" not in text and '<link rel="stylesheet"' not in text
    assert text.index(">Regressions<") < text.index(">Headline<") < text.index(">CTR by position<")


def test_the_report_in_a_browser(report_file: Path, browser: Any, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    tab.on("pageerror", lambda e: problems.append(str(e)))
    tab.on("request", lambda r: requests.append(r.url))
    try:
        tab.goto(report_file.as_uri())
        tab.wait_for_selector("body[data-loaded=true]", timeout=30_000)
        assert int(tab.get_attribute("#chart-ctr", "data-points")) == PAGE_SIZE
        assert int(tab.get_attribute("#chart-bias", "data-points")) == 2 * PAGE_SIZE
        assert tab.inner_text("h2") == "Regressions"  # the first section
        flagged = tab.locator("#reg-title ~ table tr.regressed").count()
        alert = tab.locator(".regressions .alert").count()
        assert (flagged > 0) == (alert == 1)
        ctr_rows = tab.locator("#ctr-title ~ table tbody tr").count()
        assert ctr_rows == PAGE_SIZE  # the numbers, for readers without scripts
        path = tmp_path / "report.png"
        tab.screenshot(path=str(path), full_page=True)
        keep_screenshot(path, "report-html.png")
    finally:
        context.close()
    assert problems == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
