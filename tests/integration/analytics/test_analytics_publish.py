"""The simulator publishes through the SDK to a real broker: every event acknowledged and
readable, searches on the searches topic and reactions on the interactions topic."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from producers import InteractionProducer
from producers.simulator import SimulationConfig, Simulator
from schemas.settings import Settings
from schemas.wire import decode_interaction, decode_search
from tests.kafka_reading import read_topic

pytestmark = pytest.mark.integration


def test_simulated_traffic_reaches_kafka(unique_settings: Settings) -> None:
    simulator = Simulator(
        SimulationConfig(searches=300, seed=8, end=datetime(2025, 2, 1, tzinfo=UTC))
    )
    with InteractionProducer(unique_settings) as producer:
        summary = simulator.publish(producer, timeout=30.0)
    assert summary.failed == []
    assert summary.searches == 300
    assert summary.delivered == summary.search_events + summary.interaction_events

    searches = read_topic(unique_settings, unique_settings.topics.searches, summary.search_events)
    reactions = read_topic(
        unique_settings, unique_settings.topics.interactions, summary.interaction_events
    )
    assert len(searches) == summary.search_events == 300
    assert len(reactions) == summary.interaction_events
    query_ids = {decode_search(m.value() or b"").query_id for m in searches}
    assert {decode_interaction(m.value() or b"").query_id for m in reactions} <= query_ids
