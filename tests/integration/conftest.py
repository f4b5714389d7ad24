"""Fixtures shared by the integration tests (the service fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from schemas.settings import Settings
from tests.popularity_support import StoreDriver
from tests.services import load_stack


@pytest.fixture
def driver(unique_settings: Settings) -> Iterator[StoreDriver]:
    """The popularity store on this test's own Redis prefix, without Faust."""
    store = StoreDriver(unique_settings)
    yield store
    store.close()


@pytest.fixture
def own_topic(unique_settings: Settings) -> Iterator[Callable[..., Settings]]:
    """`own_topic(suffix, partitions, **overrides)`: this test's settings with an interactions
    topic of its own, created with that many partitions and deleted after the test."""
    created: list[Settings] = []

    def make(suffix: str, partitions: int, **overrides: Any) -> Settings:
        topic = f"{unique_settings.topics.interactions}-{suffix}"
        settings = unique_settings.replace(**{"topic_interactions": topic, **overrides})
        load_stack().ensure_topics(settings, [topic], partitions=partitions)
        created.append(settings)
        return settings

    yield make
    for settings in created:
        load_stack().delete_topics(settings, [settings.topics.interactions])
