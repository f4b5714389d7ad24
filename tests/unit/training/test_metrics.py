"""Ranking metrics against hand-computed values, and evaluate() over rankings and retrievers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from interaction_pipeline.training import ConfigError, Dataset, EmbeddingRetriever, evaluate
from interaction_pipeline.training._metrics import mrr_at_k, ndcg_at_k, recall_at_k
from interaction_pipeline.training._retriever import top_k_indices
from tests.unit.training.conftest import WordHashEmbedder

pytestmark = pytest.mark.unit

JUDGED = {"a": 2, "c": 1, "d": 3, "x": 0}


def test_graded_ndcg_uses_linear_gains_and_the_ideal_from_the_qrels() -> None:
    dcg = 2 / math.log2(2) + 0 + 1 / math.log2(4)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(["a", "b", "c"], JUDGED, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(["d", "a", "c"], JUDGED, 10) == pytest.approx(1.0)


def test_ndcg_cutoff_ignores_documents_below_k() -> None:
    ranking = [f"n{i}" for i in range(10)] + ["d"]
    assert ndcg_at_k(ranking, JUDGED, 10) == 0.0
    assert ndcg_at_k(ranking, JUDGED, 11) > 0.0


def test_ideal_dcg_is_cut_at_k_too() -> None:
    # Only one slot: the ideal is the best grade alone, so retrieving it scores 1.
    assert ndcg_at_k(["d"], JUDGED, 1) == pytest.approx(1.0)


def test_tied_grades_any_order_of_equals_is_ideal() -> None:
    judged = {"a": 1, "b": 1, "c": 1}
    assert ndcg_at_k(["c", "a", "b"], judged, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["b", "z", "a"], judged, 10) < 1.0


def test_recall_counts_positive_grades_only() -> None:
    assert recall_at_k(["a", "x"], JUDGED, 2) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "b", "c", "d"], JUDGED, 10) == pytest.approx(1.0)
    assert recall_at_k(["b", "a"], JUDGED, 1) == 0.0


def test_mrr_is_the_reciprocal_rank_of_the_first_relevant() -> None:
    assert mrr_at_k(["x", "b", "c"], JUDGED, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(["a"], JUDGED, 10) == 1.0
    assert mrr_at_k(["x", "b", "c"], JUDGED, 2) == 0.0


def test_a_repeated_document_earns_gain_once() -> None:
    assert recall_at_k(["a", "a", "a"], JUDGED, 3) == pytest.approx(1 / 3)
    assert ndcg_at_k(["a", "a"], {"a": 1}, 10) == pytest.approx(1.0)


def test_evaluate_skips_queries_without_relevant_documents(tiny_dataset: Dataset) -> None:
    rankings = {"q1": ["d4", "d1"], "q2": ["d3", "d2"], "q3": [], "q4": ["d2"]}
    result = evaluate(rankings, tiny_dataset, metrics=["ndcg@10", "mrr@10", "recall@1"])
    assert result.query_ids == ("q1", "q2", "q3")
    idcg_q1 = 2 + 1 / math.log2(3)
    expected_q1 = (1 + 2 / math.log2(3)) / idcg_q1
    np.testing.assert_allclose(result.per_query["ndcg@10"], [expected_q1, 1 / math.log2(3), 0.0])
    np.testing.assert_allclose(result.per_query["mrr@10"], [1.0, 0.5, 0.0])
    np.testing.assert_allclose(result.per_query["recall@1"], [0.5, 0.0, 0.0])
    assert result.means["mrr@10"] == pytest.approx(0.5)


def test_a_query_missing_from_the_ranking_scores_zero(tiny_dataset: Dataset) -> None:
    result = evaluate({"q1": ["d1"]}, tiny_dataset, metrics=["recall@10"])
    np.testing.assert_allclose(result.per_query["recall@10"], [0.5, 0.0, 0.0])


def test_unknown_metric_names_are_rejected(tiny_dataset: Dataset) -> None:
    with pytest.raises(ConfigError, match="ndcg@10"):
        evaluate({}, tiny_dataset, metrics=["map@10"])
    with pytest.raises(ConfigError):
        evaluate({}, tiny_dataset, metrics=["ndcg@0"])


def test_top_k_breaks_score_ties_by_corpus_order() -> None:
    scores = np.array([[0.5, 0.9, 0.5, 0.9, 0.1]], dtype=np.float32)
    assert top_k_indices(scores, 3).tolist() == [[1, 3, 0]]
    assert top_k_indices(scores, 5).tolist() == [[1, 3, 0, 2, 4]]
    assert top_k_indices(scores, 9).tolist() == [[1, 3, 0, 2, 4]]


def test_retriever_ranks_identical_documents_in_corpus_order() -> None:
    retriever = EmbeddingRetriever(WordHashEmbedder(), cache_dir=None, progress=False)
    retriever.index({"z": "same words", "a": "same words", "m": "other thing"})
    assert retriever.search({"q": "same words"}, top_k=3)["q"] == ["z", "a", "m"]


def test_evaluate_runs_a_retriever_end_to_end(tiny_dataset: Dataset) -> None:
    retriever = EmbeddingRetriever(WordHashEmbedder(), cache_dir=None, progress=False)
    result = evaluate(retriever, tiny_dataset, name="hash")
    assert set(result.means) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
    # Word overlap finds each query's best document first on this toy corpus.
    assert result.means["mrr@10"] == pytest.approx(1.0)
    assert "hash (3 queries)" in str(result)
