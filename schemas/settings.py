"""The one settings object, read from the environment, in one section per component.

Built once at the edge (CLI, app factory, test fixture) and passed down; library code never
reads the environment itself. Each section reads its own variables with its own prefix, so
the variable names stay what deployments already use (`KAFKA_BOOTSTRAP_SERVERS`,
`REDIS_URL`, `SINK_GROUP_ID`, ...), and the same knob has the same name on every component
(`WORKER_GROUP_ID` / `SINK_GROUP_ID`, `WORKER_METRICS_PORT` / `SINK_METRICS_PORT`).
Where a name changed, the old one is still read (see `AliasChoices` below).

`docs/configuration.md` is generated from these classes (`interactions settings --markdown`);
a test fails when it is stale.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args
from urllib.parse import urlparse

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.errors import InvalidArgumentError
from schemas.privacy import UserIdHasher


class Section(BaseSettings):
    """A group of settings with one environment prefix (see `env_prefix` of each)."""

    model_config = SettingsConfigDict(
        env_file=None,
        extra="ignore",
        case_sensitive=False,
        frozen=True,
        populate_by_name=True,
    )
    title: ClassVar[str] = ""


class KafkaSettings(Section):
    model_config = SettingsConfigDict(env_prefix="KAFKA_")
    title: ClassVar[str] = "Kafka"

    bootstrap_servers: str = Field(
        "127.0.0.1:19092", description="Kafka bootstrap servers, comma separated."
    )

    @property
    def host_port(self) -> tuple[str, int]:
        """First bootstrap server as (host, port)."""
        first = self.bootstrap_servers.split(",")[0].strip()
        host, _, port = first.rpartition(":")
        return host or "127.0.0.1", int(port)


class TopicSettings(Section):
    model_config = SettingsConfigDict(env_prefix="TOPIC_")
    title: ClassVar[str] = "Topics"

    interactions: str = Field("interactions", description="Interaction events topic.")
    searches: str = Field("searches", description="Search (results served) events topic.")
    dead_letter: str = Field(
        "interactions-dlq", description="Dead-letter topic for messages that fail to decode."
    )
    partitions: int = Field(4, ge=1, le=1024, description="Partitions for new topics.")
    replication_factor: int = Field(1, ge=1, description="Replication for new topics.")


class RedisSettings(Section):
    model_config = SettingsConfigDict(env_prefix="REDIS_")
    title: ClassVar[str] = "Redis"

    url: str = Field("redis://127.0.0.1:16379/0", description="Redis URL.")
    key_prefix: str = Field(
        "ip", pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="Prefix of every Redis key."
    )
    cluster: bool = Field(
        False,
        description="REDIS_URL names one node of a Redis Cluster: clients discover the others "
        "and route each key to its slot's master (database 0 only).",
    )
    wait_replicas: int = Field(
        0,
        ge=0,
        description="The worker waits (WAIT) until this many replicas of each Redis master "
        "hold a batch's writes before its Kafka offsets are committed, so a failover loses no "
        "counted event; 1 on a Redis Cluster with a replica per master, 0 without replicas.",
    )
    wait_timeout_s: float = Field(
        5.0,
        gt=0,
        description="How long one WAIT blocks; the batch is retried (not committed) until the "
        "replicas confirm.",
    )

    @property
    def host_port(self) -> tuple[str, int]:
        parsed = urlparse(self.url)
        return parsed.hostname or "127.0.0.1", parsed.port or 6379


class ClickHouseSettings(Section):
    model_config = SettingsConfigDict(env_prefix="CLICKHOUSE_")
    title: ClassVar[str] = "ClickHouse"

    url: str = Field(
        "chdb://.data/chdb",
        description=(
            "ClickHouse: http(s)://user:pass@host:8123/db for a server, chdb:///abs/path or "
            "chdb://relative/path for the embedded chDB engine."
        ),
    )
    retention_days: int = Field(
        0, ge=0, description="Drop event rows older than this many days (TTL); 0 keeps all."
    )
    chdb_lock_timeout_s: float = Field(
        30.0,
        ge=0,
        validation_alias=AliasChoices("CLICKHOUSE_CHDB_LOCK_TIMEOUT_S", "CHDB_LOCK_TIMEOUT_S"),
        description=(
            "chDB lets one process open its folder at a time: how long to wait for another "
            "process (e.g. the sink between batches) to let go before failing. "
            "Also read as CHDB_LOCK_TIMEOUT_S."
        ),
    )

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = urlparse(value).scheme
        if scheme not in {"chdb", "http", "https"}:
            raise ValueError(f"must start with chdb://, http:// or https://, got {value!r}")
        return value

    @property
    def chdb_path(self) -> Path | None:
        """Folder of the embedded engine, or None when a ClickHouse server is configured."""
        if not self.url.startswith("chdb://"):
            return None
        return Path(self.url.removeprefix("chdb://"))


class EventSettings(Section):
    """How events are read: shared by producers, the worker and the sink."""

    model_config = SettingsConfigDict(env_prefix="")
    title: ClassVar[str] = "Events"

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


class PopularitySettings(Section):
    """Windows of the popularity counts: the worker writes them, readers answer from them."""

    model_config = SettingsConfigDict(env_prefix="")
    title: ClassVar[str] = "Popularity windows"

    default_window_days: int = Field(7, ge=1, le=30, description="Default popularity window.")
    max_window_days: int = Field(30, ge=1, le=30, description="Longest answerable window.")
    history_days: int = Field(90, ge=1, le=3650, description="Per-user history horizon.")
    windows_days: list[Annotated[int, Field(ge=1, le=30)]] = Field(
        default_factory=lambda: [1, 7, 30],
        min_length=1,
        validation_alias=AliasChoices("POPULARITY_WINDOWS_DAYS", "windows_days"),
        description=(
            "Windows (days, each <= MAX_WINDOW_DAYS) kept as precomputed sums and trending "
            "sets: reads cost one HMGET per feature. Other windows are summed from hour "
            "buckets. Read as POPULARITY_WINDOWS_DAYS."
        ),
    )
    dedupe_window_s: int = Field(
        86_400,
        ge=0,
        description="An event_id seen again within this many seconds is not counted again.",
    )

    def resolve_window(self, window_days: int | None) -> int:
        """The window a request means: its own, or the default; the one place that decides."""
        days = self.default_window_days if window_days is None else window_days
        if not 1 <= days <= self.max_window_days:
            raise InvalidArgumentError(
                f"window_days: must be between 1 and {self.max_window_days}, got {days}"
            )
        return days


_GC_HELP = (
    "Freeze start-up objects and collect young garbage every this many allocations (Python's "
    "default is 700); 0 leaves the collector alone. See pipeline_runtime/processes.py. "
    "GC_YOUNG_THRESHOLD sets it for the worker and the sink at once."
)


class WorkerSettings(Section):
    """The popularity worker (`interactions worker`)."""

    model_config = SettingsConfigDict(env_prefix="WORKER_")
    title: ClassVar[str] = "Popularity worker"

    group_id: str | None = Field(
        None,
        description=(
            "Consumer group (and Faust app id) of the worker; unset: "
            "`interactions-popularity-<REDIS_KEY_PREFIX>`, one group per Redis prefix, since "
            "its offsets describe that prefix's counts."
        ),
    )
    batch_size: int = Field(5_000, ge=1, description="Most events applied per batch.")
    batch_within_s: float = Field(
        0.1, gt=0, description="Longest wait to fill a batch (bounds freshness)."
    )
    sweep_interval_s: float = Field(
        5.0, gt=0, description="How often aged hour buckets are swept out of the window sums."
    )
    session_timeout_s: float = Field(
        10.0,
        ge=6,
        le=300,
        description="Kafka session timeout: how soon a crashed worker's partitions move on.",
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address of the Prometheus endpoint (0.0.0.0: all)."
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Serve Prometheus metrics on this port; 0: off."
    )
    gc_young_threshold: int = Field(
        10_000,
        ge=0,
        validation_alias=AliasChoices("WORKER_GC_YOUNG_THRESHOLD", "GC_YOUNG_THRESHOLD"),
        description=_GC_HELP,
    )


class SinkSettings(Section):
    """The ClickHouse sink (`interactions sink`)."""

    model_config = SettingsConfigDict(env_prefix="SINK_")
    title: ClassVar[str] = "ClickHouse sink"

    group_id: str = Field("clickhouse-sink", description="Consumer group of the sink.")
    batch_max_rows: int = Field(
        50_000, ge=1, description="Insert when this many messages are buffered..."
    )
    batch_max_s: float = Field(
        1.0, gt=0, description="...or when the oldest buffered message is this old."
    )
    release_chdb: bool = Field(
        True,
        description=(
            "chDB only: let other processes (CLI, HTTP service) in: the sink closes the folder "
            "whenever one waits for it (checked after every insert and every 0.2 s) and "
            "reopens it for the next insert (30-90 ms); false keeps it to the sink alone."
        ),
    )
    decode_workers: int = Field(
        2,
        ge=0,
        le=64,
        description=(
            "Processes that decode and validate messages (CPU-bound Python, up to one core "
            "and ~190 MB each); 0 decodes in the sink's own process."
        ),
    )
    retry_initial_s: float = Field(
        0.5, gt=0, description="First wait after a failed insert; doubles up to the max."
    )
    retry_max_s: float = Field(30.0, gt=0, description="Longest wait between retries.")
    session_timeout_s: float = Field(
        30.0,
        ge=6,
        le=1800,
        description=(
            "Kafka session timeout: how long before the partitions of a sink process that "
            "died (kill -9, lost host) move to another one or to its restart (the broker's "
            "minimum is 6 s by default)."
        ),
    )
    metrics_host: str = Field(
        "127.0.0.1", description="Address of the Prometheus endpoint (0.0.0.0: all)."
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Serve Prometheus metrics on this port; 0: off."
    )
    gc_young_threshold: int = Field(
        10_000,
        ge=0,
        validation_alias=AliasChoices("SINK_GC_YOUNG_THRESHOLD", "GC_YOUNG_THRESHOLD"),
        description=_GC_HELP + " Applies to the decode processes.",
    )


ApiScope = Literal["ingest", "read", "admin"]
"""What an API key may do on the HTTP service: `ingest` POSTs events (what a browser SDK
holds), `read` reads counts, history and stored events, `admin` deletes (interactions, users)."""
API_SCOPES: tuple[ApiScope, ...] = get_args(ApiScope)


class HttpSettings(Section):
    """The HTTP service (`interactions serve`)."""

    model_config = SettingsConfigDict(env_prefix="HTTP_")
    title: ClassVar[str] = "HTTP service"

    host: str = Field("127.0.0.1", description="Address the service binds to.")
    port: int = Field(8080, ge=0, le=65535, description="Port of the service.")
    api_keys: list[SecretStr] = Field(
        default_factory=list,
        description=(
            'API keys, JSON list: ["k1","k2"]. Sent as X-API-Key or Authorization: Bearer. '
            "Each has every scope (ingest, read, admin); see HTTP_API_KEY_SCOPES for keys "
            "with fewer. None configured in either: only loopback clients may call /v1."
        ),
    )
    api_key_scopes: dict[SecretStr, list[ApiScope]] = Field(
        default_factory=dict,
        description=(
            'API keys with scopes, JSON object: {"k-browser": ["ingest"], "k-dash": ["read"], '
            '"k-ops": ["read", "admin"]}. ingest: POST events; read: GET routes, popularity '
            "counts and boost, user history; admin: DELETE routes (an interaction, a user). "
            "A wrong scope answers 403. A key also in HTTP_API_KEYS keeps every scope."
        ),
    )
    max_body_bytes: int = Field(
        5_242_880, ge=1_024, description="Largest accepted request body (413 above it)."
    )
    ack_timeout_s: float = Field(
        30.0, gt=0, description="How long a POST waits for Kafka's acknowledgement (503 after)."
    )
    cors_allowed_origins: list[str] = Field(
        default_factory=list,
        description=(
            'Web origins whose pages may call the API (CORS), JSON list: ["https://shop.example"]'
            ', or ["*"]. Also the origins whose text/plain beacon bodies (the browser SDK\'s '
            "navigator.sendBeacon) are accepted. Empty: no CORS, and no cross-origin beacons."
        ),
    )

    @field_validator("cors_allowed_origins")
    @classmethod
    def _origins_are_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s?#]+", origin):
                raise ValueError(
                    f"{origin!r}: must be an origin (scheme://host[:port], no path or "
                    "trailing slash) or *"
                )
        return value

    @field_validator("api_key_scopes")
    @classmethod
    def _scoped_keys_are_usable(
        cls, value: dict[SecretStr, list[ApiScope]]
    ) -> dict[SecretStr, list[ApiScope]]:
        for key, scopes in value.items():
            if not key.get_secret_value():
                raise ValueError("an API key must not be empty")
            if not scopes:
                raise ValueError(f"a key must have at least one of the scopes {list(API_SCOPES)}")
        return value

    def key_scopes(self) -> dict[str, frozenset[ApiScope]]:
        """Every configured key (as sent by clients) and what it may do: the one place that
        merges the two settings (a plain key has every scope)."""
        merged: dict[str, frozenset[ApiScope]] = {
            k.get_secret_value(): frozenset(v) for k, v in self.api_key_scopes.items()
        }
        for key in self.api_keys:
            if key.get_secret_value():
                merged[key.get_secret_value()] = frozenset(API_SCOPES)
        return merged


class PrivacySettings(Section):
    model_config = SettingsConfigDict(env_prefix="")
    title: ClassVar[str] = "Privacy"

    user_id_hmac_key: SecretStr | None = Field(
        None, description="When set, user_id is replaced by HMAC-SHA256(key, user_id) hex."
    )

    @property
    def hasher(self) -> UserIdHasher:
        """The one helper that turns a user id into the id as stored."""
        return UserIdHasher(self.user_id_hmac_key)


class ErasureSettings(Section):
    """Forgetting users (GDPR): how fast every part learns of a deletion, how long one waits."""

    model_config = SettingsConfigDict(env_prefix="ERASURE_")
    title: ClassVar[str] = "Erasure (GDPR)"

    refresh_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="How often the worker, the sink and the producers re-read the tombstone "
        "version (one Redis GET); a deletion waits about this long for them.",
    )
    max_stale_s: float = Field(
        30.0,
        gt=0,
        description="The sink keeps writing with tombstones this old while Redis does not "
        "answer, then pauses; a deletion stops waiting for a consumer silent this long.",
    )
    tombstone_days: int = Field(
        30,
        ge=1,
        description="How long a tombstone is kept (and checked): longer than the Kafka "
        "retention and any producer's offline queue, so no covered event can arrive later.",
    )
    request_wait_s: float = Field(
        30.0,
        ge=0,
        description="How long DELETE /v1/retrievers/users/{id} waits for its job before "
        "answering 202 with the job id instead of 200 with what was removed.",
    )


class StackSettings(Section):
    """The local development stack (`interactions stack`)."""

    model_config = SettingsConfigDict(env_prefix="STACK_")
    title: ClassVar[str] = "Local stack"

    dir: Path = Field(
        Path(".cache/stack"),
        description=(
            "Data, logs and pid files of `interactions stack`; the Kafka jars are fetched once "
            "into `kafka/libs` beside it. Relative paths are relative to the current folder."
        ),
    )


SECTIONS: dict[str, type[Section]] = {
    "kafka": KafkaSettings,
    "topics": TopicSettings,
    "redis": RedisSettings,
    "clickhouse": ClickHouseSettings,
    "events": EventSettings,
    "popularity": PopularitySettings,
    "worker": WorkerSettings,
    "sink": SinkSettings,
    "http": HttpSettings,
    "privacy": PrivacySettings,
    "erasure": ErasureSettings,
    "stack": StackSettings,
}


class Settings(BaseModel):
    """Every knob of the pipeline, by section; `Settings()` reads them all from the environment.

    Change a few in code with `settings.replace(kafka={"bootstrap_servers": ...})`.
    """

    model_config = {"frozen": True}

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    popularity: PopularitySettings = Field(default_factory=PopularitySettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    sink: SinkSettings = Field(default_factory=SinkSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    erasure: ErasureSettings = Field(default_factory=ErasureSettings)
    stack: StackSettings = Field(default_factory=StackSettings)

    @model_validator(mode="before")
    @classmethod
    def _sections_from_environment(cls, data: Any) -> Any:
        """A section given as a dict overrides the environment field by field; the flat names
        of earlier versions (`clickhouse_url=...`) are accepted too."""
        if not isinstance(data, dict):
            return data
        return _build_sections(data)

    def replace(self, **changes: Any) -> Settings:
        """A validated copy with some fields changed, by section or by flat name:
        `settings.replace(topics={"interactions": "t1"})`, `settings.replace(sink_group_id="g")`.
        """
        current = {name: getattr(self, name).model_dump() for name in SECTIONS}
        for name, value in _nest(changes).items():
            current[name] = {**current[name], **value}
        built = {name: type(getattr(self, name)).model_validate(v) for name, v in current.items()}
        return Settings.model_validate(built)

    def environment(self) -> dict[str, str]:
        """Variables under which `Settings()` reads back exactly these values (secrets too):
        what a child process is given."""
        env: dict[str, str] = {}
        for name, section in SECTIONS.items():
            values = getattr(self, name)
            for field in section.model_fields:
                value = getattr(values, field)
                if value is not None:
                    env[env_names(section, field)[0]] = _env_value(value)
        return env

    @property
    def worker_group_id(self) -> str:
        """The worker's consumer group: WORKER_GROUP_ID, or one per Redis key prefix."""
        return self.worker.group_id or f"interactions-popularity-{self.redis.key_prefix}"


FLAT_NAMES: dict[str, tuple[str, str]] = {
    f"{prefix}{field}": (section, field)
    for section, prefix in (
        ("kafka", "kafka_"),
        ("topics", "topic_"),
        ("redis", "redis_"),
        ("clickhouse", "clickhouse_"),
        ("events", ""),
        ("popularity", ""),
        ("worker", "worker_"),
        ("sink", "sink_"),
        ("http", "http_"),
        ("privacy", ""),
        ("erasure", "erasure_"),
        ("stack", "stack_"),
    )
    for field in SECTIONS[section].model_fields
} | {
    "chdb_lock_timeout_s": ("clickhouse", "chdb_lock_timeout_s"),
    "popularity_windows_days": ("popularity", "windows_days"),
    "gc_young_threshold": ("worker", "gc_young_threshold"),
}
"""Flat keyword names of earlier versions (`Settings(clickhouse_url=...)`) -> (section, field)."""


def _nest(changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Group flat names and section dicts into {section: {field: value}}."""
    nested: dict[str, dict[str, Any]] = {}
    for key, value in changes.items():
        if key in SECTIONS:
            fields = value.model_dump() if isinstance(value, Section) else dict(value)
            nested.setdefault(key, {}).update(fields)
        elif key in FLAT_NAMES:
            section, field = FLAT_NAMES[key]
            nested.setdefault(section, {})[field] = value
        else:
            raise ValueError(f"{key}: is not a known setting")
    return nested


def _build_sections(data: dict[str, Any]) -> dict[str, Any]:
    built: dict[str, Any] = {}
    for name, fields in _nest(data).items():
        built[name] = SECTIONS[name](**fields)
    return built


def env_names(section: type[Section], field: str) -> list[str]:
    """The environment variables a field is read from, the preferred one first."""
    alias = section.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice).upper() for choice in alias.choices if str(choice).isupper()]
    prefix = str(section.model_config.get("env_prefix", ""))
    return [f"{prefix}{field}".upper()]


def all_env_names() -> set[str]:
    """Every variable any setting is read from (old names included)."""
    return {
        name
        for section in SECTIONS.values()
        for field in section.model_fields
        for name in env_names(section, field)
    }


def _env_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list):
        return json.dumps([_plain(v) for v in value])
    if isinstance(value, str | Path):
        return str(value)
    return json.dumps(_plain(value))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value.get_secret_value() if isinstance(value, SecretStr) else value
