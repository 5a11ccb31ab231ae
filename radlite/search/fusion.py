"""Normalisation, calibration and fusion of per-signal scores: pure functions on arrays.

NaN marks "no score" (a signal not active, or a document the reranker did not see).
"""

from __future__ import annotations

import numpy as np


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] over the candidates; a constant signal maps to 0 (it cannot rank them)."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.full(scores.shape, np.nan)
    ok = ~np.isnan(scores)
    if not ok.any():
        return out
    lo, hi = scores[ok].min(), scores[ok].max()
    out[ok] = (scores[ok] - lo) / (hi - lo) if hi > lo else 0.0
    return out


def zscore(scores: np.ndarray) -> np.ndarray:
    """(score - the lowest) / standard deviation over the candidates: a z-score shifted so that the lowest
    candidate is 0 (summed over signals it orders candidates as summed z-scores do, and no contribution is
    negative); a constant signal maps to 0."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.full(scores.shape, np.nan)
    ok = ~np.isnan(scores)
    if not ok.any():
        return out
    std = scores[ok].std()
    out[ok] = (scores[ok] - scores[ok].min()) / std if std > 0 else 0.0
    return out


def normalise(scores: np.ndarray, method: str) -> np.ndarray:
    """A first-stage signal's scores over the candidates, normalised by `method` ("zscore" or "minmax")."""
    if method == "zscore":
        return zscore(scores)
    if method == "minmax":
        return minmax(scores)
    raise ValueError(f"unknown normalization {method!r}: use 'zscore' or 'minmax'")


def like_first(scores: np.ndarray, similarity_to, weight: float, method: str) -> np.ndarray:
    """Pseudo-relevance feedback (FusionConfig.prf): `weight` times each candidate's similarity to the candidate that
    `scores` put first (`similarity_to(i)`: every candidate's similarity to candidate i), normalised by `method`
    like the signals. The first stays first (it is most like itself); the rest move towards it."""
    return weight * normalise(similarity_to(int(np.argmax(scores))), method)


def calibrate(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature-scaled probability of relevance: sigmoid(logit / T)."""
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    logits = np.asarray(logits, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-logits / temperature))


def active_weights(weights: dict[str, float], signals: list[str]) -> dict[str, float]:
    """The weights of the active signals; if they are all zero, every active signal weighs the same."""
    chosen = {s: float(weights.get(s, 0.0)) for s in signals}
    if any(w < 0 for w in chosen.values()):
        raise ValueError("fusion weights must be >= 0")
    if sum(chosen.values()) == 0 and signals:
        chosen = {s: 1.0 for s in signals}
    return chosen


def weighted(normalised: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """Sum of weight * normalised score; a missing (NaN) score contributes nothing."""
    n = len(next(iter(normalised.values()))) if normalised else 0
    total = np.zeros(n)
    for signal, w in weights.items():
        if w and signal in normalised:
            total += w * np.nan_to_num(normalised[signal], nan=0.0)
    return total


def rrf(ranks: dict[str, np.ndarray], weights: dict[str, float], k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion: sum of weight / (k + rank); ranks start at 1, NaN = not ranked."""
    n = len(next(iter(ranks.values()))) if ranks else 0
    total = np.zeros(n)
    for signal, w in weights.items():
        if w and signal in ranks:
            r = np.asarray(ranks[signal], dtype=np.float64)
            total += np.where(np.isnan(r), 0.0, w / (k + np.nan_to_num(r, nan=1.0)))
    return total


def ranks_of(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each score (highest first), NaN where the score is NaN."""
    scores = np.asarray(scores, dtype=np.float64)
    out = np.full(scores.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(scores))
    order = ok[np.argsort(-scores[ok], kind="stable")]
    out[order] = np.arange(1, len(order) + 1)
    return out
