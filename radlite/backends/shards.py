"""Scatter-gather over N shards: each shard searches its own passages, a coordinator merges.

This is the fan-out a distributed engine (a sharded Qdrant collection, Elasticsearch) performs,
written out so that its exactness can be tested here and its cost measured (docs/scaling.md):

* bi-encoder and ColBERT: a passage's score does not depend on any other passage, so the global
  top-k is among the shards' top-k, and merging them by (score, passage id) is exact;
* BM25: IDF and the average passage length are collection statistics. Shards first report their
  counts for the query's terms (passages, total length, document frequencies), the coordinator
  sums them, and every shard scores with the global values (Elasticsearch's
  dfs_query_then_fetch). Scored with per-shard statistics instead, BM25 drifts with how the
  documents fell (what Qdrant's IDF modifier does on a sharded collection).

`ShardedSignals` is a backend (see radlite.search.stages), so the whole pipeline runs on it.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from radlite.backends.base import Backend
from radlite.backends.local import LocalBackend
from radlite.retrievers import csr
from radlite.retrievers.bm25 import TermCounts, lucene_idf, lucene_tf
from radlite.retrievers.topk import merge, top_k
from radlite.signals import BM25


class _ShardBM25:
    """One shard's term counts: enough to score with statistics gathered from every shard."""

    def __init__(self, texts: Sequence[str]):
        self.counts = TermCounts.of(texts)
        self.rows = csr.row_of_entries(self.counts.indptr)

    def stats(self, words: Sequence[str]) -> tuple[int, float, np.ndarray]:
        """(passages, total length, document frequency of each word) on this shard."""
        c = self.counts
        df = np.array([np.count_nonzero(c.terms == c.vocab[w]) if w in c.vocab else 0 for w in words], dtype=np.float64)
        return len(c), float(c.lengths.sum()), df

    def scores(self, words: Sequence[str], weight: np.ndarray, avgdl: float, k1: float, b: float) -> np.ndarray:
        """BM25 of every passage of the shard; `weight` = query count x global IDF of each word."""
        c = self.counts
        out = np.zeros(len(c))
        for w, wt in zip(words, weight):
            if w not in c.vocab:
                continue
            hit = c.terms == c.vocab[w]
            r = self.rows[hit]
            out[r] += wt * lucene_tf(c.tf[hit], c.lengths[r], avgdl, k1, b)
        return out.astype(np.float32)


class _Shard:
    def __init__(self, index, global_pids: np.ndarray):
        self.index = index  # a SearchIndex of this shard's documents (local backend)
        self.global_pids = global_pids  # shard passage id -> passage id in the whole collection
        self.bm25 = (
            _ShardBM25([index.encoder_input(p) for p in range(len(index.passages))]) if BM25 in index.signals else None
        )


class ShardedBackend(Backend):
    """The signals of an index split over `n` shards (documents dealt round-robin), searched by
    scatter-gather. The whole collection's parts are kept (and saved) as a local backend; each
    shard is a local SearchIndex cut from them. Settings: {"kind": "shards", "shards": n}."""

    kind = "shards"
    format_version = 2

    def __init__(self, whole: LocalBackend, index, n: int):
        n_docs = len(index.documents)
        if not isinstance(n, int) or not 1 <= n <= n_docs:
            raise ValueError(f"cannot split {n_docs} documents over {n} shards")
        self.whole = whole
        self.signals = list(whole.signals)
        self.settings = {"kind": "shards", "shards": n}
        self.config = index.config
        self.shards: list[_Shard] = []
        self._bm25_last: tuple[str | None, list] = (None, [])
        self.owner = np.zeros(len(index.passages), dtype=np.int64)  # global passage -> shard
        self.local = np.zeros(len(index.passages), dtype=np.int64)  # global passage -> id in its shard
        single = dataclasses.replace(index, backend=whole)
        for s in range(n):
            keep = np.arange(s, n_docs, n)
            drop = np.setdiff1d(np.arange(n_docs), keep)
            part = single.without_documents([index.documents[i].id for i in drop]) if len(drop) else single
            pids = index.doc_passages(keep)
            self.owner[pids], self.local[pids] = s, np.arange(len(pids))
            self.shards.append(_Shard(part, pids))

    @classmethod
    def of(cls, index, n: int) -> "ShardedBackend":
        """Index `index` (on the local backend) split over `n` shards."""
        return cls(index.backend, index, n)

    # -- life cycle --------------------------------------------------------------------------------
    @classmethod
    def build(cls, settings, index, texts, encoding, progress=False) -> "ShardedBackend":
        return cls(LocalBackend.build({"kind": "local"}, index, texts, encoding, progress), index, settings["shards"])

    @classmethod
    def open(cls, settings, signals, folder, index, root) -> "ShardedBackend":
        return cls(LocalBackend.open({"kind": "local"}, signals, folder, index, root), index, settings["shards"])

    def save(self, folder) -> None:
        self.whole.save(folder)

    def add(self, index, first_new, texts, encoding, progress=False) -> "ShardedBackend":
        return ShardedBackend(
            self.whole.add(index, first_new, texts, encoding, progress), index, self.settings["shards"]
        )

    def delete(self, doc_ids, index, keep) -> "ShardedBackend":
        return ShardedBackend(self.whole.delete(doc_ids, index, keep), index, self.settings["shards"])

    def sizes(self) -> dict[str, int]:
        return self.whole.sizes()

    def check(self, index) -> list[str]:
        return self.whole.check(index)

    def colbert_tokens(self) -> int | None:
        return self.whole.colbert_tokens()

    def bm25_vocabulary(self):
        return self.whole.bm25_vocabulary()  # the union of the shards' vocabularies

    def bm25_postings(self):
        return self.whole.bm25_postings()

    @classmethod
    def check_settings(cls, settings) -> str | None:
        n = settings.get("shards")
        return None if isinstance(n, int) and n >= 1 else "a shards backend needs a number of shards >= 1"

    @classmethod
    def describe_settings(cls, settings) -> str:
        return f"shards: {settings.get('shards')}, in this folder"

    def describe(self) -> str:
        return f"{self.settings['shards']} shards, searched by scatter-gather"

    # -- search ------------------------------------------------------------------------------------
    def retrieve(self, index, q, signal: str, depth: int, category: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        if signal == BM25:
            per_shard = self._bm25_all(q)
            hits = []
            for shard, scores in zip(self.shards, per_shard):
                ok = scores > 0
                if category is not None:
                    ok &= shard.index.category_mask(category)
                ids = np.flatnonzero(ok)
                top, best = top_k(ids, scores[ids], depth)  # each shard's own top `depth`
                hits.append((shard.global_pids[top], best))
        else:  # scatter: every shard's own top `depth`
            hits = []
            for shard in self.shards:
                pids, scores = shard.index.backend.retrieve(shard.index, q, signal, depth, category=category)
                hits.append((shard.global_pids[pids], scores))
        return merge(hits, depth)  # gather

    def score(self, index, q, signal: str, pids: np.ndarray) -> np.ndarray:
        pids = np.asarray(pids, dtype=np.int64)
        out = np.zeros(len(pids), dtype=np.float32)
        per_shard = self._bm25_all(q) if signal == BM25 else None
        for s, shard in enumerate(self.shards):
            mine = np.flatnonzero(self.owner[pids] == s)
            if len(mine) == 0:
                continue
            local = self.local[pids[mine]]
            out[mine] = (
                per_shard[s][local]
                if per_shard is not None
                else shard.index.backend.score(shard.index, q, signal, local)
            )
        return out

    def biencoder_vectors(self, index, pids) -> np.ndarray:
        return self.whole.biencoder_vectors(index, pids)  # the whole collection's vectors are kept as they are

    def _bm25_all(self, q) -> list[np.ndarray]:
        """Two phases: gather the collection's statistics for the query's terms, then score. The
        last query's scores are kept: a search asks for them twice (retrieve, then score)."""
        weighted = sorted(q.terms().items())
        query = (q.text, tuple(weighted))
        if self._bm25_last[0] == query:
            return self._bm25_last[1]
        words = [w for w, _ in weighted]
        counts = np.array([c for _, c in weighted], dtype=np.float64)
        stats = [shard.bm25.stats(words) for shard in self.shards]
        n = sum(s[0] for s in stats)
        avgdl = sum(s[1] for s in stats) / n
        df = np.sum([s[2] for s in stats], axis=0) if words else np.zeros(0)
        weight = counts * np.where(df > 0, lucene_idf(n, df), 0.0)
        cfg = self.config.bm25
        out = [shard.bm25.scores(words, weight, avgdl, cfg.k1, cfg.b) for shard in self.shards]
        self._bm25_last = (query, out)
        return out
