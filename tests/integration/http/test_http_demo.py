"""`interactions demo --quick`: the whole product runs, shows its results, leaves nothing behind."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path

import orjson
import pytest

from interaction_pipeline.orchestration import CLI, settings_env
from schemas import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEMO_TIMEOUT_S = 600


def _demo_settings(unique_settings: Settings) -> Settings:
    return unique_settings.replace(
        **{"sink_group_id": f"sink-demo-{uuid.uuid4().hex[:8]}", "sink_batch_max_s": 0.5}
    )


def _processes_with(prefix: str) -> list[int]:
    """Pids of live processes started with our unique Redis prefix in their environment."""
    needle = f"REDIS_KEY_PREFIX={prefix}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_quick_demo_shows_every_result_and_stops_everything(
    unique_settings: Settings, tmp_path: Path
) -> None:
    settings = _demo_settings(unique_settings)
    out = tmp_path / "out"
    done = subprocess.run(
        [*CLI, "demo", "--quick", "--seed", "11", "--no-stack", "--json", "--out", str(out)],
        env=settings_env(settings),
        capture_output=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    result = orjson.loads(done.stdout)
    traffic = result["traffic"]
    assert traffic["http"]["interactions"] > 0 and traffic["sdk"]["interactions"] > 0
    assert traffic["http"]["failures"] == traffic["sdk"]["failures"] == 0
    assert result["lag_after_catch_up"] == {"worker": 0, "sink": 0}
    assert len(result["trending"]["items"]) == 10
    boosted = result["boost"]["result"]["candidates"]
    assert len(boosted) == 10
    assert all(1.0 <= c["multiplier"] <= 1.2 for c in boosted)
    assert [c["boosted_score"] for c in boosted] == sorted(
        (c["boosted_score"] for c in boosted), reverse=True
    )
    # Everything sent reached ClickHouse: the report counts every simulated search.
    searches = traffic["http"]["searches"] + traffic["sdk"]["searches"]
    assert result["report"]["headline"]["searches"] == searches
    assert len(result["bias"]["positions"]) >= 10
    assert result["export"]["pairs"] > 0
    for name in ("training_pairs.jsonl", "training_pairs_st.parquet", "report.json", "bias.json"):
        assert (out / name).stat().st_size > 0
    assert _processes_with(settings.redis.key_prefix) == []


def test_a_failing_service_stops_the_demo_and_every_child(
    unique_settings: Settings, tmp_path: Path
) -> None:
    settings = _demo_settings(unique_settings)
    with socket.socket() as taken:  # the HTTP service cannot bind this port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*CLI, "demo", "--quick", "--no-stack", "--port", str(port), "--out", str(tmp_path)],
            env=settings_env(settings),
            capture_output=True,
            timeout=DEMO_TIMEOUT_S,
            check=False,
        )
    assert done.returncode == 1
    assert "`serve` exited" in done.stderr.decode()
    assert _processes_with(settings.redis.key_prefix) == []
