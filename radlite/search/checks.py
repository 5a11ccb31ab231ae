"""Validation of what a search is asked: the query, its sizes, signal names and fusion weights.
Each raises QueryError naming the problem."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from radlite.corpus import check_text
from radlite.errors import QueryError
from radlite.signals import SIGNALS

MAX_TOP_K = 1000


def check_query(query: Any, top_k: int, candidates: int, max_query_chars: int) -> str:
    """The query, stripped, after checking it is non-empty text of at most `max_query_chars`
    characters and that 1 <= top_k <= candidates <= MAX_TOP_K."""
    if not isinstance(query, str) or not query.strip():
        raise QueryError("empty query: give some words to search for")
    check_text(query, "the query", QueryError)
    if len(query) > max_query_chars:
        raise QueryError(f"query is {len(query)} characters; the limit is {max_query_chars}")
    for name, value in (("top_k", top_k), ("candidates", candidates)):
        if not isinstance(value, (int, np.integer)) or not 1 <= value <= MAX_TOP_K:
            raise QueryError(f"{name} must be an integer from 1 to {MAX_TOP_K}, got {value!r}")
    if candidates < top_k:
        raise QueryError(f"candidates ({candidates}) must be at least top_k ({top_k})")
    return query.strip()


def check_weights(weights: dict) -> dict[str, float]:
    """Weights by signal name, each a finite number >= 0, as floats."""
    for name, w in weights.items():
        if name not in SIGNALS:
            raise QueryError(f"unknown signal {name!r} in weights; choose from {', '.join(SIGNALS)}")
        if not isinstance(w, (int, float)) or not np.isfinite(w) or w < 0:
            raise QueryError(f"weight of {name} must be a number >= 0, got {w!r}")
    return {k: float(v) for k, v in weights.items()}


def check_prf(prf) -> float:
    """The pseudo-relevance feedback weight (FusionConfig.prf): a finite number >= 0, as a float."""
    if isinstance(prf, bool) or not isinstance(prf, (int, float)) or not np.isfinite(prf) or prf < 0:
        raise QueryError(f"prf (the pseudo-relevance feedback weight) must be a number >= 0, got {prf!r}")
    return float(prf)


def check_signals(signals: Sequence[str] | str | None, allowed: Sequence[str]) -> list[str]:
    """Signal names (a list or a comma-separated string), each one of `allowed`, in `allowed` order."""
    if signals is None:
        signals = []
    if isinstance(signals, str):
        signals = [s.strip() for s in signals.split(",") if s.strip()]
    unknown = [s for s in signals if s not in allowed]
    if unknown or not signals:
        raise QueryError(f"unknown signal {unknown[0] if unknown else ''!r}; choose from {', '.join(allowed)}")
    return [s for s in allowed if s in signals]
