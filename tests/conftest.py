"""Session-wide real services for the tests; the choices live in tests/services.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.settings import Settings
from tests import services


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Built from the environment like the apps do; starts nothing, so unit tests may use it."""
    return Settings()


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: Settings) -> Iterator[str]:
    """A real broker: from the environment, a testcontainer, or the local stack."""
    service = services.kafka_service(settings)
    yield service.url
    service.close()


@pytest.fixture(scope="session")
def redis_url(settings: Settings) -> Iterator[str]:
    """A real Redis: from the environment, a testcontainer, or the local stack."""
    service = services.redis_service(settings)
    yield service.url
    service.close()


@pytest.fixture(scope="session")
def service_settings(settings: Settings, kafka_bootstrap: str, redis_url: str) -> Settings:
    """Settings pointing at the services this session really uses, checked to answer."""
    live = services.with_services(settings, kafka_bootstrap, redis_url)
    services.require_answering(live)
    return live


@pytest.fixture
def unique_settings(service_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Own topics (created), Redis prefix and chDB folder per test; removed afterwards."""
    unique = services.unique_settings(service_settings, tmp_path)
    stack = services.load_stack()
    stack.ensure_topics(unique, stack.pipeline_topics(unique))
    yield unique
    services.cleanup_unique(unique)
