"""The seed's `interactions` calls over the stored events (ClickHouse):

    previous = interactions.list(user_id="user_123", interaction_type=["purchase"], days=90)
    exclude = [i.feature_id for i in previous]

Module-level functions use the connection of `interaction_pipeline.configure` (by default the
settings in the environment). User ids are hashed here first when USER_ID_HMAC_KEY is set, as
producers hash them.

A person is followed across login: with `user_id`, `list` and `count` also return the rows
sent before login under the anonymous ids linked to the user (`identify`; read from Redis at
each call, so a link made a moment ago counts). By default a Redis that does not answer
leaves them out with a warning (an exclusion list should not fail); `linked=True` makes
that an error (an access request must be complete), `linked=False` reads only the rows
carrying the user id.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from uuid import UUID

from interaction_pipeline._context import current_backend, current_settings
from interaction_pipeline.linked_ids import linked_anonymous_ids
from sinks import DeletionReport, InteractionFilter, InteractionQueries, StoredInteraction
from sinks import delete_interaction as _delete_interaction
from stream_processors import connection
from stream_processors.identity import IdentityLinks
from stream_processors.keys import RedisKeys

__all__ = ["StoredInteraction", "count", "delete", "get", "list"]


def _queries() -> InteractionQueries:
    return InteractionQueries(current_backend(), hasher=current_settings().privacy.hasher)


def _linked(user_id: str | None, linked: bool | None) -> builtins.list[str]:
    """The anonymous ids (as stored) linked to the user (interaction_pipeline.linked_ids)."""
    if user_id is None or linked is False:
        return []
    settings = current_settings()
    client = connection.redis_client(settings, socket_timeout=5)
    try:
        links = IdentityLinks(client, RedisKeys(settings.redis.key_prefix))
        return linked_anonymous_ids(links, settings.privacy.hasher(user_id), linked)
    finally:
        client.close()


def _filter(
    user_id: str | None,
    interaction_type: str | builtins.list[str] | None,
    days: int | None,
    linked: bool | None,
    **others: object,
) -> InteractionFilter:
    """The query API's filter; a single type may be given as a plain string."""
    types = [interaction_type] if isinstance(interaction_type, str) else interaction_type
    return InteractionFilter.model_validate(
        {
            "user_id": user_id,
            "anonymous_ids": _linked(user_id, linked),
            "interaction_type": types or [],
            "days": days,
            **others,
        }
    )


def list(  # the seed's name; builtins.list is spelled out in this module
    user_id: str | None = None,
    interaction_type: str | builtins.list[str] | None = None,
    days: int | None = None,
    *,
    feature_id: str | None = None,
    session_id: str | None = None,
    retriever_id: str | None = None,
    query_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    linked: bool | None = None,
) -> builtins.list[StoredInteraction]:
    """Interactions matching every filter given, newest first: all of them, or the newest
    `limit`. Each item has the seed's fields (`.feature_id`, `.interaction_type`, ...).
    With `user_id`, the rows of the user's linked anonymous ids too: `linked=None` when
    Redis answers, `True` always (RedisUnavailableError otherwise), `False` never."""
    flt = _filter(
        user_id,
        interaction_type,
        days,
        linked,
        feature_id=feature_id,
        session_id=session_id,
        retriever_id=retriever_id,
        query_id=query_id,
        since=since,
        until=until,
    )
    return _queries().rows(flt, limit=limit)


def count(
    user_id: str | None = None,
    interaction_type: str | builtins.list[str] | None = None,
    days: int | None = None,
    *,
    feature_id: str | None = None,
    retriever_id: str | None = None,
    linked: bool | None = None,
) -> int:
    """How many interactions match (the same filters as `list`)."""
    flt = _filter(
        user_id, interaction_type, days, linked, feature_id=feature_id, retriever_id=retriever_id
    )
    return _queries().count(flt)


def get(interaction_id: UUID | str) -> StoredInteraction | None:
    """One interaction by its event_id, or None when it is not stored (yet)."""
    found = _queries().get(interaction_id)
    return StoredInteraction.model_validate(found) if found is not None else None


def delete(interaction_id: UUID | str) -> DeletionReport:
    """The seed's GDPR delete of one interaction by its event_id."""
    return _delete_interaction(current_backend(), interaction_id)
