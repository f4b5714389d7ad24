"""The console's front end ships whole and offline: the vendored chart library unchanged and
with its licence, nothing loaded from elsewhere, every file covered by the package data."""

from __future__ import annotations

import hashlib
import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from interaction_pipeline.console._routes import PAGES, render_page, static_files

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
CONSOLE = ROOT / "interaction_pipeline" / "console"
VENDOR = CONSOLE / "static" / "vendor"
CHART_JS_SHA256 = "3f288f4f26882c26b58931fb586a9b4f30370b5de38d69dc005b0bd05b08e113"


def test_the_vendored_chart_library_is_the_published_file_with_its_licence() -> None:
    assert hashlib.sha256((VENDOR / "chart.umd.min.js").read_bytes()).hexdigest() == (
        CHART_JS_SHA256
    )
    licence = (VENDOR / "chart.js.LICENSE.md").read_text()
    assert "The MIT License" in licence and "Chart.js Contributors" in licence
    assert CHART_JS_SHA256 in (VENDOR / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(PAGES))
def test_pages_load_nothing_from_another_origin(name: str) -> None:
    page = render_page(name)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "a CDN or remote URL"
    assert 'aria-current="page"' in page
    assert "$" not in page.replace("$static", "")  # every placeholder filled


def test_every_static_file_is_served_and_packaged() -> None:
    served = static_files()
    on_disk = {
        str(p.relative_to(CONSOLE / "static"))
        for p in (CONSOLE / "static").rglob("*")
        if p.suffix in {".js", ".css", ".md"}
    }
    assert set(served) == on_disk
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["interaction_pipeline.console"]
    shipped = [*(CONSOLE / "static").rglob("*.*"), *(CONSOLE / "templates").rglob("*.*")]
    for path in shipped:
        relative = str(path.relative_to(CONSOLE))
        assert any(fnmatch(relative, p) for p in patterns), f"{relative} is not package data"
