"""The backend contract: where an index's first-stage signals live, and how they are searched.

A `SearchIndex` (radlite.index.catalog) is the catalog every backend shares: documents, the
passage table and the manifest, always written to the index folder. Its backend holds the
signals (BM25 weights, bi-encoder vectors, ColBERT token vectors) and answers two questions for
the search stages (radlite.search.stages): a signal's best passages, and any passages' scores.
Everything after those two (pooling, reranking, fusion) is the same code for every backend.

Backends are immutable: `add` and `delete` return a new backend for the new catalog, so a
reader keeps searching the old one until the new index is saved and swapped in.

Passage ids are the catalog's row numbers (0 .. P-1, in document order). Scores are raw, in each
signal's own units (BM25: Lucene BM25; bi-encoder: dot product of normalised vectors; ColBERT:
sum over query tokens of the best token dot product).

To add a backend: subclass `Backend` in a module of this package, and name it in
radlite.backends.registry. Every backend runs the contract tests (tests/integration/test_backends.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Hashable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from radlite.encoding import Encoding
    from radlite.index.catalog import SearchIndex
    from radlite.search.stages import QueryVectors


class Backend(ABC):
    """One index's first-stage signals. Subclasses set `kind` (the manifest's backend kind) and
    `format_version` (the index format their manifests are written with)."""

    kind: ClassVar[str]
    format_version: ClassVar[int] = 2
    signals: list[str]  # the first-stage signals held, in radlite.signals.FIRST_STAGE order
    settings: dict[str, Any]  # the manifest's "backend" entry: {"kind": kind, ...}

    # -- life cycle ------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def build(
        cls,
        settings: dict[str, Any],
        index: SearchIndex,
        texts: Sequence[str],
        encoding: Encoding | None,
        progress: bool = False,
    ) -> Backend:
        """Hold every passage of `index` (the catalog). `texts[p]` is passage p's encoder input;
        `encoding` turns texts into the model signals' vectors (None when BM25 is the only signal)."""

    @classmethod
    @abstractmethod
    def open(
        cls, settings: dict[str, Any], signals: Sequence[str], folder: Path, index: SearchIndex, root: str | Path
    ) -> Backend:
        """The backend of a saved index generation `folder` whose catalog `index` is loaded.

        Raises:
            IndexFormatError: its files or its store are missing, unreadable or disagree with the catalog.
        """

    @abstractmethod
    def save(self, folder: Path) -> None:
        """Write what the backend keeps in the index folder (a new generation folder, written once)."""

    @abstractmethod
    def add(
        self,
        index: SearchIndex,
        first_new: int,
        texts: Sequence[str],
        encoding: Encoding | None,
        progress: bool = False,
    ) -> Backend:
        """A backend for `index`, the catalog with passages `first_new` .. P-1 appended; `texts` are
        the new passages' encoder inputs."""

    @abstractmethod
    def delete(self, doc_ids: Sequence[str], index: SearchIndex, keep: np.ndarray) -> Backend:
        """A backend for `index`, the catalog without documents `doc_ids`; `keep` (int64, in order)
        are the old passage ids it kept."""

    def drop(self) -> None:
        """Delete what the backend keeps outside the index folder (a Qdrant collection)."""
        type(self).drop_resources(self.settings)

    # -- search ----------------------------------------------------------------------------------
    @abstractmethod
    def retrieve(
        self, index: SearchIndex, q: QueryVectors, signal: str, depth: int, category: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best `depth` passages of one signal: (passage ids int64, raw scores float32), best
        first, ties by passage id. `category` keeps only passages of that category's documents.

        Raises:
            ValueError: `signal` is not a first-stage signal.
        """

    @abstractmethod
    def score(self, index: SearchIndex, q: QueryVectors, signal: str, pids: np.ndarray) -> np.ndarray:
        """Raw score (float32) of each passage of `pids` under one signal, exact."""

    def biencoder_vectors(self, index: SearchIndex, pids: np.ndarray) -> np.ndarray:
        """The bi-encoder vectors ((len(pids), dim) float32, unit length) of the passages `pids`: the search's
        pseudo-relevance feedback compares candidates with its first result by them. A backend that cannot read
        them back raises NotImplementedError, and its searches go without that feedback."""
        raise NotImplementedError(f"the {self.kind} backend cannot read bi-encoder vectors back")

    def query_signals(self, active: Sequence[str]) -> list[str]:
        """The query encodings a search over the signals `active` needs (some backends take
        ColBERT's candidates from the bi-encoder)."""
        return list(active)

    # -- catalog checks and clean-up -------------------------------------------------------------
    def check(self, index: SearchIndex) -> list[str]:
        """What is wrong with the signals' values (shapes, ranges), one sentence each; [] when sound.
        `radlite verify` runs it; checksums already caught changed bytes."""
        return []

    def colbert_tokens(self) -> int | None:
        """ColBERT token vectors kept in the index folder (the manifest's count); None when they live elsewhere."""
        return None

    def sizes(self) -> dict[str, int]:
        """Passages held per signal part, checked against the catalog when an index is opened."""
        return {}

    def describe(self) -> str:
        """Where the signals are, for people: '' for the index folder."""
        return ""

    def bm25_vocabulary(self) -> Mapping[str, int] | None:
        """The stems BM25 knows in this collection (query understanding drops expansions the collection never
        uses); None where there is no single vocabulary to ask."""
        return None

    def bm25_postings(self):
        """Which passages use a stem: an object with `n_passages` and `postings(stem, most=None)`, the passage
        numbers ascending and each once, or None when more than `most` passages use it (query understanding settles
        an ambiguous abbreviation by what the collection's passages use it with); None where there is no single
        index to ask."""
        return None

    @classmethod
    def describe_settings(cls, settings: dict[str, Any]) -> str:
        """A manifest's backend entry, for people (`radlite info`)."""
        return str(settings.get("kind"))

    @classmethod
    def single_process(cls, settings: dict[str, Any]) -> bool:
        """Whether only one process at a time may open an index on these settings (a server then
        runs one worker)."""
        return False

    @classmethod
    def check_settings(cls, settings: dict[str, Any]) -> str | None:
        """What is wrong with a manifest's backend entry, or None."""
        return None

    @classmethod
    def resource(cls, settings: dict[str, Any]) -> Hashable | None:
        """The store outside the index folder that these settings name (None: nothing outside)."""
        return None

    @classmethod
    def drop_resources(cls, settings: dict[str, Any]) -> None:
        """Delete the store outside the index folder that `settings` names (nothing by default)."""
        return None
