"""Fakes and tiny datasets for the training unit tests: no model, no network, no shared data."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from interaction_pipeline.training import Dataset, Document


class WordHashEmbedder:
    """Deterministic bag-of-words vectors: texts sharing words get similar vectors.

    Counts the texts it is asked to embed, so tests can see what the cache spared it.
    """

    def __init__(self, dimension: int = 32, model_id: str = "word-hash-32") -> None:
        self.dimension = dimension
        self.model_id = model_id
        self.calls: list[list[str]] = []

    @property
    def embedded(self) -> int:
        """Texts embedded so far, over all calls."""
        return sum(len(c) for c in self.calls)

    def __call__(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                seed = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest())
                out[i] += np.random.default_rng(seed).normal(size=self.dimension)
        return out


@pytest.fixture
def embedder() -> WordHashEmbedder:
    return WordHashEmbedder()


@pytest.fixture
def tiny_dataset() -> Dataset:
    """Four documents, three judged queries and one query without a relevant judgement."""
    corpus = {
        "d1": Document("Bread", "how to bake sourdough bread at home"),
        "d2": Document("Stocks", "the stock market fell on tuesday"),
        "d3": Document("Planets", "jupiter is the largest planet"),
        "d4": Document("", "baking bread needs flour water and salt"),
    }
    queries = {
        "q1": "bake bread",
        "q2": "stock market",
        "q3": "largest planet jupiter",
        "q4": "nothing relevant here",
    }
    qrels = {
        "q1": {"d1": 2, "d4": 1},
        "q2": {"d2": 1},
        "q3": {"d3": 3},
        "q4": {"d2": 0},
    }
    return Dataset(corpus=corpus, queries=queries, qrels=qrels, name="tiny")
