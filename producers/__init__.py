"""Everything that writes events into Kafka: the SDK, the file loader, the HTTP collector."""

from producers._delivery import BulkResult, DeliveryError, DeliveryFailure
from producers._producer import InteractionProducer

__all__ = ["BulkResult", "DeliveryError", "DeliveryFailure", "InteractionProducer"]
