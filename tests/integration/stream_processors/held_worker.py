"""`python -m tests.integration.stream_processors.held_worker worker ...`: the real worker
(`interactions worker`, same arguments), able to stop between applying a batch and
acknowledging it, for as long as the test wants.

While the file `$HOLD_DIR/hold` exists, every batch is applied to Redis as usual and then
held: its Kafka positions are appended (and fsynced) to `$HOLD_DIR/held.jsonl`, and the
agent waits until the test removes `hold`. Faust acks a batch only after the agent's
`process` returns, so a held batch is in Redis but not acknowledged: no commit can pass it.
That is the window a rebalance or a `kill -9` must land in to test the offset handling, and
here it is hit every time, on a signal from the test instead of a clock.

The fault injection wraps `PopularityRuntime.process` from outside; nothing in the product
knows about it.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from stream_processors._plan import KafkaRecord
from stream_processors._runtime import PopularityRuntime

HOLD = "hold"
HELD = "held.jsonl"


def held_batches(hold_dir: Path) -> list[dict[int, tuple[int, int]]]:
    """Every batch held so far: partition -> (lowest, highest) offset applied."""
    path = hold_dir / HELD
    if not path.exists():
        return []
    return [
        {int(p): (lo, hi) for p, (lo, hi) in json.loads(line).items()}
        for line in path.read_text().splitlines()
        if line
    ]


def install(hold_dir: Path) -> None:
    """Wrap the runtime's `process`: apply, then hold while `hold_dir/hold` exists."""
    original: Callable[[Any, Sequence[KafkaRecord]], Awaitable[None]] = PopularityRuntime.process
    gate = hold_dir / HOLD

    async def process(self: PopularityRuntime, records: Sequence[KafkaRecord]) -> None:
        await original(self, records)
        if not gate.exists():
            return
        ranges: dict[int, list[int]] = {}
        for record in records:
            low_high = ranges.setdefault(record.partition, [record.offset, record.offset])
            low_high[0] = min(low_high[0], record.offset)
            low_high[1] = max(low_high[1], record.offset)
        with (hold_dir / HELD).open("a") as out:
            out.write(json.dumps(ranges) + "\n")
            out.flush()
            os.fsync(out.fileno())
        while gate.exists():
            await asyncio.sleep(0.02)

    PopularityRuntime.process = process  # type: ignore[method-assign]


if __name__ == "__main__":
    install(Path(os.environ["HOLD_DIR"]))
    from interaction_pipeline.cli.main import main

    main()
