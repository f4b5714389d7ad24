"""Lift figures are data: `interactions lift --record` appends one JSON line per run.

The line has the same keys as the benchmarks' results files (bench, date, commit, machine with
its load, load before the run, figures), so docs/training.md can quote the latest run and the
history stays readable without prose.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import orjson

DEFAULT_RESULTS = Path("benchmarks") / "results" / "lift.jsonl"


def machine() -> dict[str, Any]:
    """What the timings depend on: cores, processor, Python, and the load right now."""
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def _commit(where: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def record_run(
    report: dict[str, Any], path: Path = DEFAULT_RESULTS, *, load_before: list[float] | None = None
) -> Path:
    """Append the report's figures (splits, ablations, seeds' lifts, timing, config)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = {
        "splits": report["splits"],
        "ablations": report["ablations"],
        "timing": report["timing"],
        "config": report["config"],
        "traffic_events": report.get("traffic", {}).get("events"),
    }
    line = {
        "bench": "lift",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _commit(Path(__file__).resolve().parent),
        "machine": machine(),
        "load_before": load_before,
        "figures": figures,
    }
    with path.open("ab") as out:
        out.write(orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    return path
