"""Per-query ranking metrics with the standard (pytrec_eval / BEIR) definitions.

Each function scores one query: ``ranking`` is the retrieved document ids best first,
``judged`` the query's qrels ({doc id: grade}). A grade > 0 means relevant; the gain of a
document in nDCG is its grade (linear gains, as pytrec_eval and BEIR use). A document that
appears twice in a ranking counts at its first position only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from interaction_pipeline.training.errors import ConfigError

MetricFn = Callable[[Sequence[str], Mapping[str, int], int], float]


def ndcg_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """DCG of the top k (gain = grade, discount log2(rank + 1)) over the ideal DCG."""
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    if idcg == 0:
        return 0.0
    dcg = sum(
        max(judged.get(doc, 0), 0) / math.log2(i + 2) for i, doc in enumerate(_top(ranking, k))
    )
    return dcg / idcg


def recall_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """Relevant documents in the top k over all relevant documents of the query."""
    relevant = {doc for doc, g in judged.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_top(ranking, k))) / len(relevant)


def mrr_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """1 / rank of the first relevant document in the top k, 0 if there is none."""
    for i, doc in enumerate(_top(ranking, k)):
        if judged.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


METRICS: dict[str, MetricFn] = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k}


def parse_metric(name: str) -> tuple[MetricFn, int]:
    """``"ndcg@10"`` -> (ndcg_at_k, 10); the error lists what is understood."""
    base, _, cutoff = name.partition("@")
    if base not in METRICS or not cutoff.isdigit() or int(cutoff) < 1:
        raise ConfigError(f"unknown metric {name!r}: use <{'|'.join(METRICS)}>@<k>, e.g. ndcg@10")
    return METRICS[base], int(cutoff)


def _top(ranking: Sequence[str], k: int) -> list[str]:
    """The first k distinct ids, so a repeated id cannot earn gain twice."""
    seen: set[str] = set()
    top: list[str] = []
    for doc in ranking:
        if doc not in seen:
            seen.add(doc)
            top.append(doc)
            if len(top) == k:
                break
    return top
