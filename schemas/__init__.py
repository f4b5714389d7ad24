"""Data contracts every other part imports: events, types, wire format, topics, settings."""

from schemas.errors import DecodeError
from schemas.events import SCHEMA_VERSION, InteractionEvent, SearchEvent, effective_types
from schemas.interaction_types import (
    BUILTIN_TYPES,
    InteractionKind,
    InteractionType,
    TypeRegistry,
)
from schemas.privacy import hash_user_id
from schemas.settings import Settings
from schemas.topics import Topics, interaction_key, search_key
from schemas.validation import describe
from schemas.wire import decode_interaction, decode_search, encode

__all__ = [
    "BUILTIN_TYPES",
    "SCHEMA_VERSION",
    "DecodeError",
    "InteractionEvent",
    "InteractionKind",
    "InteractionType",
    "SearchEvent",
    "Settings",
    "Topics",
    "TypeRegistry",
    "decode_interaction",
    "decode_search",
    "describe",
    "effective_types",
    "encode",
    "hash_user_id",
    "interaction_key",
    "search_key",
]
