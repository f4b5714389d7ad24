"""Dropping a forgotten user's rows from a batch before it is inserted (GDPR suppression).

Vectorised on the batch's Arrow blocks, so a batch costs nothing measurable while no tombstone
exists and a few `is_in` passes while some do; only rows whose id matches a tombstone (or whose
time falls in a purge range) are checked one by one against the tombstone's time range.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from schemas.suppression import ANONYMOUS_PREFIX, USER_PREFIX, Tombstones
from sinks.ddl import COL_ANONYMOUS_ID, COL_TIMESTAMP, COL_USER_ID


def _ids(tombstones: Tombstones, prefix: str) -> pa.Array:
    return pa.array(
        [s[len(prefix) :] for s in tombstones.by_subject if s.startswith(prefix)], pa.string()
    )


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def suppress_block(data: pa.Table, tombstones: Tombstones) -> tuple[pa.Table, Counter[str]]:
    """The block without rows the tombstones cover, and per subject how many went."""
    dropped: Counter[str] = Counter()
    if not tombstones or data.num_rows == 0:
        return data, dropped
    candidates = pc.is_in(data.column(COL_USER_ID), value_set=_ids(tombstones, USER_PREFIX))
    if COL_ANONYMOUS_ID in data.column_names:
        anonymous = _ids(tombstones, ANONYMOUS_PREFIX)
        if len(anonymous):
            candidates = pc.or_(
                candidates, pc.is_in(data.column(COL_ANONYMOUS_ID), value_set=anonymous)
            )
    if tombstones.everyone:
        candidates = pc.or_(candidates, pa.array([True] * data.num_rows))
    if not pc.any(candidates).as_py():
        return data, dropped
    rows = pc.indices_nonzero(candidates).to_pylist()
    users = data.column(COL_USER_ID).take(rows).to_pylist()
    anonymous_ids = (
        data.column(COL_ANONYMOUS_ID).take(rows).to_pylist()
        if COL_ANONYMOUS_ID in data.column_names
        else [""] * len(rows)
    )
    times = data.column(COL_TIMESTAMP).take(rows).to_pylist()
    keep = [True] * data.num_rows
    for row, user, anonymous_id, when in zip(rows, users, anonymous_ids, times, strict=True):
        subject = tombstones.subject_of(user or None, anonymous_id or None, _ms(when))
        if subject is not None:
            keep[row] = False
            dropped[subject] += 1
    if not dropped:
        return data, dropped
    return data.filter(pa.array(keep, pa.bool_())), dropped
