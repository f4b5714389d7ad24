"""Types and weights, settings, the JSON Schema files, user-id hashing, producer config."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from producers._config import producer_config
from schemas import BUILTIN_TYPES, InteractionKind, Settings, TypeRegistry, hash_user_id
from schemas.jsonschema import FILES, SCHEMA_DIR, render
from schemas.privacy import UserIdHasher

pytestmark = pytest.mark.unit


def test_builtin_types_match_the_seed() -> None:
    kinds = {name: t.kind for name, t in BUILTIN_TYPES.items()}
    assert kinds == {
        "click": InteractionKind.POSITIVE,
        "long_view": InteractionKind.POSITIVE,
        "purchase": InteractionKind.CONVERSION,
        "add_to_cart": InteractionKind.CONVERSION,
        "positive_feedback": InteractionKind.EXPLICIT,
        "negative_feedback": InteractionKind.EXPLICIT,
        "skip": InteractionKind.NEGATIVE,
        "return_to_results": InteractionKind.NEGATIVE,
    }
    weight = {name: t.weight for name, t in BUILTIN_TYPES.items()}
    assert weight["purchase"] > weight["long_view"] > weight["click"] > 0
    assert BUILTIN_TYPES["skip"].is_negative and BUILTIN_TYPES["negative_feedback"].is_negative


def test_registry_overrides_and_custom_types() -> None:
    registry = TypeRegistry({"click": 1.5, "share": 4.0})
    assert registry.weight("click") == 1.5
    assert registry.get("share").kind is InteractionKind.CUSTOM
    assert registry.weight("never_configured") == 1.0
    with pytest.raises(ValueError, match="lower-case identifier"):
        TypeRegistry({"Share": 1.0})
    with pytest.raises(ValueError, match="must be > 0"):
        TypeRegistry({"share": 0})


def test_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:29092")
    monkeypatch.setenv("CLICKHOUSE_URL", "chdb:///tmp/x")
    monkeypatch.setenv("TYPE_WEIGHTS", '{"share": 2}')
    settings = Settings()
    assert settings.kafka.host_port == ("127.0.0.1", 29092)
    assert str(settings.clickhouse.chdb_path) == "/tmp/x"
    assert settings.events.type_weights == {"share": 2.0}
    monkeypatch.setenv("CLICKHOUSE_URL", "mysql://x")
    with pytest.raises(ValueError, match="chdb://"):
        Settings()


def test_committed_json_schema_files_are_current() -> None:
    for name, model in FILES.items():
        committed = (SCHEMA_DIR / name).read_bytes()
        assert committed == render(model), f"run `interactions schema` to refresh {name}"


# Known answers computed once outside Python, e.g.
#   printf '%s' 'u1' | openssl dgst -sha256 -hmac 'k'
# The first is RFC 4231 test case 2. Any change to encoding, algorithm or key handling shows.
HMAC_VECTORS = [
    ("what do ya want for nothing?", "Jefe",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    ("u1", "k", "731757b19387f029ed2b9879ee82a5384d99f3d717476fd935e43d11f4a1f2e3"),
    ("alice@example.com", "secret",
     "a398d49ce1980b3642bc4dbd110121e3c953e1eadb497d50dea23e9611f83ee7"),
    ("user_123", "project-key",
     "d34d61945cb9ed3bd38eae4e6b14a012d78f76f19306276d3edc772bc59434c8"),
    ("Zo\u00eb \U0001f431", "cl\u00e9",  # UTF-8 of both
     "ace4485d01ab80ecc55753c1d1d7848d19f6225e86c8290c88835729e13f9d25"),
]  # fmt: skip


@pytest.mark.parametrize(("user_id", "key", "expected"), HMAC_VECTORS)
def test_user_id_hash_matches_known_hmac_sha256_vectors(
    user_id: str, key: str, expected: str
) -> None:
    assert hash_user_id(user_id, key) == expected
    assert UserIdHasher(SecretStr(key))(user_id) == expected
    assert Settings(user_id_hmac_key=SecretStr(key)).privacy.hasher(user_id) == expected


def test_user_id_hasher_without_a_key_keeps_the_id() -> None:
    assert UserIdHasher()("user_123") == "user_123"


def test_producer_config_keeps_delivery_guarantees() -> None:
    config = producer_config(Settings(), {"linger.ms": 50})
    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["linger.ms"] == 50
    with pytest.raises(ValueError, match="acks"):
        producer_config(Settings(), {"acks": 1})


def test_configuration_reference_is_generated_and_current() -> None:
    """docs/configuration.md is rendered from the settings model; regenerate with
    `interactions schema` when a setting changes."""
    from pathlib import Path

    from schemas.settings import all_env_names
    from schemas.settings_reference import render_reference

    committed = (Path(__file__).resolve().parents[3] / "docs" / "configuration.md").read_text()
    assert committed == render_reference(), "stale: run `interactions schema`"
    missing = [name for name in sorted(all_env_names()) if f"`{name}`" not in committed]
    assert missing == []
