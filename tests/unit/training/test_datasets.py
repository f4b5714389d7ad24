"""BEIR loading (and its error messages) and the Cranfield SMART converter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interaction_pipeline.training import (
    Dataset,
    DatasetError,
    cranfield_to_beir,
    load_beir,
    write_beir,
)

pytestmark = pytest.mark.unit

REAL_CRANFIELD = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "cranfield"


def test_write_then_load_gives_the_same_dataset(tiny_dataset: Dataset, tmp_path: Path) -> None:
    loaded = load_beir(write_beir(tiny_dataset, tmp_path / "tiny"))
    assert loaded.corpus == tiny_dataset.corpus
    assert loaded.queries == tiny_dataset.queries
    assert loaded.qrels == tiny_dataset.qrels
    assert loaded.name == "tiny"
    assert loaded.document_texts()["d4"] == "baking bread needs flour water and salt"
    assert loaded.document_texts()["d1"].startswith("Bread how to bake")


@pytest.mark.parametrize("missing", ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"])
def test_a_missing_file_is_named(tiny_dataset: Dataset, tmp_path: Path, missing: str) -> None:
    folder = write_beir(tiny_dataset, tmp_path / "d")
    (folder / missing).unlink()
    with pytest.raises(DatasetError, match=missing.replace("/", ".")):
        load_beir(folder)


def test_a_missing_split_names_its_qrels_file(tiny_dataset: Dataset, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"qrels.dev\.tsv"):
        load_beir(write_beir(tiny_dataset, tmp_path / "d"), split="dev")


def test_bad_json_and_missing_fields_name_file_and_line(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    folder = write_beir(tiny_dataset, tmp_path / "d")
    lines = (folder / "corpus.jsonl").read_text().splitlines()
    (folder / "corpus.jsonl").write_text("\n".join([lines[0], "{not json", *lines[2:]]) + "\n")
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:2: not valid JSON"):
        load_beir(folder)
    (folder / "corpus.jsonl").write_text(lines[0] + "\n" + json.dumps({"_id": "x"}) + "\n")
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:2: missing field 'text'"):
        load_beir(folder)


def test_malformed_qrels_lines_are_named(tiny_dataset: Dataset, tmp_path: Path) -> None:
    folder = write_beir(tiny_dataset, tmp_path / "d")
    qrels = folder / "qrels" / "test.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\n")
    with pytest.raises(DatasetError, match=r"test\.tsv:2: expected 3 tab-separated fields"):
        load_beir(folder)
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\thigh\n")
    with pytest.raises(DatasetError, match=r"test\.tsv:2: score must be a number"):
        load_beir(folder)


def test_qrels_numbering_queries_differently_is_an_error(
    tiny_dataset: Dataset, tmp_path: Path
) -> None:
    folder = write_beir(tiny_dataset, tmp_path / "d")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n7\td1\t1\n")
    with pytest.raises(DatasetError, match="none of its 1 query ids"):
        load_beir(folder)


def test_subset_keeps_the_corpus_and_the_chosen_queries(tiny_dataset: Dataset) -> None:
    half = tiny_dataset.subset(["q2", "q3", "unknown"])
    assert list(half.queries) == ["q2", "q3"]
    assert set(half.qrels) == {"q2", "q3"}
    assert half.corpus is tiny_dataset.corpus


SMART_DOCS = """.I 1
.T
flow past a plate
.A
someone
.B
j. ae. 1958
.W
flow past a plate .
  a study of
laminar flow .
.I 2
.T
shock waves
.W
shock waves in a tube .
.I 3
.T
heat transfer
.W
heat transfer at high speed .
"""

SMART_QUERIES = """.I 001
.W
what is laminar flow
past a plate .
.I 004
.W
shock tube experiments .
"""

# Positions, not .I ids: query 2 is the one with .I 004.
SMART_QRELS = "1 1 1 \n1 3 4\n2 2 2\n2 3 -1\n"


def write_smart(folder: Path, qrels: str = SMART_QRELS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cran.all.1400").write_text(SMART_DOCS)
    (folder / "cran.qry").write_text(SMART_QUERIES)
    (folder / "cranqrel").write_text(qrels)
    return folder


def test_cranfield_converter_maps_positions_and_grades(tmp_path: Path) -> None:
    dataset = cranfield_to_beir(write_smart(tmp_path / "src"), tmp_path / "beir")
    assert dataset.corpus["1"].title == "flow past a plate"
    assert dataset.corpus["1"].text == "flow past a plate . a study of laminar flow ."
    assert dataset.queries == {
        "1": "what is laminar flow past a plate .",
        "2": "shock tube experiments .",
    }
    assert dataset.qrels == {"1": {"1": 4, "3": 1}, "2": {"2": 3}}
    loaded = load_beir(tmp_path / "beir")
    assert loaded.qrels == dataset.qrels
    assert loaded.queries == dataset.queries
    first = json.loads((tmp_path / "beir" / "queries.jsonl").read_text().splitlines()[1])
    assert first["metadata"] == {"smart_id": "4"}


@pytest.mark.parametrize(
    ("qrels", "message"),
    [
        ("3 1 1\n", "cranqrel:1: query 3 is not a position in cran.qry"),
        ("1 1 1\n1 9 2\n", "cranqrel:2: document 9 not in cran.all.1400"),
        ("1 1 7\n", "cranqrel:1: unknown grade 7"),
        ("1 one 1\n", "cranqrel:1: expected 'query doc grade'"),
    ],
)
def test_cranfield_converter_names_bad_qrels_lines(
    tmp_path: Path, qrels: str, message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        cranfield_to_beir(write_smart(tmp_path / "src", qrels), tmp_path / "beir")


def test_cranfield_converter_names_a_missing_file(tmp_path: Path) -> None:
    src = write_smart(tmp_path / "src")
    (src / "cran.qry").unlink()
    with pytest.raises(DatasetError, match=r"cran\.qry: file not found"):
        cranfield_to_beir(src, tmp_path / "beir")


@pytest.mark.skipif(
    not REAL_CRANFIELD.is_dir(),
    reason=f"shared Cranfield data not found at {REAL_CRANFIELD} (no ../shared in this checkout)",
)
def test_real_cranfield_collection_converts_completely(tmp_path: Path) -> None:
    dataset = cranfield_to_beir(REAL_CRANFIELD, tmp_path / "cranfield")
    loaded = load_beir(tmp_path / "cranfield")
    assert len(loaded.corpus) == 1400
    assert len(loaded.queries) == 225
    # 1,837 judgements, of which 225 are -1 ("no interest", gain 0) and dropped.
    assert sum(len(docs) for docs in loaded.qrels.values()) == 1612
    assert len(loaded.judged_queries()) == 225
    assert loaded.qrels == dataset.qrels
    assert loaded.qrels["1"]["184"] == 3
