"""The embedding cache: only new texts reach the embedder, across instances and processes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from interaction_pipeline.training import (
    CachedEmbedder,
    ConfigError,
    EmbeddingCache,
    EmbeddingRetriever,
    FunctionEmbedder,
    UnknownModelError,
    resolve_embedder,
)
from tests.unit.training.conftest import WordHashEmbedder

pytestmark = pytest.mark.unit

CORPUS = {"a": "red apples", "b": "green pears", "c": "yellow bananas"}


def test_second_embedding_of_the_same_corpus_embeds_nothing(tmp_path: Path) -> None:
    first = WordHashEmbedder()
    EmbeddingRetriever(first, cache_dir=tmp_path, progress=False).index(CORPUS)
    assert first.embedded == 3

    second = WordHashEmbedder()  # a fresh process: only the folder is shared
    retriever = EmbeddingRetriever(second, cache_dir=tmp_path, progress=False)
    retriever.index(CORPUS)
    assert second.embedded == 0
    assert retriever.search({"q": "red apples"}, top_k=1) == {"q": ["a"]}


def test_adding_documents_embeds_only_the_new_ones(tmp_path: Path) -> None:
    embedder = WordHashEmbedder()
    retriever = EmbeddingRetriever(embedder, cache_dir=tmp_path, progress=False)
    retriever.index(CORPUS)
    retriever.index({**CORPUS, "d": "purple plums", "e": "red apples"})  # e: same text as a
    assert embedder.calls[-1] == ["purple plums"]
    assert embedder.embedded == 4
    reloaded = EmbeddingCache(tmp_path, embedder.model_id)
    assert len(reloaded) == 4


def test_cached_vectors_equal_fresh_ones(tmp_path: Path) -> None:
    texts = ["one text", "another text", "one text"]
    fresh = WordHashEmbedder()(texts)
    CachedEmbedder(WordHashEmbedder(), tmp_path, progress=False)(texts)
    cached = CachedEmbedder(WordHashEmbedder(), tmp_path, progress=False)(texts)
    np.testing.assert_array_equal(cached, fresh)


def test_the_cache_is_keyed_by_model_id(tmp_path: Path) -> None:
    CachedEmbedder(WordHashEmbedder(model_id="model-a"), tmp_path, progress=False)(["x y"])
    other = WordHashEmbedder(model_id="model-b")
    CachedEmbedder(other, tmp_path, progress=False)(["x y"])
    assert other.embedded == 1
    assert len(list(tmp_path.iterdir())) == 2


def test_without_a_cache_dir_nothing_is_written(tmp_path: Path) -> None:
    embedder = WordHashEmbedder()
    cached = CachedEmbedder(embedder, None, progress=False)
    cached(["a b", "c d"])
    cached(["a b"])
    assert embedder.embedded == 2
    assert not any(tmp_path.iterdir())


def test_a_half_written_shard_is_ignored_and_redone(tmp_path: Path) -> None:
    embedder = WordHashEmbedder()
    CachedEmbedder(embedder, tmp_path, progress=False, chunk_size=1)(["a", "b"])
    folder = next(tmp_path.iterdir())
    (folder / "shard-000001.keys").unlink()  # as if killed between the two renames
    again = WordHashEmbedder()
    CachedEmbedder(again, tmp_path, progress=False)(["a", "b"])
    assert again.calls == [["b"]]


def test_progress_bar_can_be_shown_and_silenced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = [f"text {i}" for i in range(20)]
    CachedEmbedder(WordHashEmbedder(), None, progress=True, progress_threshold=10)(texts)
    assert "embedding" in capsys.readouterr().out
    CachedEmbedder(WordHashEmbedder(), None, progress=False, progress_threshold=10)(texts)
    assert capsys.readouterr().out == ""


def test_plain_functions_plug_in_with_a_model_id(tmp_path: Path) -> None:
    def embed(texts: Sequence[str]) -> list[list[float]]:
        return [[1.0, 0.0] if "x" in t else [0.0, 1.0] for t in texts]

    retriever = EmbeddingRetriever(embed, model_id="toy-2d", cache_dir=tmp_path, progress=False)
    retriever.index({"d1": "x marks", "d2": "no mark"})
    assert retriever.search({"q": "x"})["q"] == ["d1", "d2"]
    assert retriever.model_id == "toy-2d"
    with pytest.raises(ConfigError, match="model_id"):
        EmbeddingRetriever(embed)


def test_wrong_shaped_vectors_are_reported() -> None:
    bad = FunctionEmbedder(lambda texts: np.zeros((1, 3)), "bad")
    with pytest.raises(ConfigError, match="returned shape"):
        bad(["a", "b"])


def test_unknown_model_names_list_the_known_ones() -> None:
    with pytest.raises(UnknownModelError, match="all-MiniLM-L6-v2"):
        resolve_embedder("text-embedding-3-small")


def test_searching_before_indexing_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="index"):
        EmbeddingRetriever(WordHashEmbedder(), cache_dir=None).search({"q": "x"})
