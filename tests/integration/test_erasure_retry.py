"""A forget that fails after subtracting the counts and before deleting the rows, run again:
each event is subtracted once.

test_erasure_jobs.py repeats a forget that had finished: the rows are gone by then, so the
second run finds nothing to subtract whether or not erase.lua remembers what it subtracted.
Here ClickHouse fails the first DELETE, so the retry finds every row still stored and asks
erase.lua again for the same events; only its erased-event set keeps them from being
subtracted twice. Counts are compared with the recount written from the spec in
test_erasure_jobs.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from interaction_pipeline.erasure import Erasure
from schemas.errors import ServiceUnavailableError
from schemas.settings import Settings
from sinks import ClickHouseBackend
from sinks._backend import Params
from tests.integration.sink_support import FlakyBackend, backend_for, sink_settings
from tests.integration.test_erasure_jobs import KEY, _event, _rows, _store, counts, recount

pytestmark = pytest.mark.integration


class FailsFirstDelete(FlakyBackend):
    """The real backend, except that the first DELETE of rows fails as an outage would."""

    def __init__(self, inner: ClickHouseBackend) -> None:
        super().__init__(inner)

    def command(self, sql: str, params: Params | None = None) -> None:
        if "DELETE" in sql and not self.failures:
            self.failures += 1
            raise ServiceUnavailableError("ClickHouse went away during the delete")
        super().command(sql, params)


@pytest.fixture
def hashed(unique_settings: Settings) -> Settings:
    return sink_settings(unique_settings, user_id_hmac_key=KEY)


@pytest.fixture
def client(hashed: Settings) -> Iterator[redis.Redis[bytes]]:
    connection: redis.Redis[bytes] = redis.Redis.from_url(hashed.redis.url)
    yield connection
    connection.close()


def test_a_forget_retried_after_failing_between_counts_and_rows_subtracts_once(
    hashed: Settings, client: redis.Redis[bytes]
) -> None:
    alice = [_event("alice@example.com", i) for i in range(30)]
    bob = [_event("bob", i + 1) for i in range(25)]
    _store(hashed, alice + bob)
    assert counts(client, hashed.redis.key_prefix) == recount(alice + bob)
    with backend_for(hashed) as backend:
        flaky = FailsFirstDelete(backend)
        erasure = Erasure(hashed, flaky, client)
        with pytest.raises(ServiceUnavailableError):
            erasure.forget_user("alice@example.com")
        assert flaky.failures == 1
        # The counts are subtracted already; the rows are still there for the retry to find.
        assert counts(client, hashed.redis.key_prefix) == recount(bob)
        stored = erasure.forget_user("alice@example.com").matched_id
        assert _rows(hashed, stored) == 0
    assert counts(client, hashed.redis.key_prefix) == recount(bob)
