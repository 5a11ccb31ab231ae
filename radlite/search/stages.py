"""First stage: each signal's own ranking, and the scores of any passage under each signal.

These functions are the seam between the search and where the signals live: they ask the
index's backend (radlite.backends), so everything after them (pooling, reranking, fusion) is
the same code for every backend."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radlite.index import SearchIndex


@dataclass
class QueryVectors:
    """One query as each signal reads it: its text (BM25) and its encodings."""

    text: str
    biencoder: np.ndarray | None = None  # (d,) float32, L2-normalised
    colbert: np.ndarray | None = None  # (Lq, 128) float32
    _bm25: np.ndarray | None = field(default=None, repr=False)  # a local backend's BM25 of every passage


def retrieve(
    index: SearchIndex, q: QueryVectors, signal: str, depth: int, category: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Top `depth` passages of one signal: (passage ids int64, raw scores float32), best first,
    ties by passage id. `category` restricts the search to one category's documents."""
    return index.backend.retrieve(index, q, signal, depth, category)


def score_passages(index: SearchIndex, q: QueryVectors, signal: str, pids: np.ndarray) -> np.ndarray:
    """Raw score (float32) of the given passages under one signal (exact for all three)."""
    return index.backend.score(index, q, signal, np.asarray(pids, dtype=np.int64))


def unique_docs(index: SearchIndex, pids: np.ndarray, limit: int) -> np.ndarray:
    """Documents in order of their best passage, at most `limit`."""
    docs = index.passage_doc(pids)
    _, first = np.unique(docs, return_index=True)
    return docs[np.sort(first)][:limit]
