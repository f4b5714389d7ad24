"""The query adapter: analytic gradients, and training that lowers the loss and fixes ranking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest
from numpy.typing import NDArray

from interaction_pipeline.training import (
    AdapterOptions,
    ConfigError,
    EmbeddingRetriever,
    FunctionEmbedder,
    TrainingDataError,
    TrainingPair,
    fine_tune,
)
from interaction_pipeline.training._adapter import (
    PairArrays,
    infonce_loss_and_grad,
    train_adapter,
)
from interaction_pipeline.training._finetune import encode_pairs

pytestmark = pytest.mark.unit


def unit(x: NDArray[np.float64]) -> NDArray[np.float64]:
    norms: NDArray[np.float64] = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / norms


class RotatedProblem:
    """Documents are random unit vectors; each query is its document rotated by a fixed R.

    The base model (identity) ranks badly; W = R^T ranks perfectly, for every query, so a
    linear adapter can learn it from some queries and must generalise to the others.
    """

    def __init__(self, n: int = 60, d: int = 16, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.docs = unit(rng.normal(size=(n, d)))
        rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
        self.queries = unit(self.docs @ rotation.T + rng.normal(0, 0.05, (n, d)))
        self.vectors = {f"doc {i}": v for i, v in enumerate(self.docs)}
        self.vectors.update({f"query {i}": v for i, v in enumerate(self.queries)})
        self.embedder = FunctionEmbedder(self.embed, "rotated-16")

    def embed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        return np.stack([self.vectors[t] for t in texts])

    def corpus(self) -> dict[str, str]:
        return {str(i): f"doc {i}" for i in range(len(self.docs))}

    def pairs(self, ids: range) -> list[TrainingPair]:
        scores = self.queries @ self.docs.T
        pairs = []
        for i in ids:
            hard = next(int(j) for j in np.argsort(-scores[i]) if j != i)
            pairs.append(TrainingPair(f"query {i}", f"doc {i}", str(i), f"doc {hard}", str(hard)))
        return pairs

    def mrr(self, retriever: EmbeddingRetriever, ids: range) -> float:
        rankings = retriever.retrieve(self.corpus(), {str(i): f"query {i}" for i in ids}, 10)
        ranks = [
            rankings[str(i)].index(str(i)) + 1 if str(i) in rankings[str(i)] else 0 for i in ids
        ]
        return float(np.mean([1 / r if r else 0.0 for r in ranks]))


FAST = AdapterOptions(learning_rate=0.02, epochs=60, batch_size=16)


def test_analytic_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(3)
    d, n = 5, 6
    pairs = [
        TrainingPair(f"q{i % 4}", f"p{i}", f"p{i}", f"n{i}" if i % 2 else None, weight=1 + i)
        for i in range(n)
    ]
    pairs.append(TrainingPair("q0", "p1", "p1", "p2", "p2"))  # p1 is also q1's positive: masked
    vectors = {t: rng.normal(size=d) for p in pairs for t in (p.query, p.positive_text)}
    vectors.update({p.negative_text: rng.normal(size=d) for p in pairs if p.negative_text})

    def embed(texts: Sequence[str]) -> NDArray[np.float64]:
        return np.stack([vectors[t] for t in texts])

    arrays = encode_pairs(pairs, embed)
    matrix = np.eye(d) + rng.normal(0, 0.3, (d, d))
    _, grad = infonce_loss_and_grad(matrix, arrays, 0.3, 0.1)
    numeric = np.zeros_like(matrix)
    eps = 1e-6
    for i in range(d):
        for j in range(d):
            step = np.zeros_like(matrix)
            step[i, j] = eps
            plus, _ = infonce_loss_and_grad(matrix + step, arrays, 0.3, 0.1)
            minus, _ = infonce_loss_and_grad(matrix - step, arrays, 0.3, 0.1)
            numeric[i, j] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_known_positives_of_a_query_are_not_its_negatives() -> None:
    vectors = {"q": np.array([1.0, 0.0]), "a": np.array([1.0, 0.0]), "b": np.array([1.0, 0.0])}
    pairs = [TrainingPair("q", "a", "a"), TrainingPair("q", "b", "b")]
    arrays = encode_pairs(pairs, lambda texts: np.stack([vectors[t] for t in texts]))
    loss, grad = infonce_loss_and_grad(np.eye(2), arrays, 0.05, 0.0)
    # Each pair's only candidate left is its own positive: nothing to learn, zero loss.
    assert loss == pytest.approx(0.0)
    np.testing.assert_allclose(grad, 0.0, atol=1e-12)


def test_weights_shift_the_loss_toward_heavy_pairs() -> None:
    rng = np.random.default_rng(0)
    vectors = {t: rng.normal(size=4) for t in ("q1", "q2", "p1", "p2")}
    embed = lambda texts: np.stack([vectors[t] for t in texts])  # noqa: E731
    light = encode_pairs(
        [TrainingPair("q1", "p1", weight=1), TrainingPair("q2", "p2", weight=9)], embed
    )
    heavy = encode_pairs(
        [TrainingPair("q1", "p1", weight=9), TrainingPair("q2", "p2", weight=1)], embed
    )
    assert infonce_loss_and_grad(np.eye(4), light, 0.5, 0)[0] != pytest.approx(
        infonce_loss_and_grad(np.eye(4), heavy, 0.5, 0)[0]
    )


@pytest.mark.parametrize("rank", [None, 8])
def test_training_lowers_the_loss_and_fixes_ranking_on_unseen_queries(rank: int | None) -> None:
    problem = RotatedProblem()
    base = EmbeddingRetriever(problem.embedder, cache_dir=None, progress=False)
    model = fine_tune(
        problem.embedder,
        problem.pairs(range(40)),
        cache_dir=None,
        progress=False,
        options=replace(FAST, rank=rank),
    )
    training = model.card["training"]
    assert training["final_loss"] < 0.5 * training["initial_loss"]
    assert problem.mrr(base, range(40)) < 0.5
    assert problem.mrr(model, range(40)) > 0.9
    assert problem.mrr(model, range(40, 60)) > problem.mrr(base, range(40, 60)) + 0.3


def test_same_seed_same_adapter() -> None:
    problem = RotatedProblem()
    arrays = encode_pairs(problem.pairs(range(40)), problem.embed)
    options = AdapterOptions(epochs=3, learning_rate=0.01, batch_size=8, seed=5)
    first, _ = train_adapter(arrays, options)
    second, _ = train_adapter(arrays, options)
    np.testing.assert_array_equal(first.matrix, second.matrix)


def test_validation_split_stops_early_and_keeps_the_best_epoch() -> None:
    problem = RotatedProblem()
    arrays = encode_pairs(problem.pairs(range(60)), problem.embed)
    options = AdapterOptions(
        epochs=200, learning_rate=0.05, batch_size=16, validation_fraction=0.25, patience=2
    )
    adapter, history = train_adapter(arrays, options)
    assert len(history.validation_losses) == len(history.train_losses)
    assert history.validation_losses[0] < history.initial_loss
    assert history.best_epoch == 1 + int(np.argmin(history.validation_losses))
    assert not np.allclose(adapter.matrix, np.eye(16))


def test_regularisation_keeps_the_map_near_identity() -> None:
    problem = RotatedProblem()
    arrays = encode_pairs(problem.pairs(range(40)), problem.embed)
    loose, _ = train_adapter(arrays, replace(FAST, l2_to_identity=0.0))
    tight, _ = train_adapter(arrays, replace(FAST, l2_to_identity=1.0))
    eye = np.eye(16)
    assert np.linalg.norm(tight.matrix - eye) < 0.5 * np.linalg.norm(loose.matrix - eye)


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="temperature"):
        AdapterOptions(temperature=0)
    with pytest.raises(ConfigError, match="unknown adapter options"):
        AdapterOptions.with_overrides(None, {"epoch": 3})
    with pytest.raises(TrainingDataError, match="at least 2"):
        train_adapter(_one_pair(), AdapterOptions())


def _one_pair() -> PairArrays:
    return encode_pairs([TrainingPair("q", "p")], lambda texts: np.eye(2)[: len(texts)])
