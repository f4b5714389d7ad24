"""Everything that writes events into Kafka: the SDK, the file loader, the async bridge the
HTTP collector sends through, the logged randomisation of served lists (`Explorer`), and the
traffic simulator (`producers.simulator`)."""

from producers._bridge import BatchOutcome, ProducerBridge
from producers._delivery import BulkResult, DeliveryError, DeliveryFailure
from producers._exploration import Explorer
from producers._producer import InteractionProducer

__all__ = [
    "BatchOutcome",
    "BulkResult",
    "DeliveryError",
    "DeliveryFailure",
    "Explorer",
    "InteractionProducer",
    "ProducerBridge",
]
