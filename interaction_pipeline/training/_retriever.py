"""Exact dense retrieval: normalised vectors, dot products, top k with numpy.

Exact search over a few hundred thousand vectors is a matrix product away and needs no index
service; ``argpartition`` keeps top-k selection linear in the corpus size. Ties are broken by
corpus order, so rankings are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from interaction_pipeline.training._cache import DEFAULT_CACHE_DIR, CachedEmbedder
from interaction_pipeline.training._embedders import (
    DEFAULT_MODEL,
    Embedder,
    Vectors,
    resolve_embedder,
)

QueryTransform = Callable[[Vectors], Vectors]
"""Maps base query vectors to the space documents live in (a trained adapter)."""

_QUERY_BLOCK = 1024
"""Queries scored per matrix product: bounds memory to block x corpus floats."""


class EmbeddingRetriever:
    """Dense retriever over one embedder, with cached document (and query) vectors."""

    def __init__(
        self,
        embedder: str | Embedder | CachedEmbedder | Callable[[Sequence[str]], Any] = DEFAULT_MODEL,
        *,
        model_id: str | None = None,
        cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
        query_transform: QueryTransform | None = None,
        top_k: int = 100,
        progress: bool = True,
    ) -> None:
        if isinstance(embedder, CachedEmbedder):
            # Share an existing cache (fine_tune does): no second load, no second embedding.
            self.base, self._embed = embedder.embedder, embedder
        else:
            self.base = resolve_embedder(embedder, model_id)
            self._embed = CachedEmbedder(self.base, cache_dir, progress=progress)
        self.query_transform = query_transform
        self.top_k = top_k
        self._doc_ids: list[str] = []
        self._doc_vectors: Vectors = np.zeros((0, 0), dtype=np.float32)
        self._indexed: dict[str, str] | None = None

    @property
    def model_id(self) -> str:
        """The base embedder's id (documents are always encoded by the base model)."""
        return self.base.model_id

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Unit-length document vectors, from the cache when possible."""
        return _normalised(self._embed(texts, "embedding documents"))

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        """Unit-length query vectors, through ``query_transform`` when one is set."""
        vectors = _normalised(self._embed(texts, "embedding queries"))
        if self.query_transform is not None and len(texts):
            vectors = _normalised(self.query_transform(vectors))
        return vectors

    def index(self, corpus: Mapping[str, str]) -> None:
        """Embed (or load from cache) the corpus: document id -> text."""
        self._doc_ids = list(corpus)
        self._doc_vectors = self.embed_documents([corpus[d] for d in self._doc_ids])
        self._indexed = dict(corpus)

    def search_with_scores(
        self, queries: Mapping[str, str], top_k: int | None = None
    ) -> dict[str, list[tuple[str, float]]]:
        """Per query id: (document id, cosine score), best first."""
        if self._indexed is None:
            raise RuntimeError("call index(corpus) before searching")
        k = min(self.top_k if top_k is None else top_k, len(self._doc_ids))
        query_ids = list(queries)
        vectors = self.embed_queries([queries[q] for q in query_ids])
        results: dict[str, list[tuple[str, float]]] = {}
        for start in range(0, len(query_ids), _QUERY_BLOCK):
            block = vectors[start : start + _QUERY_BLOCK]
            scores = block @ self._doc_vectors.T
            top = top_k_indices(scores, k)
            for row, query_id in enumerate(query_ids[start : start + _QUERY_BLOCK]):
                results[query_id] = [(self._doc_ids[j], float(scores[row, j])) for j in top[row]]
        return results

    def search(self, queries: Mapping[str, str], top_k: int | None = None) -> dict[str, list[str]]:
        """Per query id: document ids, best first."""
        scored = self.search_with_scores(queries, top_k)
        return {q: [d for d, _ in hits] for q, hits in scored.items()}

    def retrieve(
        self, corpus: Mapping[str, str], queries: Mapping[str, str], top_k: int
    ) -> dict[str, list[str]]:
        """The evaluation protocol: index ``corpus`` (unless already indexed) and search."""
        if self._indexed != corpus:
            self.index(corpus)
        return self.search(queries, top_k)


def top_k_indices(scores: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    """Column indices of the k highest scores per row, best first, ties by lower index."""
    n = scores.shape[1]
    if k <= 0 or n == 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    if k < n:
        candidates = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        candidates = np.broadcast_to(np.arange(n), scores.shape)
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((candidates, -candidate_scores), axis=1)
    return np.take_along_axis(candidates, order, axis=1).astype(np.int64)


def _normalised(vectors: Vectors) -> Vectors:
    norms: NDArray[np.float32] = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)
