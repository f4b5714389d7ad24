"""One seeded console per module (its own topics, Redis prefix, chDB and working folder), and
one headless Chromium per module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.settings import Settings
from tests import services
from tests.integration.console.support import SeededConsole, require_chromium, seeded_console

LIFT_REPORT: dict[str, Any] = {
    "splits": {
        "held_out_sessions": {"base": {"ndcg@10": 0.38}, "tuned": {"ndcg@10": 0.48},
                              "lift_pct": 25.4, "ci95": [20.9, 30.2]},
        "held_out_queries": {"base": {"ndcg@10": 0.377}, "tuned": {"ndcg@10": 0.371},
                             "lift_pct": -1.5, "ci95": [-4.9, 2.0]},
    },
    "ablations": {},
}  # fmt: skip
"""A lift result file as `interactions lift` writes it: 2 splits, so the chart draws 2 bars
and 2 x 2 interval ends."""


@pytest.fixture(scope="module")
def console(
    service_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeededConsole]:
    folder = tmp_path_factory.mktemp("console")
    settings = services.unique_settings(service_settings, folder)
    stack = services.load_stack()
    stack.ensure_topics(settings, stack.pipeline_topics(settings))
    work = folder / "work"  # the service's working folder: where it looks for result files
    (work / "out" / "lift").mkdir(parents=True)
    (work / "out" / "lift" / "lift.json").write_bytes(orjson.dumps(LIFT_REPORT))
    before = Path.cwd()
    os.chdir(work)
    try:
        with seeded_console(settings) as seeded:
            yield seeded
    finally:
        os.chdir(before)
        services.cleanup_unique(settings)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        yield launched
        launched.close()
