"""RadLITESearch: orchestration of index -> retrieve -> rerank -> fuse -> results.

>>> engine = RadLITESearch()                       # all-MiniLM-L6-v2 based defaults, no network
>>> engine.index_corpus(["CT shows a target sign ...", ...]).save("my-index")
>>> RadLITESearch.load("my-index").search("intussusception ultrasound", top_k=5)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from radlite.config import NORMALIZATIONS, IndexConfig
from radlite.corpus import documents_from_records
from radlite.errors import IndexFormatError, ModelError, QueryError
from radlite.index import SearchIndex, manifest_in
from radlite.index.integrity import verify_files
from radlite.index.store import live_generation
from radlite.models import DEFAULT, BiEncoder, ColbertEncoder, CrossEncoderReranker, ResolvedModel, resolve_model
from radlite.models.encoders import encode_query_pair
from radlite.models.resolve import default_that_built
from radlite.models.trust import check_manifest_model, check_modules
from radlite.search import fusion
from radlite.search.checks import check_prf, check_query, check_signals, check_weights
from radlite.search.relevance import RelevanceModel, fitted_for
from radlite.search.results import SearchResult, build_result
from radlite.search.stages import QueryVectors, Timer, best_per_doc, rank_in, retrieve, score_passages, unique_docs
from radlite.signals import BIENCODER, COLBERT, CROSSENCODER, ENCODED, FIRST_STAGE, SIGNALS
from radlite.terms.expand import Expander, Expansion
from radlite.terms.lexicon import load_lexicon, read_glossary
from radlite.types import Document

logger = logging.getLogger(__name__)
# how far a result whose title names what the query negates is pushed down, on the scale of the fused score (a
# weighted sum of z-scores, weights summing to 1); chosen on radbench9 train and dev (benchmarks/vocabulary.py)
NEGATION_WEIGHT = 4.0

_ENCODERS = {BIENCODER: BiEncoder, COLBERT: ColbertEncoder, CROSSENCODER: CrossEncoderReranker}


@dataclass
class SearchRun:
    """One search: its results, its stage times (ms), and how it read the query (None: searched as typed)."""

    results: list[SearchResult]
    timings: dict[str, float]
    expansion: Expansion | None


class RadLITESearch:
    """The multi-stage search engine over one collection.

    Models are named by hub id, local folder or "default"; `reranker=None` searches without a
    cross-encoder. `signals` picks the first-stage indexes to build (bm25, biencoder, colbert).
    """

    def __init__(
        self,
        biencoder: str | None = DEFAULT,
        colbert: str | None = DEFAULT,
        reranker: str | None = DEFAULT,
        signals: Sequence[str] = FIRST_STAGE,
        config: IndexConfig | None = None,
        device: str | None = None,
        batch_size: int = 32,
        show_progress: bool = False,
        max_query_chars: int = 4000,
        exact: bool = False,
        backend: dict[str, Any] | None = None,
        ray: str | None = None,
        ray_actors: int | None = None,
        trust_models: Sequence[str] = (),
        revisions: dict[str, str] | None = None,
        glossary: str | Path | dict[str, list[str]] | None = None,
    ):
        self.config = config or IndexConfig()
        if glossary is not None:  # the site's own abbreviations and synonyms, stored with the index
            self.config.vocabulary.glossary = read_glossary(glossary) if not isinstance(glossary, dict) else glossary
        revisions = revisions or {}  # hub models pinned to a commit (an index's manifest records them)
        self.trust_models = list(trust_models)  # folders whose custom module types may be imported
        self.config.signals = check_signals(signals, FIRST_STAGE)
        names = {BIENCODER: biencoder, COLBERT: colbert}
        self.models: dict[str, ResolvedModel] = {
            kind: resolve_model(kind, names[kind], revisions.get(kind)) for kind in self.config.signals if kind in names
        }
        if reranker is not None:
            self.models[CROSSENCODER] = resolve_model(CROSSENCODER, reranker, revisions.get(CROSSENCODER))
        self.device, self.batch_size, self.show_progress = device, batch_size, show_progress
        self.max_query_chars = max_query_chars
        self.exact = exact  # True: every model runs its exact PyTorch path (no ONNX / int8 fast path)
        # where a new index keeps its signals (None: the index folder; radlite.backends.qdrant.settings_for:
        # a Qdrant collection), and where passages are encoded (None: here; "local" or an address: Ray)
        self.backend, self.ray, self.ray_actors = backend, ray, ray_actors
        self.index: SearchIndex | None = None
        self.last_timings: dict[str, float] = {}
        self._encoders: dict[str, Any] = {}
        self._expander: tuple[Any, Expander | None] = (None, None)

    # -- models ---------------------------------------------------------------------------
    def encoder(self, kind: str):
        """The loaded model of `kind` (biencoder, colbert, crossencoder), loaded on first use."""
        if kind not in self._encoders:
            model = self.models[kind]
            cls = _ENCODERS[kind]
            logger.info("loading %s model %s", kind, model.name)
            check_modules(model.path, self.trust_models)
            try:
                self._encoders[kind] = cls(
                    model.path, device=self.device, batch_size=self.batch_size, fast=not self.exact, sha256=model.sha256
                )
            except ModelError:
                raise
            except Exception as exc:
                raise ModelError(
                    f"cannot load the {kind} model {model.name!r} from {model.path}: {type(exc).__name__}: {exc}"
                ) from None
        return self._encoders[kind]

    def untrained_notes(self) -> list[str]:
        """One line per model in use that radlite knows to be untrained."""
        return [f"{kind}: {m.note}" for kind, m in self.models.items() if m.trained is False]

    # -- indexing ---------------------------------------------------------------------------
    def index_corpus(self, documents: Iterable[str | dict | Document], text_field: str = "text") -> "RadLITESearch":
        """Build the index in memory (strings, dicts with id/text/title/category, or Documents)."""
        docs = documents_from_records(documents, text_field=text_field)
        if not docs:
            raise IndexFormatError("no documents to index")
        if self.config.vocabulary.expand:
            lexicon = load_lexicon().with_glossary(self.config.vocabulary.glossary)
            self.config.vocabulary.lexicon = lexicon.describe()
        self.index = SearchIndex.build(
            docs,
            self.config,
            self._passage_encoders(self.config.signals),
            self._models_json(),
            progress=self.show_progress,
            backend=self.backend,
        )
        return self

    def add_documents(self, documents: Iterable[str | dict | Document], text_field: str = "text") -> int:
        """Add documents to this engine's index (only their passages are encoded); returns how many were added.
        Save with `save()`."""
        added = self.with_documents(documents, text_field)
        n = len(added.documents) - len(self.require_index().documents)
        self.index = added
        return n

    def with_documents(
        self,
        documents: Iterable[str | dict | Document],
        text_field: str = "text",
        index: SearchIndex | None = None,
        encoders: dict | None = None,
    ) -> SearchIndex:
        """A new index: `index` (default: this engine's) plus the documents, encoded by this
        engine's models (or by `encoders`, signal -> passage encoder: a wrapper that reports
        progress, say). Neither index is changed, so a caller can save first and swap after."""
        index = index or self.require_index()
        numeric = [int(d.id) for d in index.documents if d.id.isascii() and d.id.isdigit()]
        docs = documents_from_records(documents, text_field=text_field, first_id=max(numeric, default=-1) + 1)
        if not docs:
            raise IndexFormatError("no documents to add")
        encoders = encoders if encoders is not None else self._passage_encoders(index.signals)
        return index.with_documents(docs, encoders, progress=self.show_progress)

    def _passage_encoders(self, signals: Sequence[str]):
        """This process's models, or a Ray Data encoding of the same model folders."""
        kinds = [s for s in signals if s in ENCODED]
        if self.ray is None:
            return {s: self.encoder(s) for s in kinds}
        from radlite.encoding import RayEncoding

        return RayEncoding(
            {s: self.models[s].path for s in kinds},
            address=None if self.ray == "local" else self.ray,
            actors=self.ray_actors,
            batch_size=self.batch_size,
        )

    def delete_documents(self, ids: Sequence[str]) -> int:
        """Delete documents by id from every signal of this engine's index; returns how many.

        Raises:
            UnknownDocument: an id is not in the index (nothing is deleted)."""
        self.index = self.require_index().without_documents(list(ids))
        return len(set(ids))

    def save(self, path: str | Path) -> Path:
        """Write the index atomically (a new generation; the old one stays until it is complete)."""
        return self.require_index().save(path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        biencoder: str | None = None,
        colbert: str | None = None,
        reranker: str | None = None,
        use_reranker: bool = True,
        verify: bool = True,
        trust_models: Sequence[str] = (),
        **kwargs,
    ) -> "RadLITESearch":
        """Open an index. Models default to those that built it; a different one is refused.
        `verify=False` skips checking the index files against their checksums. Model folders the
        manifest names must be built-in, under $RADLITE_HOME, or trusted (`trust_models`,
        $RADLITE_TRUSTED_MODELS): a model folder can run code.

        Raises:
            IndexFormatError: no index there, or a damaged one (the message names the file).
            ModelError: a model differs from the one that built the index, or cannot be loaded.
        """
        generation = live_generation(Path(path))  # resolved once: manifest and files agree
        manifest = manifest_in(generation, path)
        if verify and "files" in manifest:
            verify_files(generation, manifest["files"], path)  # before any model named in it is touched
        built = manifest["models"]
        given = {BIENCODER: biencoder, COLBERT: colbert, CROSSENCODER: reranker}
        names = {k: given[k] or built.get(k, {}).get("name") for k in given}
        if not use_reranker:  # an index built without a reranker is searched without one unless one is given
            names[CROSSENCODER] = None
        from_index = [k for k in names if names[k] is not None and not given[k]]  # named by the index, not the caller
        for kind in from_index:
            check_manifest_model(kind, names[kind], path, trust_models)
            if names[kind] == DEFAULT and (earlier := default_that_built(kind, built[kind])) != DEFAULT:
                names[kind] = earlier
                logger.warning(
                    "the index at %s was built with all-MiniLM-L6-v2 as its %s, radlite's default before it "
                    "trained its own: searching with it ('%s'); rebuild the index with `radlite index` to use the "
                    "trained one",
                    path,
                    kind,
                    names[kind],
                )
        # hub models named by the index are read at the commit it was built with
        revisions = {k: built[k]["revision"] for k in from_index if isinstance(built[k].get("revision"), str)}
        config = IndexConfig.from_json(manifest["config"])
        engine = cls(
            revisions=revisions,
            trust_models=trust_models,
            biencoder=names[BIENCODER],
            colbert=names[COLBERT],
            reranker=names[CROSSENCODER],
            signals=manifest["signals"],
            config=config,
            **kwargs,
        )
        for kind in manifest["signals"]:
            if kind not in ENCODED:
                continue
            expected, actual = built[kind], engine.models[kind]
            if expected["sha256"] != actual.sha256:
                # an index built when the default bi-encoder was all-MiniLM-L6-v2, searched with "default" by hand
                was_minilm = " (all-MiniLM-L6-v2: 'untrained')" if default_that_built(kind, expected) != DEFAULT else ""
                raise ModelError(
                    f"the index at {path} was built with {kind} model {expected['name']!r}{was_minilm} (weights sha256 "
                    f"{expected['sha256'][:12]}), but {actual.name!r} (sha256 {actual.sha256[:12]}) was given; "
                    f"search with the model that built it or rebuild the index with `radlite index`"
                )
        engine.index = SearchIndex.load(generation, verify=False)  # verified above
        return engine

    def _models_json(self) -> dict[str, dict]:
        return {kind: m.to_json() for kind, m in self.models.items()}

    def require_index(self) -> SearchIndex:
        """The engine's index (one snapshot: writes swap in a new one).

        Raises:
            IndexFormatError: no index built or loaded yet.
        """
        if self.index is None:
            raise IndexFormatError("no index: call index_corpus() or RadLITESearch.load() first")
        return self.index

    # -- search -----------------------------------------------------------------------------
    def search(
        self,
        query: str,
        top_k: int = 10,
        candidates: int = 50,
        signals: Sequence[str] | None = None,
        weights: dict[str, float] | None = None,
        method: str | None = None,
        category: str | None = None,
        normalization: str | None = None,
        expand: bool | None = None,
        prf: float | None = None,
    ) -> list[SearchResult]:
        """Best documents for the query, each with its matched passage and every signal's scores.
        `weights`, `method` ("weighted" or "rrf") and `normalization` ("zscore" or "minmax") override
        the index's fusion for this query, and `prf` its pseudo-relevance feedback weight (FusionConfig.prf; 0: none);
        `expand=False` searches the query as typed (no abbreviations,
        synonyms or negation: radlite.terms), `None` does what the index says. The stage times (ms) are left in
        `last_timings`; `search_run` returns them, with how it read the query, instead."""
        run = self.search_run(query, top_k, candidates, signals, weights, method, category, normalization, expand, prf)
        self.last_timings = run.timings
        return run.results

    def search_run(
        self,
        query: str,
        top_k: int = 10,
        candidates: int = 50,
        signals: Sequence[str] | None = None,
        weights: dict[str, float] | None = None,
        method: str | None = None,
        category: str | None = None,
        normalization: str | None = None,
        expand: bool | None = None,
        prf: float | None = None,
    ) -> SearchRun:
        """`search`, returning its results, stage times and how it read the query (`SearchRun`), all from one
        snapshot of the index: safe beside concurrent searches and add/delete (writes swap in a new one)."""
        index = self.require_index()
        query = check_query(query, top_k, candidates, self.max_query_chars)
        active = self._active_signals(signals)
        fcfg = index.config.fusion
        method = method or fcfg.method
        if method not in ("weighted", "rrf"):
            raise QueryError(f"unknown fusion method {method!r}; use 'weighted' or 'rrf'")
        norm_of = normalization or fcfg.normalization
        if norm_of not in NORMALIZATIONS:
            raise QueryError(f"unknown normalization {norm_of!r}; use 'zscore' or 'minmax'")
        weights = {**fcfg.weights, **check_weights(weights or {})}
        prf = check_prf(fcfg.prf if prf is None else prf)
        encode = index.backend.query_signals(active)
        for kind in encode:  # load models before timing: stage times are query work only
            if kind in ENCODED:
                self.encoder(kind)
        t = Timer()
        understood = self.understand(query, expand, index)
        t.lap("expand")
        neural = understood.neural_text if understood is not None else query
        q = self.encode_query(neural, encode, t)
        q.text = query
        q.bm25_terms = understood.bm25_terms if understood is not None else None
        first = [s for s in active if s in FIRST_STAGE]

        # 1. first stage: each signal's own ranking of documents
        retrieved: dict[str, np.ndarray] = {}
        for s in first:
            pids, _ = retrieve(index, q, s, depth=candidates * 3, category=category)
            retrieved[s] = unique_docs(index, pids, candidates)
            t.lap(s)
        pool = np.unique(np.concatenate(list(retrieved.values()))) if retrieved else np.zeros(0, np.int64)
        if len(pool) == 0:
            return SearchRun([], t.done(), understood)

        # 2. every signal scores every passage of the pooled documents; each document is
        #    represented by its passage with the best first-stage fused score
        pool_pids = index.doc_passages(pool)  # ascending, since pool is sorted
        raw = {s: score_passages(index, q, s, pool_pids) for s in first}
        w_first = fusion.active_weights(weights, first)
        prelim = fusion.weighted({s: fusion.normalise(v, norm_of) for s, v in raw.items()}, w_first)
        best_pid = best_per_doc(index.passage_doc(pool_pids), pool_pids, prelim, pool)
        doc_raw = {s: raw[s][np.searchsorted(pool_pids, best_pid)] for s in first}
        doc_rank = {s: rank_in(retrieved[s], pool) for s in first}
        if method == "rrf":
            doc_prelim = fusion.rrf(doc_rank, w_first, fcfg.rrf_k)
        else:
            doc_prelim = fusion.weighted({s: fusion.normalise(v, norm_of) for s, v in doc_raw.items()}, w_first)
        keep = np.argsort(-doc_prelim, kind="stable")[:candidates]
        t.lap("pool")

        # 3. rerank the best `candidates` documents' passages with the cross-encoder. At weight 0 (the default
        #    fusion) its scores cannot change the order: only the results returned are scored, after fusion (5.)
        norm: dict[str, np.ndarray] = {s: fusion.normalise(doc_raw[s][keep], norm_of) for s in first}
        ranks: dict[str, np.ndarray] = {s: doc_rank[s][keep] for s in first}
        raws: dict[str, np.ndarray] = {s: doc_raw[s][keep] for s in first}
        w_all = fusion.active_weights(weights, active)
        rerank_all = CROSSENCODER in active and w_all[CROSSENCODER] > 0
        if rerank_all:
            self._rerank(index, neural, best_pid[keep], np.arange(len(keep)), fcfg.temperature, raws, norm, ranks)
            t.lap("rerank")

        # 4. fuse and order; under weighted fusion a result is pushed down by how much it is about what the query
        #    negates ("no pneumothorax"): how much its title names one of the negated things (_about), times
        #    NEGATION_WEIGHT
        fused = fusion.rrf(ranks, w_all, fcfg.rrf_k) if method == "rrf" else fusion.weighted(norm, w_all)
        penalty = np.zeros(len(fused))
        if method == "weighted" and understood is not None and understood.negated_items:
            penalty = NEGATION_WEIGHT * np.array([self._about(index, int(pool[d]), understood) for d in keep])
            fused = fused - penalty
        like_first = np.zeros(len(fused))
        if method == "weighted" and prf > 0 and BIENCODER in first and len(first) > 1 and len(keep) > 1:
            like_first = self._like_first(index, best_pid[keep], fused, prf, norm_of)
            fused = fused + like_first
        order = np.argsort(-fused, kind="stable")[:top_k]
        if CROSSENCODER in active and not rerank_all:  # 5. the cross-encoder's column on the results returned
            t.lap("fusion")
            self._rerank(index, neural, best_pid[keep], order, fcfg.temperature, raws, norm, ranks)
            t.lap("rerank")
        untrained = {k for k, m in self.models.items() if m.trained is False}
        relevance = self.relevance_model()
        q_tokens = len(q.colbert) if q.colbert is not None else 0
        can_estimate = relevance is not None and BIENCODER in raws and COLBERT in raws
        results = [
            build_result(
                index,
                rank,
                int(pool[keep[i]]),
                int(best_pid[keep[i]]),
                float(fused[i]),
                {
                    s: (raws[s][i], norm[s][i] if method == "weighted" or s == CROSSENCODER else None, ranks[s][i])
                    for s in active
                },
                untrained,
                relevance.probability(float(raws[BIENCODER][i]), float(raws[COLBERT][i]), q_tokens)
                if can_estimate
                else None,
                understood.matched_in(index.encoder_input(int(best_pid[keep[i]])))
                if understood is not None and understood.changed
                else (),
                float(penalty[i]),
                float(like_first[i]),
            )
            for rank, i in enumerate(order, start=1)
        ]
        t.lap("fusion")
        return SearchRun(results, t.done(), understood)

    def _rerank(
        self,
        index,
        query: str,
        pids: np.ndarray,
        which: np.ndarray,
        temperature: float,
        raws: dict[str, np.ndarray],
        norm: dict[str, np.ndarray],
        ranks: dict[str, np.ndarray],
    ) -> None:
        """Score candidates `which` (positions in `pids`, the candidates' best passages) with the cross-encoder into
        `raws`, `norm` (calibrated) and `ranks` (its rank among the candidates it scored); NaN for the rest."""
        logits = np.full(len(pids), np.nan)
        texts = [index.encoder_input(int(p)) for p in pids[which]]
        logits[which] = self.encoder(CROSSENCODER).score(query, texts)
        raws[CROSSENCODER] = logits
        norm[CROSSENCODER] = fusion.calibrate(logits, temperature)
        ranks[CROSSENCODER] = fusion.ranks_of(logits)

    @staticmethod
    def _like_first(index, pids: np.ndarray, fused: np.ndarray, prf: float, norm_of: str) -> np.ndarray:
        """Pseudo-relevance feedback (fusion.like_first) by the bi-encoder vectors of the candidates' best passages;
        zeros where the backend cannot read vectors back."""
        try:
            vectors = index.backend.biencoder_vectors(index, pids)
        except NotImplementedError:
            return np.zeros(len(fused))
        return fusion.like_first(fused, lambda i: vectors @ vectors[i], prf, norm_of)

    @staticmethod
    def _about(index, doc_i: int, understood: Expansion) -> float:
        """How much document `doc_i` is about what the query negates (Expansion.about_negated of its title, or,
        without one, of its first 16 words): what a document names in its title is its subject, what it mentions
        in passing (a differential) is not."""
        doc = index.documents[doc_i]
        return understood.about_negated(doc.title or " ".join(doc.text.split()[:16]))

    def understand(self, query: str, expand: bool | None = None, index: SearchIndex | None = None) -> Expansion | None:
        """How this index (or `index`, a search's snapshot of it) reads `query` (radlite.terms.expand):
        abbreviations, phrases, negation; None when expansion is off (`expand=False`, or an index that does not
        expand)."""
        index = index or self.require_index()
        vocabulary = index.config.vocabulary
        if not (vocabulary.expand if expand is None else expand):
            return None
        cached_for, expander = self._expander  # one read: another thread may install its own meanwhile
        if cached_for is not index or expander is None:
            lexicon = load_lexicon().with_glossary(vocabulary.glossary)
            expander = Expander(lexicon, index.backend.bm25_vocabulary(), index.backend.bm25_postings())
            self._expander = (index, expander)
        return expander.expand(query.strip())

    def relevance_model(self) -> RelevanceModel | None:
        """The absolute relevance estimate for this engine's models: fitted for the default bi-encoder
        and ColBERT, and for all-MiniLM-L6-v2 with the default ColBERT (radlite.search.relevance), None for
        others."""
        bi, col = self.models.get(BIENCODER), self.models.get(COLBERT)
        if bi is None or col is None:
            return None
        return fitted_for(bi.sha256, col.sha256)

    def confident(self, results: Sequence[SearchResult]) -> bool | None:
        """Whether the best result is a confident match (None: no estimate for these models)."""
        model = self.relevance_model()
        if model is None:
            return None
        if not results:
            return False
        best = results[0].relevance
        return None if best is None else best >= model.threshold

    def fusion_settings(
        self,
        signals: Sequence[str] | None = None,
        weights: dict[str, float] | None = None,
        method: str | None = None,
        normalization: str | None = None,
        prf: float | None = None,
    ) -> dict[str, Any]:
        """The fusion a search with these arguments uses: method, the active signals' weights, rrf_k,
        temperature, prf (what a client needs to show each signal's contribution)."""
        fcfg = self.require_index().config.fusion
        active = self._active_signals(signals)
        merged = {**fcfg.weights, **check_weights(weights or {})}
        return {
            "method": method or fcfg.method,
            "weights": fusion.active_weights(merged, active),
            "normalization": normalization or fcfg.normalization,
            "rrf_k": fcfg.rrf_k,
            "temperature": fcfg.temperature,
            "prf": fcfg.prf if prf is None else prf,
        }

    def _active_signals(self, signals: Sequence[str] | None) -> list[str]:
        available = list(self.require_index().signals) + ([CROSSENCODER] if CROSSENCODER in self.models else [])
        if signals is None:
            return available
        chosen = check_signals(signals, SIGNALS)
        missing = [s for s in chosen if s not in available]
        if missing:
            raise QueryError(f"signal {missing[0]!r} is not available here (available: {', '.join(available)})")
        if not any(s in FIRST_STAGE for s in chosen):
            raise QueryError(f"choose at least one first-stage signal ({', '.join(FIRST_STAGE)})")
        return chosen

    def encode_query(self, query: str, signals: Sequence[str], t: Timer | None = None) -> QueryVectors:
        """The query encoded for each of `signals` that needs a model (both first-stage encoders run
        side by side when both are asked for)."""
        active = signals
        q = QueryVectors(query)
        if BIENCODER in active and COLBERT in active:
            q.biencoder, q.colbert = encode_query_pair(
                self.encoder(BIENCODER), self.encoder(COLBERT), query, parallel=not self.exact
            )
        elif BIENCODER in active:
            q.biencoder = self.encoder(BIENCODER).encode_query(query)
        elif COLBERT in active:
            q.colbert = self.encoder(COLBERT).encode_query(query)
        if t is not None:
            t.lap("encode_query")
        return q
