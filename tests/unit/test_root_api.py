"""The seed's Python snippets run as written against the root API, on chDB."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

import interaction_pipeline
from interaction_pipeline import analytics, interactions
from schemas.events import InteractionEvent
from schemas.privacy import hash_user_id
from schemas.settings import Settings
from sinks import ClickHouseBackend, StoredInteraction, migrate, open_backend
from sinks.ddl import INTERACTION_COLUMNS, INTERACTIONS_TABLE, interaction_row

pytestmark = pytest.mark.unit

NOW = datetime.now(UTC)


def _event(feature_id: str, types: list[str], user_id: str, age_days: float) -> InteractionEvent:
    return InteractionEvent.model_validate(
        {
            "feature_id": feature_id,
            "interaction_type": types,
            "user_id": user_id,
            "timestamp": NOW - timedelta(days=age_days),
        }
    )


def _configure(tmp_path: Path, **settings: object) -> Iterator[ClickHouseBackend]:
    configured = Settings(clickhouse_url=f"chdb://{tmp_path / 'chdb'}", **settings)
    backend = open_backend(configured)
    migrate(backend)
    interaction_pipeline.configure(configured, backend=backend)
    yield backend
    interaction_pipeline.configure(None)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ClickHouseBackend]:
    yield from _configure(tmp_path)


def _insert(backend: ClickHouseBackend, events: list[InteractionEvent]) -> None:
    backend.insert(INTERACTIONS_TABLE, INTERACTION_COLUMNS, [interaction_row(e) for e in events])


def test_seed_exclusion_snippet_runs_as_written(backend: ClickHouseBackend) -> None:
    _insert(
        backend,
        [
            _event("doc_a", ["purchase"], "user_123", 1),
            _event("doc_b", ["click", "purchase"], "user_123", 80),
            _event("doc_c", ["purchase"], "user_123", 100),  # older than 90 days
            _event("doc_d", ["click"], "user_123", 2),  # not a purchase
            _event("doc_e", ["purchase"], "user_456", 1),  # someone else
        ],
    )
    previous_purchases = interactions.list(
        user_id="user_123", interaction_type=["purchase"], days=90
    )
    assert all(isinstance(i, StoredInteraction) for i in previous_purchases)
    assert [i.feature_id for i in previous_purchases] == ["doc_a", "doc_b"]  # newest first
    assert {"document_id": {"$nin": [i.feature_id for i in previous_purchases]}} == {
        "document_id": {"$nin": ["doc_a", "doc_b"]}
    }


def test_list_returns_every_match_past_one_page_unless_limited(
    backend: ClickHouseBackend,
) -> None:
    _insert(backend, [_event(f"doc_{i}", ["click"], "u", i / 1000) for i in range(2_500)])
    assert len(interactions.list(user_id="u")) == 2_500
    assert len(interactions.list(user_id="u", limit=1_234)) == 1_234
    assert interactions.count(user_id="u", interaction_type="click") == 2_500
    first = interactions.list(user_id="u", limit=1)[0]
    assert interactions.get(first.event_id) == first
    assert interactions.delete(first.event_id).rows_total == 1
    assert interactions.get(first.event_id) is None


def test_user_ids_are_hashed_like_producers_hash_them(tmp_path: Path) -> None:
    for backend in _configure(tmp_path, user_id_hmac_key=SecretStr("k")):
        _insert(backend, [_event("doc_a", ["purchase"], hash_user_id("alice", "k"), 1)])
        assert [i.feature_id for i in interactions.list(user_id="alice")] == ["doc_a"]


def test_seed_training_pairs_call_accepts_the_seed_arguments(backend: ClickHouseBackend) -> None:
    """No search events stored: no pairs, but the seed's call shape works end to end."""
    training_data = analytics.get_query_document_pairs(
        date_range="last_30_days", min_interactions=2
    )
    assert list(training_data) == []
    signals = analytics.get_retriever_signals(retriever_id="ret_123")
    assert signals.retriever == "ret_123"
    assert signals.skipped_top_results == []


def test_root_import_is_lazy_and_names_the_seed_modules() -> None:
    code = (
        "import sys, interaction_pipeline as ip; "
        "assert 'interaction_pipeline.analytics' not in sys.modules; "
        "from interaction_pipeline import analytics, interactions, training; "
        "print(analytics.get_query_document_pairs.__name__, interactions.list.__name__, "
        "training.fine_tune.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["get_query_document_pairs", "list", "fine_tune"]
