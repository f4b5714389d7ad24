"""Identity across login: which anonymous ids (device, cookie) belong to which user.

`identify(anonymous_id, user_id)` records the link both ways (ids as stored: the HMAC when
ids are hashed); readers merge the user's history with their anonymous ids' histories, the
query API reads their rows too, and forgetting the user forgets the linked ids. An anonymous
id links to one user: identifying it again moves it (a shared device that changed hands).
"""

from __future__ import annotations

from typing import Any

import redis

from stream_processors.keys import RedisKeys


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class IdentityLinks:
    """The links in Redis (`RedisKeys.anonymous_links`, `RedisKeys.user_anonymous_ids`)."""

    def __init__(self, client: redis.Redis[Any], keys: RedisKeys) -> None:
        self._redis = client
        self._keys = keys

    def identify(self, anonymous_id: str, user_id: str) -> str | None:
        """Link them; returns the user the anonymous id was linked to before, if another."""
        previous = self._redis.hget(self._keys.anonymous_links(), anonymous_id)
        before = None if previous is None else _text(previous)
        pipe = self._redis.pipeline(transaction=False)
        if before is not None and before != user_id:
            pipe.srem(self._keys.user_anonymous_ids(before), anonymous_id)
        pipe.hset(self._keys.anonymous_links(), anonymous_id, user_id)
        pipe.sadd(self._keys.user_anonymous_ids(user_id), anonymous_id)
        pipe.execute()
        return before if before != user_id else None

    def anonymous_ids(self, user_id: str) -> list[str]:
        return sorted(
            _text(a) for a in self._redis.smembers(self._keys.user_anonymous_ids(user_id))
        )

    def forget(self, user_id: str) -> list[str]:
        """Remove the user's links; returns the anonymous ids that were linked."""
        linked = self.anonymous_ids(user_id)
        pipe = self._redis.pipeline(transaction=False)
        if linked:
            pipe.hdel(self._keys.anonymous_links(), *linked)
        pipe.delete(self._keys.user_anonymous_ids(user_id))
        pipe.execute()
        return linked
