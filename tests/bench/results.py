"""Benchmark figures are data: each run appends one JSON line to benchmarks/results/<name>.jsonl
with the date, the machine, its load before and after, and the commit, so the docs can quote
the latest run and anyone can see the history without reading prose."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import orjson

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, processor, Python, and the load right now."""
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def record(name: str, figures: dict[str, Any], *, load_before: list[float] | None = None) -> Path:
    """Append this run's figures; returns the results file."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.jsonl"
    line = {
        "bench": name,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": machine(),
        "load_before": load_before,
        "figures": figures,
    }
    with path.open("ab") as out:
        out.write(orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    print(f"recorded in {path.relative_to(REPO_ROOT)}")
    return path
