"""On-disk embedding cache keyed by model id and a hash of each text.

Embedding a corpus is the expensive step (minutes on a laptop CPU); training and evaluation
are seconds. Vectors are stored per model in append-only shards (``shard-NNNNNN.npy`` plus a
``.keys`` file of text hashes, one per row), so adding documents embeds and writes only the
new ones, and an interrupted run keeps every finished shard. A shard is visible once its
``.npy`` file exists; both files are written under temporary names and renamed, keys first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from interaction_pipeline.training._embedders import Embedder, Vectors
from interaction_pipeline.training.errors import DatasetError

DEFAULT_CACHE_DIR = Path.home() / ".cache" / "interaction-pipeline" / "embeddings"


def text_key(text: str) -> str:
    """128-bit BLAKE2b of the UTF-8 text: collisions are not a practical concern."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def model_folder_name(model_id: str) -> str:
    """A readable, filesystem-safe folder name that still differs for every model id."""
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "_", model_id)[:80]
    return f"{slug}-{hashlib.sha256(model_id.encode()).hexdigest()[:10]}"


class EmbeddingCache:
    """Vectors of one model by text hash, loaded from and appended to a folder."""

    def __init__(self, directory: str | Path, model_id: str) -> None:
        self.model_id = model_id
        self.folder = Path(directory) / model_folder_name(model_id)
        self._index: dict[str, int] = {}
        self._blocks: list[Vectors] = []
        self._matrix: Vectors | None = None
        self._next_shard = 0
        self._load()

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def get(self, keys: Sequence[str]) -> Vectors:
        """Rows for keys that are all cached (check with ``in`` first)."""
        matrix = self._all()
        return matrix[[self._index[k] for k in keys]]

    def add(self, keys: Sequence[str], vectors: Vectors) -> None:
        """Append one shard (keys already present are skipped)."""
        fresh = [i for i, k in enumerate(keys) if k not in self._index]
        if not fresh:
            return
        keys = [keys[i] for i in fresh]
        vectors = np.ascontiguousarray(vectors[fresh], dtype=np.float32)
        if self._blocks and vectors.shape[1] != self._blocks[0].shape[1]:
            raise DatasetError(
                f"{self.folder}: cached vectors have dimension {self._blocks[0].shape[1]}, "
                f"new ones {vectors.shape[1]}: the model changed without a new model_id"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "model_id.txt").write_text(self.model_id + "\n", encoding="utf-8")
        stem = self.folder / f"shard-{self._next_shard:06d}"
        tmp_keys, tmp_npy = stem.with_suffix(".keys.tmp"), stem.with_suffix(".npy.tmp")
        tmp_keys.write_text("\n".join(keys) + "\n", encoding="utf-8")
        with tmp_npy.open("wb") as out:
            np.save(out, vectors)
        tmp_keys.replace(stem.with_suffix(".keys"))
        tmp_npy.replace(stem.with_suffix(".npy"))
        self._next_shard += 1
        self._append(keys, vectors)

    def _append(self, keys: Sequence[str], vectors: Vectors) -> None:
        start = len(self._index)
        for offset, key in enumerate(keys):
            self._index.setdefault(key, start + offset)
        self._blocks.append(vectors)
        self._matrix = None

    def _all(self) -> Vectors:
        if self._matrix is None:
            self._matrix = (
                np.concatenate(self._blocks) if self._blocks else np.zeros((0, 0), np.float32)
            )
            self._blocks = [self._matrix]
        return self._matrix

    def _load(self) -> None:
        if not self.folder.is_dir():
            return
        for npy in sorted(self.folder.glob("shard-*.npy")):
            keys_path = npy.with_suffix(".keys")
            number = int(npy.stem.removeprefix("shard-"))
            self._next_shard = max(self._next_shard, number + 1)
            if not keys_path.is_file():
                continue
            keys = keys_path.read_text(encoding="utf-8").split()
            vectors = np.load(npy)
            if vectors.ndim != 2 or vectors.shape[0] != len(keys):
                raise DatasetError(
                    f"{npy}: {vectors.shape} rows do not match {len(keys)} keys in {keys_path}; "
                    "delete the shard pair to rebuild it"
                )
            self._append(keys, vectors.astype(np.float32, copy=False))


class CachedEmbedder:
    """An Embedder that serves known texts from the cache and embeds only the rest.

    New texts are embedded in length-sorted chunks (little padding), each chunk saved as a
    shard as soon as it is done; a rich progress bar shows long runs unless silenced.
    """

    def __init__(
        self,
        embedder: Embedder,
        cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
        *,
        chunk_size: int = 256,
        progress: bool = True,
        progress_threshold: int = 512,
    ) -> None:
        self.embedder = embedder
        self.cache = None if cache_dir is None else EmbeddingCache(cache_dir, embedder.model_id)
        self._memory: dict[str, Vectors] = {}
        self.chunk_size = chunk_size
        self.progress = progress
        self.progress_threshold = progress_threshold

    @property
    def model_id(self) -> str:
        """The wrapped embedder's id: caching does not change the vectors."""
        return self.embedder.model_id

    def __call__(self, texts: Sequence[str], description: str = "embedding") -> Vectors:
        keys = [text_key(t) for t in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if not self._known(key):
                missing.setdefault(key, text)
        if missing:
            self._embed_missing(missing, description)
        if not keys:
            return np.zeros((0, 0), dtype=np.float32)
        if self.cache is None:
            return np.stack([self._memory[k] for k in keys])
        return self.cache.get(keys)

    def _known(self, key: str) -> bool:
        return key in self._memory if self.cache is None else key in self.cache

    def _embed_missing(self, missing: dict[str, str], description: str) -> None:
        todo = sorted(missing.items(), key=lambda kv: len(kv[1]))
        show = self.progress and len(todo) >= self.progress_threshold
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            disable=not show,
            transient=False,
        ) as bar:
            task = bar.add_task(f"{description} ({self.model_id})", total=len(todo))
            for start in range(0, len(todo), self.chunk_size):
                chunk = todo[start : start + self.chunk_size]
                vectors = np.asarray(self.embedder([t for _, t in chunk]), dtype=np.float32)
                chunk_keys = [k for k, _ in chunk]
                if self.cache is None:
                    self._memory.update(zip(chunk_keys, vectors, strict=True))
                else:
                    self.cache.add(chunk_keys, vectors)
                bar.advance(task, len(chunk))
