"""Training export on the hand-built dataset (tests/analytics_support.py: `hand_dataset`).

Worked out by hand for r1 (strengths: click 1, long_view 2, purchase 5; long_view added at a
dwell of 4 s or more):

  red shoes  A: S2 click (1 s) 1, S8 click (8 s) 2, S8 purchase 5; S2 return   -> +3 -1, w 8
             B: S1 click (10 s) 2, S1 purchase 5; S2 skip                      -> +2 -1, w 7
             C: S2 click (5 s) 2                                               -> +1,    w 2
             D: S3 negative_feedback                                           -> explicit neg.
  blue hat   E: S9 click 1 (and shown above S4's click on F)                   -> +1,    w 1
             F: S4 click 1                                                     -> +1,    w 1
With the prior 1/(position+1) as propensity, A's clicks are at 0 (x1), B's at 1 (x2), C's at 2
(x3), F's at 1 (x2): weights A 8, B 14, C 6, E 1, F 2.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from interaction_pipeline.analytics import (
    Analytics,
    BiasEstimate,
    DateRange,
    ExportOptions,
    TextLookup,
)
from sinks import ClickHouseBackend
from tests.analytics_support import chdb_settings, hand_dataset, insert_events, migrated_backend

pytestmark = pytest.mark.integration

RANGE = DateRange.parse("2025-01-01..2025-01-14")
PRIOR = BiasEstimate.prior_only(50)


@pytest.fixture(scope="module")
def analytics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Analytics]:
    settings = chdb_settings(tmp_path_factory.mktemp("export") / "chdb")
    backend: ClickHouseBackend = migrated_backend(settings)
    try:
        insert_events(backend, hand_dataset())
        yield Analytics(backend, settings)
    finally:
        backend.close()


def _options(**kwargs: object) -> ExportOptions:
    base: dict[str, object] = {"retriever": "r1", "min_interactions": 1, "skip_margin": 1}
    return ExportOptions(RANGE, **(base | kwargs))  # type: ignore[arg-type]


def _rows(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_positives_negatives_and_weights_without_ipw(analytics: Analytics) -> None:
    pairs = list(analytics.exporter(_options(ipw=False)).pairs())
    got = [(p.query, p.positive_id, p.negative_id, p.negative_source, p.weight) for p in pairs]
    assert got == [
        ("blue hat", "E", None, None, 1.0),  # tie with F: more skipped-above evidence first
        ("blue hat", "F", None, None, 1.0),
        ("red shoes", "A", "D", "explicit", 8.0),
        ("red shoes", "B", "D", "explicit", 7.0),
        ("red shoes", "C", "D", "explicit", 2.0),
    ]
    a = pairs[2]
    assert (a.positive_events, a.negative_events, a.conversions, a.long_views) == (3, 1, 1, 1)
    assert a.strength == 5.0
    assert a.mean_position == pytest.approx(0.0)
    assert pairs[3].mean_position == pytest.approx(1.0)


def test_inverse_propensity_weights_and_clipping(analytics: Analytics) -> None:
    pairs = list(analytics.exporter(_options(), bias=PRIOR).pairs())
    weights = {(p.query, p.positive_id): p.weight for p in pairs}
    assert weights == pytest.approx(
        {
            ("red shoes", "B"): 14.0,
            ("red shoes", "A"): 8.0,
            ("red shoes", "C"): 6.0,
            ("blue hat", "F"): 2.0,
            ("blue hat", "E"): 1.0,
        }
    )
    assert [p.positive_id for p in pairs] == ["F", "E", "B", "A", "C"]  # by weight per query
    clipped = {p.positive_id: p for p in analytics.exporter(_options(clip=2.5), PRIOR).pairs()}
    assert clipped["C"].weight == pytest.approx(5.0)  # 2 x min(3, 2.5)
    assert clipped["C"].clipped_events == 1
    assert clipped["B"].clipped_events == 0


def test_min_interactions_and_date_range(analytics: Analytics) -> None:
    pairs = list(analytics.exporter(_options(ipw=False, min_interactions=2)).pairs())
    assert [(p.positive_id, p.negative_id) for p in pairs] == [("A", "D"), ("B", "D")]
    week_one = ExportOptions(
        DateRange.parse("2025-01-01..2025-01-07"), retriever="r1", min_interactions=1, ipw=False
    )
    assert [p.positive_id for p in analytics.exporter(week_one).pairs()] == ["E", "A"]


def test_skip_above_negatives_need_the_margin(analytics: Analytics) -> None:
    # r2: S11 showed Y above the clicked A; Y was never engaged with for "red shoes".
    pairs = list(analytics.exporter(_options(retriever="r2", ipw=False)).pairs())
    assert [(p.positive_id, p.negative_id, p.negative_source) for p in pairs] == [
        ("A", "Y", "skip_above")
    ]
    strict = list(analytics.exporter(_options(retriever="r2", ipw=False, skip_margin=2)).pairs())
    assert [(p.positive_id, p.negative_id) for p in strict] == [("A", None)]


def test_full_layout_jsonl_with_texts(analytics: Analytics, tmp_path: Path) -> None:
    texts = tmp_path / "texts.jsonl"
    texts.write_bytes(
        b"".join(orjson.dumps({"id": d, "text": f"text of {d}"}) + b"\n" for d in "ABDEF")
    )
    out = tmp_path / "pairs.jsonl"
    summary = analytics.export_training(
        out, _options(), bias=PRIOR, texts=TextLookup.from_jsonl(texts)
    )
    rows = _rows(out)
    assert [r["positive_id"] for r in rows] == ["F", "E", "B", "A", "C"]
    b = rows[2]
    assert (b["positive_text"], b["negative_text"]) == ("text of B", "text of D")
    assert rows[4]["positive_text"] is None  # C has no text: kept, text left empty
    assert b["propensity"] == pytest.approx(0.5)
    assert b["ipw"] == pytest.approx(2.0)
    assert (summary.queries, summary.pairs, summary.rows) == (2, 5, 5)
    assert (summary.explicit_negatives, summary.skip_above_negatives) == (1, 0)
    assert summary.pairs_without_negative == 2
    assert summary.weights["sum"] == pytest.approx(31.0)
    w = [14.0, 8.0, 6.0, 2.0, 1.0]
    assert summary.effective_sample_size == pytest.approx(sum(w) ** 2 / sum(x * x for x in w))
    # IPW factors of the 8 positive events: A 1,1,1; B 2,2; C 3; E 1; F 2.
    ipw = [1, 1, 1, 2, 2, 3, 1, 2]
    assert summary.ipw_effective_sample_size == pytest.approx(
        sum(ipw) ** 2 / sum(x * x for x in ipw)
    )


def test_parquet_full_layout_has_every_column(analytics: Analytics, tmp_path: Path) -> None:
    out = tmp_path / "pairs.parquet"
    analytics.export_training(out, _options(ipw=False))
    table = pq.read_table(out)
    assert table.column_names == [
        "query",
        "positive_id",
        "positive_text",
        "negative_id",
        "negative_text",
        "negative_source",
        "weight",
        "strength",
        "ipw",
        "propensity",
        "mean_position",
        "positive_events",
        "conversions",
        "long_views",
        "negative_events",
        "clipped_events",
        "relevance",
        "negative_relevance",
        "examinations",
        "negative_examinations",
    ]
    assert table.num_rows == 5


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_sentence_transformers_layout(analytics: Analytics, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"st.{suffix}"
    options = _options(layout="sentence-transformers", seed=3, st_rows=200)
    summary = analytics.export_training(out, options, bias=PRIOR)
    if suffix == "parquet":
        table = pq.read_table(out)
        assert table.column_names == ["anchor", "positive", "negative"]
        rows = table.to_pylist()
    else:
        rows = _rows(out)
        assert all(list(r) == ["anchor", "positive", "negative"] for r in rows)
    # Only red shoes has a hard negative; blue hat's pairs are left out and said to be.
    assert {(r["anchor"], r["negative"]) for r in rows} == {("red shoes", "D")}
    assert summary.pairs_without_negative == 2
    assert summary.rows == len(rows)
    # Resampling follows the weights: 200 draws over blue hat 3 and red shoes 28 of 31
    # weight; B (14) is drawn more often than C (6).
    counts = {d: sum(r["positive"] == d for r in rows) for d in "ABC"}
    assert counts["B"] > counts["C"]
    again = tmp_path / f"again.{suffix}"
    analytics.export_training(again, options, bias=PRIOR)
    assert again.read_bytes() == out.read_bytes()  # seeded


def test_sentence_transformers_layout_resolves_texts(analytics: Analytics, tmp_path: Path) -> None:
    texts = TextLookup({"A": "alpha", "B": "beta", "D": "delta"})
    out = tmp_path / "st.jsonl"
    summary = analytics.export_training(
        out, _options(layout="sentence-transformers", st_rows=100), bias=PRIOR, texts=texts
    )
    rows = _rows(out)
    assert {r["positive"] for r in rows} <= {"alpha", "beta"}
    assert {r["negative"] for r in rows} == {"delta"}
    assert summary.unresolved_texts > 0  # C has no text: its draws are skipped and counted


def test_seed_api_name(analytics: Analytics) -> None:
    pairs = list(analytics.get_query_document_pairs(RANGE, min_interactions=2, ipw=False))
    # Every retriever: red shoes A (r1, r2), and r3's green sofa G (click + purchase) with H
    # as explicit negative (one skip against one click: rejection at least as often); green
    # sofa has no search events, so the event rules decide alone. Red shoes' B has two
    # positive events (a click and a purchase in S1) but was clicked in 1 of its 4 showings:
    # with ipw off its shrunk click rate (1 + 3 x 6/19) / (4 + 3) = 0.28 is below the query's
    # 6 clicks in 19 impressions (0.32) on 4 >= positive_min_examinations showings: dropped.
    assert {(p.query, p.positive_id, p.negative_id) for p in pairs} == {
        ("green sofa", "G", "H"),
        ("red shoes", "A", "D"),
    }
    a = next(p for p in pairs if p.positive_id == "A")
    assert a.relevance == pytest.approx((4 + 3 * 6 / 19) / (6 + 3))  # 4 clicks in 6 showings
    assert (a.examinations, a.negative_examinations) == (6.0, 4.0)  # ipw off: showings
    thin = ExportOptions(RANGE, min_interactions=2, ipw=False, positive_min_examinations=5)
    kept = {p.positive_id for p in analytics.exporter(thin).pairs() if p.query == "red shoes"}
    assert kept == {"A", "B"}  # 4 showings are too few to overrule B's engagement there
