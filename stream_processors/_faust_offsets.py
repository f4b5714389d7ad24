"""Two holes in faust-streaming's offset handling that lose events around a rebalance.

The first was found by tests/integration/test_popularity_rebalance.py (in CI, and in 2 of 25
local runs): a worker kept a partition through a rebalance and went on four to six offsets
past the last event it had applied; those events were never counted. The second was found
reading Faust's stream code while looking for the first; no run has shown it yet.

1. **A partition without a committed offset keeps its fetch position.** Faust positions every
   assigned partition with aiokafka's `seek_to_committed`, which seeks only where an offset
   above 0 is committed. A worker that keeps such a partition through a rebalance therefore
   resumes where its *fetcher* was, not where its agent was: Faust has just cleared the
   prefetched events from the stream buffer, unprocessed. A new consumer group has no
   committed offsets until its first commit (Faust commits every 2.8 s), and a rebalance in
   that window lost events. Faust also drops, at revocation, the acks it had not committed
   yet, so even a long-running worker may have committed nothing for a quiet partition.
   `perform_seek` here positions such partitions explicitly at the earliest offset, which is
   what `auto_offset_reset=earliest` promises; replayed events are skipped by the Redis offset
   watermarks.
2. **Events the stream skips are acked.** While flow is suspended (rebalancing), or when an
   event was fetched in an older group generation, Faust's stream skips the event without
   processing it, but acks it "so that lag does not grow". An acked offset can be committed,
   and the next owner starts after it. `ack` here refuses such acks: the stream marks every
   event it hands to the agent as `tracked` first, so an untracked event was not processed.
   This is the pure-Python stream iterator's behaviour (`NO_CYTHON=1`, or no compiled
   extension); Faust's Cython iterator neither acks a skipped event nor calls
   `Consumer.ack` (docs/testing.md, "Mutation checks").
"""

from __future__ import annotations

import logging

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message

log = logging.getLogger("stream_processors.popularity")


class SafeOffsetsConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer with the two fixes above; everything else is Faust's."""

    def ack(self, message: Message) -> bool:
        if not message.tracked:
            message.acked = True  # settled: Faust must not offer it again
            return False
        return super().ack(message)

    async def perform_seek(self) -> None:
        await super().perform_seek()
        if self.app.conf.consumer_auto_offset_reset != "earliest":
            return
        unpositioned = self.without_committed_offset()
        if unpositioned:
            earliest = dict(await self.earliest_offsets(*unpositioned))
            log.info("no committed offset; starting at the earliest: %s", earliest)
            await self.seek_wait(earliest)

    def without_committed_offset(self) -> list[TP]:
        """Assigned partitions that `seek_to_committed` left where the fetcher was: none
        committed, or 0 committed (aiokafka does not seek to 0)."""
        return sorted(tp for tp in self.assignment() if not self._committed_offset.get(tp))
