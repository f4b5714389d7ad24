"""Validation bounds of the event contract, in one place so docs and errors agree.

Chosen to fit real search traffic with head-room and to keep one Kafka message small:
ids are opaque strings up to 256 characters (UUIDs, URLs-as-ids, hashes all fit); a result
page is at most 1,000 positions deep; metadata up to 8 KiB of JSON (room for a query, device,
dwell time and a few labels, not for documents).
"""

from typing import Final

MAX_ID_LENGTH: Final = 256
MAX_TYPES_PER_EVENT: Final = 16
MAX_POSITION: Final = 9_999
MAX_METADATA_BYTES: Final = 8_192
MAX_QUERY_LENGTH: Final = 1_024
MAX_RESULTS_PER_SEARCH: Final = 1_000
MAX_DURATION_MS: Final = 86_400_000
"""A dwell time above one day is a client bug, not engagement."""
DEFAULT_MAX_FUTURE_SKEW_S: Final = 300
"""Event time may run ahead of the receiver's clock by at most five minutes (clock skew)."""
