"""The Redis key layout: one slot per feature whatever its id, every user key listed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from stream_processors.keys import (
    RedisKeys,
    bucket_field,
    decode_id,
    encode_id,
    history_member,
    split_history_member,
    sum_field,
)

pytestmark = pytest.mark.unit

ids = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)


@given(ids)
def test_all_keys_of_one_feature_share_a_cluster_slot(feature_id: str) -> None:
    keys = RedisKeys("ip").feature_keys(feature_id)
    assert len({key_slot(k.encode()) for k in keys}) == 1


@given(ids)
def test_ids_round_trip_through_key_encoding(value: str) -> None:
    encoded = encode_id(value)
    assert "{" not in encoded and "}" not in encoded
    assert decode_id(encoded) == value


def test_braces_in_ids_cannot_break_the_hash_tag() -> None:
    # Unencoded, "}x" would make an empty hash tag: every key hashed whole, in its own slot.
    keys = RedisKeys("ip").feature_keys("}x{")
    assert len({key_slot(k.encode()) for k in keys}) == 1
    assert keys[0] == "ip:f:{%7Dx%7B}:s"


def test_shared_sets_are_in_one_slot() -> None:
    keys = RedisKeys("ip")
    shared = [keys.trending(7, "click"), keys.trending(30, None), keys.due_index("t", 3)]
    assert len({key_slot(k.encode()) for k in shared}) == 1
    assert keys.trending(7, None) == "ip:{ip}:t:7:_weighted"


def test_user_keys_name_the_history_set() -> None:
    keys = RedisKeys("ip")
    assert keys.user_keys("user_123") == ["ip:u:{user_123}:h"]
    assert keys.user_keys("user_123") == [keys.user_history("user_123")]


def test_field_names() -> None:
    assert sum_field(7, "click") == "7:click"
    assert bucket_field(494_000, "long_view") == "494000:long_view"
    member = history_member("purchase", "doc:with:colons")
    assert split_history_member(member) == ("purchase", "doc:with:colons")


def test_prefix_is_checked() -> None:
    with pytest.raises(ValueError, match="redis_key_prefix"):
        RedisKeys("has space")
