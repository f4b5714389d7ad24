"""fine_tune(): training pairs in, a saved query-adapter model (a retriever) out.

The artifact is a folder: ``adapter.npy`` (W), ``model_card.json`` (machine-readable) and
``README.md`` (the same card for people). Loading needs the base embedder; a registered name
is resolved automatically, and its ``model_id`` must match the card's, because an adapter
trained on one model's vectors is meaningless on another's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from interaction_pipeline.training._adapter import (
    AdapterOptions,
    Matrix,
    PairArrays,
    QueryAdapter,
    train_adapter,
)
from interaction_pipeline.training._beir import Dataset
from interaction_pipeline.training._cache import DEFAULT_CACHE_DIR, CachedEmbedder, text_key
from interaction_pipeline.training._embedders import (
    Embedder,
    resolve_embedder,
)
from interaction_pipeline.training._evaluate import compare, evaluate
from interaction_pipeline.training._pairs import PairSource, TrainingPair, pair_stats, read_pairs
from interaction_pipeline.training._retriever import EmbeddingRetriever
from interaction_pipeline.training.errors import ConfigError, DatasetError

CARD_FILE = "model_card.json"
WEIGHTS_FILE = "adapter.npy"
FORMAT = "interaction-pipeline/query-adapter/1"


class FineTunedModel(EmbeddingRetriever):
    """A retriever: queries through the adapter, documents through the base model."""

    def __init__(
        self,
        base: str | Embedder | CachedEmbedder,
        adapter: QueryAdapter,
        card: dict[str, Any],
        *,
        cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
        top_k: int = 100,
        progress: bool = True,
    ) -> None:
        super().__init__(
            base, cache_dir=cache_dir, query_transform=adapter.apply, top_k=top_k, progress=progress
        )
        self.adapter = adapter
        self.card = card

    def save(self, directory: str | Path) -> Path:
        """Write the adapter and its model card; returns the folder."""
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / WEIGHTS_FILE, self.adapter.matrix)
        (folder / CARD_FILE).write_text(json.dumps(self.card, indent=2) + "\n", encoding="utf-8")
        (folder / "README.md").write_text(render_card(self.card), encoding="utf-8")
        return folder

    @classmethod
    def load(
        cls,
        directory: str | Path,
        *,
        base_model: str | Embedder | None = None,
        cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
        top_k: int = 100,
        progress: bool = True,
    ) -> FineTunedModel:
        """Read a saved model; ``base_model`` defaults to the name in the card."""
        folder = Path(directory)
        for name in (CARD_FILE, WEIGHTS_FILE):
            if not (folder / name).is_file():
                raise DatasetError(
                    f"{folder / name}: file not found (not a saved fine-tuned model)"
                )
        card = json.loads((folder / CARD_FILE).read_text(encoding="utf-8"))
        if card.get("format") != FORMAT:
            raise DatasetError(
                f"{folder / CARD_FILE}: format {card.get('format')!r}, expected {FORMAT!r}"
            )
        base = resolve_embedder(base_model if base_model is not None else card["base_model"])
        if base.model_id != card["base_model_id"]:
            raise ConfigError(
                f"base embedder is {base.model_id!r} but the adapter was trained on "
                f"{card['base_model_id']!r}; pass the matching base_model="
            )
        adapter = QueryAdapter(np.load(folder / WEIGHTS_FILE))
        return cls(base, adapter, card, cache_dir=cache_dir, top_k=top_k, progress=progress)


def load_model(
    directory: str | Path,
    *,
    base_model: str | Embedder | None = None,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    top_k: int = 100,
    progress: bool = True,
) -> FineTunedModel:
    """Shorthand for ``FineTunedModel.load``."""
    return FineTunedModel.load(
        directory, base_model=base_model, cache_dir=cache_dir, top_k=top_k, progress=progress
    )


def fine_tune(
    base_model: str | Embedder | Callable[[Sequence[str]], Any],
    training_data: PairSource,
    *,
    options: AdapterOptions | None = None,
    eval_dataset: Dataset | None = None,
    output_dir: str | Path | None = None,
    cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
    data_range: str | None = None,
    model_id: str | None = None,
    progress: bool = True,
    **overrides: Any,
) -> FineTunedModel:
    """Train a query adapter on pairs over frozen ``base_model`` embeddings.

    ``base_model`` is a registered name (``"all-MiniLM-L6-v2"``, the local default), an
    Embedder, or a plain embedding function with ``model_id=``. ``training_data`` is an
    iterable of pairs (dicts, TrainingPair, objects) or a JSONL/Parquet path.

    ``overrides`` are AdapterOptions fields (``epochs=5``). With ``eval_dataset`` the base and
    tuned retrievers are compared on it and the result goes into the model card; with
    ``output_dir`` the model is saved there.
    """
    settings = AdapterOptions.with_overrides(options, overrides)
    pairs = read_pairs(training_data)
    base = resolve_embedder(base_model, model_id)
    embed = CachedEmbedder(base, cache_dir, progress=progress)
    arrays = encode_pairs(pairs, embed)
    adapter, history = train_adapter(arrays, settings)
    stats = pair_stats(pairs)
    card: dict[str, Any] = {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_model": base_model if isinstance(base_model, str) else base.model_id,
        "base_model_id": base.model_id,
        "dimension": adapter.dimension,
        "adapter": "full" if settings.rank is None else f"identity + rank {settings.rank}",
        "options": asdict(settings),
        "data": {
            "range": data_range,
            "pairs": stats.pairs,
            "pairs_with_hard_negative": stats.with_hard_negative,
            "pairs_without_hard_negative": stats.without_hard_negative,
            "queries": stats.queries,
            "total_weight": stats.total_weight,
        },
        "training": asdict(history),
        "evaluation": None,
    }
    model = FineTunedModel(embed, adapter, card, cache_dir=cache_dir, progress=progress)
    if eval_dataset is not None:
        baseline = EmbeddingRetriever(embed, cache_dir=cache_dir, progress=progress)
        result = compare(
            evaluate(baseline, eval_dataset, name="base"),
            evaluate(model, eval_dataset, name="fine-tuned"),
        )
        card["evaluation"] = {"dataset": eval_dataset.name, **result.to_dict()}
    if output_dir is not None:
        model.save(output_dir)
    return model


def encode_pairs(
    pairs: Sequence[TrainingPair], embed: Callable[[Sequence[str]], NDArray[Any]]
) -> PairArrays:
    """Embed every distinct text once (cache-backed) and code queries and documents as ints."""
    texts = list(
        dict.fromkeys(
            [p.query for p in pairs]
            + [p.positive_text for p in pairs]
            + [p.negative_text for p in pairs if p.negative_text is not None]
        )
    )
    matrix = _unit(np.asarray(embed(texts), dtype=np.float64))
    row = {t: i for i, t in enumerate(texts)}
    doc_codes: dict[str, int] = {}
    query_codes: dict[str, int] = {}

    def doc_code(doc_id: str | None, text: str) -> int:
        return doc_codes.setdefault(doc_id or f"text:{text_key(text)}", len(doc_codes))

    q_codes = np.array([query_codes.setdefault(p.query, len(query_codes)) for p in pairs])
    p_codes = np.array([doc_code(p.positive_id, p.positive_text) for p in pairs])
    n_codes = np.array(
        [-1 if p.negative_text is None else doc_code(p.negative_id, p.negative_text) for p in pairs]
    )
    has_negative = n_codes >= 0
    dim = matrix.shape[1]
    negatives = np.zeros((len(pairs), dim))
    negatives[has_negative] = matrix[
        [row[p.negative_text] for p in pairs if p.negative_text is not None]
    ]
    n_docs = max(1, len(doc_codes))
    return PairArrays(
        queries=matrix[[row[p.query] for p in pairs]],
        positives=matrix[[row[p.positive_text] for p in pairs]],
        negatives=negatives,
        has_negative=has_negative,
        weights=np.array([p.weight for p in pairs], dtype=np.float64),
        query_codes=q_codes.astype(np.int64),
        positive_codes=p_codes.astype(np.int64),
        negative_codes=n_codes.astype(np.int64),
        known_positives=np.unique(q_codes * n_docs + p_codes).astype(np.int64),
        n_docs=n_docs,
    )


def render_card(card: dict[str, Any]) -> str:
    """The model card as Markdown, for people browsing the folder."""
    data, training = card["data"], card["training"]
    lines = [
        "# Query adapter",
        "",
        f"Base model: `{card['base_model']}` (vectors `{card['base_model_id']}`, "
        f"{card['dimension']} dimensions). Adapter: {card['adapter']} linear map on query "
        "vectors; documents use the base model unchanged.",
        "",
        "## Training data",
        "",
        f"- date range: {data['range'] or 'not given'}",
        f"- pairs: {data['pairs']} ({data['pairs_with_hard_negative']} with a hard negative, "
        f"{data['pairs_without_hard_negative']} without), {data['queries']} distinct queries, "
        f"total weight {data['total_weight']:.1f}",
        "",
        "## Settings",
        "",
        *(f"- {k}: {v}" for k, v in card["options"].items()),
        "",
        f"Loss {training['initial_loss']:.4f} -> {training['final_loss']:.4f} "
        f"(best epoch {training['best_epoch']}, {training['seconds']:.1f} s).",
        "",
        "## Evaluation",
        "",
    ]
    evaluation = card.get("evaluation")
    if not evaluation:
        lines.append("No evaluation was run.")
    else:
        lines.append(
            f"On `{evaluation['dataset']}` ({evaluation['base']['queries']} queries), "
            f"{evaluation['confidence']:.0%} paired-bootstrap intervals over queries:"
        )
        lines += [
            "",
            "| metric | base | fine-tuned | difference | interval |",
            "|---|---|---|---|---|",
        ]
        for metric, d in evaluation["deltas"].items():
            rel = "" if d["relative_pct"] is None else f" ({d['relative_pct']:+.1f}%)"
            lines.append(
                f"| {metric} | {d['base']:.4f} | {d['other']:.4f} | {d['absolute']:+.4f}{rel} "
                f"| [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] |"
            )
    return "\n".join(lines) + "\n"


def _unit(vectors: Matrix) -> Matrix:
    norms: Matrix = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float64)
