"""A query-side linear adapter on frozen embeddings, trained with InfoNCE in numpy.

Only queries move (q -> W q, W starting at the identity), so document vectors and their cache
stay valid and a corpus never needs re-embedding. The loss is a weighted softmax cross-entropy
of each query against its positive, the pair's hard negative and the other pairs' documents
in the batch (in-batch negatives), on cosine scores over a temperature, plus an L2 pull of W
toward the identity that keeps unseen queries close to the base model. Gradients are analytic,
so training takes seconds on a laptop CPU.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from interaction_pipeline.training.errors import ConfigError, TrainingDataError

Matrix = NDArray[np.float64]


@dataclass(frozen=True)
class AdapterOptions:
    """Training settings.

    Defaults come from a sanity run on Cranfield (pairs from half the queries' judgements,
    evaluated on both halves): a full map with these settings lifts nDCG@10 on the training
    queries by about +120% and leaves held-out queries within noise (-2% .. +4%). Lower
    learning rates or a stronger pull to identity trade the first for safety on the second.
    """

    rank: int | None = None
    """None: a full d x d map; an int r: identity plus a rank-r update (fewer parameters)."""
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 5e-4
    temperature: float = 0.07
    l2_to_identity: float = 1e-2
    """Weight of ||W - I||_F^2 in the loss: higher keeps unseen queries closer to the base."""
    validation_fraction: float = 0.0
    """Share of queries held out for early stopping on their loss (0 disables it)."""
    patience: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "rank": self.rank is None or self.rank >= 1,
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 2,
            "learning_rate": self.learning_rate > 0,
            "temperature": self.temperature > 0,
            "l2_to_identity": self.l2_to_identity >= 0,
            "validation_fraction": 0 <= self.validation_fraction < 1,
            "patience": self.patience >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"{name}: invalid value {getattr(self, name)!r}")

    @classmethod
    def with_overrides(
        cls, base: AdapterOptions | None, overrides: dict[str, Any]
    ) -> AdapterOptions:
        """``base`` (or the defaults) with keyword overrides; unknown names are an error."""
        values = asdict(base or cls())
        unknown = sorted(set(overrides) - set(values))
        if unknown:
            raise ConfigError(f"unknown adapter options {unknown}; known: {sorted(values)}")
        values.update(overrides)
        return cls(**values)


@dataclass(frozen=True)
class PairArrays:
    """Training pairs as vectors plus the integer codes the negative masking needs."""

    queries: Matrix
    positives: Matrix
    negatives: Matrix
    has_negative: NDArray[np.bool_]
    weights: Matrix
    query_codes: NDArray[np.int64]
    positive_codes: NDArray[np.int64]
    negative_codes: NDArray[np.int64]
    known_positives: NDArray[np.int64]
    """Sorted ``query_code * n_docs + doc_code`` of every (query, positive) seen in training."""
    n_docs: int

    def __len__(self) -> int:
        return int(self.queries.shape[0])

    def take(self, rows: NDArray[np.int64]) -> PairArrays:
        """A subset of rows (the positive set stays global: it is knowledge, not data)."""
        return PairArrays(
            self.queries[rows],
            self.positives[rows],
            self.negatives[rows],
            self.has_negative[rows],
            self.weights[rows],
            self.query_codes[rows],
            self.positive_codes[rows],
            self.negative_codes[rows],
            self.known_positives,
            self.n_docs,
        )


@dataclass
class TrainingHistory:
    """What happened in training, for the model card and for tests."""

    initial_loss: float = float("nan")
    final_loss: float = float("nan")
    train_losses: list[float] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


class QueryAdapter:
    """q -> normalise(W q). ``matrix`` is W (d x d); apply it to row vectors with ``apply``."""

    def __init__(self, matrix: Matrix) -> None:
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ConfigError(f"adapter matrix must be square, got shape {matrix.shape}")
        self.matrix = np.asarray(matrix, dtype=np.float64)

    @classmethod
    def identity(cls, dimension: int) -> QueryAdapter:
        """The adapter that changes nothing (the base model)."""
        return cls(np.eye(dimension))

    @property
    def dimension(self) -> int:
        """Embedding dimension the adapter expects."""
        return int(self.matrix.shape[0])

    def apply(self, vectors: NDArray[Any]) -> NDArray[np.float32]:
        """Row vectors through W, unit length again."""
        mapped: Matrix = np.asarray(vectors, dtype=np.float64) @ self.matrix.T
        norms: Matrix = np.linalg.norm(mapped, axis=1, keepdims=True)
        return np.asarray(mapped / np.maximum(norms, 1e-12), dtype=np.float32)


def infonce_loss_and_grad(
    matrix: Matrix, batch: PairArrays, temperature: float, l2_to_identity: float
) -> tuple[float, Matrix]:
    """Weighted InfoNCE over hard + in-batch negatives, and its gradient with respect to W."""
    q = batch.queries
    mapped = q @ matrix.T
    norms = np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)
    unit = mapped / norms
    candidates = np.concatenate([batch.positives, batch.negatives[batch.has_negative]])
    codes = np.concatenate([batch.positive_codes, batch.negative_codes[batch.has_negative]])
    logits = unit @ candidates.T / temperature
    n = len(batch)
    # Another pair's document that is a known positive of this query is not a negative.
    pair_keys = batch.query_codes[:, None] * batch.n_docs + codes[None, :]
    masked = np.isin(pair_keys, batch.known_positives)
    masked[np.arange(n), np.arange(n)] = False
    logits = np.where(masked, -np.inf, logits)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    probs = exp / exp.sum(axis=1, keepdims=True)
    share = batch.weights / batch.weights.sum()
    target = probs[np.arange(n), np.arange(n)]
    loss = float(-(share * np.log(np.maximum(target, 1e-300))).sum())
    grad_logits = probs
    grad_logits[np.arange(n), np.arange(n)] -= 1.0
    grad_logits *= share[:, None] / temperature
    grad_unit = grad_logits @ candidates
    grad_mapped = (grad_unit - (grad_unit * unit).sum(axis=1, keepdims=True) * unit) / norms
    grad = grad_mapped.T @ q
    delta = matrix - np.eye(matrix.shape[0])
    loss += l2_to_identity * float((delta * delta).sum())
    grad += 2 * l2_to_identity * delta
    return loss, grad


def dataset_loss(matrix: Matrix, pairs: PairArrays, options: AdapterOptions) -> float:
    """Weighted mean loss over fixed consecutive batches (no regulariser): comparable across W."""
    total = weight = 0.0
    for start in range(0, len(pairs), options.batch_size):
        rows = np.arange(start, min(len(pairs), start + options.batch_size))
        if len(rows) < 2:
            continue
        batch = pairs.take(rows)
        loss, _ = infonce_loss_and_grad(matrix, batch, options.temperature, 0.0)
        total += loss * float(batch.weights.sum())
        weight += float(batch.weights.sum())
    return total / weight if weight else float("nan")


def train_adapter(
    pairs: PairArrays, options: AdapterOptions
) -> tuple[QueryAdapter, TrainingHistory]:
    """Adam on W (or on the low-rank factors), optional early stopping on held-out queries."""
    if len(pairs) < 2:
        raise TrainingDataError(f"need at least 2 training pairs, got {len(pairs)}")
    started = time.perf_counter()
    rng = np.random.default_rng(options.seed)
    train, validation = _split(pairs, options.validation_fraction, rng)
    d = pairs.queries.shape[1]
    params = _Parameters(d, options.rank, rng)
    adam = _Adam(params.values(), options.learning_rate)
    history = TrainingHistory(initial_loss=dataset_loss(np.eye(d), train, options))
    best_matrix, best_score, stale = np.eye(d), np.inf, 0
    for epoch in range(1, options.epochs + 1):
        order = rng.permutation(len(train))
        losses, weights = [], []
        for start in range(0, len(order), options.batch_size):
            rows = order[start : start + options.batch_size]
            if len(rows) < 2:
                continue
            batch = train.take(rows)
            loss, grad = infonce_loss_and_grad(
                params.matrix(), batch, options.temperature, options.l2_to_identity
            )
            adam.step(params.values(), params.gradients(grad))
            losses.append(loss)
            weights.append(float(batch.weights.sum()))
        history.train_losses.append(float(np.average(losses, weights=weights)))
        if validation is None:
            best_matrix, history.best_epoch = params.matrix(), epoch
            continue
        score = dataset_loss(params.matrix(), validation, options)
        history.validation_losses.append(score)
        if score < best_score:
            best_matrix, best_score, stale, history.best_epoch = params.matrix(), score, 0, epoch
        else:
            stale += 1
            if stale >= options.patience:
                break
    history.final_loss = dataset_loss(best_matrix, train, options)
    history.seconds = time.perf_counter() - started
    return QueryAdapter(best_matrix), history


def _split(
    pairs: PairArrays, fraction: float, rng: np.random.Generator
) -> tuple[PairArrays, PairArrays | None]:
    """Hold out whole queries, so validation measures generalisation to unseen queries."""
    if fraction <= 0:
        return pairs, None
    codes = np.unique(pairs.query_codes)
    held = rng.choice(codes, size=max(1, round(len(codes) * fraction)), replace=False)
    is_held = np.isin(pairs.query_codes, held)
    if is_held.all() or is_held.sum() < 2:
        raise TrainingDataError(
            f"validation_fraction={fraction} leaves no usable split of {len(codes)} queries"
        )
    return pairs.take(np.flatnonzero(~is_held)), pairs.take(np.flatnonzero(is_held))


class _Parameters:
    """W = I + A (full) or W = I + U V^T (low rank); the gradient of W maps onto either."""

    def __init__(self, d: int, rank: int | None, rng: np.random.Generator) -> None:
        self.d = d
        if rank is None:
            self.factors = [np.zeros((d, d))]
        else:
            self.factors = [np.zeros((d, rank)), rng.normal(0, 1 / np.sqrt(d), (d, rank))]

    def values(self) -> list[Matrix]:
        return self.factors

    def matrix(self) -> Matrix:
        if len(self.factors) == 1:
            return np.eye(self.d) + self.factors[0]
        u, v = self.factors
        return np.eye(self.d) + u @ v.T

    def gradients(self, grad_matrix: Matrix) -> list[Matrix]:
        if len(self.factors) == 1:
            return [grad_matrix]
        u, v = self.factors
        return [grad_matrix @ v, grad_matrix.T @ u]


class _Adam:
    """Adam (Kingma & Ba) with the usual defaults, updating the arrays in place."""

    def __init__(self, params: list[Matrix], lr: float) -> None:
        self.lr, self.beta1, self.beta2, self.eps, self.t = lr, 0.9, 0.999, 1e-8, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params: list[Matrix], grads: list[Matrix]) -> None:
        self.t += 1
        for p, g, m, v in zip(params, grads, self.m, self.v, strict=True):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            m_hat = m / (1 - self.beta1**self.t)
            v_hat = v / (1 - self.beta2**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
