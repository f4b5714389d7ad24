"""Fixtures shared by the integration tests (the service fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from schemas.settings import Settings
from tests.popularity_support import StoreDriver


@pytest.fixture
def driver(unique_settings: Settings) -> Iterator[StoreDriver]:
    """The popularity store on this test's own Redis prefix, without Faust."""
    store = StoreDriver(unique_settings)
    yield store
    store.close()
