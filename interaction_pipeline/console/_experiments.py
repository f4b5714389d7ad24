"""The Experiments page's data: the lift experiment and the offline A/B estimate, read from
the result files they write, when those exist.

The console runs no experiment: it looks in the folder the service was started from (what
`make demo`, `interactions lift` and `make bench` write to), newest file first:

- lift: `out/**/lift.json` (one run's report), and the recorded history
  `benchmarks/results/lift.jsonl` (one line per `interactions lift --record`);
- offline A/B: `out/**/*counterfactual*.json`, `out/**/*offline_ab*.json` and
  `benchmarks/results/counterfactual*.jsonl`. Its format is its own module's business, so it
  is shown as found: the scalar figures, flattened to dotted names.

A file that cannot be read is reported, never fatal: a half-written file is normal while an
experiment runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import orjson

LIFT_GLOB: Final = "out/**/lift.json"
LIFT_HISTORY: Final = Path("benchmarks") / "results" / "lift.jsonl"
OFFLINE_AB_GLOBS: Final = ("out/**/*counterfactual*.json", "out/**/*offline_ab*.json")
OFFLINE_AB_HISTORY_GLOB: Final = "benchmarks/results/counterfactual*.jsonl"
MAX_FLAT_FIGURES: Final = 80
HISTORY_ROWS: Final = 20


def _newest(paths: list[Path]) -> Path | None:
    existing = [p for p in paths if p.is_file()]
    return max(existing, key=lambda p: p.stat().st_mtime) if existing else None


def _lines(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_bytes().splitlines():
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # a line being appended right now
        if isinstance(row, dict):
            rows.append(row)
    return rows


def flatten(data: Any, prefix: str = "", depth: int = 4) -> dict[str, Any]:
    """Scalar leaves as {"a.b.c": value}; lists of scalars kept whole; deeper data dropped."""
    flat: dict[str, Any] = {}
    if isinstance(data, dict) and depth > 0:
        for key, value in data.items():
            flat.update(flatten(value, f"{prefix}{key}.", depth - 1))
    elif (
        isinstance(data, str | int | float | bool)
        or data is None
        or (isinstance(data, list) and all(isinstance(v, int | float) for v in data))
    ):
        flat[prefix.rstrip(".")] = data
    return flat


def lift_splits(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per split and variant: base and tuned nDCG@10, lift % and its interval."""
    rows = []
    variants = {"full": report.get("splits") or {}} | dict(report.get("ablations") or {})
    for variant, splits in variants.items():
        for split, figures in splits.items():
            if not isinstance(figures, dict):
                continue
            ci = figures.get("ci95") or [None, None]
            rows.append(
                {
                    "variant": variant,
                    "split": split,
                    "base_ndcg": (figures.get("base") or {}).get("ndcg@10"),
                    "tuned_ndcg": (figures.get("tuned") or {}).get("ndcg@10"),
                    "lift_pct": figures.get("lift_pct"),
                    "ci_low": ci[0],
                    "ci_high": ci[1],
                }
            )
    return rows


class ExperimentResults:
    """Finds and reads result files under `root` (the service's working directory)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self) -> dict[str, Any]:
        return {"root": str(self.root), "lift": self.lift(), "offline_ab": self.offline_ab()}

    def lift(self) -> dict[str, Any]:
        found: dict[str, Any] = {"report": None, "history": [], "problems": []}
        latest = _newest(list(self.root.glob(LIFT_GLOB)))
        if latest is not None:
            try:
                report = orjson.loads(latest.read_bytes())
                found["report"] = {
                    "path": str(latest.relative_to(self.root)),
                    "splits": lift_splits(report),
                    "dataset": flatten(report.get("dataset"), depth=1),
                }
            except (OSError, orjson.JSONDecodeError) as exc:
                found["problems"].append(f"{latest}: {exc}")
        history = self.root / LIFT_HISTORY
        if history.is_file():
            for row in _lines(history)[-HISTORY_ROWS:][::-1]:
                splits = (row.get("figures") or {}).get("splits") or {}
                found["history"].append(
                    {
                        "date": row.get("date"),
                        "commit": row.get("commit"),
                        **{f"{s}_lift_pct": f.get("lift_pct") for s, f in splits.items()},
                    }
                )
        return found

    def offline_ab(self) -> dict[str, Any]:
        found: dict[str, Any] = {"result": None, "history": [], "problems": []}
        files = [p for pattern in OFFLINE_AB_GLOBS for p in self.root.glob(pattern)]
        latest = _newest(files)
        if latest is not None:
            try:
                data = orjson.loads(latest.read_bytes())
                figures = list(flatten(data).items())[:MAX_FLAT_FIGURES]
                found["result"] = {
                    "path": str(latest.relative_to(self.root)),
                    "figures": [{"name": k, "value": v} for k, v in figures],
                }
            except (OSError, orjson.JSONDecodeError) as exc:
                found["problems"].append(f"{latest}: {exc}")
        history = _newest(list(self.root.glob(OFFLINE_AB_HISTORY_GLOB)))
        if history is not None:
            found["history"] = [
                {k: v for k, v in flatten(row, depth=2).items() if not isinstance(v, list)}
                for row in _lines(history)[-HISTORY_ROWS:][::-1]
            ]
        return found
