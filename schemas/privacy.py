"""Keyed hashing of user ids, shared by the producer and by GDPR deletion."""

from __future__ import annotations

import hashlib
import hmac


def hash_user_id(user_id: str, key: str) -> str:
    """HMAC-SHA256 hex of `user_id`: stable for tracking, not reversible without the key."""
    return hmac.new(key.encode(), user_id.encode(), hashlib.sha256).hexdigest()
