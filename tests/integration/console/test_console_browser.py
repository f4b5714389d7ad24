"""The console in a real browser (Debian's headless Chromium): every page loads without a
console error, draws each chart with the number of points the known dataset implies, is
usable from the keyboard, and labels every control. Screenshots are taken in the test's
folder (and refresh docs/img with UPDATE_SCREENSHOTS=1, as `make screenshots` does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.console.support import PAGE_SIZE, SeededConsole, keep_screenshot

pytestmark = pytest.mark.integration

RATE_BINS = 12
"""The rate chart's bins: the last 60 s in 5 s steps (console._events)."""
WAIT_MS = 60_000


class Page:
    """A browser tab that collects console errors, failed requests and uncaught exceptions."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1360, "height": 900})
        self.tab = self.context.new_page()
        self.problems: list[str] = []
        self.tab.on(
            "console",
            lambda m: (
                self.problems.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning")
                else None
            ),
        )
        self.tab.on("pageerror", lambda e: self.problems.append(f"uncaught: {e}"))
        self.tab.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))

    def open(self, url: str) -> Any:
        self.tab.goto(url)
        return self.tab

    def points(self, canvas: str) -> int:
        self.tab.wait_for_selector(f"#{canvas}[data-points]", state="attached", timeout=WAIT_MS)
        return int(self.tab.get_attribute(f"#{canvas}", "data-points"))

    def series(self, canvas: str) -> int:
        return int(self.tab.get_attribute(f"#{canvas}", "data-series"))

    def unlabelled_controls(self) -> list[str]:
        return self.tab.evaluate(
            """() => Array.from(document.querySelectorAll('input, select, textarea, button'))
                .filter(el => el.type !== 'hidden' && !el.closest('[hidden]'))
                .filter(el => el.tagName === 'BUTTON' ? !el.textContent.trim()
                    : !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
                .map(el => el.id || el.name || el.outerHTML.slice(0, 60))"""
        )

    def shot(self, folder: Path, name: str, *, full_page: bool = True) -> Path:
        path = folder / name
        self.tab.screenshot(path=str(path), full_page=full_page)
        keep_screenshot(path, name)
        return path


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    opened = Page(browser)
    yield opened
    opened.context.close()


def _focused(tab: Any) -> str:
    return tab.evaluate("() => document.activeElement.id || document.activeElement.textContent")


def test_events_page_shows_accepted_and_rejected_events(
    console: SeededConsole, page: Page, tmp_path: Path
) -> None:
    tab = page.open(f"{console.url}/console")
    assert tab.url.endswith("/console/events")
    # 3 bad events + a bad body (422s), a dead letter, a sink reject
    tab.wait_for_function(
        "() => document.querySelectorAll('#rejected tbody tr .errors').length === 6",
        timeout=WAIT_MS,
    )
    assert tab.locator("#rejected .tag.http").count() == 4
    assert tab.locator("#rejected .tag.dlq").count() == 1
    assert tab.locator("#rejected .tag.sink").count() == 1
    assert "position" in tab.locator("#rejected .errors code").all_inner_texts()
    # The two tables load independently (each tails its own topics), and a tail can come back
    # short when the broker is slow; the page refreshes every few seconds until it is whole.
    tab.wait_for_function(
        "n => document.querySelectorAll('#accepted tbody tr:not(:has(td.empty))').length === n",
        arg=len(console.accepted_ids),
        timeout=WAIT_MS,
    )
    # One line per type seen in the last minute, RATE_BINS points each.
    series = page.series("chart-rate")
    assert series >= 2  # at least "search" and "click"
    assert page.points("chart-rate") == series * RATE_BINS
    page.shot(tmp_path, "console-events.png", full_page=False)  # the first screen
    assert page.unlabelled_controls() == []
    assert page.problems == []


def test_events_filters_work_from_the_keyboard(console: SeededConsole, page: Page) -> None:
    tab = page.open(f"{console.url}/console/events")
    tab.wait_for_selector("#rejected tbody tr .errors", timeout=WAIT_MS)
    tab.keyboard.press("Tab")
    assert _focused(tab) == "Skip to content"
    tab.keyboard.press("Enter")
    assert _focused(tab) == "main"
    tab.keyboard.press("Tab")
    assert _focused(tab) == "f-user"
    tab.keyboard.type("u_dbg")
    tab.keyboard.press("Enter")  # submits the filter form
    tab.wait_for_function(
        """() => document.querySelectorAll('#rejected tbody tr').length === 2
            && document.querySelectorAll('#accepted td.empty').length === 1""",  # none accepted
        timeout=WAIT_MS,
    )
    assert page.problems == []


def test_nav_links_are_reachable_by_keyboard(console: SeededConsole, page: Page) -> None:
    tab = page.open(f"{console.url}/console/experiments")
    tab.keyboard.press("Tab")  # skip link
    tab.keyboard.press("Tab")
    assert _focused(tab) == "Events"
    for name in ("Relevance", "Popularity", "Experiments"):
        tab.keyboard.press("Tab")
        assert _focused(tab) == name
    assert tab.get_attribute("nav a[aria-current=page]", "href") == "experiments"
    tab.keyboard.press("Shift+Tab")
    tab.keyboard.press("Enter")
    tab.wait_for_url("**/console/popularity")


def test_relevance_page_draws_ctr_and_the_examination_curve(
    console: SeededConsole, page: Page, tmp_path: Path
) -> None:
    tab = page.open(f"{console.url}/console/relevance")
    tab.wait_for_selector("body[data-loaded=true]", timeout=WAIT_MS)
    assert page.points("chart-ctr") == PAGE_SIZE
    assert page.series("chart-bias") == 2  # estimate and prior
    assert page.points("chart-bias") == 2 * PAGE_SIZE
    regressions = len(tab.evaluate("() => [...document.querySelectorAll('#wow tr.regressed')]"))
    flagged = tab.locator("#wow .tag.flag-bad").count()
    assert regressions == flagged
    assert tab.locator("#regressions .alert, #regressions .ok").count() == 1
    page.shot(tmp_path, "console-relevance.png")
    # The retriever control, from the keyboard: choose one and show its report.
    tab.focus("#r-retriever")
    tab.keyboard.press("ArrowDown")
    tab.evaluate("() => { document.body.dataset.loaded = 'false'; }")
    tab.keyboard.press("Tab")
    assert _focused(tab).strip() == "Show report"
    tab.keyboard.press("Enter")
    tab.wait_for_selector("body[data-loaded=true]", timeout=WAIT_MS)
    assert tab.input_value("#r-retriever") in {"ret_alpha", "ret_beta"}
    assert page.points("chart-ctr") == PAGE_SIZE
    assert page.unlabelled_controls() == []
    assert page.problems == []


def test_popularity_page_trending_and_boost_preview(
    console: SeededConsole, page: Page, tmp_path: Path
) -> None:
    tab = page.open(f"{console.url}/console/popularity")
    tab.wait_for_selector("#trending tbody tr td.num", timeout=WAIT_MS)
    assert page.points("chart-trending") == 15
    top = tab.locator("#trending tbody tr td:nth-child(2)").all_inner_texts()[:3]
    tab.fill("#b-candidates", "\n".join(["doc_unknown 0.9", *(f"{d} 0.5" for d in top)]))
    tab.focus("#b-multiplier")
    tab.keyboard.press("Tab")
    tab.keyboard.press("Enter")
    tab.wait_for_function(
        "() => document.querySelectorAll('#boost tbody tr td.num').length > 0", timeout=WAIT_MS
    )
    assert tab.locator("#boost tbody tr").count() == 4
    page.shot(tmp_path, "console-popularity.png")
    assert page.unlabelled_controls() == []
    assert page.problems == []


def test_experiments_page_shows_results_or_says_none_yet(
    console: SeededConsole, page: Page, tmp_path: Path
) -> None:
    tab = page.open(f"{console.url}/console/experiments")
    tab.wait_for_selector("body[data-loaded=true]", timeout=WAIT_MS)
    assert page.series("chart-lift") == 3  # lift bars, interval low and high ends
    assert page.points("chart-lift") == 3 * 2  # two splits
    assert "No results yet" in tab.inner_text("#ab-summary")
    page.shot(tmp_path, "console-experiments.png")
    assert page.problems == []
