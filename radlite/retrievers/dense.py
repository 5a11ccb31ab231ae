"""Bi-encoder index: one L2-normalised float32 vector per passage, exact dot-product search.

Exact search is kept deliberately: a flat inner product over 100k 384-d vectors costs about what
encoding the query itself does (benchmarks/speed.md), so an approximate structure would buy
nothing at the sizes this serves today.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from radlite.retrievers.linalg import matmul_t

FILE = "embeddings.npy"


class DenseIndex:
    def __init__(self, embeddings: np.ndarray):
        if embeddings.ndim != 2:
            raise ValueError("embeddings must be a 2-d array")
        self.embeddings = embeddings

    @property
    def dim(self) -> int:
        """The vector width d."""
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return int(self.embeddings.shape[0])

    def scores(self, query_vector: np.ndarray) -> np.ndarray:
        """Dot product of the (normalised) query with every passage."""
        return matmul_t(query_vector, self.embeddings)  # in torch, like ColBERT (radlite.retrievers.linalg)

    def scores_of(self, query_vector: np.ndarray, pids: np.ndarray) -> np.ndarray:
        """Dot product of the query with the passages `pids` only."""
        return matmul_t(query_vector, np.take(self.embeddings, pids, axis=0))

    def check(self) -> list[str]:
        """What is wrong with the vectors (not finite, not unit length); [] when sound."""
        e = np.asarray(self.embeddings, dtype=np.float32)
        if not np.all(np.isfinite(e)):
            return ["biencoder: vectors that are not finite"]
        bad = int(np.sum(np.abs(np.linalg.norm(e, axis=1) - 1) > 1e-2))
        return [f"biencoder: {bad} vectors are not unit length"] if bad else []

    def appended(self, more: np.ndarray) -> "DenseIndex":
        """A new index with `more` ((n, d) float32) after these vectors."""
        return DenseIndex(np.concatenate([np.asarray(self.embeddings), more.astype(np.float32)], axis=0))

    def subset(self, keep: np.ndarray) -> "DenseIndex":
        """A new index of the rows `keep` (int64 passage ids), in that order."""
        return DenseIndex(np.asarray(self.embeddings)[keep])

    def save(self, folder: Path) -> None:
        """Write embeddings.npy ((P, d) float32) into `folder` (created)."""
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / FILE, np.ascontiguousarray(self.embeddings, dtype=np.float32))

    @classmethod
    def load(cls, folder: Path) -> "DenseIndex":
        """The index saved in `folder`, memory-mapped."""
        return cls(np.load(folder / FILE, mmap_mode="r"))
