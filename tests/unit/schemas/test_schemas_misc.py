"""Types and weights, settings, the JSON Schema files, user-id hashing, producer config."""

from __future__ import annotations

import pytest

from producers._config import producer_config
from schemas import BUILTIN_TYPES, InteractionKind, Settings, TypeRegistry, hash_user_id
from schemas.jsonschema import FILES, SCHEMA_DIR, render

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


def test_user_id_hash_is_keyed_and_stable() -> None:
    assert hash_user_id("u1", "k") == hash_user_id("u1", "k")
    assert hash_user_id("u1", "k") != hash_user_id("u1", "other")
    assert len(hash_user_id("u1", "k")) == 64


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
