"""Deletion jobs and the deletion log, in Redis, without personal data.

A job's receipt names the person by a digest of the id as stored (never the id), and says
what was removed per store. Finished jobs are appended to a Redis stream, the log an auditor
reads (`interactions deletions`, `GET /v1/retrievers/deletions/{job_id}`).
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import orjson
import redis

from stream_processors.keys import RedisKeys

LOG_MAX_ENTRIES: Final = 1_000_000
"""The log is capped (approximately) at this many deletions."""


@dataclass(slots=True)
class DeletionJob:
    """One erasure request and what it did; `state`: pending, waiting_for_consumers,
    erasing, done, failed."""

    kind: str
    """`user` (one person, linked anonymous ids included) or `purge` (everyone)."""
    subject: str
    """Digest of the person's id as stored (`*` for a purge)."""
    until_ms: int
    requested_at_ms: int
    since_ms: int | None = None
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    state: str = "pending"
    subjects: list[str] = field(default_factory=list)
    """Digests of every tombstone subject (the user, each linked anonymous id)."""
    tombstone_version: int = 0
    pending_consumers: list[str] = field(default_factory=list)
    clickhouse_rows: dict[str, int] = field(default_factory=dict)
    redis_keys_deleted: int = 0
    history_entries_removed: int = 0
    counts_subtracted: dict[str, int] = field(default_factory=dict)
    anonymous_ids_forgotten: int = 0
    finished_at_ms: int | None = None
    error: str | None = None

    @property
    def rows_total(self) -> int:
        return sum(self.clickhouse_rows.values())

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rows_total": self.rows_total}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeletionJob:
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**data)


class JobStore:
    """Receipts by job id (a hash) and the deletion log (a stream), under one prefix."""

    def __init__(self, client: redis.Redis[Any], keys: RedisKeys) -> None:
        self._redis = client
        self._keys = keys

    def save(self, job: DeletionJob) -> None:
        self._redis.hset(self._keys.deletion_jobs(), job.job_id, orjson.dumps(job.to_json()))

    def get(self, job_id: str) -> DeletionJob | None:
        raw = self._redis.hget(self._keys.deletion_jobs(), job_id)
        return None if raw is None else DeletionJob.from_json(orjson.loads(raw))

    def log(self, job: DeletionJob) -> None:
        """Append a finished job to the auditors' log (digests, times and counts only)."""
        entry = {
            "job_id": job.job_id,
            "kind": job.kind,
            "subject": job.subject,
            "state": job.state,
            "since_ms": "" if job.since_ms is None else str(job.since_ms),
            "until_ms": str(job.until_ms),
            "requested_at_ms": str(job.requested_at_ms),
            "finished_at_ms": str(job.finished_at_ms or ""),
            "rows_total": str(job.rows_total),
            "events_subtracted": str(job.counts_subtracted.get("events", 0)),
            "redis_keys_deleted": str(job.redis_keys_deleted),
        }
        self._redis.xadd(self._keys.deletion_log(), entry, maxlen=LOG_MAX_ENTRIES, approximate=True)

    def entries(self, limit: int = 100) -> list[dict[str, str]]:
        """The newest log entries first."""
        out = []
        for entry_id, fields in self._redis.xrevrange(self._keys.deletion_log(), count=limit):
            row = {_text(k): _text(v) for k, v in fields.items()}
            row["log_id"] = _text(entry_id)
            out.append(row)
        return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
