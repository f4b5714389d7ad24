"""`interactions evaluate / fine-tune / lift / dataset`: options, output and errors, on a
generated dataset with a fake embedder (no model, no services)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interaction_pipeline.cli.main import app
from interaction_pipeline.lift import write_synthetic
from interaction_pipeline.training import register_embedder
from tests.unit.training.conftest import WordHashEmbedder

pytestmark = pytest.mark.unit

MODEL = "word-hash-cli"


@pytest.fixture(autouse=True)
def fake_model() -> None:
    register_embedder(MODEL, WordHashEmbedder, replace=True)


@pytest.fixture
def beir(tmp_path: Path) -> Path:
    return write_synthetic(tmp_path / "syn", products=4)


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    # Rich wraps long lines at the terminal's width; compare words, not line breaks.
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def _pairs(path: Path) -> Path:
    rows = [
        {"query": f"{n} help", "positive_text": f"Repair instructions for the {n}", "weight": 1}
        for n in ("bicycle", "kettle", "laptop", "camera", "blender", "tent")
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_evaluate_prints_metrics_as_json(beir: Path, tmp_path: Path) -> None:
    code, out, _ = _run(
        "evaluate",
        "--dataset",
        str(beir),
        "--model",
        MODEL,
        "--cache-dir",
        str(tmp_path),
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["queries"] == 32
    assert set(result["metrics"]) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}


def test_fine_tune_then_compare_with_intervals(beir: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    code, out, err = _run(
        "fine-tune",
        "--pairs",
        str(_pairs(tmp_path / "pairs.jsonl")),
        "--base-model",
        MODEL,
        "--out",
        str(model_dir),
        "--epochs",
        "2",
        "--cache-dir",
        str(tmp_path),
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["card"]["data"]["pairs"] == 6
    assert (model_dir / "adapter.npy").is_file()
    code, out, err = _run(
        "evaluate",
        "--dataset",
        str(beir),
        "--model",
        MODEL,
        "--compare",
        str(model_dir),
        "--metrics",
        "ndcg@10,mrr@10",
        "--resamples",
        "200",
        "--cache-dir",
        str(tmp_path),
        "--json",
    )
    assert code == 0, err
    deltas = json.loads(out)["deltas"]
    assert set(deltas) == {"ndcg@10", "mrr@10"}
    assert deltas["ndcg@10"]["ci_low"] <= deltas["ndcg@10"]["absolute"]
    # The human table names both systems.
    code, out, _ = _run(
        "evaluate",
        "--dataset",
        str(beir),
        "--model",
        MODEL,
        "--compare",
        str(model_dir),
        "--resamples",
        "200",
        "--cache-dir",
        str(tmp_path),
    )
    assert code == 0 and "model vs word-hash-cli" in out


def test_clear_errors(beir: Path, tmp_path: Path) -> None:
    code, _, err = _run("evaluate", "--dataset", str(tmp_path / "missing"), "--model", MODEL)
    assert code == 1 and "not a directory" in err
    code, _, err = _run("evaluate", "--dataset", str(beir), "--model", "no-such-model")
    assert code == 1 and "unknown model" in err
    code, _, err = _run("fine-tune", "--out", str(tmp_path / "m"), "--base-model", MODEL)
    assert code == 2 and "exactly one of --pairs" in err
    code, _, err = _run(
        "fine-tune", "--from-clickhouse", "--out", str(tmp_path / "m"), "--base-model", MODEL
    )
    assert code == 2 and "--texts" in err
    code, _, err = _run("lift", "--synthetic", "--dataset", str(beir), "--no-stack")
    assert code == 2 and "exactly one of --dataset" in err
    code, _, err = _run("lift", "--dataset", str(beir), "--seeds", "1,1", "--no-stack")
    assert code == 2 and "distinct" in err


def test_dataset_commands_write_beir_folders(tmp_path: Path) -> None:
    code, out, _ = _run("dataset", "synthetic", str(tmp_path / "s"), "--products", "2")
    assert code == 0 and "16 queries" in out
    code, _, err = _run("dataset", "cranfield", str(tmp_path / "nothing"), str(tmp_path / "c"))
    assert code == 1 and "cran.all.1400" in err
