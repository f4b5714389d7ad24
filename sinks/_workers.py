"""Where message chunks are decoded: in worker processes, or in the sink's own process.

Validating every message against the event contract is CPU-bound Python (pydantic), and
the GIL keeps it on one core however many threads the sink runs; chDB in turn lets only one
process write a folder. So the sink stays one process, reading Kafka and inserting, and hands
the decoding to `workers` processes; each chunk comes back as Arrow blocks (cheap to move
between processes). `workers=0` decodes in the calling thread instead.

Workers are spawned (not forked: the sink process runs librdkafka and chDB threads), ignore
Ctrl-C (the sink stops them after its final insert) and die with the sink on Linux, so a
`kill -9` of the sink leaves no orphans.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.synchronize import Barrier
from typing import Any

import pyarrow as pa

from pipeline_runtime.processes import die_with_parent, tune_gc
from schemas.errors import DecodeWorkerError
from schemas.topics import Topics
from sinks._decode import ChunkDecoder, DecodedChunk, MessageChunk

_START_TIMEOUT_S = 120.0
_decoder: ChunkDecoder | None = None
"""The worker process's decoder (set by `_init_worker`)."""


def _init_worker(
    parent_pid: int,
    started: Barrier,
    topics: Topics,
    context: dict[str, Any],
    schemas: dict[str, pa.Schema],
    gc_young_threshold: int,
) -> None:
    global _decoder
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _decoder = ChunkDecoder(topics, context, schemas)
    _decoder.warm_up()
    tune_gc(gc_young_threshold)
    started.wait(_START_TIMEOUT_S)  # no worker takes a task before all are ready


def _decode_in_worker(chunk: MessageChunk) -> DecodedChunk:
    assert _decoder is not None, "decode worker not initialised"
    return _decoder.decode(chunk)


def _ready() -> bool:
    return _decoder is not None


class DecodePool:
    """Decode MessageChunks in `workers` processes (or inline when 0), in submission order."""

    def __init__(
        self,
        topics: Topics,
        context: dict[str, Any],
        schemas: Mapping[str, pa.Schema],
        *,
        workers: int,
        gc_young_threshold: int = 0,
    ) -> None:
        self._inline: ChunkDecoder | None = None
        self._pool: ProcessPoolExecutor | None = None
        if workers <= 0:
            self._inline = ChunkDecoder(topics, context, schemas)
            self._inline.warm_up()
            return
        spawn = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=spawn,
            initializer=_init_worker,
            initargs=(
                os.getpid(),
                spawn.Barrier(workers),
                topics,
                context,
                dict(schemas),
                gc_young_threshold,
            ),
        )
        # Start them all now (spawning, importing and warming up take a second or two), not
        # while the sink runs; one task each spawns each, the barrier makes all finish.
        try:
            for ready in [self._pool.submit(_ready) for _ in range(workers)]:
                ready.result()
        except BrokenProcessPool as exc:
            self.close()
            raise DecodeWorkerError(f"decode worker processes did not start: {exc}") from exc

    def submit(self, chunk: MessageChunk) -> DecodedChunk | Future[DecodedChunk]:
        """The decoded chunk (inline), or a future of it (workers)."""
        if self._inline is not None:
            return self._inline.decode(chunk)
        assert self._pool is not None
        try:
            return self._pool.submit(_decode_in_worker, chunk)
        except BrokenProcessPool as exc:
            raise DecodeWorkerError(f"a decode worker process died: {exc}") from exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def result(decoded: DecodedChunk | Future[DecodedChunk]) -> DecodedChunk:
    """Wait for a submitted chunk; a dead worker becomes a DecodeWorkerError."""
    if isinstance(decoded, DecodedChunk):
        return decoded
    try:
        return decoded.result()
    except BrokenProcessPool as exc:
        raise DecodeWorkerError(f"a decode worker process died: {exc}") from exc
