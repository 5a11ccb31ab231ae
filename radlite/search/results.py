"""Typed search results. `SearchResult.to_dict()` is the JSON the CLI, the server and the page
emit (its schema is pinned by tests/unit/test_results.py); the Python API returns the objects.

Scores are in each signal's own units under `raw` (BM25, dot products, MaxSim, the cross-encoder's
logit); `normalized` is the value over the reranked candidates that weighted fusion sums (a z-score
shifted so the lowest candidate is 0 by default, unbounded above; min-max in [0, 1] for an index or
query that asks for it);
the cross-encoder's fused value is `calibrated`, sigmoid(logit / temperature); `rank` is the
1-based rank among the candidates (None where the signal did not rank the document; the cross-encoder's among the
candidates it read: at weight 0 only the results returned).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from radlite.signals import BIENCODER, BM25, COLBERT, CROSSENCODER, FIRST_STAGE, REGISTRY

# result keys in today's order; one "<signal>_score" per signal, first-stage raw, cross-encoder calibrated
_SCORE_KEYS = (BIENCODER, BM25, COLBERT)


@dataclass(frozen=True)
class SignalScore:
    """One signal's scores for one result."""

    raw: float | None
    normalized: float | None = None  # first-stage signals under weighted fusion; None under RRF
    calibrated: float | None = None  # the cross-encoder only: sigmoid(raw / temperature)
    rank: int | None = None
    untrained: bool = False  # the model behind it is known to be untrained

    def to_dict(self, signal: str) -> dict[str, Any]:
        """`{"raw", "normalized", "rank"}` for a first-stage signal, `{"raw", "calibrated", "rank"}`
        for the cross-encoder, plus `"untrained": true` when so."""
        second = (
            ("calibrated", self.calibrated) if REGISTRY[signal].stage == "rerank" else ("normalized", self.normalized)
        )
        out = {"raw": self.raw, second[0]: second[1], "rank": self.rank}
        if self.untrained:
            out["untrained"] = True
        return out


@dataclass(frozen=True)
class SearchResult(Mapping):
    """One ranked document: its best passage, its fused score, and every active signal's scores.

    Read-only mapping access (`r["id"]`, `dict(r)`) gives the JSON form, so code written against
    the dict results of radlite 0.1 keeps working; new code reads the attributes."""

    rank: int
    id: str
    corpus_index: int  # the document's position in the index
    title: str
    category: str | None
    document: str
    passage: str
    passage_index: int  # the passage's number within its document (0 = first)
    passage_span: tuple[int, int]  # characters [start, end) of the document
    metadata: dict[str, Any]
    score: float  # the fused score the ranking is by
    signals: dict[str, SignalScore] = field(default_factory=dict)
    # P(relevant) that means the same across queries (unlike `score`, normalised within each query):
    # from the bi-encoder's cosine and ColBERT's MaxSim per query token (radlite.search.relevance);
    # None where those signals are not active or their models have no fitted estimate
    relevance: float | None = None
    # the query's expansions this result's passage matches ("SAH -> subarachnoid hemorrhage"; radlite.terms)
    expansions: tuple[str, ...] = ()
    # subtracted from the fused score for what the query negates (0: nothing negated, or not under weighted fusion)
    negation_penalty: float = 0.0
    # added to the fused score by pseudo-relevance feedback: FusionConfig.prf times how like the result fused first
    # this one is (its normalised bi-encoder similarity; 0: no feedback)
    prf: float = 0.0

    def signal_score(self, signal: str) -> float | None:
        """The value `<signal>_score` reports: raw for a first-stage signal, calibrated for the
        cross-encoder; None when the signal was not active."""
        s = self.signals.get(signal)
        if s is None:
            return None
        return s.calibrated if signal == CROSSENCODER else s.raw

    def to_dict(self) -> dict[str, Any]:
        """Today's result JSON (a new dict each call)."""
        out: dict[str, Any] = {
            "rank": self.rank,
            "id": self.id,
            "corpus_index": self.corpus_index,
            "title": self.title,
            "category": self.category,
            "document": self.document,
            "passage": self.passage,
            "passage_index": self.passage_index,
            "passage_span": list(self.passage_span),
            "metadata": self.metadata,
            "score": self.score,
            "relevance": self.relevance,
        }
        for s in _SCORE_KEYS:
            out[f"{s}_score"] = self.signal_score(s)
        out[f"{CROSSENCODER}_score"] = self.signal_score(CROSSENCODER)
        out["signals"] = {s: v.to_dict(s) for s, v in self.signals.items()}
        out["expansions"] = list(self.expansions)
        out["negation_penalty"] = self.negation_penalty
        out["prf"] = self.prf
        return out

    @functools.cached_property
    def _json(self) -> dict[str, Any]:
        return self.to_dict()

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._json)

    def __len__(self) -> int:
        return len(self._json)


def build_result(
    index,
    rank: int,
    doc_i: int,
    pid: int,
    score: float,
    signals: dict[str, tuple],
    untrained: set[str] = frozenset(),
    relevance: float | None = None,
    expansions: tuple[str, ...] = (),
    negation_penalty: float = 0.0,
    prf: float = 0.0,
) -> SearchResult:
    """The result for document `doc_i` of `index` shown by passage `pid`, with each signal's
    (raw, fused value, rank) in `signals` (NaN: none); `untrained` names signals whose model is untrained."""
    doc = index.documents[doc_i]
    start, end = (int(x) for x in index.passages[pid, 1:])
    first_pid = int(index.first_passages[doc_i])
    scores = {}
    for s, (raw, norm, rank_s) in signals.items():
        fused_value = {"calibrated" if s == CROSSENCODER else "normalized": _num(norm)}
        scores[s] = SignalScore(
            raw=_num(raw), rank=None if np.isnan(rank_s) else int(rank_s), untrained=s in untrained, **fused_value
        )
    return SearchResult(
        rank=rank,
        id=doc.id,
        corpus_index=doc_i,
        title=doc.title,
        category=doc.category,
        document=doc.text,
        passage=doc.text[start:end],
        passage_index=pid - first_pid,
        passage_span=(start, end),
        metadata=doc.metadata,
        score=score,
        signals=scores,
        relevance=relevance,
        expansions=tuple(expansions),
        negation_penalty=negation_penalty,
        prf=prf,
    )


def _num(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if np.isnan(x) else x


assert set(_SCORE_KEYS) == set(FIRST_STAGE)
