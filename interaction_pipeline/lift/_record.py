"""Lift figures are data: `interactions lift --record` appends one JSON line per run to
benchmarks/results/lift.jsonl (the benchmarks' format: interaction_pipeline.results)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interaction_pipeline.results import append_result

DEFAULT_RESULTS = Path("benchmarks") / "results" / "lift.jsonl"


def record_run(
    report: dict[str, Any], path: Path = DEFAULT_RESULTS, *, load_before: list[float] | None = None
) -> Path:
    """Append the report's figures (splits, ablations, seeds' lifts, timing, config)."""
    figures = {
        "splits": report["splits"],
        "ablations": report["ablations"],
        "timing": report["timing"],
        "config": report["config"],
        "traffic_events": report.get("traffic", {}).get("events"),
    }
    return append_result(path, "lift", figures, load_before=load_before)
