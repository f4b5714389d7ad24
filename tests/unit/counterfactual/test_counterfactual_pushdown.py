"""The SQL path's arithmetic without a database: sums -> the numpy path's intervals, the
order-key guard, the folds the SQL and numpy share, and the Evaluator's fold override."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from interaction_pipeline.counterfactual import (
    ESTIMATORS,
    Evaluator,
    LoggedSearches,
    SqlOrder,
    md5_folds,
)
from interaction_pipeline.counterfactual._estimators import _from_terms
from interaction_pipeline.counterfactual._pushdown import from_sums, statement
from schemas.errors import InvalidArgumentError

pytestmark = pytest.mark.unit


def _row(terms: dict[str, np.ndarray], logged: np.ndarray, repeated: int = 0) -> dict[str, float]:
    row: dict[str, float] = {
        "n": logged.size,
        "repeated": repeated,
        "logged_sum": logged.sum(),
        "logged_sq": (logged**2).sum(),
        "slot_exam": 4.0,
        "supported_exam": 3.0,
        "slots": 10,
        "supported_slots": 9,
        "changed": logged.size // 2,
        "w_sum": 10.0,
        "w_sq": 20.0,
        "pooled_sum": 10.0,
        "pooled_sq": 10.0,
    }
    for e, t in terms.items():
        row |= {
            f"{e}_sum": t.sum(),
            f"{e}_sq": (t**2).sum(),
            f"{e}_diff": (t - logged).sum(),
            f"{e}_diff_sq": ((t - logged) ** 2).sum(),
        }
    return row


def test_sums_give_the_numpy_paths_intervals() -> None:
    rng = np.random.default_rng(3)
    logged = rng.poisson(1.0, 500).astype(np.float64)
    terms = {e: logged * rng.uniform(0.5, 1.5, 500) for e in ESTIMATORS}
    got = from_sums("c", "clicks", _row(terms, logged))
    for e in ESTIMATORS:
        want = _from_terms(e, "clicks", terms[e])
        diff = _from_terms(e, "clicks", terms[e] - logged)
        for field in ("value", "std_error", "low", "high"):
            assert getattr(got.estimates[e], field) == pytest.approx(getattr(want, field))
            assert getattr(got.differences[e], field) == pytest.approx(getattr(diff, field))
    assert got.logged == pytest.approx(logged.mean())
    assert got.support == 0.75 and got.support_slots == 0.9 and got.changed_share == 0.5
    assert got.ess == {"ips": 0.5, "snips": 1.0}


def test_lists_that_repeat_a_document_are_refused() -> None:
    logged = np.ones(3)
    with pytest.raises(InvalidArgumentError, match="repeat a document"):
        from_sums("c", "clicks", _row(dict.fromkeys(ESTIMATORS, logged), logged, repeated=1))


@pytest.mark.parametrize("key", ["pos; DROP TABLE x", "pos -- x", "(SELECT 1)", " ", "/* */"])
def test_order_key_must_be_one_expression(key: str) -> None:
    with pytest.raises(InvalidArgumentError, match="key"):
        SqlOrder("bad", key)


def test_the_key_replaces_the_logged_order() -> None:
    sql = statement(SqlOrder("reversed", "-pos"))
    assert "(pos, doc) -> ((-pos), pos)" in sql and "order key" not in sql.split("WITH", 1)[1]


def test_folds_are_md5_of_the_query_id() -> None:
    ids = [f"q_{i}" for i in range(200)]
    folds = md5_folds(pa.array(ids))
    assert list(folds) == [hashlib.md5(q.encode()).digest()[0] % 2 for q in ids]
    assert 60 < folds.sum() < 140
    assert np.array_equal(md5_folds(ids), folds)


def test_evaluator_takes_given_folds() -> None:
    shown = np.array([[0, 1], [1, 0], [0, 1]], dtype=np.int32)
    clicks = np.array([[1, 0], [0, 1], [0, 0]], dtype=np.uint8)
    logs = LoggedSearches(
        query=np.zeros(3, dtype=np.int32), timestamp_ms=np.zeros(3, dtype=np.int64),
        shown=shown, clicks=clicks, conversions=np.zeros_like(clicks),
        reward=clicks.astype(np.float32), docs=pa.array(["A", "B"]), queries=pa.array(["q"]),
    )  # fmt: skip
    fold = np.array([1, 0, 1])
    assert np.array_equal(Evaluator(logs, np.array([1.0, 0.5]), fold=fold).fold, fold)
    with pytest.raises(InvalidArgumentError, match="fold"):
        Evaluator(logs, np.array([1.0, 0.5]), fold=np.zeros(2, dtype=np.int64))
