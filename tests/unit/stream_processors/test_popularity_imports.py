"""The read side must be importable by rerankers without Faust (or its event loop)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


def test_reader_imports_without_faust() -> None:
    code = (
        "import sys\n"
        "from stream_processors import BoostConfig, PopularityReader\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in {'faust', 'mode'})\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
