"""The local backend: each signal's structure in the index folder (bm25/, biencoder/, colbert/),
searched in this process. Index format version 1, so older radlite opens these indexes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from radlite.backends.base import Backend
from radlite.encoding import encode_all
from radlite.errors import IndexFormatError
from radlite.retrievers.bm25 import BM25Index
from radlite.retrievers.colbert import ColbertIndex
from radlite.retrievers.dense import DenseIndex
from radlite.retrievers.topk import top_k
from radlite.signals import BIENCODER, BM25, COLBERT

if TYPE_CHECKING:
    from radlite.index.catalog import SearchIndex
    from radlite.search.stages import QueryVectors

_PARTS = {BM25: BM25Index, BIENCODER: DenseIndex, COLBERT: ColbertIndex}


class LocalBackend(Backend):
    kind = "local"
    format_version = 1

    def __init__(
        self, bm25: BM25Index | None = None, dense: DenseIndex | None = None, colbert: ColbertIndex | None = None
    ):
        self.bm25, self.dense, self.colbert = bm25, dense, colbert
        self.settings = {"kind": "local"}

    @property
    def signals(self) -> list[str]:  # type: ignore[override]
        return [
            s for s, part in ((BM25, self.bm25), (BIENCODER, self.dense), (COLBERT, self.colbert)) if part is not None
        ]

    # -- life cycle ------------------------------------------------------------------------------
    @classmethod
    def build(cls, settings, index, texts, encoding, progress=False) -> LocalBackend:
        signals = index.config.signals
        vectors = encode_all(encoding, texts, progress)
        return cls(
            bm25=BM25Index.build(texts, index.config.bm25) if BM25 in signals else None,
            dense=DenseIndex(vectors[BIENCODER]) if BIENCODER in signals else None,
            colbert=ColbertIndex.build(vectors[COLBERT], index.config.colbert) if COLBERT in signals else None,
        )

    @classmethod
    def open(cls, settings, signals, folder: Path, index, root) -> LocalBackend:
        try:
            parts = {s: _PARTS[s].load(folder / s) for s in signals}
        except Exception as exc:  # any unreadable file means the same thing to the user
            raise IndexFormatError(
                f"{root}: index files are corrupted or unreadable ({type(exc).__name__}: {exc}); "
                "rebuild it with `radlite index`"
            ) from None
        return cls(parts.get(BM25), parts.get(BIENCODER), parts.get(COLBERT))

    def save(self, folder: Path) -> None:
        for signal, part in ((BM25, self.bm25), (BIENCODER, self.dense), (COLBERT, self.colbert)):
            if part is not None:
                part.save(folder / signal)

    def add(self, index, first_new, texts, encoding, progress=False) -> LocalBackend:
        vectors = encode_all(encoding, texts, progress)
        return LocalBackend(
            bm25=self._rebuilt_bm25(index),
            dense=self.dense.appended(vectors[BIENCODER]) if self.dense is not None else None,
            colbert=(
                self.colbert.appended(vectors[COLBERT], index.config.colbert) if self.colbert is not None else None
            ),
        )

    def delete(self, doc_ids, index, keep) -> LocalBackend:
        return LocalBackend(
            bm25=self._rebuilt_bm25(index),
            dense=self.dense.subset(keep) if self.dense is not None else None,
            colbert=self.colbert.subset(keep) if self.colbert is not None else None,
        )

    def _rebuilt_bm25(self, index: SearchIndex) -> BM25Index | None:
        # BM25's IDF depends on the whole collection, so it is rebuilt (seconds per 100k passages: docs/scaling.md)
        if self.bm25 is None:
            return None
        return BM25Index.build([index.encoder_input(p) for p in range(len(index.passages))], index.config.bm25)

    # -- search ----------------------------------------------------------------------------------
    def bm25_vocabulary(self):
        return None if self.bm25 is None else self.bm25.vocab

    def bm25_postings(self):
        return self.bm25

    def bm25_scores(self, q: QueryVectors) -> np.ndarray:
        """BM25 of every passage (float32, (P,)), computed once per query."""
        if q._bm25 is None:
            q._bm25 = self.bm25.scores(q.terms())
        return q._bm25

    def retrieve(self, index, q, signal, depth, category=None) -> tuple[np.ndarray, np.ndarray]:
        # a category filter is exact for BM25 and the bi-encoder; ColBERT searches deeper and keeps the allowed
        allowed = None if category is None else index.category_mask(category)
        if signal == COLBERT:
            cfg = index.config.colbert
            deeper = depth if allowed is None else depth * 4
            pids, scores = self.colbert.search(q.colbert, deeper, nprobe=cfg.nprobe, rescore=max(cfg.rescore, deeper))
            if allowed is not None:
                ok = allowed[pids]
                pids, scores = pids[ok][:depth], scores[ok][:depth]
            return pids, scores
        if signal == BM25:
            scores = self.bm25_scores(q)
            hits = scores > 0  # BM25 retrieves only passages sharing a query term
        elif signal == BIENCODER:
            scores = self.dense.scores(q.biencoder)
            hits = np.ones(len(scores), dtype=bool)
        else:
            raise ValueError(f"unknown first-stage signal {signal!r}")
        ids = np.flatnonzero(hits if allowed is None else hits & allowed)
        return top_k(ids, scores[ids], depth)

    def score(self, index, q, signal, pids) -> np.ndarray:
        if signal == COLBERT:
            return self.colbert.score(q.colbert, pids)
        if signal == BM25:
            return self.bm25_scores(q)[pids]
        if signal == BIENCODER:
            return self.dense.scores_of(q.biencoder, pids)
        raise ValueError(f"unknown first-stage signal {signal!r}")

    def biencoder_vectors(self, index, pids) -> np.ndarray:
        if self.dense is None:
            raise ValueError("this index has no bi-encoder signal")
        return np.asarray(np.take(self.dense.embeddings, np.asarray(pids, dtype=np.int64), axis=0), dtype=np.float32)

    def colbert_tokens(self) -> int | None:
        return self.colbert.n_tokens if self.colbert is not None else None

    def check(self, index) -> list[str]:
        problems = []
        for name, part, n in (
            (BM25, self.bm25, getattr(self.bm25, "n_passages", None)),
            (BIENCODER, self.dense, len(self.dense) if self.dense is not None else None),
        ):
            if part is not None and n != len(index.passages):
                problems.append(f"{name}: holds {n} passages, the catalog {len(index.passages)}")
        if self.bm25 is not None:
            problems += self.bm25.check()
        if self.dense is not None:
            problems += self.dense.check()
        if self.colbert is not None:
            problems += self.colbert.check(len(index.passages))
        return problems

    @classmethod
    def describe_settings(cls, settings) -> str:
        return "local (this folder)"

    def sizes(self) -> dict[str, int]:
        out: dict[str, Any] = {}
        if self.bm25 is not None:
            out[BM25] = self.bm25.n_passages
        if self.dense is not None:
            out[BIENCODER] = len(self.dense)
        if self.colbert is not None:
            out[COLBERT] = len(self.colbert)
        return out
