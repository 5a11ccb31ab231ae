"""Qdrant connections and point ids for the Qdrant backend: one client per server or folder per
process, every client call turned into a one-line radlite error, and the deterministic point id of
a passage."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from radlite.errors import BackendError, RadliteError
from radlite.retrievers.topk import top_k

logger = logging.getLogger(__name__)

NAMESPACE = uuid.UUID("6f1c8f57-3b0e-4c55-9a53-2b1d7d8e0a11")

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def settings_for(
    url: str | None,
    path: str | Path | None,
    collection: str | None = None,
    shards: int = 1,
    replicas: int = 1,
    bm25_avgdl_tolerance: float = 0.0,
) -> dict[str, Any]:
    """The manifest's "backend" entry for a Qdrant index (exactly one of url or path).

    `bm25_avgdl_tolerance`: BM25's stored weights depend on the average passage length, which
    every add/delete changes. 0 (the default) rewrites every passage's weights on each change, so
    BM25 stays exactly the local backend's; at archive scale (millions of passages) set e.g. 0.02
    to rewrite only when the average has moved by more than 2% (scores drift by less than that)."""
    if bool(url) == bool(path):
        raise RadliteError(
            "the Qdrant backend needs exactly one of url (a server or cluster) or "
            "path (qdrant-client's embedded local mode)",
            param="qdrant_url",
        )
    if shards < 1 or replicas < 1:
        raise RadliteError("shards and replicas must be at least 1", param="shards")
    if not 0 <= bm25_avgdl_tolerance < 1:
        raise RadliteError("bm25_avgdl_tolerance must be from 0 to below 1", param="bm25_avgdl_tolerance")
    return {
        "kind": "qdrant",
        "url": url or None,
        "path": str(Path(path).resolve()) if path else None,
        "collection": collection or "radlite",
        "shards": int(shards),
        "replicas": int(replicas),
        "bm25_avgdl_tolerance": float(bm25_avgdl_tolerance),
    }


def client_for(settings: dict[str, Any]) -> "_Guarded":
    """One client per server or local folder in this process (local mode locks its folder)."""
    key = settings["url"] or f"path:{settings['path']}"
    where = settings["url"] or settings["path"]
    with _clients_lock:
        if key not in _clients:
            try:
                from qdrant_client import QdrantClient
            except ImportError:
                raise RadliteError(
                    "the Qdrant backend needs qdrant-client: pip install qdrant-client "
                    "(or install radlite with the [qdrant] extra)"
                ) from None
            try:
                if settings["url"]:
                    raw = QdrantClient(url=settings["url"], api_key=os.environ.get("QDRANT_API_KEY"), timeout=120)
                    raw.get_collections()  # a server that is not there fails now, not after hours of encoding
                else:
                    raw = QdrantClient(path=settings["path"])
            except Exception as exc:
                hint = (
                    " (qdrant-client's local mode lets one process open a folder: stop the other process, "
                    "or use a Qdrant server with --qdrant-url)"
                    if "already accessed" in str(exc)
                    else ""
                )
                raise BackendError(
                    f"cannot open Qdrant at {where}: {type(exc).__name__}: {_short(exc)}{hint}"
                ) from None
            _clients[key] = _Guarded(raw, where, local=not settings["url"])
        return _clients[key]


class _Guarded:
    """A qdrant-client whose calls raise BackendError (one line, naming the server) instead of the
    client's own exceptions, and, in local mode, run one at a time: qdrant-client's embedded mode
    is not thread-safe, and a server searches while it writes."""

    def __init__(self, raw, where: str, local: bool):
        self.raw, self.where = raw, where
        self.lock = threading.RLock() if local else None

    def __getattr__(self, name: str):
        if name.startswith("_") or "raw" not in self.__dict__:  # copy/pickle probes; not a client call
            raise AttributeError(name)
        fn = getattr(self.raw, name)
        if not callable(fn):
            return fn

        def call(*args, **kwargs):
            try:
                if self.lock is None:
                    return fn(*args, **kwargs)
                with self.lock:
                    return fn(*args, **kwargs)
            except RadliteError:
                raise
            except Exception as exc:
                raise BackendError(
                    f"Qdrant at {self.where} failed ({name}): {type(exc).__name__}: {_short(exc)}"
                ) from None

        return call


def _short(exc: Exception, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text[:limit] + ("..." if len(text) > limit else "")


@atexit.register
def _close_clients() -> None:
    with _clients_lock:
        for client in _clients.values():
            try:
                client.raw.close()
            except Exception:
                pass
        _clients.clear()


def point_id(doc_id: str, passage: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{doc_id}\x1f{passage}"))


def passage_point(index, pid: int) -> str:
    """The Qdrant point id of passage `pid` of a catalog: (document id, passage number in it)."""
    d = int(index.passages[pid, 0])
    return point_id(index.documents[d].id, pid - int(index.first_passages[d]))


def payload(index, pid: int) -> dict[str, Any]:
    """What a passage's point carries besides its vectors: its document id, its number within the
    document (with the id, the point's identity), title, text, category and metadata."""
    d, start, end = (int(x) for x in index.passages[pid])
    doc = index.documents[d]
    return {
        "doc_id": doc.id,
        "passage": pid - int(index.first_passages[d]),
        "title": doc.title,
        "text": doc.text[start:end],
        "category": doc.category,
        "metadata": doc.metadata,
    }


def passages_of_points(index, points, order: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Qdrant points -> this catalog's passage ids; points of documents this catalog does not
    know (written by a concurrent add) are skipped. Ties are broken by passage id, as locally."""
    position = index.positions
    firsts = index.first_passages
    ends = np.append(firsts[1:], len(index.passages))
    pids, scores = [], []
    for p in points:
        d = position.get(p.payload["doc_id"])
        pid = None if d is None else int(firsts[d]) + int(p.payload["passage"])
        if pid is None or pid >= ends[d]:  # a document or passage this catalog does not hold
            continue
        pids.append(pid)
        scores.append(p.score)
    pids_a, scores_a = np.array(pids, dtype=np.int64), np.array(scores, dtype=np.float32)
    return top_k(pids_a, scores_a, len(pids_a)) if order else (pids_a, scores_a)
