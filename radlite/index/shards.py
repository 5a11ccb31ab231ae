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

`ShardedSignals` is a backend (see radlite.retrieve), so the whole pipeline runs on it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from radlite.index.bm25 import TermCounts, lucene_idf, lucene_tf, tokenize


class _ShardBM25:
    """One shard's term counts: enough to score with statistics gathered from every shard."""

    def __init__(self, texts: Sequence[str]):
        self.counts = TermCounts.of(texts)
        self.rows = np.repeat(np.arange(len(self.counts)), np.diff(self.counts.indptr))

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
        self.index = index  # a SearchIndex of this shard's documents (local parts)
        self.global_pids = global_pids  # shard passage id -> passage id in the whole collection
        self.bm25 = _ShardBM25([index.encoder_input(p) for p in range(len(index.passages))]) \
            if "bm25" in index.signals else None


class ShardedSignals:
    """The signals of an index split over `n` shards (documents dealt round-robin), searched by
    scatter-gather. Each shard is a local SearchIndex, built from the whole index's vectors."""

    kind = "shards"

    def __init__(self, index, n: int):
        n_docs = len(index.documents)
        if not 1 <= n <= n_docs:
            raise ValueError(f"cannot split {n_docs} documents over {n} shards")
        self.signals = list(index.signals)
        self.settings = {"kind": "shards", "shards": n}
        self.config = index.config
        self.shards: list[_Shard] = []
        self._bm25_last: tuple[str | None, list] = (None, [])
        self.owner = np.zeros(len(index.passages), dtype=np.int64)  # global passage -> shard
        self.local = np.zeros(len(index.passages), dtype=np.int64)  # global passage -> id in its shard
        for s in range(n):
            keep = np.arange(s, n_docs, n)
            drop = np.setdiff1d(np.arange(n_docs), keep)
            part = index.without_documents([index.documents[i].id for i in drop]) if len(drop) else index
            pids = index.doc_passages(keep)
            self.owner[pids], self.local[pids] = s, np.arange(len(pids))
            self.shards.append(_Shard(part, pids))

    # -- the backend interface (radlite.retrieve) ------------------------------------------------
    def search(self, index, q, signal: str, depth: int, category: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        from radlite.retrieve import retrieve

        if signal == "bm25":
            per_shard = self._bm25_all(q.text)
            hits = []
            for shard, scores in zip(self.shards, per_shard):
                ok = scores > 0
                if category is not None:
                    ok &= shard.index.category_mask(category)
                ids = np.flatnonzero(ok)
                top = ids[np.lexsort((ids, -scores[ids]))][:depth]  # each shard's own top `depth`
                hits.append((shard.global_pids[top], scores[top]))
        else:  # scatter: every shard's own top `depth`
            hits = []
            for shard in self.shards:
                pids, scores = retrieve(shard.index, q, signal, depth, category=category)
                hits.append((shard.global_pids[pids], scores))
        return _merge(hits, depth)  # gather

    def score(self, index, q, signal: str, pids: np.ndarray) -> np.ndarray:
        from radlite.retrieve import score_passages

        pids = np.asarray(pids, dtype=np.int64)
        out = np.zeros(len(pids), dtype=np.float32)
        per_shard = self._bm25_all(q.text) if signal == "bm25" else None
        for s, shard in enumerate(self.shards):
            mine = np.flatnonzero(self.owner[pids] == s)
            if len(mine) == 0:
                continue
            local = self.local[pids[mine]]
            out[mine] = per_shard[s][local] if per_shard is not None else score_passages(shard.index, q, signal, local)
        return out

    def _bm25_all(self, query: str) -> list[np.ndarray]:
        """Two phases: gather the collection's statistics for the query's terms, then score. The
        last query's scores are kept: a search asks for them twice (retrieve, then score)."""
        if self._bm25_last[0] == query:
            return self._bm25_last[1]
        tokens = tokenize(query)
        words, counts = np.unique(np.array(tokens, dtype=object), return_counts=True) \
            if tokens else (np.zeros(0, object), np.zeros(0))
        words = [str(w) for w in words]
        stats = [shard.bm25.stats(words) for shard in self.shards]
        n = sum(s[0] for s in stats)
        avgdl = sum(s[1] for s in stats) / n
        df = np.sum([s[2] for s in stats], axis=0) if words else np.zeros(0)
        weight = counts * np.where(df > 0, lucene_idf(n, df), 0.0)
        cfg = self.config.bm25
        out = [shard.bm25.scores(words, weight, avgdl, cfg.k1, cfg.b) for shard in self.shards]
        self._bm25_last = (query, out)
        return out


def _merge(hits: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best `k` of the shards' lists, by score, ties by passage id (as a single index orders them)."""
    pids = np.concatenate([h[0] for h in hits]).astype(np.int64)
    scores = np.concatenate([h[1] for h in hits]).astype(np.float32)
    order = np.lexsort((pids, -scores))[:k]
    return pids[order], scores[order]
