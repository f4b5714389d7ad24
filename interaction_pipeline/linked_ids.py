"""Which anonymous ids a user's reads must follow: one rule for the Python API, HTTP and CLI.

A person is followed across login (`identify`): reading a user's stored interactions also
returns the rows sent before login under the anonymous ids linked to them. The links live in
Redis and are read at each call, so a link made a moment ago counts. Redis not answering is
handled the way the caller asks:

- `linked=None` (the default): leave the linked rows out with a warning (an exclusion list
  for a recommender should not fail because Redis is away);
- `linked=True`: raise RedisUnavailableError (an access request must be complete);
- `linked=False`: never read the links; only rows carrying the user id.
"""

from __future__ import annotations

import logging

import redis

from schemas.errors import RedisUnavailableError
from stream_processors.identity import IdentityLinks

log = logging.getLogger("interaction_pipeline.linked_ids")


def linked_anonymous_ids(
    links: IdentityLinks, stored_user_id: str | None, linked: bool | None
) -> list[str]:
    """The anonymous ids (as stored) linked to `stored_user_id` (already hashed when ids are
    hashed), per the rule above; [] without a user."""
    if stored_user_id is None or linked is False:
        return []
    try:
        return links.anonymous_ids(stored_user_id)
    except redis.RedisError as exc:
        if linked is None:
            log.warning("Redis does not answer (%s): rows of linked anonymous ids left out", exc)
            return []
        raise RedisUnavailableError(
            f"Redis does not answer ({exc}): the user's linked anonymous ids are unknown; "
            "pass linked=False to read only the rows carrying the user id"
        ) from exc
