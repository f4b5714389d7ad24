"""Convert the Cranfield 1400 collection (SMART format) to the BEIR layout.

Two quirks make naive conversions silently wrong: the query numbers in ``cranqrel`` are the
query's position (1..225) in ``cran.qry``, not its ``.I`` id, and grades are "lower is better"
(1 = complete answer ... 4 = minimal interest, -1 = no interest). Queries therefore get their
position as BEIR id (the original ``.I`` is kept in the query's metadata) and grades map to
gains 1->4, 2->3, 3->2, 4->1, -1->0, with zero-gain judgements dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from interaction_pipeline.training._beir import Dataset, Document, write_beir
from interaction_pipeline.training.errors import DatasetError

GRADE_TO_GAIN = {1: 4, 2: 3, 3: 2, 4: 1, 5: 0, -1: 0}
"""Cleverdon's codes to BEIR gains (5, "no interest", never occurs but means 0 too)."""

FILES = ("cran.all.1400", "cran.qry", "cranqrel")


def cranfield_to_beir(src_dir: str | Path, out_dir: str | Path) -> Dataset:
    """Read the SMART files in ``src_dir`` and write a BEIR folder to ``out_dir``."""
    src = Path(src_dir)
    for name in FILES:
        if not (src / name).is_file():
            raise DatasetError(f"{src / name}: file not found (a Cranfield folder needs {FILES})")
    corpus = {
        record_id: Document(title=fields.get("T", ""), text=fields.get("W", ""))
        for record_id, fields in _smart_records(src / "cran.all.1400")
    }
    smart_ids: dict[str, str] = {}
    queries: dict[str, str] = {}
    for position, (record_id, fields) in enumerate(_smart_records(src / "cran.qry"), start=1):
        smart_ids[str(position)] = record_id
        queries[str(position)] = fields.get("W", "")
    qrels = _read_cranqrel(src / "cranqrel", corpus, queries)
    dataset = Dataset(corpus=corpus, queries=queries, qrels=qrels, name="cranfield")
    out = write_beir(dataset, out_dir)
    # Keep the SMART query ids next to the BEIR ids (BEIR allows a metadata object).
    with (out / "queries.jsonl").open("w", encoding="utf-8") as lines:
        for query_id, text in queries.items():
            record = {"_id": query_id, "text": text, "metadata": {"smart_id": smart_ids[query_id]}}
            lines.write(json.dumps(record) + "\n")
    return dataset


def _smart_records(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """Yield (id, {field letter: text}) per ``.I`` record; field text is whitespace-joined."""
    record_id: str | None = None
    fields: dict[str, list[str]] = {}
    current: str | None = None
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, raw in enumerate(lines, start=1):
            line = raw.rstrip("\n")
            if line.startswith(".I"):
                if record_id is not None:
                    yield record_id, _joined(fields)
                parts = line.split()
                if len(parts) != 2 or not parts[1].isdigit():
                    raise DatasetError(f"{path}:{number}: expected '.I <number>', got {line!r}")
                record_id, fields, current = str(int(parts[1])), {}, None
            elif len(line) == 2 and line[0] == "." and line[1].isalpha():
                if record_id is None:
                    raise DatasetError(f"{path}:{number}: field {line!r} before the first .I")
                current = line[1]
                fields.setdefault(current, [])
            elif current is not None:
                fields[current].append(line)
            elif line.strip():
                raise DatasetError(f"{path}:{number}: text outside a field: {line[:40]!r}")
    if record_id is not None:
        yield record_id, _joined(fields)


def _joined(fields: dict[str, list[str]]) -> dict[str, str]:
    return {key: " ".join(" ".join(lines).split()) for key, lines in fields.items()}


def _read_cranqrel(
    path: Path, corpus: dict[str, Document], queries: dict[str, str]
) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3 or not all(p.lstrip("-").isdigit() for p in parts):
                raise DatasetError(f"{path}:{number}: expected 'query doc grade', got {line!r}")
            query_id, doc_id, grade = str(int(parts[0])), str(int(parts[1])), int(parts[2])
            if grade not in GRADE_TO_GAIN:
                raise DatasetError(f"{path}:{number}: unknown grade {grade} (known: 1-5, -1)")
            if query_id not in queries:
                raise DatasetError(
                    f"{path}:{number}: query {query_id} is not a position in cran.qry "
                    f"(1..{len(queries)})"
                )
            if doc_id not in corpus:
                raise DatasetError(f"{path}:{number}: document {doc_id} not in cran.all.1400")
            gain = GRADE_TO_GAIN[grade]
            if gain > 0:
                docs = qrels.setdefault(query_id, {})
                docs[doc_id] = max(gain, docs.get(doc_id, 0))
    return qrels
