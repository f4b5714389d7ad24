"""ScorerCandidate with the training tests' word-hash embedder: a retriever re-ranks the
logged lists by cosine, without a model or a network."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest
from numpy.typing import NDArray

from interaction_pipeline.counterfactual import (
    LoggedSearches,
    ScorerCandidate,
    embedding_scorer,
    evaluate,
)
from tests.unit.training.conftest import WordHashEmbedder

pytestmark = pytest.mark.unit

DOCS = ["hat", "shoes", "red", "sock", "mystery"]
TEXTS = {
    "hat": "blue wool hat",
    "shoes": "green running shoes",
    "red": "red running shoes",
    "sock": "red wool sock",
}  # "mystery" has no text


class UnitEmbedder:
    """EmbeddingRetriever's surface over the fake: unit vectors, queries and documents alike."""

    def __init__(self, embedder: WordHashEmbedder) -> None:
        self.embedder = embedder

    def _unit(self, texts: Sequence[str]) -> NDArray[np.float32]:
        v = self.embedder(texts)
        norm: NDArray[np.float32] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
        return norm

    def embed_queries(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._unit(texts)

    def embed_documents(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self._unit(texts)


def _logs() -> LoggedSearches:
    shown = np.array([[0, 4, 1, 2], [3, 0, 2, -1], [1, 2, 0, 3]], dtype=np.int32)
    clicks = np.array([[0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]], dtype=np.uint8)
    return LoggedSearches(
        query=np.array([0, 1, 0], dtype=np.int32), timestamp_ms=np.zeros(3, dtype=np.int64),
        shown=shown, clicks=clicks, conversions=np.zeros_like(clicks),
        reward=clicks.astype(np.float32), docs=pa.array(DOCS),
        queries=pa.array(["red running shoes", "wool hat"]),
    )  # fmt: skip


def test_scorer_reranks_by_shared_words_and_keeps_textless_docs_last() -> None:
    embedder = WordHashEmbedder(dimension=256)
    candidate = ScorerCandidate(embedding_scorer(UnitEmbedder(embedder)), TEXTS, "words")
    ranked = candidate.rank(_logs())
    names = [[DOCS[d] if d >= 0 else None for d in row] for row in ranked]
    # "red running shoes": red (3 words shared) > shoes (2) > hat (0); mystery has no text.
    assert names[0] == ["red", "shoes", "hat", "mystery"]
    assert names[2][:2] == ["red", "shoes"]
    # "wool hat": hat (2 shared) > sock (1) > red (0); padding stays last.
    assert names[1] == ["hat", "sock", "red", None]
    # Each distinct text is embedded once per call: 2 queries + 4 documents with a text.
    assert embedder.embedded == 6


def test_scorer_candidate_is_estimated_like_any_other() -> None:
    embedder = WordHashEmbedder(dimension=256)
    candidate = ScorerCandidate(embedding_scorer(UnitEmbedder(embedder)), TEXTS, "words")
    report = evaluate(_logs(), [candidate], np.array([1.0, 0.5, 0.33, 0.25]))
    (result,) = report.candidates
    assert result.name == "words" and result.changed_share == 1.0
    # Every clicked document moves up to the top: IPS credits each click theta[0]/theta[j].
    assert result.estimates["clicks"]["ips"].value > report.logged["clicks"]
