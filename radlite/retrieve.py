"""First stage: each signal's own ranking, and the scores of any passage under each signal.

These two functions are the seam between the pipeline and where the signals live: an index with
a remote backend (`index.remote`, e.g. radlite.index.qdrant.QdrantSignals) answers both itself;
otherwise the index's own parts (BM25, dense, ColBERT) answer here. Everything after them
(pooling, reranking, fusion) is the same code for every backend."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radlite.index import SearchIndex
from radlite.index.linalg import matmul_t


@dataclass
class QueryVectors:
    text: str
    biencoder: np.ndarray | None = None  # (d,)
    colbert: np.ndarray | None = None  # (Lq, 128)
    _bm25: np.ndarray | None = field(default=None, repr=False)


def bm25_scores(index: SearchIndex, q: QueryVectors) -> np.ndarray:
    if index.remote is not None:
        raise ValueError("BM25 scores of every passage exist only for the local backend")
    if q._bm25 is None:
        q._bm25 = index.bm25.scores(q.text)
    return q._bm25


def retrieve(index: SearchIndex, q: QueryVectors, signal: str, depth: int,
             category: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top `depth` passages of one signal: (passage ids, raw scores), best first.

    `category` restricts the search to one category's documents: exact for BM25 and the
    bi-encoder; the local ColBERT index searches deeper and keeps the allowed passages.
    """
    if index.remote is not None:
        return index.remote.search(index, q, signal, depth, category)
    allowed = None if category is None else index.category_mask(category)
    if signal == "colbert":
        cfg = index.config.colbert
        deeper = depth if allowed is None else depth * 4
        pids, scores = index.colbert.search(q.colbert, deeper, nprobe=cfg.nprobe, rescore=max(cfg.rescore, deeper))
        if allowed is not None:
            ok = allowed[pids]
            pids, scores = pids[ok][:depth], scores[ok][:depth]
        return pids, scores
    if signal == "bm25":
        scores = bm25_scores(index, q)
        hits = scores > 0  # BM25 retrieves only passages sharing a query term
    elif signal == "biencoder":
        scores = index.dense.scores(q.biencoder)
        hits = np.ones(len(scores), dtype=bool)
    else:
        raise ValueError(f"unknown first-stage signal {signal!r}")
    ids = np.flatnonzero(hits if allowed is None else hits & allowed)
    return _top(ids, scores[ids], depth)


def score_passages(index: SearchIndex, q: QueryVectors, signal: str, pids: np.ndarray) -> np.ndarray:
    """Raw score of the given passages under one signal (exact for all three)."""
    if index.remote is not None:
        return index.remote.score(index, q, signal, np.asarray(pids, dtype=np.int64))
    if signal == "colbert":
        return index.colbert.score(q.colbert, pids)
    if signal == "bm25":
        return bm25_scores(index, q)[pids]
    if signal == "biencoder":
        return matmul_t(q.biencoder, np.take(index.dense.embeddings, pids, axis=0))
    raise ValueError(f"unknown first-stage signal {signal!r}")


def unique_docs(index: SearchIndex, pids: np.ndarray, limit: int) -> np.ndarray:
    """Documents in order of their best passage, at most `limit`."""
    docs = index.passage_doc(pids)
    _, first = np.unique(docs, return_index=True)
    return docs[np.sort(first)][:limit]


def _top(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if len(ids) == 0 or k <= 0:
        return ids[:0].astype(np.int64), scores[:0].astype(np.float32)
    k = min(k, len(ids))
    part = np.argpartition(-scores, k - 1)[:k]
    order = part[np.lexsort((ids[part], -scores[part]))]
    return ids[order].astype(np.int64), scores[order].astype(np.float32)
