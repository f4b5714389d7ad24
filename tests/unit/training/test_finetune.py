"""fine_tune(): reading pairs, the saved artifact and its model card, and load roundtrips."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from interaction_pipeline.training import (
    ConfigError,
    Dataset,
    DatasetError,
    FineTunedModel,
    TrainingDataError,
    TrainingPair,
    UnknownModelError,
    fine_tune,
    load_model,
    read_pairs,
    register_embedder,
)
from tests.unit.training.conftest import WordHashEmbedder

pytestmark = pytest.mark.unit

EXPORT_ROWS: list[dict[str, Any]] = [
    {
        "query": "bake bread",
        "positive_id": "d1",
        "positive_text": "Bread how to bake sourdough bread at home",
        "negative_id": "d2",
        "negative_text": "Stocks the stock market fell on tuesday",
        "weight": 2.0,
        "position": 3,
        "query_id": "abc",
    },
    {
        "query": "stock market",
        "positive_id": "d2",
        "positive_text": "Stocks the stock market fell on tuesday",
        "negative_id": None,
        "negative_text": None,
        "weight": 1.0,
    },
    {
        "query": "largest planet jupiter",
        "positive_id": "d3",
        "positive_text": "Planets jupiter is the largest planet",
        "negative_id": "d1",
        "negative_text": "Bread how to bake sourdough bread at home",
        "weight": 0.5,
    },
]


def test_pairs_from_jsonl_parquet_dicts_and_objects_agree(tmp_path: Path) -> None:
    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in EXPORT_ROWS) + "\n\n")
    parquet = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(EXPORT_ROWS), parquet)

    @dataclass
    class Row:
        query: str
        positive_text: str
        weight: float

    from_dicts = read_pairs(EXPORT_ROWS)
    assert read_pairs(jsonl) == from_dicts
    assert read_pairs(str(parquet)) == from_dicts
    assert from_dicts[1] == TrainingPair("stock market", str(EXPORT_ROWS[1]["positive_text"]), "d2")
    assert read_pairs([Row("q", "p", 3.0)]) == [TrainingPair("q", "p", weight=3.0)]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"positive_text": "p"}], "row 0: query: must be a non-empty string"),
        ([{"query": "q", "positive_text": "p"}, {"query": "q"}], "row 1: positive_text"),
        (
            [{"query": "q", "positive_text": "p", "weight": "heavy"}],
            "row 0: weight: must be a number",
        ),
        ([{"query": "q", "positive_text": "p", "weight": -1}], "row 0: weight: must be finite"),
        ([{"query": "q", "positive_text": "p", "weight": 0}], "no training pairs with weight > 0"),
    ],
)
def test_bad_pairs_name_the_row_and_field(rows: list[dict[str, object]], message: str) -> None:
    with pytest.raises(TrainingDataError, match=message):
        read_pairs(rows)


def test_bad_jsonl_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(EXPORT_ROWS[0]) + "\n{oops\n")
    with pytest.raises(TrainingDataError, match=r"pairs\.jsonl:2: not valid JSON"):
        read_pairs(path)
    with pytest.raises(TrainingDataError, match="file not found"):
        read_pairs(tmp_path / "missing.jsonl")


def test_saved_model_loads_with_identical_scores(tmp_path: Path, tiny_dataset: Dataset) -> None:
    embedder = WordHashEmbedder(model_id="word-hash-roundtrip")
    model = fine_tune(
        embedder,
        EXPORT_ROWS,
        cache_dir=tmp_path / "cache",
        progress=False,
        data_range="2025-05-01..2025-05-31",
        epochs=5,
        learning_rate=0.05,
        batch_size=4,
        output_dir=tmp_path / "model",
    )
    assert not np.allclose(model.adapter.matrix, np.eye(32))
    loaded = load_model(
        tmp_path / "model",
        base_model=WordHashEmbedder(model_id="word-hash-roundtrip"),
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    corpus, queries = tiny_dataset.document_texts(), dict(tiny_dataset.queries)
    model.index(corpus)
    loaded.index(corpus)
    assert loaded.search_with_scores(queries) == model.search_with_scores(queries)
    np.testing.assert_array_equal(loaded.adapter.matrix, model.adapter.matrix)
    assert loaded.card == json.loads(json.dumps(model.card))


def test_model_card_records_data_settings_and_evaluation(
    tmp_path: Path, tiny_dataset: Dataset
) -> None:
    fine_tune(
        WordHashEmbedder(),
        EXPORT_ROWS,
        eval_dataset=tiny_dataset,
        cache_dir=None,
        progress=False,
        data_range="2025-05-01..2025-05-31",
        output_dir=tmp_path / "model",
        epochs=2,
    )
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["base_model_id"] == "word-hash-32"
    assert card["data"] == {
        "range": "2025-05-01..2025-05-31",
        "pairs": 3,
        "pairs_with_hard_negative": 2,
        "pairs_without_hard_negative": 1,
        "queries": 3,
        "total_weight": 3.5,
    }
    assert card["options"]["epochs"] == 2
    assert card["adapter"] == "full"
    assert card["evaluation"]["dataset"] == "tiny"
    assert set(card["evaluation"]["deltas"]) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
    readme = (tmp_path / "model" / "README.md").read_text()
    assert "2 with a hard negative, 1 without" in readme
    assert "| ndcg@10 |" in readme
    assert (tmp_path / "model" / "adapter.npy").is_file()


def test_registered_names_resolve_on_training_and_loading(tmp_path: Path) -> None:
    register_embedder("word-hash-test", WordHashEmbedder, replace=True)
    fine_tune("word-hash-test", EXPORT_ROWS, cache_dir=None, progress=False, output_dir=tmp_path)
    loaded = FineTunedModel.load(tmp_path, cache_dir=None)
    assert loaded.card["base_model"] == "word-hash-test"
    assert loaded.model_id == "word-hash-32"


def test_loading_on_another_base_model_is_refused(tmp_path: Path) -> None:
    fine_tune(WordHashEmbedder(), EXPORT_ROWS, cache_dir=None, progress=False, output_dir=tmp_path)
    with pytest.raises(ConfigError, match="trained on 'word-hash-32'"):
        load_model(tmp_path, base_model=WordHashEmbedder(model_id="other"), cache_dir=None)
    with pytest.raises(UnknownModelError, match="known:"):
        load_model(tmp_path, cache_dir=None)  # the card names an unregistered embedder
    with pytest.raises(DatasetError, match=r"model_card\.json: file not found"):
        load_model(tmp_path / "nowhere")


def test_unknown_options_and_names_are_errors() -> None:
    with pytest.raises(ConfigError, match="known:"):
        fine_tune(WordHashEmbedder(), EXPORT_ROWS, cache_dir=None, epoch=3)
    with pytest.raises(UnknownModelError, match="register_embedder"):
        fine_tune("openai/text-embedding-3-small", EXPORT_ROWS, cache_dir=None)
