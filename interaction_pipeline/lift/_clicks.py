"""Simulated users on a judged dataset: who searches what, what they see, what they click.

The click model is the traffic simulator's (``producers.simulator``), with relevance taken
from the dataset's human grades instead of drawn at random, so that clicks carry exactly the
signal the judgements hold and nothing else:

* a user scans the shown results top-down and examines position k with probability
  ``(k + 1) ** -eta`` (the position bias the analytics must undo);
* an examined result is clicked with probability ``click_noise + (click_max - click_noise) *
  gain / max_gain``: unjudged documents still get the odd click (noise), better grades more;
* a click is satisfying with probability ``gain / max_gain``: a long dwell (a long_view) and a
  purchase with ``purchase_rate``; otherwise a short dwell and a return_to_results;
* examined, unclicked results above a click are reported as skips with ``skip_report_rate``.

Queries repeat with a Zipf-like skew over a seeded popularity order, sessions hold one or more
searches, and each session is assigned to training or evaluation up front (``eval_share``):
training sessions happen in an earlier time window than evaluation sessions, so a date range
selects the training traffic in ClickHouse and no evaluation session can reach the training
pairs.

What is shown varies a little between impressions (``rank_noise``: Gaussian noise on the base
rank, in positions), as it does in production; without it the same document always sits at
the same position and the position bias cannot be told apart from relevance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

DwellMs = int


@dataclass(frozen=True, slots=True)
class ClickModel:
    """Per-impression behaviour: examination, click, satisfaction and what gets reported."""

    eta: float = 1.0
    """Examination curve (position + 1) ** -eta, as the traffic simulator's."""
    click_noise: float = 0.05
    """Click probability of an examined result the judges found irrelevant."""
    click_max: float = 0.9
    """Click probability of an examined result with the top grade."""
    purchase_rate: float = 0.2
    """P(purchase | satisfying click)."""
    skip_report_rate: float = 0.3
    long_view_ms: int = 4_000
    """Dwell at or above which a click is also a long_view (EVENT_LONG_VIEW_MS)."""

    def __post_init__(self) -> None:
        checks = {
            "eta": self.eta >= 0,
            "click_noise": 0 <= self.click_noise <= self.click_max,
            "click_max": 0 < self.click_max <= 1,
            "purchase_rate": 0 <= self.purchase_rate <= 1,
            "skip_report_rate": 0 <= self.skip_report_rate <= 1,
            "long_view_ms": self.long_view_ms > 200,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: out of range, got {getattr(self, name)!r}")

    def examination(self, shown: int) -> np.ndarray:
        """Examination probability per position 0..shown-1."""
        return np.power(np.arange(shown, dtype=np.float64) + 1.0, -self.eta)

    def click_probability(self, gain: np.ndarray, max_gain: int) -> np.ndarray:
        """P(click | examined) from graded relevance."""
        share = np.clip(gain / max(max_gain, 1), 0.0, 1.0)
        return self.click_noise + (self.click_max - self.click_noise) * share


@dataclass(frozen=True, slots=True)
class Reaction:
    """What one user did with one shown result."""

    position: int
    doc_id: str
    kind: str
    """"click", "skip"."""
    offset_ms: int
    """Time from the search to the reaction."""
    dwell_ms: DwellMs = 0
    satisfied: bool = False
    purchased: bool = False


@dataclass(frozen=True, slots=True)
class Search:
    """One result list shown to one user, and the user's reactions to it."""

    number: int
    """Index of the search within its seed (makes ids unique and stable)."""
    session: int
    user: int
    query_id: str
    timestamp_ms: int
    shown: tuple[str, ...]
    reactions: tuple[Reaction, ...]
    for_training: bool


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """How much traffic a seed gets and how it is spread over queries, sessions and time."""

    searches: int = 6_000
    zipf: float = 1.0
    """Query popularity ~ 1 / (rank + 1) ** zipf over a seeded order of the traffic queries."""
    searches_per_session: float = 1.5
    users: int = 1_000
    eval_share: float = 0.25
    """Share of sessions held out for evaluation (never in the training date range)."""
    days: float = 14.0
    """Span of the simulated traffic, ending an hour before ``end_ms``."""
    page_size: int = 10
    rank_noise: float = 1.0
    """Std. dev. of per-impression noise on the base rank, in positions (0: always the same)."""
    extra_candidates: int = 5
    """Results below the page that noise can bring onto it."""

    def __post_init__(self) -> None:
        checks = {
            "searches": self.searches >= 1,
            "zipf": self.zipf >= 0,
            "searches_per_session": self.searches_per_session >= 1,
            "users": self.users >= 1,
            "eval_share": 0 < self.eval_share < 1,
            "days": self.days > 0,
            "page_size": 1 <= self.page_size <= 100,
            "rank_noise": self.rank_noise >= 0,
            "extra_candidates": self.extra_candidates >= 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: out of range, got {getattr(self, name)!r}")

    @property
    def split_ms(self) -> int:
        """Length of the evaluation window (the latest ``eval_share`` of the span)."""
        return int(self.days * self.eval_share * 86_400_000)


_MARGIN_MS = 3_600_000
"""Sessions start at least an hour before the end, so no event lies in the future."""
_SESSION_MS = 1_800_000
"""Room left at the end of each window for a session's searches and clicks."""


@dataclass(slots=True)
class SeedTraffic:
    """One seed's simulated searches with the windows that separate training from evaluation."""

    seed: int
    searches: list[Search] = field(default_factory=list)
    train_window_ms: tuple[int, int] = (0, 0)
    eval_window_ms: tuple[int, int] = (0, 0)

    def training_searches(self) -> list[Search]:
        return [s for s in self.searches if s.for_training]

    def evaluation_searches(self) -> list[Search]:
        return [s for s in self.searches if not s.for_training]

    def queries_in(self, searches: Sequence[Search]) -> dict[str, int]:
        """query id -> number of searches, most frequent first."""
        counts: dict[str, int] = {}
        for search in searches:
            counts[search.query_id] = counts.get(search.query_id, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def zipf_weights(count: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Popularity of ``count`` queries in a seeded random order, summing to 1."""
    ranks = rng.permutation(count)
    weights: np.ndarray = 1.0 / np.power(ranks + 1.0, exponent)
    normalised: np.ndarray = weights / weights.sum()
    return normalised


def simulate_seed(
    seed: int,
    query_ids: Sequence[str],
    rankings: Mapping[str, Sequence[str]],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    plan: TrafficPlan,
    model: ClickModel,
    end_ms: int,
) -> SeedTraffic:
    """Searches for ``query_ids`` (ranked by the base retriever) with clicks from the grades."""
    if not query_ids:
        raise ValueError("no queries to send traffic for")
    rng = np.random.default_rng([seed, 13])
    max_gain = max((g for docs in qrels.values() for g in docs.values()), default=1)
    popularity = zipf_weights(len(query_ids), plan.zipf, rng)
    examination = model.examination(plan.page_size)
    span_ms = int(plan.days * 86_400_000)
    eval_start = end_ms - _MARGIN_MS - plan.split_ms
    train_start = end_ms - _MARGIN_MS - span_ms
    traffic = SeedTraffic(
        seed=seed,
        train_window_ms=(train_start, eval_start),
        eval_window_ms=(eval_start, end_ms - _MARGIN_MS),
    )
    number = 0
    session = 0
    while number < plan.searches:
        for_training = bool(rng.random() >= plan.eval_share)
        low, high = traffic.train_window_ms if for_training else traffic.eval_window_ms
        at = int(rng.integers(low, max(low + 1, high - _SESSION_MS)))
        user = int(rng.integers(plan.users))
        length = 1 + int(rng.geometric(1.0 / plan.searches_per_session) - 1)
        for _ in range(min(length, plan.searches - number)):
            query_id = query_ids[int(rng.choice(len(query_ids), p=popularity))]
            shown = _shown(rankings[query_id], plan, rng)
            gains = np.array([qrels.get(query_id, {}).get(d, 0) for d in shown], dtype=float)
            reactions = _react(shown, gains, max_gain, examination, model, rng)
            traffic.searches.append(
                Search(number, session, user, query_id, at, shown, reactions, for_training)
            )
            number += 1
            last = max((r.offset_ms + r.dwell_ms for r in reactions), default=5_000)
            at += last + int(rng.exponential(20_000.0))
        session += 1
    return traffic


def _shown(ranking: Sequence[str], plan: TrafficPlan, rng: np.random.Generator) -> tuple[str, ...]:
    """The page shown for one impression: base order plus a little noise."""
    pool = list(ranking[: plan.page_size + plan.extra_candidates])
    if plan.rank_noise == 0 or len(pool) < 2:
        return tuple(pool[: plan.page_size])
    noisy = np.arange(len(pool)) + plan.rank_noise * rng.standard_normal(len(pool))
    order = np.argsort(noisy, kind="stable")[: plan.page_size]
    return tuple(pool[int(i)] for i in order)


def _react(
    shown: Sequence[str],
    gains: np.ndarray,
    max_gain: int,
    examination: np.ndarray,
    model: ClickModel,
    rng: np.random.Generator,
) -> tuple[Reaction, ...]:
    """One user's pass over one page (the simulator's conventions for dwell and timing)."""
    n = len(shown)
    examined = rng.random(n) < examination[:n]
    clicked = examined & (rng.random(n) < model.click_probability(gains, max_gain))
    satisfied = clicked & (rng.random(n) < np.clip(gains / max(max_gain, 1), 0, 1))
    purchased = satisfied & (rng.random(n) < model.purchase_rate)
    positions = np.arange(n)
    last_click = int(positions[clicked].max()) if clicked.any() else -1
    skipped = (
        examined & ~clicked & (positions < last_click) & (rng.random(n) < model.skip_report_rate)
    )
    long_ms = model.long_view_ms
    dwell = (
        np.where(
            satisfied,
            np.clip(rng.lognormal(np.log(30_000.0), 0.6, n), long_ms, 600_000),
            np.clip(rng.lognormal(np.log(1_500.0), 0.5, n), 200, long_ms - 1),
        ).astype(np.int64)
        * clicked
    )
    reach = 1_200.0 + 700.0 * positions + rng.exponential(500.0, n)
    offset = (reach + np.cumsum(dwell) - dwell).astype(np.int64)
    reactions = []
    for k in np.flatnonzero(clicked | skipped):
        i = int(k)
        if skipped[i]:
            reactions.append(Reaction(i, shown[i], "skip", int(offset[i])))
        else:
            reactions.append(
                Reaction(
                    i,
                    shown[i],
                    "click",
                    int(offset[i]),
                    dwell_ms=int(dwell[i]),
                    satisfied=bool(satisfied[i]),
                    purchased=bool(purchased[i]),
                )
            )
    return tuple(reactions)
