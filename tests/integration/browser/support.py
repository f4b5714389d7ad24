"""The browser SDK's page, served on loopback, and what it needs: Node to bundle the SDK
(producers/browser, with its npm dependencies installed) and Debian's Chromium to run it.

Each test skips with the reason when a tool is missing; the bundle is built into the test's
own folder with esbuild, so the tests never depend on a stale `dist/`.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SDK = ROOT / "producers" / "browser"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


def require_tools() -> tuple[Path, str]:
    """Chromium and node (with the SDK's dependencies), or skip saying what is missing."""
    if not CHROMIUM.exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (or set CHROMIUM=...) "
            "to run the browser SDK tests"
        )
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node on PATH: install Node.js >= 20 to run the browser SDK tests")
    if not (SDK / "node_modules" / ".bin" / "esbuild").exists():
        pytest.skip(
            "the browser SDK's npm dependencies are missing: npm ci --prefix producers/browser"
        )
    pytest.importorskip("playwright", reason="pip install playwright (the dev extra has it)")
    return CHROMIUM, node


def build_bundle(out: Path) -> Path:
    """The SDK as a <script> file (window.Interactions), built from the sources."""
    bundle = out / "interactions.js"
    subprocess.run(
        [
            str(SDK / "node_modules" / ".bin" / "esbuild"),
            str(SDK / "src" / "index.ts"),
            "--bundle",
            "--format=iife",
            "--global-name=Interactions",
            "--target=es2020",
            f"--outfile={bundle}",
            "--log-level=warning",
        ],
        check=True,
        cwd=SDK,
    )
    return bundle


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """Serve `folder` on 127.0.0.1 (a free port) until the block ends; yields the origin."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="static-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
