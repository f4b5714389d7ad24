"""Keyed hashing of user ids: the one helper every part calls before storing or matching an id."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from pydantic import SecretStr


def hash_user_id(user_id: str, key: str) -> str:
    """HMAC-SHA256 hex of `user_id`: stable for tracking, not reversible without the key."""
    return hmac.new(key.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class UserIdHasher:
    """`hasher(user_id)` is the id as stored: its HMAC when a key is set, else unchanged.

    Producers hash before events leave them; readers and deletion hash what a caller gives
    them the same way, so `user_123` finds the rows stored under its HMAC.
    """

    key: SecretStr | None = None

    @property
    def enabled(self) -> bool:
        return self.key is not None

    def __call__(self, user_id: str) -> str:
        if self.key is None:
            return user_id
        return hash_user_id(user_id, self.key.get_secret_value())


NO_HASHING = UserIdHasher()
"""The hasher of a deployment that stores user ids as given."""
