"""The Kafka transport the worker (and the benchmark's tuned no-op agent) give Faust."""

from __future__ import annotations

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver

from stream_processors._faust_offsets import SafeOffsetsConsumer
from stream_processors._faust_tuning import EagerDeliveryConsumer


class WorkerConsumer(EagerDeliveryConsumer, SafeOffsetsConsumer):
    """Eager delivery (throughput, _faust_tuning.py) and safe offsets (_faust_offsets.py)."""


class WorkerTransport(aiokafka_driver.Transport):
    """The `kafka://` (aiokafka) transport with `WorkerConsumer`."""

    Consumer = WorkerConsumer


def use_worker_transport(app: faust.App) -> None:
    """Give `app` the worker's transport; call before anything uses `app.transport`
    (declaring a topic does)."""
    app.transport = WorkerTransport(app.conf.broker_consumer, app)
