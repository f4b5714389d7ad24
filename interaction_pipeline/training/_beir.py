"""Datasets in the BEIR layout: read, write and split them.

The layout is the de-facto standard for retrieval test collections (``corpus.jsonl``,
``queries.jsonl``, ``qrels/<split>.tsv``), so any BEIR dataset and our own conversions load
the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from interaction_pipeline.training.errors import DatasetError

Qrels = Mapping[str, Mapping[str, int]]
"""query id -> {document id: graded relevance}; a grade > 0 means relevant."""


@dataclass(frozen=True)
class Document:
    """One corpus entry; the title is kept apart because retrievers join it differently."""

    title: str
    text: str

    def full_text(self) -> str:
        """Title and text as one string, the way BEIR feeds sentence embedders."""
        return f"{self.title} {self.text}".strip() if self.title else self.text


@dataclass(frozen=True)
class Dataset:
    """Corpus, queries and graded judgements of one split."""

    corpus: Mapping[str, Document]
    queries: Mapping[str, str]
    qrels: Qrels
    name: str = ""
    split: str = "test"
    _texts: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def document_texts(self) -> dict[str, str]:
        """Document id -> the text embedders see (title + text), computed once."""
        if not self._texts:
            self._texts.update({i: d.full_text() for i, d in self.corpus.items()})
        return self._texts

    def judged_queries(self) -> dict[str, str]:
        """Queries with at least one relevant document: the ones metrics are computed on."""
        return {
            q: t
            for q, t in self.queries.items()
            if any(g > 0 for g in self.qrels.get(q, {}).values())
        }

    def subset(self, query_ids: Iterable[str], name: str | None = None) -> Dataset:
        """The same corpus with only the given queries (for train/held-out splits)."""
        keep = [q for q in query_ids if q in self.queries]
        return Dataset(
            corpus=self.corpus,
            queries={q: self.queries[q] for q in keep},
            qrels={q: self.qrels[q] for q in keep if q in self.qrels},
            name=self.name if name is None else name,
            split=self.split,
        )


def load_beir(directory: str | Path, split: str = "test") -> Dataset:
    """Read a BEIR folder; errors name the missing file or the bad line."""
    root = Path(directory)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory (expected a BEIR dataset folder)")
    corpus = {
        _required(rec, "_id", path, n): Document(
            title=str(rec.get("title") or ""), text=_required(rec, "text", path, n)
        )
        for path, n, rec in _jsonl(root / "corpus.jsonl")
    }
    queries = {
        _required(rec, "_id", path, n): _required(rec, "text", path, n)
        for path, n, rec in _jsonl(root / "queries.jsonl")
    }
    qrels = _read_qrels(root / "qrels" / f"{split}.tsv", queries)
    return Dataset(corpus=corpus, queries=queries, qrels=qrels, name=root.name, split=split)


def write_beir(dataset: Dataset, directory: str | Path) -> Path:
    """Write a dataset in the BEIR layout (used by converters and test fixtures)."""
    root = Path(directory)
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for doc_id, doc in dataset.corpus.items():
            rec = {"_id": doc_id, "title": doc.title, "text": doc.text}
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as out:
        for query_id, text in dataset.queries.items():
            out.write(json.dumps({"_id": query_id, "text": text}, ensure_ascii=False) + "\n")
    with (root / "qrels" / f"{dataset.split}.tsv").open("w", encoding="utf-8") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for query_id, docs in dataset.qrels.items():
            for doc_id, grade in docs.items():
                out.write(f"{query_id}\t{doc_id}\t{grade}\n")
    return root


def _jsonl(path: Path) -> Iterator[tuple[Path, int, dict[str, object]]]:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (a BEIR folder needs it)")
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            if not isinstance(record, dict):
                raise DatasetError(f"{path}:{number}: expected a JSON object")
            yield path, number, record


def _required(record: Mapping[str, object], key: str, path: Path, number: int) -> str:
    value = record.get(key)
    if value is None:
        raise DatasetError(f"{path}:{number}: missing field {key!r}")
    return str(value)


def _read_qrels(path: Path, queries: Mapping[str, str]) -> dict[str, dict[str, int]]:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (qrels of the requested split)")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.rstrip("\n").split("\t")
            if number == 1 and fields[0] == "query-id":
                continue
            if not line.strip():
                continue
            if len(fields) != 3:
                raise DatasetError(
                    f"{path}:{number}: expected 3 tab-separated fields "
                    f"(query-id, corpus-id, score), got {len(fields)}"
                )
            query_id, doc_id, score = fields
            try:
                grade = int(float(score))
            except ValueError as exc:
                raise DatasetError(
                    f"{path}:{number}: score must be a number, got {score!r}"
                ) from exc
            qrels.setdefault(query_id, {})[doc_id] = grade
    known = {q: docs for q, docs in qrels.items() if q in queries}
    if qrels and not known:
        raise DatasetError(
            f"{path}: none of its {len(qrels)} query ids is in queries.jsonl "
            f"(first: {next(iter(qrels))!r}); do the two files number queries the same way?"
        )
    # Judged documents missing from the corpus stay: they count as relevant-but-unretrievable,
    # as in pytrec_eval. Judgements of unknown queries are dropped, as BEIR's loader does.
    return known
