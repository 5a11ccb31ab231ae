"""The index: the catalog (documents, passage table, manifest) and the backend that holds its
first-stage signals (radlite.backends). This module stores and looks up; encoders are handed in."""

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
from radlite.backends.base import Backend
from radlite.backends.registry import backend_class
from radlite.config import IndexConfig
from radlite.corpus import passage_input, split_passages
from radlite.errors import CorpusError, DocumentConflict, IndexFormatError, RadliteError, UnknownDocument
from radlite.index.integrity import file_table, verify_files, write_digest
from radlite.index.manifest import FORMAT, drop_unreferenced, generation_backends, manifest_in, read_manifest
from radlite.index.store import MANIFEST, live_generation, write_generation
from radlite.retrievers import csr
from radlite.signals import ENCODED
from radlite.types import Document, Span

if TYPE_CHECKING:
    from radlite.encoding import Encoding

logger = logging.getLogger(__name__)


class PassageEncoder(Protocol):
    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> Any: ...


def _local() -> Backend:
    return backend_class("local")()


@dataclass
class SearchIndex:
    """Documents, their passages (P rows of document, start char, end char) and a backend.

    An index is never changed in place: `with_documents` and `without_documents` return a new one,
    so a reader keeps a consistent snapshot while a writer saves the next generation.
    """

    config: IndexConfig
    models: dict[str, dict]  # kind -> ResolvedModel.to_json() of the models that built it
    documents: list[Document]
    passages: np.ndarray  # (P, 3) int64: document, start char, end char
    backend: Backend = field(default_factory=_local)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    # -- lookups ----------------------------------------------------------------------------
    @property
    def signals(self) -> list[str]:
        """The first-stage signals this index holds."""
        return list(self.backend.signals)

    def passage_doc(self, pids: np.ndarray) -> np.ndarray:
        """The document position of each passage id."""
        return self.passages[np.asarray(pids, dtype=np.int64), 0]

    def passage_text(self, pid: int) -> str:
        """The text of passage `pid` (without the title the models read)."""
        doc, start, end = (int(x) for x in self.passages[pid])
        return self.documents[doc].text[start:end]

    def encoder_input(self, pid: int) -> str:
        """What the models read for passage `pid` (the passage, after the title when titles are indexed)."""
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
        return csr.ranges(np.searchsorted(owner, docs, "left"), np.searchsorted(owner, docs, "right"))

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        documents: Sequence[Document],
        config: IndexConfig,
        encoders: dict[str, PassageEncoder] | Encoding,
        models: dict[str, dict],
        progress: bool = False,
        backend: dict[str, Any] | None = None,
    ) -> SearchIndex:
        """Index `documents`. `encoders` is a dict of passage encoders (run here) or an Encoding
        (radlite.encoding: e.g. RayEncoding); `backend` is the manifest's backend entry for where the
        signals go (None: the index folder; radlite.backends.qdrant.settings_for(...): Qdrant).

        Raises:
            CorpusError: every document is empty.
        """
        documents = list(documents)
        passages = _passages_array(documents, config, first_doc=0)
        if len(passages) == 0:
            raise CorpusError("nothing to index: every document is empty")
        index = cls(config=config, models=models, documents=documents, passages=passages)
        texts = [index.encoder_input(p) for p in range(len(passages))]
        settings = backend or {"kind": "local"}
        index.backend = backend_class(settings).build(
            settings, index, texts, _encoding(encoders, config.signals), progress=progress
        )
        return index

    def with_documents(
        self, new_docs: Sequence[Document], encoders: dict[str, PassageEncoder] | Encoding, progress: bool = False
    ) -> SearchIndex:
        """A new index with `new_docs` appended; only the new passages are encoded.

        Raises:
            DocumentConflict: a document id is already in the index.
            CorpusError: none of the documents has text.
        """
        clash = [d.id for d in new_docs if d.id in self.positions]
        if clash:
            raise DocumentConflict(
                f"document id already in the index: {clash[0]!r} ({len(clash)} in all); delete it first"
            )
        docs = self.documents + list(new_docs)
        added = _passages_array(new_docs, self.config, first_doc=len(self.documents))
        if len(added) == 0:
            raise CorpusError("no documents with text to add")
        out = SearchIndex(self.config, self.models, docs, np.concatenate([self.passages, added]), created=self.created)
        new_texts = [_input(docs[d], s, e, self.config) for d, s, e in added]
        out.backend = self.backend.add(
            out, len(self.passages), new_texts, _encoding(encoders, self.signals), progress=progress
        )
        return out

    def without_documents(self, ids: Sequence[str]) -> SearchIndex:
        """A new index without the documents `ids`.

        Raises:
            UnknownDocument: an id is not in the index (nothing is deleted).
            DocumentConflict: deleting them would leave the index empty.
        """
        position = self.positions
        missing = [i for i in ids if i not in position]
        if missing:
            raise UnknownDocument(
                f"document id not in the index: {missing[0]!r} ({len(missing)} in all); nothing was deleted"
            )
        drop = np.array(sorted({position[i] for i in ids}), dtype=np.int64)
        keep_docs = np.setdiff1d(np.arange(len(self.documents)), drop)
        if len(keep_docs) == 0:
            raise DocumentConflict("deleting these ids would leave the index empty; delete the index folder instead")
        keep_pids = np.flatnonzero(~np.isin(self.passages[:, 0], drop))
        renumber = np.full(len(self.documents), -1, dtype=np.int64)
        renumber[keep_docs] = np.arange(len(keep_docs))
        passages = self.passages[keep_pids].copy()
        passages[:, 0] = renumber[passages[:, 0]]
        out = SearchIndex(
            self.config, self.models, [self.documents[i] for i in keep_docs], passages, created=self.created
        )
        out.backend = self.backend.delete(sorted({self.documents[i].id for i in drop.tolist()}), out, keep_pids)
        return out

    # -- persistence ------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The manifest a save writes (format, versions, signals, backend, models, config, counts)."""
        return {
            "format": FORMAT,
            "format_version": self.backend.format_version,
            "radlite_version": radlite.__version__,
            "created": self.created,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "signals": self.signals,
            "backend": self.backend.settings,
            "models": self.models,
            "config": self.config.to_json(),
            "counts": {
                "documents": len(self.documents),
                "passages": int(len(self.passages)),
                # the tokens a ColBERT part in the index folder holds; None where they live elsewhere
                "colbert_tokens": self.backend.colbert_tokens(),
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
            self.backend.save(folder)
            manifest = {**self.manifest(), "files": file_table(folder)}  # checksums of every file written above
            (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            write_digest(folder)

        root = Path(root)
        before = generation_backends(root)
        written = write_generation(root, write)
        drop_unreferenced(before, generation_backends(root), self.backend.settings)
        return written

    def drop_store_unless_live(self, root: str | Path) -> None:
        """After a failed save: drop the store outside the folder this index's backend wrote (a new
        Qdrant collection), unless the index at `root` went live on it after all."""
        settings = self.backend.settings
        if self.backend.resource(settings) is None:
            return
        try:
            live = read_manifest(root).get("backend") or {"kind": "local"}
        except RadliteError:
            live = None
        if (
            live is None
            or live.get("kind") != settings["kind"]
            or self.backend.resource(live) != self.backend.resource(settings)
        ):
            self.backend.drop()

    @classmethod
    def load(cls, root: str | Path, verify: bool = True) -> SearchIndex:
        """Open the live generation of `root` (resolved once; a generation folder also works).
        `verify` checks every file against the sha256 the manifest lists (False: trust the files,
        for huge indexes on storage that checks itself).

        Raises:
            IndexFormatError: missing, damaged, or disagreeing with its manifest.
        """
        folder = live_generation(Path(root))
        manifest = manifest_in(folder, root)
        if verify and "files" in manifest:
            verify_files(folder, manifest["files"], root)
        elif verify:
            logger.warning("%s was written without checksums (by radlite before 0.2); saving it again adds them", root)
        settings = manifest.get("backend") or {"kind": "local"}
        try:
            with (folder / "documents.jsonl").open(encoding="utf-8") as fh:
                documents = [Document.from_json(json.loads(line)) for line in fh]
            passages = np.load(folder / "passages.npy")
            if passages.ndim != 2 or passages.shape[1] != 3:
                raise ValueError(f"passages.npy has shape {passages.shape}")
        except Exception as exc:  # any unreadable file means the same thing to the user
            raise IndexFormatError(
                f"{root}: index files are corrupted or unreadable ({type(exc).__name__}: {exc}); "
                "rebuild it with `radlite index`"
            ) from None
        index = cls(
            IndexConfig.from_json(manifest["config"]),
            manifest["models"],
            documents,
            passages,
            created=manifest.get("created", ""),
        )
        index.backend = backend_class(settings).open(settings, manifest["signals"], folder, index, root)
        index._check_counts(manifest, root)
        return index

    def _check_counts(self, manifest: dict, root) -> None:
        n_docs, n_pass = manifest["counts"]["documents"], manifest["counts"]["passages"]
        sizes = {"documents": len(self.documents), "passages": len(self.passages), **self.backend.sizes()}
        expected = {k: (n_docs if k == "documents" else n_pass) for k in sizes}
        bad = {k: v for k, v in sizes.items() if v != expected[k]}
        if bad or (len(self.passages) and self.passages[:, 0].max() >= len(self.documents)):
            raise IndexFormatError(
                f"{root}: index files disagree with the manifest ({bad or 'passage table'}); "
                "rebuild it with `radlite index`"
            )


def _encoding(encoders, signals: Sequence[str]) -> Encoding | None:
    """The Encoding for the signals that need a model (None when BM25 is the only signal)."""
    from radlite.encoding import LocalEncoding

    if isinstance(encoders, dict):
        wanted = {s: encoders[s] for s in signals if s in ENCODED}
        return LocalEncoding(wanted) if wanted else None
    return encoders


def _passages_array(docs: Sequence[Document], config: IndexConfig, first_doc: int) -> np.ndarray:
    spans = split_passages(docs, config.chunking, first_doc=first_doc)
    return np.array([(s.doc, s.start, s.end) for s in spans], dtype=np.int64).reshape(-1, 3)


def _input(doc: Document, start: int, end: int, config: IndexConfig) -> str:
    return passage_input(doc, Span(0, start, end), config.chunking)
