"""Candidate rankings: what a change would have shown for each logged search.

A candidate maps the logs to an (n, k) matrix of document indexes (-1 pads): the logged
policy itself, a boost config replayed over the logged lists with the counts of that time,
any scorer re-ranking the logged lists (a retriever, a fine-tuned model), or rankings given
per search or per query in a file. Logged lists carry no retriever scores unless the logger
wrote `metadata.scores`; without them a boost starts from a rank-derived score
1 - position / length (docs/counterfactual.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from interaction_pipeline.counterfactual._counts import CountSource
from interaction_pipeline.counterfactual._logs import NONE, LoggedSearches
from schemas.errors import InvalidArgumentError
from stream_processors import BoostConfig

LOGGED: Final = "logged"


class Candidate(Protocol):
    """A ranking policy to evaluate on logged searches."""

    @property
    def name(self) -> str:
        """Unique label in a report."""
        ...

    def rank(self, logs: LoggedSearches) -> np.ndarray:
        """(n, k) document indexes into logs.docs (or beyond, for unseen documents)."""
        ...


@dataclass(frozen=True, slots=True)
class LoggedPolicy:
    """What was shown: the baseline every candidate is compared with by default."""

    name: str = LOGGED

    def rank(self, logs: LoggedSearches) -> np.ndarray:
        ranked: np.ndarray = logs.shown.copy()
        return ranked


def base_scores(logs: LoggedSearches) -> np.ndarray:
    """(n, k) scores of the shown results: logged ones where present, else 1 - j / length."""
    length = (logs.shown >= 0).sum(axis=1, keepdims=True)
    position = np.arange(logs.k)[None, :]
    derived: np.ndarray = 1.0 - position / np.maximum(length, 1)
    if logs.scores is None:
        return derived
    scores: np.ndarray = np.where(np.isfinite(logs.scores), logs.scores, derived)
    return scores


def boost_multipliers(counts: np.ndarray, config: BoostConfig) -> np.ndarray:
    """stream_processors.boost.multiplier, vectorised: 1 + (m - 1)(1 - K / (c + K))."""
    m, half = config.boost_multiplier, config.half_saturation
    positive = counts > 0
    saturation = 1.0 - half / (np.where(positive, counts, 0.0) + half)
    factor = np.minimum(1.0 + (m - 1.0) * saturation, m)
    out: np.ndarray = np.where(positive, factor, 1.0)
    return out


def order_by_scores(shown: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Shown documents re-ordered by score, highest first, ties in shown order; padding and
    NaN scores last."""
    key = np.where((shown >= 0) & np.isfinite(scores), -scores, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    ranked: np.ndarray = np.take_along_axis(shown, order, axis=1)
    return ranked


@dataclass(frozen=True, slots=True)
class BoostCandidate:
    """The seed's boost_by_interaction_count over each logged list, with the counts a
    reranker would have read at the time of that search."""

    config: BoostConfig
    counts: CountSource
    name: str = "boost"

    def rank(self, logs: LoggedSearches) -> np.ndarray:
        factor = boost_multipliers(self.counts.weighted_counts(logs, self.config), self.config)
        score = base_scores(logs)
        boosted = np.where(score >= 0, score * factor, score / factor)
        return order_by_scores(logs.shown, boosted)


Scorer = Callable[[Sequence[str], Sequence[str]], np.ndarray]
"""(query texts, document texts) -> one relevance score per pair."""


@dataclass(frozen=True, slots=True)
class ScorerCandidate:
    """Re-ranks each logged list by a scorer of (query, document text), e.g. a retriever.

    Documents without a text keep their logged relative order below the scored ones."""

    scorer: Scorer
    texts: Mapping[str, str]
    name: str = "retriever"

    def rank(self, logs: LoggedSearches) -> np.ndarray:
        valid = logs.shown >= 0
        pair = (logs.query.astype(np.int64)[:, None] << 32) | np.maximum(logs.shown, 0)
        unique, inverse = np.unique(pair[valid], return_inverse=True)
        queries = logs.queries.take(pa.array(unique >> 32)).to_pylist()
        doc_ids = logs.docs.take(pa.array(unique & 0xFFFFFFFF)).to_pylist()
        known = np.array([d in self.texts for d in doc_ids], dtype=bool)
        pair_scores = np.full(unique.size, np.nan)
        if known.any():
            index = np.flatnonzero(known)
            pair_scores[index] = np.asarray(
                self.scorer([queries[i] for i in index], [self.texts[doc_ids[i]] for i in index]),
                dtype=np.float64,
            )
        scores = np.full(logs.shown.shape, np.nan)
        scores[valid] = pair_scores[inverse.reshape(-1)]
        return order_by_scores(logs.shown, scores)


class Embeds(Protocol):
    """What an EmbeddingRetriever (or a FineTunedModel) offers: unit vectors per text."""

    def embed_queries(self, texts: Sequence[str]) -> Any: ...

    def embed_documents(self, texts: Sequence[str]) -> Any: ...


def embedding_scorer(retriever: Embeds) -> Scorer:
    """A Scorer from an embedding retriever: cosine of the unit vectors, each distinct text
    embedded once."""
    embed_q = retriever.embed_queries
    embed_d = retriever.embed_documents

    def score(queries: Sequence[str], docs: Sequence[str]) -> np.ndarray:
        uq, qi = np.unique(np.asarray(queries, dtype=object), return_inverse=True)
        ud, di = np.unique(np.asarray(docs, dtype=object), return_inverse=True)
        qv = np.asarray(embed_q(list(uq)), dtype=np.float32)
        dv = np.asarray(embed_d(list(ud)), dtype=np.float32)
        out: np.ndarray = np.einsum("ij,ij->i", qv[qi], dv[di])
        return out

    return score


@dataclass(frozen=True, slots=True)
class RankingCandidate:
    """Rankings given per logged search (query_id) or per query text; searches the file
    does not cover keep their logged list. Documents the logs never showed get indexes past
    the vocabulary: they count as unsupported, and only the doubly robust estimate can
    credit them (with its query's rate)."""

    by_query_id: Mapping[str, Sequence[str]]
    by_query: Mapping[str, Sequence[str]]
    name: str = "ranking"

    def rank(self, logs: LoggedSearches) -> np.ndarray:
        ranked = logs.shown.copy()
        vocabulary = {d: i for i, d in enumerate(logs.docs.to_pylist())}
        extra: dict[str, int] = {}

        def index_of(doc: str) -> int:
            found = vocabulary.get(doc)
            if found is None:
                found = extra.setdefault(doc, len(vocabulary) + len(extra))
            return found

        def fill(row: int, ids: Sequence[str]) -> None:
            top = list(dict.fromkeys(ids))[: logs.k]
            ranked[row] = NONE
            ranked[row, : len(top)] = [index_of(d) for d in top]

        if self.by_query_id:
            if logs.query_ids is None:
                raise InvalidArgumentError("rankings by query_id need the logs' query ids")
            ids = pa.array(list(self.by_query_id))
            rows = pc.index_in(ids, value_set=logs.query_ids).to_numpy(zero_copy_only=False)
            for given, row in zip(self.by_query_id, rows, strict=True):
                if row is not None and not np.isnan(row):
                    fill(int(row), self.by_query_id[given])
        if self.by_query:
            texts = logs.queries.to_pylist()
            for q, text in enumerate(texts):
                ids = self.by_query.get(text)
                if ids is None:
                    continue
                for row in np.flatnonzero(logs.query == q):
                    fill(int(row), ids)
        return ranked

    def covered(self, logs: LoggedSearches) -> int:
        """Searches the file gives a ranking for."""
        count = 0
        if self.by_query_id and logs.query_ids is not None:
            ids = pa.array(list(self.by_query_id))
            count += int(pc.sum(pc.is_in(logs.query_ids, value_set=ids)).as_py() or 0)
        if self.by_query:
            wanted = np.array([t in self.by_query for t in logs.queries.to_pylist()] + [False])
            count += int(wanted[logs.query].sum())
        return count
