"""First-stage signals stored and searched in Qdrant (a cluster, or qdrant-client's local mode).

One collection per index, one point per passage:
  vectors  "biencoder"  dense, dot product, HNSW index
           "colbert"    multivector of token vectors (fp16 values), MAX_SIM comparator, no HNSW
                        graph (m=0): it only re-scores candidates, as in Qdrant's multi-stage docs
           "bm25"       sparse: radlite's document-side BM25 term weights; the query vector
                        carries each term's count x IDF, computed by radlite from the whole
                        collection's document frequencies (kept in the catalog), so the dot
                        product is exactly bm25s' "lucene" BM25 on any number of shards.
                        (Qdrant's IDF modifier gives the same on one shard, but it counts per
                        shard, so a sharded collection's BM25 would drift with the sharding.)
  payload  doc_id, passage (its number within the document), title, text, category, metadata;
           keyword payload indexes on category (search filter) and doc_id (deletes)
Point ids are UUIDs derived from (document id, passage number), so they survive the renumbering
of passages when documents are deleted, and re-adding a document overwrites its own points.

radlite keeps the catalog (documents, passage spans, BM25 vocabulary and document frequencies, manifest) in the index
folder, written atomically as for the local backend; the vectors live only in Qdrant. The cross-
encoder and fusion run in radlite, the same code for both backends.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from radlite.backends.base import Backend
from radlite.backends.qdrant_conn import (  # noqa: F401  (settings_for: the public API)
    client_for,
    passage_point,
    passages_of_points,
    payload,
    point_id,
    settings_for,
)
from radlite.errors import BackendError, IndexFormatError, RadliteError
from radlite.retrievers.bm25 import TermCounts, lucene_idf, query_terms
from radlite.signals import BIENCODER, BM25, COLBERT

logger = logging.getLogger(__name__)

BM25_FILE = "qdrant_bm25"  # qdrant_bm25.npz + qdrant_bm25_vocab.json: term counts of every passage
STATE_FILE = "qdrant_state.json"
UPSERT_BATCH = 256
TIE_SLACK = 8


class QdrantBackend(Backend):
    """The first-stage signals of one index, served by one Qdrant collection."""

    kind = "qdrant"
    format_version = 2

    def __init__(
        self,
        settings: dict[str, Any],
        signals: Sequence[str],
        counts: TermCounts | None = None,
        weights_avgdl: float = 1.0,
    ):
        self.settings = dict(settings)
        self.signals = list(signals)
        self.client = client_for(settings)
        self.collection = settings["collection"]
        # BM25: every passage's term counts (kept in the catalog, so changes never tokenise the
        # collection again), the collection's document frequencies, and the average length the
        # stored weights were computed with
        self.counts = counts
        self.df = counts.doc_freq() if counts is not None else np.zeros(0, np.int64)
        self.weights_avgdl = weights_avgdl

    @property
    def vocab(self) -> dict[str, int]:
        return self.counts.vocab if self.counts is not None else {}

    def bm25_vocabulary(self):
        return self.vocab if self.counts is not None else None

    def _changed(self, counts: TermCounts | None) -> "QdrantBackend":
        """The same collection with new BM25 counts; the stored weights' average length is kept
        unless it moved more than the backend's tolerance (0: always exact)."""
        out = QdrantBackend(self.settings, self.signals, counts, self.weights_avgdl)
        if counts is not None:
            tolerance = float(self.settings.get("bm25_avgdl_tolerance", 0.0))
            if abs(counts.avgdl / self.weights_avgdl - 1) > tolerance:
                out.weights_avgdl = counts.avgdl
        return out

    def _weights(self, index, rows: np.ndarray) -> list | None:
        """The stored BM25 weights of passages `rows` (None without BM25)."""
        return None if self.counts is None else self.counts.weights(rows, self.weights_avgdl, index.config.bm25)

    # -- building -----------------------------------------------------------------------------
    @classmethod
    def build(
        cls, settings: dict[str, Any], index, texts: Sequence[str], encoding, progress: bool = False
    ) -> "QdrantBackend":
        """A new collection (named after settings' collection plus a build stamp, so a rebuild never
        touches the collection the live index still uses) holding every passage of `index`."""
        settings = {**settings, "collection": f"{settings['collection']}-{time.time_ns():x}"}
        if BM25 in index.config.signals and index.config.bm25.method != "lucene":
            raise RadliteError(
                f"the Qdrant backend scores BM25 the 'lucene' way; this index asks for {index.config.bm25.method!r}"
            )
        counts = TermCounts.of(texts) if BM25 in index.config.signals else None
        out = cls(settings, index.config.signals, counts, counts.avgdl if counts is not None else 1.0)
        try:
            if encoding is None or not encoding.signals:  # BM25 alone
                out._create(dims={})
                out._upsert(index, np.arange(len(texts)), {})
            else:
                created = False
                for pids, vectors in encoding.stream(texts, progress=progress):
                    if not created:
                        out._create(dims={s: int(np.asarray(v[0]).shape[-1]) for s, v in vectors.items()})
                        created = True
                    out._upsert(index, pids, vectors)
            out._check_count(len(texts), "after building")
        except BaseException:
            out.drop()  # a half-built collection is never left behind
            raise
        return out

    def _create(self, dims: dict[str, int]) -> None:
        from qdrant_client import models as m

        vectors = {}
        if BIENCODER in self.signals:
            vectors[BIENCODER] = m.VectorParams(size=dims[BIENCODER], distance=m.Distance.DOT)
        if COLBERT in self.signals:
            vectors[COLBERT] = m.VectorParams(
                size=dims[COLBERT],
                distance=m.Distance.DOT,
                datatype=m.Datatype.FLOAT16,
                on_disk=True,
                multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
                hnsw_config=m.HnswConfigDiff(m=0),
            )
        sparse = {BM25: m.SparseVectorParams()} if BM25 in self.signals else None  # IDF: in the query
        self.client.create_collection(
            self.collection,
            vectors_config=vectors,
            sparse_vectors_config=sparse,
            shard_number=self.settings["shards"],
            replication_factor=self.settings["replicas"],
        )
        import warnings

        with warnings.catch_warnings():  # local mode has no payload indexes and says so; filters still work
            warnings.simplefilter("ignore")
            for field in ("category", "doc_id"):
                self.client.create_payload_index(self.collection, field, field_schema=m.PayloadSchemaType.KEYWORD)

    def _upsert(self, index, pids: np.ndarray, vectors: dict[str, Any]) -> None:
        from qdrant_client import models as m

        pids = np.asarray(pids, dtype=np.int64)
        firsts = index.first_passages
        for lo in range(0, len(pids), UPSERT_BATCH):
            points = []
            batch = pids[lo : lo + UPSERT_BATCH]
            weights = self._weights(index, batch)
            for j in range(lo, min(lo + UPSERT_BATCH, len(pids))):
                pid = int(pids[j])
                d = int(index.passages[pid, 0])
                doc = index.documents[d]
                vec: dict[str, Any] = {}
                if BIENCODER in vectors:
                    vec[BIENCODER] = np.asarray(vectors[BIENCODER][j], dtype=np.float32).tolist()
                if COLBERT in vectors:  # the values the local index keeps (fp16), so scores agree exactly
                    vec[COLBERT] = np.asarray(vectors[COLBERT][j], dtype=np.float16).astype(np.float32).tolist()
                if weights is not None:
                    terms, w = weights[j - lo]
                    vec[BM25] = m.SparseVector(indices=terms.tolist(), values=w.tolist())
                passage = pid - int(firsts[d])
                points.append(m.PointStruct(id=point_id(doc.id, passage), vector=vec, payload=payload(index, pid)))
            self.client.upsert(self.collection, points=points, wait=True)

    # -- changes --------------------------------------------------------------------------------
    def add(self, index, first_new: int, texts: Sequence[str], encoding, progress: bool = False) -> "QdrantBackend":
        """`index` (the new catalog) has passages from `first_new` on that are not in Qdrant yet;
        `texts` are their encoder inputs."""
        out = self._changed(self.counts.extended(texts) if self.counts is not None else None)
        new_ids = sorted({index.documents[int(d)].id for d in index.passages[first_new:, 0]})
        out._delete_docs(new_ids)  # points an interrupted earlier add left under these ids
        new = np.arange(first_new, len(index.passages))
        stored = np.zeros(len(new), dtype=bool)
        if encoding is None or not encoding.signals:
            out._upsert(index, new, {})
            stored[:] = True
        else:
            for pids, vectors in encoding.stream(texts, progress=progress):
                out._upsert(index, pids + first_new, vectors)
                stored[pids] = True
        if not stored.all():
            raise BackendError(
                f"only {int(stored.sum())} of {len(new)} new passages were encoded and stored (a worker "
                "failed?); the index was not changed: run the add again"
            )
        if out.counts is not None and out.weights_avgdl != self.weights_avgdl:
            out._rewrite_bm25(index, np.arange(first_new))  # the average length moved: every weight changes
        out._check_count(len(index.passages), "after adding", strict=False)
        return out

    def delete(self, doc_ids: Sequence[str], index, keep: np.ndarray) -> "QdrantBackend":
        """Delete the documents' points; `index` is the catalog without them, `keep` the old passage
        ids it kept (in order)."""
        out = self._changed(self.counts.subset(keep) if self.counts is not None else None)
        out._delete_docs(list(doc_ids))
        if out.counts is not None and out.weights_avgdl != self.weights_avgdl:
            out._rewrite_bm25(index, np.arange(len(index.passages)))
        out._check_count(len(index.passages), "after deleting", strict=False)
        return out

    def _delete_docs(self, doc_ids: Sequence[str], chunk: int = 1000) -> None:
        """Delete every point of these documents, `chunk` ids per request (request size limits)."""
        from qdrant_client import models as m

        for lo in range(0, len(doc_ids), chunk):
            self.client.delete(
                self.collection,
                wait=True,
                points_selector=m.FilterSelector(
                    filter=m.Filter(
                        must=[m.FieldCondition(key="doc_id", match=m.MatchAny(any=list(doc_ids[lo : lo + chunk])))]
                    )
                ),
            )

    def _rewrite_bm25(self, index, pids: np.ndarray) -> None:
        """Rewrite the stored BM25 weights of `pids` at this object's average length."""
        from qdrant_client import models as m

        for lo in range(0, len(pids), UPSERT_BATCH * 4):
            batch = []
            rows = pids[lo : lo + UPSERT_BATCH * 4]
            for pid, (terms, w) in zip(rows.tolist(), self._weights(index, rows)):
                batch.append(
                    m.PointVectors(
                        id=passage_point(index, pid),
                        vector={BM25: m.SparseVector(indices=terms.tolist(), values=w.tolist())},
                    )
                )
            self.client.update_vectors(self.collection, points=batch, wait=True)

    def drop(self) -> None:
        try:
            if self.client.collection_exists(self.collection):
                self.client.delete_collection(self.collection)
        except Exception as exc:  # best effort: the collection is not referenced by any index
            logger.warning("could not drop Qdrant collection %s: %s", self.collection, exc)

    @classmethod
    def drop_resources(cls, settings: dict[str, Any]) -> None:
        cls(settings, []).drop()

    @classmethod
    def resource(cls, settings: dict[str, Any]):
        return (settings.get("url"), settings.get("path"), settings.get("collection"))

    @classmethod
    def check_settings(cls, settings: dict[str, Any]) -> str | None:
        if not (
            isinstance(settings.get("collection"), str) and bool(settings.get("url")) != bool(settings.get("path"))
        ):
            return "a Qdrant backend needs a collection and one of url or path"
        return None

    @classmethod
    def describe_settings(cls, settings: dict[str, Any]) -> str:
        return (
            f"qdrant {settings.get('url') or settings.get('path')} collection {settings.get('collection')} "
            f"(shards {settings.get('shards')}, replicas {settings.get('replicas')})"
        )

    @classmethod
    def single_process(cls, settings: dict[str, Any]) -> bool:
        return bool(settings.get("path"))  # qdrant-client's local mode: one process opens the folder

    def describe(self) -> str:
        return f"vectors in Qdrant collection {self.collection}"

    def query_signals(self, active: Sequence[str]) -> list[str]:
        # ColBERT in Qdrant re-scores the bi-encoder's (and BM25's) candidates: it needs the bi-encoder query
        out = list(active)
        if COLBERT in active and BIENCODER in self.signals and BIENCODER not in out:
            out.append(BIENCODER)
        return out

    # -- persistence ------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        if self.counts is not None:
            self.counts.save(folder, BM25_FILE)
        (folder / STATE_FILE).write_text(json.dumps({"bm25_weights_avgdl": self.weights_avgdl}), encoding="utf-8")

    @classmethod
    def open(cls, settings: dict[str, Any], signals: Sequence[str], folder: Path, index, root) -> "QdrantBackend":
        n_passages = len(index.passages)
        try:
            avgdl = float(json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))["bm25_weights_avgdl"])
            counts = TermCounts.load(folder, BM25_FILE) if BM25 in signals else None
            if counts is not None and len(counts) != n_passages:
                raise ValueError(f"BM25 counts of {len(counts)} passages, catalog of {n_passages}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexFormatError(
                f"{root}: the Qdrant index's BM25 state is unreadable ({exc}); rebuild the index"
            ) from None
        out = cls(settings, signals, counts, avgdl)
        exists = out.client.collection_exists(out.collection)
        if not exists:
            raise IndexFormatError(
                f"{root}: its Qdrant collection {out.collection!r} is missing at "
                f"{settings['url'] or settings['path']}; rebuild the index with `radlite index`"
            )
        # an add or delete interrupted between Qdrant and the catalog's save: the index still
        # searches (points of unknown documents are skipped, missing ones score 0), and re-running
        # the same command brings the two back in step (point ids are deterministic)
        out._check_count(n_passages, f"opening {root}", strict=False)
        return out

    def _check_count(self, expected: int, when: str, strict: bool = True) -> None:
        n = self.client.count(self.collection, exact=True).count
        if n == expected:
            return
        message = f"Qdrant collection {self.collection!r} holds {n} passages but the index has {expected} ({when})"
        if strict:
            raise IndexFormatError(message + "; rebuild the index with `radlite index`")
        # points of an interrupted earlier add, or another writer: searches skip unknown documents
        logger.warning("%s; re-run the interrupted add/delete, or rebuild with `radlite index`", message)

    # -- search -----------------------------------------------------------------------------------
    def retrieve(self, index, q, signal: str, depth: int, category: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top `depth` passages of one signal, computed by Qdrant's query API. ColBERT re-scores the
        candidates of the dense and sparse prefetches with MaxSim (every passage if neither exists)."""
        from qdrant_client import models as m

        flt = (
            None
            if category is None
            else m.Filter(must=[m.FieldCondition(key="category", match=m.MatchValue(value=category))])
        )
        # a few more than asked, so that of passages tied at the cut the lowest ids are kept
        kwargs: dict[str, Any] = {
            "limit": depth + TIE_SLACK,
            "query_filter": flt,
            "with_payload": ["doc_id", "passage"],
        }
        if signal == BM25:
            sparse = self._sparse_query(q)
            if sparse is None:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            res = self.client.query_points(self.collection, query=sparse, using=BM25, **kwargs)
        elif signal == BIENCODER:
            if self.settings["url"]:  # HNSW breadth on a server; local mode searches exactly anyway
                kwargs["search_params"] = m.SearchParams(hnsw_ef=max(128, depth))
            res = self.client.query_points(self.collection, query=q.biencoder.tolist(), using=BIENCODER, **kwargs)
        elif signal == COLBERT:
            # candidates: the bi-encoder's and BM25's best `wide` (the pipeline encodes the
            # bi-encoder query for this); with neither, every passage (exact MaxSim, slow at scale)
            cfg = index.config.colbert
            wide = max(cfg.rescore, depth)
            prefetch = []
            if q.biencoder is not None and BIENCODER in self.signals:
                prefetch.append(m.Prefetch(query=q.biencoder.tolist(), using=BIENCODER, limit=wide, filter=flt))
            sparse = self._sparse_query(q) if BM25 in self.signals else None
            if sparse is not None:
                prefetch.append(m.Prefetch(query=sparse, using=BM25, limit=wide, filter=flt))
            if not prefetch:
                logger.info("ColBERT on Qdrant without a bi-encoder or BM25 candidate: scanning every passage")
            res = self.client.query_points(
                self.collection, prefetch=prefetch or None, query=q.colbert.tolist(), using=COLBERT, **kwargs
            )
        else:
            raise ValueError(f"unknown first-stage signal {signal!r}")
        pids, scores = passages_of_points(index, res.points)
        return pids[:depth], scores[:depth]

    def score(self, index, q, signal: str, pids: np.ndarray) -> np.ndarray:
        """Each given passage's score under one signal, computed by Qdrant (exact: an id filter)."""
        from qdrant_client import models as m

        pids = np.asarray(pids, dtype=np.int64)
        out = np.zeros(len(pids), dtype=np.float32)
        if len(pids) == 0:
            return out
        if signal == BM25:
            query = self._sparse_query(q)
            if query is None:
                return out
        else:
            query = getattr(q, signal).tolist()
        ids = [passage_point(index, int(p)) for p in pids]
        res = self.client.query_points(
            self.collection,
            query=query,
            using=signal,
            limit=len(ids),
            query_filter=m.Filter(must=[m.HasIdCondition(has_id=ids)]),
            with_payload=["doc_id", "passage"],
        )
        got, scores = passages_of_points(index, res.points, order=False)
        where = {int(p): i for i, p in enumerate(pids)}
        for p, s in zip(got.tolist(), scores.tolist()):
            if p in where:
                out[where[p]] = s
        return out

    def biencoder_vectors(self, index, pids) -> np.ndarray:
        """Read back from Qdrant (the points of the passages `pids`)."""
        pids = np.asarray(pids, dtype=np.int64)
        ids = [passage_point(index, int(p)) for p in pids]
        points = self.client.retrieve(self.collection, ids=ids, with_vectors=[BIENCODER])
        by_id = {str(pt.id): np.asarray(pt.vector[BIENCODER], dtype=np.float32) for pt in points}
        return np.stack([by_id[str(i)] for i in ids])

    def _sparse_query(self, q):
        from qdrant_client import models as m

        if self.counts is None:
            return None
        terms, counts = query_terms(q.terms(), self.vocab)
        keep = self.df[terms] > 0  # a term of deleted passages only
        terms, counts = terms[keep], counts[keep]
        if len(terms) == 0:
            return None
        values = counts * lucene_idf(len(self.counts), self.df[terms].astype(np.float64))
        return m.SparseVector(indices=terms.tolist(), values=values.astype(np.float32).tolist())
