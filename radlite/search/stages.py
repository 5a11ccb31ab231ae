"""First stage: each signal's own ranking, and the scores of any passage under each signal.

These functions are the seam between the search and where the signals live: they ask the
index's backend (radlite.backends), so everything after them (pooling, reranking, fusion) is
the same code for every backend."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from radlite.index import SearchIndex


@dataclass
class QueryVectors:
    """One query as each signal reads it: its text (BM25) and its encodings."""

    text: str
    biencoder: np.ndarray | None = None  # (d,) float32, L2-normalised
    # BM25's weighted stems when query understanding changed the query (radlite.terms); None: tokenize(text)
    bm25_terms: dict[str, float] | None = None
    colbert: np.ndarray | None = None  # (Lq, 128) float32
    _bm25: np.ndarray | None = field(default=None, repr=False)  # a local backend's BM25 of every passage

    def terms(self) -> dict[str, float]:
        """BM25's query: each stem and its weight (its count in the text unless expansion weighted it)."""
        if self.bm25_terms is not None:
            return dict(self.bm25_terms)
        from collections import Counter

        from radlite.retrievers.bm25 import tokenize

        return {t: float(c) for t, c in Counter(tokenize(self.text)).items()}


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


def best_per_doc(docs_of_pids: np.ndarray, pids: np.ndarray, score: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """For each document of `pool` (sorted), its passage with the highest score."""
    order = np.lexsort((-score, docs_of_pids))  # by document, best passage first
    first = np.unique(docs_of_pids[order], return_index=True)[1]
    best = pids[order][first]
    assert len(best) == len(pool)
    return best


def rank_in(ranked_docs: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """1-based rank of each document of `pool` (sorted) in `ranked_docs`, NaN where it is absent."""
    ranks = np.full(len(pool), np.nan)
    pos = np.searchsorted(pool, ranked_docs)
    ranks[pos] = np.arange(1, len(ranked_docs) + 1)
    return ranks


class Timer:
    """Stage times of one search, in milliseconds."""

    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Add the time since the last lap to stage `name`."""
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + (now - self.last) * 1000
        self.last = now

    def done(self) -> dict[str, float]:
        """Every stage's milliseconds, plus the total."""
        self.laps["total"] = (time.perf_counter() - self.start) * 1000
        return self.laps
