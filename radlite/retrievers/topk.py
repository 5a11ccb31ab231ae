"""The one top-k rule every retriever and backend uses: highest score first, ties by passage id
(so the local index, Qdrant and shards order tied passages the same way)."""

from __future__ import annotations

import numpy as np


def top_k(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best `k` of `ids` by `scores` (same length): (ids int64, scores float32), best first,
    ties broken by the lower id. O(n) selection, then a sort of the k kept."""
    ids, scores = np.asarray(ids), np.asarray(scores)
    if len(ids) == 0 or k <= 0:
        return ids[:0].astype(np.int64), scores[:0].astype(np.float32)
    k = min(k, len(ids))
    part = np.argpartition(-scores, k - 1)[:k] if k < len(ids) else np.arange(len(ids))
    order = part[np.lexsort((ids[part], -scores[part]))]
    return ids[order].astype(np.int64), scores[order].astype(np.float32)


def merge(hits: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best `k` of several (ids, scores) lists, by the same rule (a scatter-gather's gather)."""
    if not hits:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    return top_k(
        np.concatenate([h[0] for h in hits]).astype(np.int64),
        np.concatenate([h[1] for h in hits]).astype(np.float32),
        k,
    )
