"""The one settings object, read from the environment.

Built once at the edge (CLI, app factory, test fixture) and passed down; library code never
reads the environment itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlparse

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the pipeline; each field is documented in the README settings table."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # --- services -------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:19092", description="Kafka bootstrap servers, comma separated."
    )
    redis_url: str = Field("redis://127.0.0.1:16379/0", description="Redis URL.")
    clickhouse_url: str = Field(
        "chdb://.data/chdb",
        description=(
            "ClickHouse: http(s)://user:pass@host:8123/db for a server, chdb:///abs/path or "
            "chdb://relative/path for the embedded chDB engine."
        ),
    )

    # --- topics ---------------------------------------------------------------------------
    topic_interactions: str = Field("interactions", description="Interaction events topic.")
    topic_searches: str = Field("searches", description="Search (results served) events topic.")
    topic_dead_letter: str = Field(
        "interactions-dlq", description="Dead-letter topic for messages that fail to decode."
    )
    topic_partitions: int = Field(4, ge=1, le=1024, description="Partitions for new topics.")
    topic_replication_factor: int = Field(1, ge=1, description="Replication for new topics.")

    # --- redis layout ---------------------------------------------------------------------
    redis_key_prefix: str = Field(
        "ip", pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="Prefix of every Redis key."
    )

    # --- windows and weights --------------------------------------------------------------
    default_window_days: int = Field(7, ge=1, le=30, description="Default popularity window.")
    max_window_days: int = Field(30, ge=1, le=30, description="Longest answerable window.")
    history_days: int = Field(90, ge=1, le=3650, description="Per-user history horizon.")
    long_view_ms: int = Field(
        4000,
        ge=0,
        description="duration_ms at or above which a click also counts as long_view.",
    )
    type_weights: dict[str, float] = Field(
        default_factory=dict,
        description='Weight overrides and custom types, JSON: {"share": 2.0}.',
    )
    max_future_skew_s: int = Field(
        300, ge=0, description="How far in the future an event timestamp may be."
    )

    # --- privacy --------------------------------------------------------------------------
    user_id_hmac_key: SecretStr | None = Field(
        None, description="When set, user_id is replaced by HMAC-SHA256(key, user_id) hex."
    )

    # --- http service (`interactions serve`) ---------------------------------------------
    http_host: str = Field("127.0.0.1", description="Address `interactions serve` binds to.")
    http_port: int = Field(8080, ge=0, le=65535, description="Port of `interactions serve`.")
    http_api_keys: list[SecretStr] = Field(
        default_factory=list,
        description=(
            'API keys, JSON list: ["k1","k2"]. Sent as X-API-Key or Authorization: Bearer. '
            "None configured: only loopback clients may call /v1."
        ),
    )
    http_max_body_bytes: int = Field(
        5_242_880, ge=1_024, description="Largest accepted request body (413 above it)."
    )
    http_ack_timeout_s: float = Field(
        30.0, gt=0, description="How long a POST waits for Kafka's acknowledgement (503 after)."
    )

    # --- clickhouse and its sink (`interactions sink`) ------------------------------------
    clickhouse_retention_days: int = Field(
        0, ge=0, description="Drop event rows older than this many days (TTL); 0 keeps all."
    )
    chdb_lock_timeout_s: float = Field(
        30.0,
        ge=0,
        description=(
            "chDB lets one process open its folder at a time: how long to wait for another "
            "process (e.g. the sink between batches) to let go before failing."
        ),
    )
    sink_group_id: str = Field("clickhouse-sink", description="Consumer group of the sink.")
    sink_batch_max_rows: int = Field(
        50_000, ge=1, description="Insert when this many messages are buffered..."
    )
    sink_batch_max_s: float = Field(
        1.0, gt=0, description="...or when the oldest buffered message is this old."
    )
    sink_release_chdb: bool = Field(
        True,
        description=(
            "chDB only: let other processes (CLI, HTTP service) in: the sink closes the folder "
            "whenever one waits for it (checked after every insert and every 0.2 s) and "
            "reopens it for the next insert (30-90 ms); false keeps it to the sink alone."
        ),
    )
    sink_decode_workers: int = Field(
        2,
        ge=0,
        le=64,
        description=(
            "Processes that decode and validate messages for the sink (CPU-bound Python, up "
            "to one core and ~190 MB each); 0 decodes in the sink's own process."
        ),
    )
    sink_retry_initial_s: float = Field(
        0.5, gt=0, description="First wait after a failed insert; doubles up to the max."
    )
    sink_retry_max_s: float = Field(30.0, gt=0, description="Longest wait between retries.")
    sink_session_timeout_s: float = Field(
        30.0,
        ge=6,
        le=1800,
        description=(
            "Kafka session timeout of the sink's consumer: how long before the partitions of "
            "a sink process that died (kill -9, lost host) move to another one or to its "
            "restart (the broker's minimum is 6 s by default)."
        ),
    )
    sink_metrics_port: int = Field(
        0, ge=0, le=65535, description="Serve Prometheus metrics on this port; 0: off."
    )

    gc_young_threshold: int = Field(
        10_000,
        ge=0,
        description=(
            "Worker and sink decode processes: freeze start-up objects and collect young "
            "garbage every this many allocations (Python's default is 700); 0 leaves the "
            "collector alone. See schemas/processes.py."
        ),
    )

    # --- popularity worker (`interactions worker`) and its read side ---------------------
    popularity_windows_days: list[Annotated[int, Field(ge=1, le=30)]] = Field(
        default_factory=lambda: [1, 7, 30],
        min_length=1,
        description=(
            "Windows (days, each <= max_window_days) kept as precomputed sums and trending "
            "sets: reads cost one HMGET per feature. Other windows are summed from hour buckets."
        ),
    )
    dedupe_window_s: int = Field(
        86_400,
        ge=0,
        description="An event_id seen again within this many seconds is not counted again.",
    )
    worker_batch_size: int = Field(
        5_000, ge=1, description="Most events the popularity worker applies per batch."
    )
    worker_batch_within_s: float = Field(
        0.1, gt=0, description="Longest wait to fill a worker batch (bounds freshness)."
    )
    worker_sweep_interval_s: float = Field(
        5.0, gt=0, description="How often aged hour buckets are swept out of the window sums."
    )
    worker_session_timeout_s: float = Field(
        10.0,
        ge=6,
        le=300,
        description="Kafka session timeout: how soon a crashed worker's partitions move on.",
    )
    worker_metrics_host: str = Field(
        "127.0.0.1", description="Address of the worker's Prometheus endpoint (0.0.0.0: all)."
    )
    worker_metrics_port: int = Field(
        0, ge=0, le=65535, description="Serve the worker's Prometheus metrics here; 0: off."
    )

    # --- local stack ----------------------------------------------------------------------
    stack_dir: Path = Field(
        Path(".cache/stack"), description="Data, logs and pid files of `interactions stack`."
    )

    @field_validator("clickhouse_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlparse(value).scheme
        if scheme not in {"chdb", "http", "https"}:
            raise ValueError(f"must start with chdb://, http:// or https://, got {value!r}")
        return value

    @property
    def kafka_host_port(self) -> tuple[str, int]:
        """First bootstrap server as (host, port)."""
        first = self.kafka_bootstrap_servers.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        return host or "127.0.0.1", int(port)

    @property
    def redis_host_port(self) -> tuple[str, int]:
        parsed = urlparse(self.redis_url)
        return parsed.hostname or "127.0.0.1", parsed.port or 6379

    @property
    def chdb_path(self) -> Path | None:
        """Folder of the embedded engine, or None when a ClickHouse server is configured."""
        if not self.clickhouse_url.startswith("chdb://"):
            return None
        return Path(self.clickhouse_url.removeprefix("chdb://"))
