"""A minimal real Faust worker for tests/integration/test_stack.py (run as a subprocess).

It consumes one topic and appends each value to a file; Faust commits the offsets. Run in its
own process because a Faust worker owns its event loop and signal handlers. Configured by the
PROBE_* environment variables that the test sets.
"""

from __future__ import annotations

import os
from pathlib import Path

import faust
from faust.types import StreamT

BOOTSTRAP = os.environ["PROBE_BOOTSTRAP"]
OUT = Path(os.environ["PROBE_OUT"])

app = faust.App(
    os.environ["PROBE_APP_ID"],
    broker=";".join(f"kafka://{server.strip()}" for server in BOOTSTRAP.split(",")),
    datadir=os.environ["PROBE_DATADIR"],
    store="memory://",
    web_enabled=False,
    value_serializer="raw",
    key_serializer="raw",
    consumer_auto_offset_reset="earliest",
    broker_commit_every=1,
    broker_commit_interval=0.5,
    topic_replication_factor=1,
    stream_wait_empty=False,
)
topic = app.topic(os.environ["PROBE_TOPIC"], value_type=bytes, key_type=bytes)


@app.agent(topic)
async def record(stream: StreamT[bytes]) -> None:
    """Append every value so the test can see what was consumed."""
    async for value in stream:
        with OUT.open("a") as out:
            out.write(value.decode() + "\n")


if __name__ == "__main__":
    app.main()
