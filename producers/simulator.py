"""Traffic simulator: search sessions with a KNOWN position bias and KNOWN relevance.

Why it exists: relevance analytics, bias estimation and training export can only be checked
against a ground truth, and real logs have none. Clicks are drawn from a position-based model,
P(click) = examination[position] x relevance[query, doc], and the simulator keeps both factors
(`GroundTruth`) so tests compare what the analytics recover with what was put in. Demos and
benchmarks use the same traffic.

What a session looks like: a user runs a few searches; each search shows `page_size` results
picked by a noisy ranker (the noise makes the same document appear at different positions for
the same query, which is what makes position bias identifiable); the user scans top-down,
examines position k with probability examination[k], clicks an examined result with
probability relevance; a click on a relevant result is satisfying (long dwell, maybe a
purchase), otherwise the user bounces back (`return_to_results`, short dwell). Some examined
and skipped results above a click are reported as `skip`, and a share of searches are
zero-result queries (content gaps).

The heavy lifting is vectorised numpy over chunks of searches (memory stays flat); events are
built from a chunk only when asked for, and an aggregated (query, doc, position, impressions,
clicks) table can be had without building any event at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

import numpy as np
import orjson

from producers._producer import InteractionProducer
from schemas.events import Event, InteractionEvent, SearchEvent
from schemas.interaction_types import CLICK, LONG_VIEW, PURCHASE, RETURN_TO_RESULTS, SKIP
from schemas.wire import encode

_NAMESPACE: Final = uuid.UUID("5d1c1b52-3c1e-4a58-9d0a-6f1f0c0b7e11")
_ADJECTIVES: Final = (
    "wireless", "red", "cheap", "organic", "waterproof", "vintage", "large", "kids", "smart",
    "leather", "portable", "quiet", "gaming", "ergonomic", "electric", "wooden", "summer",
    "running", "travel", "mini",
)  # fmt: skip
_NOUNS: Final = (
    "earbuds", "shoes", "laptop", "coffee", "jacket", "lamp", "backpack", "chair", "watch",
    "blender", "tent", "speaker", "keyboard", "desk", "kettle", "camera", "bike", "mug",
    "headphones", "sofa",
)  # fmt: skip
_PUBLISH_CHUNK: Final = 5_000
_BLOCK: Final = 10_000
"""Searches per generated block. Fixed, because each block has its own random stream: the
same seed must give the same traffic however the caller consumes it."""


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Every knob of the simulation; the defaults give plausible e-commerce search traffic."""

    seed: int = 7
    searches: int = 10_000
    queries: int = 200
    """Distinct (answerable) queries; popularity follows a Zipf-like law."""
    docs: int = 5_000
    candidates_per_query: int = 30
    """Documents the retriever can return for a query (also its `total_hits`)."""
    page_size: int = 10
    propensity_eta: float = 1.0
    """Examination curve (position + 1) ** -eta: 1.0 is 1/(pos+1); larger is steeper."""
    propensities: tuple[float, ...] | None = None
    """Explicit examination probability per position; overrides `propensity_eta`."""
    rank_noise: float = 0.6
    """Std. dev. of per-impression noise on ranker scores; 0 = the same order every time."""
    ranker_quality: float = 0.5
    """Correlation of the ranker's score with true relevance (0 = random, 1 = perfect)."""
    relevance_alpha: float = 0.6
    relevance_beta: float = 1.4
    """Relevance[query, doc] ~ Beta(alpha, beta): most documents weak, a few strong."""
    zero_result_share: float = 0.03
    purchase_rate: float = 0.2
    """P(purchase | satisfying click)."""
    skip_report_rate: float = 0.3
    """Share of examined, unclicked results above a click that the client reports as skip."""
    long_view_ms: int = 4_000
    """Dwell at or above which a click is also sent as long_view."""
    retrievers: tuple[str, ...] = ("ret_default",)
    users: int = 2_000
    searches_per_session: float = 2.0
    days: float = 14.0
    end: datetime | None = None
    """Latest event time (UTC); None = now. Events never lie in the future."""
    include_search_events: bool = True
    """False simulates a deployment that sends interactions only (no impressions)."""

    def __post_init__(self) -> None:
        checks = {
            "searches": self.searches >= 0,
            "queries": self.queries >= 1,
            "docs": self.docs >= self.candidates_per_query,
            "candidates_per_query": self.candidates_per_query >= 1,
            "page_size": self.page_size >= 1,
            "propensity_eta": self.propensity_eta >= 0,
            "rank_noise": self.rank_noise >= 0,
            "ranker_quality": 0 <= self.ranker_quality <= 1,
            "relevance_alpha": self.relevance_alpha > 0,
            "relevance_beta": self.relevance_beta > 0,
            "zero_result_share": 0 <= self.zero_result_share < 1,
            "purchase_rate": 0 <= self.purchase_rate <= 1,
            "skip_report_rate": 0 <= self.skip_report_rate <= 1,
            "retrievers": len(self.retrievers) >= 1,
            "users": self.users >= 1,
            "searches_per_session": self.searches_per_session >= 1,
            "days": self.days > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: out of range, got {getattr(self, name)!r}")
        if self.propensities is not None:
            if len(self.propensities) < self.shown_per_search:
                raise ValueError(
                    f"propensities: need one value per position ({self.shown_per_search}), "
                    f"got {len(self.propensities)}"
                )
            if not all(0 < p <= 1 for p in self.propensities):
                raise ValueError("propensities: every value must be in (0, 1]")

    @property
    def shown_per_search(self) -> int:
        return min(self.page_size, self.candidates_per_query)

    def examination(self) -> np.ndarray:
        """Examination probability of each shown position (the true propensity curve)."""
        if self.propensities is not None:
            return np.asarray(self.propensities[: self.shown_per_search], dtype=np.float64)
        positions = np.arange(self.shown_per_search, dtype=np.float64)
        return np.power(positions + 1.0, -self.propensity_eta)


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """What the simulator knows and the analytics must recover."""

    examination: np.ndarray
    """Absolute examination probability per position; examination[0] is position 0."""
    queries: tuple[str, ...]
    """Query texts; the last `zero_result_queries` of them never return results."""
    zero_result_queries: int
    doc_ids: tuple[str, ...]
    candidates: np.ndarray
    """(answerable queries x candidates) catalogue index of each candidate document."""
    relevance: np.ndarray
    """(answerable queries x candidates) click probability once examined."""

    @property
    def relative_propensity(self) -> np.ndarray:
        relative: np.ndarray = self.examination / self.examination[0]
        return relative

    def relevance_of(self, query: str, doc_id: str) -> float:
        q = self.queries.index(query)
        row = self.candidates[q]
        hits = np.flatnonzero(row == self.doc_ids.index(doc_id))
        if hits.size == 0:
            raise KeyError(f"{doc_id!r} is not a candidate for {query!r}")
        return float(self.relevance[q, hits[0]])

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (for `interactions simulate --truth FILE`)."""
        answerable = len(self.queries) - self.zero_result_queries
        return {
            "propensity": self.examination.tolist(),
            "relative_propensity": self.relative_propensity.tolist(),
            "zero_result_queries": list(self.queries[answerable:]),
            "relevance": [
                {"query": self.queries[q], "feature_id": self.doc_ids[d], "relevance": float(r)}
                for q in range(answerable)
                for d, r in zip(self.candidates[q], self.relevance[q], strict=True)
            ],
        }


@dataclass(frozen=True, slots=True)
class SearchBatch:
    """One chunk of simulated searches as arrays; impressions are (answered x shown) grids.

    Search-level arrays have one entry per search; impression-level grids have one row per
    answered (non-zero-result) search, `answered` holding their search-level index.
    """

    first_search: int
    query: np.ndarray
    retriever: np.ndarray
    user: np.ndarray
    session: np.ndarray
    timestamp_ms: np.ndarray
    zero_result: np.ndarray
    answered: np.ndarray
    doc: np.ndarray
    relevance: np.ndarray
    examined: np.ndarray
    clicked: np.ndarray
    satisfied: np.ndarray
    purchased: np.ndarray
    skip_reported: np.ndarray
    dwell_ms: np.ndarray
    offset_ms: np.ndarray
    """Time from the search to the user reaching (and clicking or skipping) each result."""

    @property
    def size(self) -> int:
        return int(self.query.size)


@dataclass(slots=True)
class ClickTable:
    """Impressions and clicks aggregated per (query, doc, position): the bias estimator's input.

    `query` and `doc` are indexes into `GroundTruth.queries` / `GroundTruth.doc_ids`.
    """

    query: np.ndarray
    doc: np.ndarray
    position: np.ndarray
    impressions: np.ndarray
    clicks: np.ndarray


@dataclass(slots=True)
class SimulationSummary:
    searches: int = 0
    zero_result_searches: int = 0
    search_events: int = 0
    interaction_events: int = 0
    clicks: int = 0
    purchases: int = 0
    skips: int = 0
    returns: int = 0
    delivered: int = 0
    failed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {
            "searches": self.searches,
            "zero_result_searches": self.zero_result_searches,
            "search_events": self.search_events,
            "interaction_events": self.interaction_events,
            "clicks": self.clicks,
            "purchases": self.purchases,
            "skips": self.skips,
            "returns": self.returns,
            "delivered": self.delivered,
            "failed": len(self.failed),
        }


class Simulator:
    """Seeded traffic: the same config always yields the same events (ids included)."""

    def __init__(self, config: SimulationConfig | None = None) -> None:
        self.config = config or SimulationConfig()
        self.truth = self._build_truth()
        self._base_score = self._ranker_scores()
        self._query_weights = self._popularity()
        end = self.config.end or datetime.now(UTC)
        self._end_ms = int(_as_utc(end).timestamp() * 1000)

    # -- the world -------------------------------------------------------------------------
    def _rng(self, *stream: int) -> np.random.Generator:
        """Independent generator per purpose, so adding a knob never reshuffles the rest."""
        return np.random.default_rng([self.config.seed, *stream])

    def _build_truth(self) -> GroundTruth:
        cfg = self.config
        rng = self._rng(1)
        gaps = max(1, round(cfg.queries * 0.05)) if cfg.zero_result_share > 0 else 0
        texts = _query_texts(cfg.queries + gaps, rng)
        candidates = np.stack(
            [
                rng.choice(cfg.docs, cfg.candidates_per_query, replace=False)
                for _ in range(cfg.queries)
            ]
        )
        relevance = rng.beta(cfg.relevance_alpha, cfg.relevance_beta, size=candidates.shape)
        return GroundTruth(
            examination=cfg.examination(),
            queries=tuple(texts),
            zero_result_queries=gaps,
            doc_ids=tuple(f"doc_{i:06d}" for i in range(cfg.docs)),
            candidates=candidates,
            relevance=relevance,
        )

    def _ranker_scores(self) -> np.ndarray:
        """The retriever's own score: correlated with relevance, never equal to it."""
        rel = self.truth.relevance
        z = (rel - rel.mean()) / (rel.std() or 1.0)
        q = self.config.ranker_quality
        noise = self._rng(2).standard_normal(rel.shape)
        score: np.ndarray = q * z + np.sqrt(1.0 - q * q) * noise
        return score

    def _popularity(self) -> np.ndarray:
        ranks = self._rng(3).permutation(self.config.queries)
        weights: np.ndarray = 1.0 / np.power(ranks + 1.0, 0.8)
        normalised: np.ndarray = weights / weights.sum()
        return normalised

    # -- searches --------------------------------------------------------------------------
    def batches(self) -> Iterator[SearchBatch]:
        """The whole simulation as array blocks of at most 10,000 searches each."""
        done = 0
        index = 0
        while done < self.config.searches:
            size = min(_BLOCK, self.config.searches - done)
            yield self._batch(index, done, size)
            done += size
            index += 1

    def _batch(self, index: int, first: int, size: int) -> SearchBatch:
        cfg = self.config
        truth = self.truth
        rng = self._rng(100, index)
        answerable = cfg.queries
        zero = rng.random(size) < cfg.zero_result_share
        query = rng.choice(answerable, size=size, p=self._query_weights)
        if truth.zero_result_queries:
            gap = answerable + rng.integers(0, truth.zero_result_queries, size=size)
            query = np.where(zero, gap, query)
        retriever = rng.integers(0, len(cfg.retrievers), size=size)
        session, user, timestamp_ms = self._sessions(rng, first, size)

        answered = np.flatnonzero(~zero)
        q = query[answered]
        shown = cfg.shown_per_search
        scores = self._base_score[q] + cfg.rank_noise * rng.standard_normal(
            (answered.size, cfg.candidates_per_query)
        )
        order = np.argsort(-scores, axis=1, kind="stable")[:, :shown]
        rows = q[:, None]
        doc = truth.candidates[rows, order]
        relevance = truth.relevance[rows, order]
        examined = rng.random(order.shape) < truth.examination[None, :]
        clicked = examined & (rng.random(order.shape) < relevance)
        satisfied = clicked & (rng.random(order.shape) < relevance)
        purchased = satisfied & (rng.random(order.shape) < cfg.purchase_rate)
        positions = np.arange(shown)[None, :]
        last_click = np.where(clicked, positions, -1).max(axis=1, keepdims=True)
        skip_reported = (
            examined
            & ~clicked
            & (positions < last_click)
            & (rng.random(order.shape) < cfg.skip_report_rate)
        )
        dwell = np.where(
            satisfied,
            rng.lognormal(np.log(30_000.0), 0.6, order.shape),
            rng.lognormal(np.log(1_500.0), 0.5, order.shape),
        )
        # Satisfying clicks are long views, bounces are short: the dwell separates them.
        long_ms = cfg.long_view_ms
        dwell = np.where(
            satisfied, np.clip(dwell, long_ms, 600_000), np.clip(dwell, 200, max(long_ms - 1, 200))
        )
        dwell_ms = dwell.astype(np.int64) * clicked
        # Scanning top-down: reaching position k takes ~0.7 s per result plus the time spent
        # on the results clicked before it.
        reach = 1_200.0 + 700.0 * positions + rng.exponential(500.0, order.shape)
        earlier_dwell = np.cumsum(dwell_ms, axis=1) - dwell_ms
        offset_ms = (reach + earlier_dwell).astype(np.int64)
        return SearchBatch(
            first_search=first,
            query=query,
            retriever=retriever,
            user=user,
            session=session,
            timestamp_ms=timestamp_ms,
            zero_result=zero,
            answered=answered,
            doc=doc,
            relevance=relevance,
            examined=examined,
            clicked=clicked,
            satisfied=satisfied,
            purchased=purchased,
            skip_reported=skip_reported,
            dwell_ms=dwell_ms,
            offset_ms=offset_ms,
        )

    def _sessions(
        self, rng: np.random.Generator, first: int, size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Consecutive searches share a session; sessions start uniformly over the span."""
        cfg = self.config
        p_new = 1.0 / cfg.searches_per_session
        starts = rng.random(size) < p_new
        starts[0] = True
        session_local = np.cumsum(starts) - 1
        sessions = int(session_local[-1]) + 1 if size else 0
        session = first + session_local  # globally unique: at most one session per search
        user = rng.integers(0, cfg.users, size=sessions)[session_local]
        span_ms = int(cfg.days * 86_400_000)
        margin_ms = 3_600_000  # sessions end before `end`; clicks stay in the past
        session_start = self._end_ms - margin_ms - rng.integers(0, span_ms, size=sessions)
        gaps = rng.exponential(40_000.0, size).astype(np.int64)
        gaps[starts] = 0
        since_start = np.cumsum(gaps)
        since_start -= np.maximum.accumulate(np.where(starts, since_start, 0))
        timestamp_ms = session_start[session_local] + since_start
        return session, user, timestamp_ms

    # -- aggregates ------------------------------------------------------------------------
    def click_table(self) -> ClickTable:
        """Impressions and clicks per (query, doc, position) for the whole simulation."""
        docs = self.config.docs
        shown = self.config.shown_per_search
        keys: list[np.ndarray] = []
        imps: list[np.ndarray] = []
        clks: list[np.ndarray] = []
        for batch in self.batches():
            q = batch.query[batch.answered][:, None]
            key = (q * docs + batch.doc) * shown + np.arange(shown)[None, :]
            uniq, inverse = np.unique(key.ravel(), return_inverse=True)
            keys.append(uniq)
            imps.append(np.bincount(inverse, minlength=uniq.size))
            clks.append(np.bincount(inverse, weights=batch.clicked.ravel(), minlength=uniq.size))
        if not keys:
            empty = np.zeros(0, dtype=np.int64)
            return ClickTable(empty, empty, empty, empty, empty)
        uniq, inverse = np.unique(np.concatenate(keys), return_inverse=True)
        impressions = np.bincount(inverse, weights=np.concatenate(imps), minlength=uniq.size)
        clicks = np.bincount(inverse, weights=np.concatenate(clks), minlength=uniq.size)
        pair, position = np.divmod(uniq, shown)
        query, doc = np.divmod(pair, docs)
        return ClickTable(
            query=query,
            doc=doc,
            position=position,
            impressions=impressions.astype(np.int64),
            clicks=clicks.astype(np.int64),
        )

    # -- events ----------------------------------------------------------------------------
    def events(self) -> Iterator[Event]:
        """Every event of the simulation, search by search, each search before its reactions."""
        for batch in self.batches():
            yield from self.batch_events(batch)

    def batch_events(self, batch: SearchBatch) -> Iterator[Event]:
        cfg = self.config
        truth = self.truth
        row_of = np.full(batch.size, -1, dtype=np.int64)
        row_of[batch.answered] = np.arange(batch.answered.size)
        for i in range(batch.size):
            n = batch.first_search + i
            text = truth.queries[int(batch.query[i])]
            base = {
                "user_id": f"user_{int(batch.user[i]):05d}",
                "session_id": f"sess_{cfg.seed}_{int(batch.session[i])}",
                "retriever_id": cfg.retrievers[int(batch.retriever[i])],
            }
            search_ms = int(batch.timestamp_ms[i])
            query_id = f"q_{cfg.seed}_{n}"
            row = int(row_of[i])
            results = [] if row < 0 else [truth.doc_ids[int(d)] for d in batch.doc[row]]
            if cfg.include_search_events:
                yield SearchEvent(
                    event_id=_event_id(cfg.seed, "s", n, 0),
                    timestamp=_at(search_ms),
                    query_id=query_id,
                    query=text,
                    results=results,
                    total_hits=0 if row < 0 else cfg.candidates_per_query,
                    **base,
                )
            if row < 0:
                continue
            link = {"query_id": query_id} if cfg.include_search_events else {}
            yield from self._reactions(batch, row, n, text, search_ms, results, base | link)

    def _reactions(
        self,
        batch: SearchBatch,
        row: int,
        n: int,
        text: str,
        search_ms: int,
        results: list[str],
        base: dict[str, str],
    ) -> Iterator[InteractionEvent]:
        seed = self.config.seed
        for pos in np.flatnonzero(batch.clicked[row] | batch.skip_reported[row]):
            k = int(pos)
            at_ms = search_ms + int(batch.offset_ms[row, k])
            common = {"feature_id": results[k], "position": k, **base}
            if batch.skip_reported[row, k]:
                yield InteractionEvent(
                    event_id=_event_id(seed, "k", n, k),
                    timestamp=_at(at_ms),
                    interaction_type=[SKIP],
                    metadata={"query": text},
                    **common,
                )
                continue
            dwell = int(batch.dwell_ms[row, k])
            types = [CLICK, LONG_VIEW] if dwell >= self.config.long_view_ms else [CLICK]
            yield InteractionEvent(
                event_id=_event_id(seed, "c", n, k),
                timestamp=_at(at_ms),
                interaction_type=types,
                metadata={"query": text, "duration_ms": dwell},
                **common,
            )
            if batch.purchased[row, k]:
                yield InteractionEvent(
                    event_id=_event_id(seed, "p", n, k),
                    timestamp=_at(at_ms + dwell * 4 // 5),
                    interaction_type=[PURCHASE],
                    metadata={"query": text},
                    **common,
                )
            elif not batch.satisfied[row, k]:
                yield InteractionEvent(
                    event_id=_event_id(seed, "r", n, k),
                    timestamp=_at(at_ms + dwell),
                    interaction_type=[RETURN_TO_RESULTS],
                    metadata={"query": text, "duration_ms": dwell},
                    **common,
                )

    # -- sinks for the events --------------------------------------------------------------
    def publish(
        self,
        producer: InteractionProducer,
        *,
        on_progress: Callable[[int], None] | None = None,
        timeout: float = 60.0,
    ) -> SimulationSummary:
        """Send every event through the SDK (validated, acknowledged) and count what happened."""
        summary = SimulationSummary()
        searches: list[SearchEvent] = []
        interactions: list[InteractionEvent] = []

        def flush() -> None:
            for kind, pending in ((SearchEvent, searches), (InteractionEvent, interactions)):
                if not pending:
                    continue
                result = producer.send_many(pending, kind=kind, timeout=timeout)
                summary.delivered += result.delivered
                summary.failed.extend(f.reason for f in result.failed)
                summary.failed.extend("; ".join(p) for p in result.invalid.values())
                pending.clear()

        for batch in self.batches():
            for event in self.batch_events(batch):
                _count(summary, event)
                if isinstance(event, SearchEvent):
                    searches.append(event)
                else:
                    interactions.append(event)
                if len(searches) + len(interactions) >= _PUBLISH_CHUNK:
                    flush()
            _count_batch(summary, batch)
            if on_progress is not None:
                on_progress(batch.size)
        flush()
        return summary

    def write_jsonl(
        self, stream: IO[bytes], *, on_progress: Callable[[int], None] | None = None
    ) -> SimulationSummary:
        """Seed-format JSON lines, readable by `interactions produce` (searches have results)."""
        summary = SimulationSummary()
        for batch in self.batches():
            stream.writelines(encode(event) + b"\n" for event in self._counted(batch, summary))
            _count_batch(summary, batch)
            if on_progress is not None:
                on_progress(batch.size)
        return summary

    def _counted(self, batch: SearchBatch, summary: SimulationSummary) -> Iterator[Event]:
        for event in self.batch_events(batch):
            _count(summary, event)
            yield event

    def write_truth(self, path: Path) -> None:
        path.write_bytes(orjson.dumps(self.truth.to_dict(), option=orjson.OPT_INDENT_2))


def _count(summary: SimulationSummary, event: Event) -> None:
    if isinstance(event, SearchEvent):
        summary.search_events += 1
        return
    summary.interaction_events += 1
    types = event.interaction_type
    summary.clicks += CLICK in types
    summary.purchases += PURCHASE in types
    summary.skips += SKIP in types
    summary.returns += RETURN_TO_RESULTS in types


def _count_batch(summary: SimulationSummary, batch: SearchBatch) -> None:
    summary.searches += batch.size
    summary.zero_result_searches += int(batch.zero_result.sum())


def _query_texts(count: int, rng: np.random.Generator) -> list[str]:
    """Readable, distinct query texts ("wireless earbuds", "red lamp 2", ...)."""
    combos = [f"{a} {n}" for a in _ADJECTIVES for n in _NOUNS]
    order = rng.permutation(len(combos))
    texts = []
    for i in range(count):
        text = combos[order[i % len(combos)]]
        round_ = i // len(combos)
        texts.append(text if round_ == 0 else f"{text} {round_ + 1}")
    return texts


def _event_id(seed: int, kind: str, search: int, position: int) -> uuid.UUID:
    """Deterministic ids: re-running a seed re-sends the same events (deduplicated downstream)."""
    return uuid.uuid5(_NAMESPACE, f"{seed}:{kind}:{search}:{position}")


def _at(epoch_ms: int) -> datetime:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
