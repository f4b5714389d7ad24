"""Measured figures are data: one JSON line per run in a results file, with the date, the
commit, the machine and its load, so docs quote the latest run and the history stays readable.

Used by `interactions lift --record` and by the benchmarks (`make bench`), which all write
under benchmarks/results/.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import orjson


def machine() -> dict[str, Any]:
    """What the figures depend on: cores, processor, Python, and the load right now."""
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def load_now() -> list[float]:
    """The 1, 5 and 15 minute load averages, to record before a run starts."""
    return [round(x, 2) for x in os.getloadavg()]


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


def append_result(
    path: Path,
    bench: str,
    figures: dict[str, Any],
    *,
    load_before: list[float] | None = None,
    checkout: Path | None = None,
) -> Path:
    """Append one run's line to `path` (created with its folders); `checkout` names the git
    work tree whose commit is recorded (default: the folder of `path`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "bench": bench,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": _commit(checkout or path.parent),
        "machine": machine(),
        "load_before": load_before,
        "figures": figures,
    }
    with path.open("ab") as out:
        out.write(orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    return path
