"""Evaluation and fine-tuning of retrievers from interaction data.

Evaluate a retriever on a BEIR-layout dataset, compare two with paired-bootstrap intervals,
embed with a local torch-free model (cached on disk), and fine-tune a query-side adapter
from the pipeline's training pairs::

    from interaction_pipeline.training import (
        EmbeddingRetriever, compare, evaluate, fine_tune, load_beir,
    )

    dataset = load_beir("data/cranfield-beir")
    base = evaluate(EmbeddingRetriever(), dataset, name="base")
    model = fine_tune("all-MiniLM-L6-v2", "exports/pairs.jsonl", output_dir="models/v1")
    print(compare(base, evaluate(model, dataset, name="tuned")))
"""

from interaction_pipeline.training._adapter import AdapterOptions, QueryAdapter, TrainingHistory
from interaction_pipeline.training._beir import Dataset, Document, load_beir, write_beir
from interaction_pipeline.training._cache import DEFAULT_CACHE_DIR, CachedEmbedder, EmbeddingCache
from interaction_pipeline.training._cranfield import cranfield_to_beir
from interaction_pipeline.training._embedders import (
    DEFAULT_MODEL,
    Embedder,
    FunctionEmbedder,
    OnnxMiniLM,
    known_models,
    register_embedder,
    resolve_embedder,
)
from interaction_pipeline.training._evaluate import (
    DEFAULT_METRICS,
    Comparison,
    EvaluationResult,
    MetricDelta,
    Rankings,
    Retriever,
    compare,
    evaluate,
)
from interaction_pipeline.training._finetune import FineTunedModel, fine_tune, load_model
from interaction_pipeline.training._full import fine_tune_full
from interaction_pipeline.training._pairs import TrainingPair, read_pairs
from interaction_pipeline.training._retriever import EmbeddingRetriever
from interaction_pipeline.training.errors import (
    ConfigError,
    DatasetError,
    MissingDependencyError,
    TrainingDataError,
    TrainingError,
    UnknownModelError,
)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_METRICS",
    "DEFAULT_MODEL",
    "AdapterOptions",
    "CachedEmbedder",
    "Comparison",
    "ConfigError",
    "Dataset",
    "DatasetError",
    "Document",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingRetriever",
    "EvaluationResult",
    "FineTunedModel",
    "FunctionEmbedder",
    "MetricDelta",
    "MissingDependencyError",
    "OnnxMiniLM",
    "QueryAdapter",
    "Rankings",
    "Retriever",
    "TrainingDataError",
    "TrainingError",
    "TrainingHistory",
    "TrainingPair",
    "UnknownModelError",
    "compare",
    "cranfield_to_beir",
    "evaluate",
    "fine_tune",
    "fine_tune_full",
    "known_models",
    "load_beir",
    "load_model",
    "read_pairs",
    "register_embedder",
    "resolve_embedder",
    "write_beir",
]
