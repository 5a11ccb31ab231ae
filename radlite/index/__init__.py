"""The index: documents, passages and one structure per first-stage signal, with a manifest.

This module only stores and looks up; encoders are handed in by the pipeline.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence

import numpy as np

import radlite
from radlite.config import IndexConfig
from radlite.corpus import passage_input, split_passages
from radlite.errors import CorpusError, DocumentConflict, IndexFormatError, UnknownDocument
from radlite.index.bm25 import BM25Index
from radlite.index.colbert import ColbertIndex
from radlite.index.dense import DenseIndex
from radlite.index.store import MANIFEST, live_generation, write_generation, writer_lock  # noqa: F401
from radlite.types import Document

if TYPE_CHECKING:
    from radlite.encoding import Encoding

logger = logging.getLogger(__name__)

FORMAT = "radlite-index"
FORMAT_VERSION = 2  # written for indexes whose signals live in a remote backend (Qdrant)
READS = (1, 2)  # 1: signals in the index folder (still written for those, so older radlite opens them)


class PassageEncoder(Protocol):
    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> Any: ...


@dataclass
class SearchIndex:
    config: IndexConfig
    models: dict[str, dict]  # kind -> ResolvedModel.to_json() of the models that built it
    documents: list[Document]
    passages: np.ndarray  # (P, 3) int64: document, start char, end char
    bm25: BM25Index | None = None
    dense: DenseIndex | None = None
    colbert: ColbertIndex | None = None
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    # where the signals live: None = in this folder (the three parts above); or a remote backend
    # (radlite.index.qdrant.QdrantSignals) that searches and scores them itself
    remote: Any = None

    # -- lookups ----------------------------------------------------------------------------
    @property
    def signals(self) -> list[str]:
        if self.remote is not None:
            return list(self.remote.signals)
        return [s for s, part in (("bm25", self.bm25), ("biencoder", self.dense), ("colbert", self.colbert)) if part is not None]

    @property
    def format_version(self) -> int:
        return FORMAT_VERSION if self.remote is not None else 1

    @property
    def backend(self) -> dict[str, Any]:
        """The manifest's description of where the signals live."""
        return self.remote.settings if self.remote is not None else {"kind": "local"}

    def passage_doc(self, pids: np.ndarray) -> np.ndarray:
        return self.passages[np.asarray(pids, dtype=np.int64), 0]

    def passage_text(self, pid: int) -> str:
        doc, start, end = (int(x) for x in self.passages[pid])
        return self.documents[doc].text[start:end]

    def encoder_input(self, pid: int) -> str:
        doc, start, end = (int(x) for x in self.passages[pid])
        return _input(self.documents[doc], start, end, self.config)

    @functools.cached_property
    def positions(self) -> dict[str, int]:
        """Document id -> its position in `documents` (an index is never changed in place)."""
        return {d.id: i for i, d in enumerate(self.documents)}

    @functools.cached_property
    def first_passages(self) -> np.ndarray:
        """Each document's first passage id (passages are stored in document order)."""
        return np.searchsorted(self.passages[:, 0], np.arange(len(self.documents)), "left")

    def category_mask(self, category: str) -> np.ndarray:
        """A boolean mask over passages: those of documents in `category`."""
        return np.array([d.category == category for d in self.documents], dtype=bool)[self.passages[:, 0]]

    def doc_passages(self, docs: np.ndarray) -> np.ndarray:
        """All passage ids of the given documents (passages are stored in document order)."""
        docs = np.asarray(docs, dtype=np.int64)
        owner = self.passages[:, 0]
        starts, ends = np.searchsorted(owner, docs, "left"), np.searchsorted(owner, docs, "right")
        if len(docs) == 0:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)]).astype(np.int64)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def build(cls, documents: Sequence[Document], config: IndexConfig, encoders: dict[str, PassageEncoder] | Encoding,
              models: dict[str, dict], progress: bool = False, backend: dict[str, Any] | None = None) -> "SearchIndex":
        """Index `documents`. `encoders` is a dict of passage encoders (run here) or an Encoding
        (radlite.encoding: e.g. RayEncoding); `backend` None or {"kind": "local"} keeps the signals in
        the index folder, radlite.index.qdrant.settings_for(...) puts them in a Qdrant collection."""
        documents = list(documents)
        passages = _passages_array(documents, config, first_doc=0)
        if len(passages) == 0:
            raise CorpusError("nothing to index: every document is empty")
        index = cls(config=config, models=models, documents=documents, passages=passages)
        texts = [index.encoder_input(p) for p in range(len(passages))]
        encoding = _encoding(encoders, config.signals)
        if backend is not None and backend.get("kind", "local") != "local":
            index.remote = _remote_class(backend).build(backend, index, texts, encoding, progress=progress)
            return index
        if "bm25" in config.signals:
            index.bm25 = BM25Index.build(texts, config.bm25)
        vectors = _encode_all(encoders, encoding, texts, progress)
        if "biencoder" in config.signals:
            index.dense = DenseIndex(vectors["biencoder"])
        if "colbert" in config.signals:
            index.colbert = ColbertIndex.build(vectors["colbert"], config.colbert)
        return index

    def with_documents(self, new_docs: Sequence[Document], encoders: dict[str, PassageEncoder] | Encoding,
                       progress: bool = False) -> "SearchIndex":
        """A new index with `new_docs` appended; only the new passages are encoded."""
        clash = [d.id for d in new_docs if d.id in self.positions]
        if clash:
            raise DocumentConflict(f"document id already in the index: {clash[0]!r} ({len(clash)} in all); delete it first")
        docs = self.documents + list(new_docs)
        added = _passages_array(new_docs, self.config, first_doc=len(self.documents))
        if len(added) == 0:
            raise CorpusError("no documents with text to add")
        out = SearchIndex(self.config, self.models, docs, np.concatenate([self.passages, added]), created=self.created)
        new_texts = [_input(docs[d], s, e, self.config) for d, s, e in added]
        encoding = _encoding(encoders, self.signals)
        if self.remote is not None:
            out.remote = self.remote.with_added(out, len(self.passages), new_texts, encoding, progress=progress)
            return out
        out.bm25 = self._rebuilt_bm25(out)
        vectors = _encode_all(encoders, encoding, new_texts, progress)
        if self.dense is not None:
            out.dense = self.dense.appended(vectors["biencoder"])
        if self.colbert is not None:
            out.colbert = self.colbert.appended(vectors["colbert"], self.config.colbert)
        return out

    def without_documents(self, ids: Sequence[str]) -> "SearchIndex":
        """A new index without the documents `ids` (every id must exist)."""
        position = self.positions
        missing = [i for i in ids if i not in position]
        if missing:
            raise UnknownDocument(f"document id not in the index: {missing[0]!r} ({len(missing)} in all); nothing was deleted")
        drop = np.array(sorted({position[i] for i in ids}), dtype=np.int64)
        keep_docs = np.setdiff1d(np.arange(len(self.documents)), drop)
        if len(keep_docs) == 0:
            raise DocumentConflict("deleting these ids would leave the index empty; delete the index folder instead")
        keep_pids = np.flatnonzero(~np.isin(self.passages[:, 0], drop))
        renumber = np.full(len(self.documents), -1, dtype=np.int64)
        renumber[keep_docs] = np.arange(len(keep_docs))
        passages = self.passages[keep_pids].copy()
        passages[:, 0] = renumber[passages[:, 0]]
        out = SearchIndex(self.config, self.models, [self.documents[i] for i in keep_docs], passages, created=self.created)
        if self.remote is not None:
            out.remote = self.remote.without(sorted({self.documents[i].id for i in drop.tolist()}), out, keep_pids)
            return out
        out.bm25 = self._rebuilt_bm25(out)
        out.dense = self.dense.subset(keep_pids) if self.dense is not None else None
        out.colbert = self.colbert.subset(keep_pids) if self.colbert is not None else None
        return out

    def _rebuilt_bm25(self, other: "SearchIndex") -> BM25Index | None:
        # BM25's IDF depends on the whole collection, so it is rebuilt (fast: ~3.6 s per 100k passages).
        if self.bm25 is None:
            return None
        return BM25Index.build([other.encoder_input(p) for p in range(len(other.passages))], self.config.bm25)

    # -- persistence ------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": self.format_version,
            "radlite_version": radlite.__version__,
            "created": self.created,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "signals": self.signals,
            "backend": self.backend,
            "models": self.models,
            "config": self.config.to_json(),
            "counts": {
                "documents": len(self.documents),
                "passages": int(len(self.passages)),
                # the local ColBERT part counts its tokens; a remote backend's are in its collection
                "colbert_tokens": self.colbert.n_tokens if self.colbert is not None else None,
            },
        }

    def save(self, root: str | Path) -> Path:
        """Write a new generation of the index at `root` atomically; returns its folder."""
        def write(folder: Path) -> None:
            folder.mkdir(parents=True)
            with (folder / "documents.jsonl").open("w", encoding="utf-8") as fh:
                for doc in self.documents:
                    fh.write(json.dumps(doc.to_json(), ensure_ascii=False) + "\n")
            np.save(folder / "passages.npy", np.ascontiguousarray(self.passages, dtype=np.int64))
            if self.bm25 is not None:
                self.bm25.save(folder / "bm25")
            if self.dense is not None:
                self.dense.save(folder / "biencoder")
            if self.colbert is not None:
                self.colbert.save(folder / "colbert")
            if self.remote is not None:
                self.remote.save(folder)
            (folder / MANIFEST).write_text(json.dumps(self.manifest(), indent=2), encoding="utf-8")

        root = Path(root)
        before = _generation_backends(root)
        written = write_generation(root, write)
        _drop_unreferenced(before, _generation_backends(root), self.backend)
        return written

    @classmethod
    def load(cls, root: str | Path) -> "SearchIndex":
        """Open the live generation of `root` (resolved once; a generation folder also works)."""
        folder = live_generation(Path(root))
        manifest = manifest_in(folder, root)
        parts = {"bm25": BM25Index, "biencoder": DenseIndex, "colbert": ColbertIndex}
        backend = manifest.get("backend") or {"kind": "local"}
        local = backend["kind"] == "local"
        try:
            with (folder / "documents.jsonl").open(encoding="utf-8") as fh:
                documents = [Document.from_json(json.loads(line)) for line in fh]
            passages = np.load(folder / "passages.npy")
            if passages.ndim != 2 or passages.shape[1] != 3:
                raise ValueError(f"passages.npy has shape {passages.shape}")
            loaded = {s: parts[s].load(folder / s) for s in manifest["signals"]} if local else {}
        except Exception as exc:  # any unreadable file means the same thing to the user
            raise IndexFormatError(f"{root}: index files are corrupted or unreadable ({type(exc).__name__}: {exc}); rebuild it with `radlite index`") from None
        index = cls(IndexConfig.from_json(manifest["config"]), manifest["models"], documents, passages,
                    bm25=loaded.get("bm25"), dense=loaded.get("biencoder"), colbert=loaded.get("colbert"),
                    created=manifest.get("created", ""))
        if not local:
            index.remote = _remote_class(backend).open(backend, manifest["signals"], folder, len(passages), root)
        index._check_counts(manifest, root)
        return index

    def _check_counts(self, manifest: dict, root) -> None:
        n_docs, n_pass = manifest["counts"]["documents"], manifest["counts"]["passages"]
        sizes = {"documents": len(self.documents), "passages": len(self.passages)}
        if self.bm25 is not None:
            sizes["bm25"] = self.bm25.n_passages
        if self.dense is not None:
            sizes["biencoder"] = len(self.dense)
        if self.colbert is not None:
            sizes["colbert"] = len(self.colbert)
        expected = {k: (n_docs if k == "documents" else n_pass) for k in sizes}
        bad = {k: v for k, v in sizes.items() if v != expected[k]}
        if bad or (len(self.passages) and self.passages[:, 0].max() >= len(self.documents)):
            raise IndexFormatError(f"{root}: index files disagree with the manifest ({bad or 'passage table'}); rebuild it with `radlite index`")


def read_manifest(root: str | Path) -> dict[str, Any]:
    return manifest_in(live_generation(Path(root)), root)


def manifest_in(folder: Path, root: str | Path) -> dict[str, Any]:
    """The validated manifest of one generation folder."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexFormatError(f"{root}: manifest.json is unreadable ({exc}); rebuild the index") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexFormatError(f"{root}: not a radlite index manifest")
    version = manifest.get("format_version")
    if version not in READS:
        raise IndexFormatError(
            f"{root}: index format version {version}, but radlite {radlite.__version__} reads versions "
            f"{', '.join(map(str, READS))}; "
            f"rebuild it with `radlite index` (the index was written by radlite {manifest.get('radlite_version', '?')})"
        )
    _check_schema(manifest, root)
    return manifest


def _check_schema(manifest: dict, root) -> None:
    def bad(what: str):
        raise IndexFormatError(f"{root}: manifest.json is damaged ({what}); rebuild the index with `radlite index`")

    signals = manifest.get("signals")
    if not isinstance(signals, list) or not signals or any(s not in ("bm25", "biencoder", "colbert") for s in signals):
        bad("'signals'")
    counts = manifest.get("counts")
    if not isinstance(counts, dict) or not all(isinstance(counts.get(k), int) for k in ("documents", "passages")):
        bad("'counts'")
    models = manifest.get("models")
    if not isinstance(models, dict):
        bad("'models'")
    for kind in [s for s in signals if s != "bm25"] + (["crossencoder"] if "crossencoder" in models else []):
        m = models.get(kind)
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not isinstance(m.get("sha256"), str):
            bad(f"model entry '{kind}'")
    if not isinstance(manifest.get("config"), dict):
        bad("'config'")
    backend = manifest.get("backend", {"kind": "local"})
    if not isinstance(backend, dict) or backend.get("kind") not in ("local", "qdrant"):
        bad("'backend'")
    if backend["kind"] == "qdrant" and not (isinstance(backend.get("collection"), str)
                                             and bool(backend.get("url")) != bool(backend.get("path"))):
        bad("'backend': a Qdrant backend needs a collection and one of url or path")
    try:
        IndexConfig.from_json(manifest["config"])
    except (TypeError, ValueError, AttributeError):
        bad("'config'")


def _generation_backends(root: Path) -> dict[str, dict | None]:
    """The backend of each generation folder of an index directory (None where unreadable)."""
    out: dict[str, dict | None] = {}
    if root.is_dir():
        for gen in root.glob("gen-*"):
            try:
                backend = json.loads((gen / MANIFEST).read_text(encoding="utf-8")).get("backend") or {"kind": "local"}
                out[gen.name] = backend if isinstance(backend, dict) else None
            except (OSError, ValueError, AttributeError):
                out[gen.name] = None
    return out


def _drop_unreferenced(before: dict[str, dict | None], after: dict[str, dict | None], live: dict) -> None:
    """Drop the Qdrant collections that only generations removed by this save named: a rebuild's
    old collection goes when the generation after it is written (the next write), not while
    readers may still be on it. Nothing is dropped if a remaining generation cannot be read."""
    def key(b):
        return (b.get("url"), b.get("path"), b.get("collection")) if b and b.get("kind") == "qdrant" else None

    if any(b is None for b in after.values()):
        logger.warning("an index generation's manifest is unreadable; no Qdrant collection was dropped")
        return
    kept = {key(b) for b in after.values()} | {key(live)}
    for gen, backend in before.items():
        if gen in after:
            continue
        if backend is None:
            logger.warning("removed generation %s had an unreadable manifest: a Qdrant collection it named, if "
                           "any, was not dropped", gen)
        elif key(backend) is not None and key(backend) not in kept:
            try:
                _remote_class(backend)(backend, []).drop()
            except Exception as exc:  # the save itself succeeded; a leftover collection is only space
                logger.warning("could not drop the replaced Qdrant collection %s: %s", backend.get("collection"), exc)


def _remote_class(backend: dict[str, Any]):
    if backend.get("kind") == "qdrant":
        from radlite.index.qdrant import QdrantSignals

        return QdrantSignals
    raise IndexFormatError(f"unknown index backend {backend.get('kind')!r} (radlite knows 'local' and 'qdrant')")


def _encoding(encoders, signals: Sequence[str]) -> Encoding | None:
    """The Encoding for the signals that need a model (None when BM25 is the only signal)."""
    from radlite.encoding import LocalEncoding

    if isinstance(encoders, dict):
        wanted = {s: encoders[s] for s in signals if s in ("biencoder", "colbert")}
        return LocalEncoding(wanted) if wanted else None
    return encoders


def _encode_all(encoders, encoding: Encoding | None, texts: Sequence[str], progress: bool) -> dict[str, Any]:
    if encoding is None:
        return {}
    if isinstance(encoders, dict):  # in this process: one call per model, with the model's own progress bar
        out = {}
        for s, enc in encoding.encoders.items():
            logger.info("%s: encoding %d passages", s, len(texts))
            out[s] = enc.encode_passages(texts, progress=progress)
        return out
    from radlite.encoding import gather

    return gather(encoding, texts, progress=progress)


def _passages_array(docs: Sequence[Document], config: IndexConfig, first_doc: int) -> np.ndarray:
    spans = split_passages(docs, config.chunking, first_doc=first_doc)
    return np.array([(s.doc, s.start, s.end) for s in spans], dtype=np.int64).reshape(-1, 3)


def _input(doc: Document, start: int, end: int, config: IndexConfig) -> str:
    from radlite.types import Span

    return passage_input(doc, Span(0, start, end), config.chunking)
