"""Wrappers that give each model one small interface; torch and friends load lazily."""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from radlite.signals import BIENCODER, COLBERT

logger = logging.getLogger(__name__)


def _locked(method):
    """One call at a time per model: tokenizers are not safe to share between threads (their
    truncation settings are changed per call), nor is the reranker's score cache. A server's
    concurrent searches queue here, per model, for the model work only."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        lock = self.__dict__.get("_lock")
        if lock is None:
            lock = self.__dict__.setdefault("_lock", threading.RLock())
        with lock:
            return method(self, *args, **kwargs)

    return wrapper


def _fast_or_exact(what: str, build):
    """`build()` (an ONNX Runtime fast path), or None with a warning why, so the exact path is used."""
    try:
        return build()
    except Exception as exc:
        logger.warning("fast %s unavailable (%s: %s); using the exact PyTorch path", what, type(exc).__name__, exc)
        return None


def _fast_query(kind: str, model, path: Path, device: str | None, fast: bool, sha256: str | None):
    """The ONNX Runtime query encoder if asked for and possible, else None."""
    if not (fast and sha256 and (device or "cpu") == "cpu"):
        return None

    def build():
        from radlite.models.onnx import OnnxQueryEncoder

        return OnnxQueryEncoder(kind, model, path, sha256, quantize=QUERY_INT8[kind])

    return _fast_or_exact(f"{kind} query encoder", build)


class _LazyFast:
    """Builds the fast query encoder on the first query (indexing never needs it)."""

    def __init__(self, *args):
        self.args, self.encoder = args, None

    def get(self):
        if self.args is not None:
            self.encoder, self.args = _fast_query(*self.args), None
        return self.encoder


# Precision of the fast query encoders, chosen by the no-loss check of benchmarks/speed_limits.md
# (nDCG@10 of the signal alone, fp32 vs int8 query vectors, passages unchanged): ColBERT's int8
# queries pass it, the bi-encoder's do not, so the bi-encoder stays fp32 (vectors equal to the exact ones).
QUERY_INT8 = {BIENCODER: False, COLBERT: True}

_query_pool = None


def encode_query_pair(biencoder, colbert, text: str, parallel: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Both first-stage query vectors. In parallel the bi-encoder runs on a worker thread while
    ColBERT runs here: ONNX Runtime releases the GIL, and two 20-30-token forward passes use two
    cores better side by side than one after the other (benchmarks/speed_limits.md)."""
    global _query_pool
    if not parallel:
        return biencoder.encode_query(text), colbert.encode_query(text)
    if _query_pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _query_pool = ThreadPoolExecutor(1, thread_name_prefix="radlite-query")
    future = _query_pool.submit(biencoder.encode_query, text)
    col = colbert.encode_query(text)
    return future.result(), col


class BiEncoder:
    """sentence-transformers model: one L2-normalised vector per text.

    With `fast=True` queries are encoded by an ONNX Runtime export of the same model (same
    tokenisation, same vector to float precision); passages always by the library."""

    def __init__(
        self, path: Path, device: str | None = None, batch_size: int = 32, fast: bool = False, sha256: str | None = None
    ):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(path), device=device or "cpu")
        self.batch_size = batch_size
        self._fast = _LazyFast(BIENCODER, self.model, path, device, fast, sha256)

    @property
    def dim(self) -> int:
        """The embedding width."""
        return int(self.model.get_sentence_embedding_dimension())

    @_locked
    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """One L2-normalised float32 vector per text: (n, d)."""
        out = self.model.encode_document(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(out, dtype=np.float32).reshape(len(texts), -1)

    @_locked
    def encode_query(self, text: str) -> np.ndarray:
        """The query's L2-normalised float32 vector: (d,)."""
        if self._fast.get() is not None:
            return self._fast.get().encode(text)
        out = self.model.encode_query([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(out[0], dtype=np.float32)


class ColbertEncoder:
    """PyLate ColBERT model: one vector per token (documents without padding, queries expanded).

    Queries are read whole: a query longer than the model's trained query length (32 tokens) is
    encoded at its own length, up to `max_query_tokens`, instead of being cut (a board vignette's
    findings come after its history). Shorter queries are expanded with [MASK] to the trained
    length exactly as before, so their vectors do not change."""

    max_query_tokens = 256

    def __init__(
        self, path: Path, device: str | None = None, batch_size: int = 32, fast: bool = False, sha256: str | None = None
    ):
        from pylate import models

        self.model = models.ColBERT(model_name_or_path=str(path), device=device or "cpu")
        self.trained_query_length = int(self.model.query_length or 32)
        self.batch_size = batch_size
        self._fast = _LazyFast(COLBERT, self.model, path, device, fast, sha256)

    def query_length(self, text: str) -> int:
        """Tokens the query `text` is encoded at: the trained length, or the query's own length
        ([CLS], [Q], its word pieces and [SEP]) where that is longer, capped at max_query_tokens."""
        pieces = len(self.model.tokenizer(text, add_special_tokens=False)["input_ids"])
        return max(self.trained_query_length, min(pieces + 3, self.max_query_tokens))

    @_locked
    def encode_passages(self, texts: Sequence[str], progress: bool = False) -> list[np.ndarray]:
        """One (L_i, 128) float32 array of unit token vectors per text."""
        out = self.model.encode(list(texts), is_query=False, batch_size=self.batch_size, show_progress_bar=progress)
        return [np.asarray(x, dtype=np.float32) for x in out]

    @_locked
    def encode_query(self, text: str) -> np.ndarray:
        """The query's (Lq, 128) float32 unit token vectors (Lq: see `query_length`)."""
        self.model.query_length = self.query_length(text)  # read by PyLate's tokenize (both paths)
        if self._fast.get() is not None:
            return self._fast.get().encode(text)
        out = self.model.encode([text], is_query=True, show_progress_bar=False)
        return np.asarray(out[0], dtype=np.float32)

    @_locked
    def align(self, query: str, text: str, query_vectors: np.ndarray | None = None) -> dict:
        """The MaxSim alignment of `query` on `text`: for each query token, the document token it
        matched best and their similarity (the sum of these is the ColBERT score of `text`).

        The document is re-encoded here with every token kept (PyLate drops punctuation tokens
        from the index; they are excluded from the matching too), so each vector maps back to a
        span of `text` through the tokenizer's character offsets. `query_vectors`: the query's
        ColBERT vectors if the caller has them already."""
        m = self.model
        q_vecs = np.asarray(self.encode_query(query) if query_vectors is None else query_vectors, dtype=np.float32)
        m.query_length = self.query_length(query)
        q_ids = m.tokenize([query], is_query=True)["input_ids"][0].tolist()
        d = m.encode(text, is_query=False, output_value=None, convert_to_numpy=True, show_progress_bar=False)
        d_vecs = np.asarray(d["token_embeddings"], dtype=np.float32)
        d_ids = np.asarray(d["input_ids"]).tolist()
        keep = np.asarray(d["masks"], dtype=bool)
        plain = m.tokenizer(
            text,
            return_offsets_mapping=True,
            truncation=True,
            max_length=len(d_ids) - (1 if m.document_prefix_id is not None else 0),
        )
        shift = 1 if m.document_prefix_id is not None else 0  # PyLate puts [D] after [CLS]
        offsets = [None] * len(d_ids)
        for i, (a, b) in enumerate(plain["offset_mapping"]):
            j = i + shift if i > 0 else 0
            if j < len(offsets) and b > a and plain["input_ids"][i] == d_ids[j]:
                offsets[j] = (int(a), int(b))
        sims = q_vecs @ d_vecs.T
        sims[:, ~keep] = -np.inf
        best = sims.argmax(axis=1)
        tok = m.tokenizer.convert_ids_to_tokens
        q_tokens, d_tokens = tok(q_ids), tok(d_ids)
        matches = []
        for i, j in enumerate(best.tolist()):
            span = offsets[j]
            matches.append(
                {
                    "query_token": q_tokens[i] if i < len(q_tokens) else "[MASK]",
                    "doc_token": d_tokens[j],
                    "doc_token_index": j,
                    "start": span[0] if span else None,
                    "end": span[1] if span else None,
                    "similarity": float(sims[i, j]),
                }
            )
        return {
            "score": float(sum(x["similarity"] for x in matches)),
            "matches": matches,
            "doc_tokens": [
                {"token": d_tokens[j], "start": o[0] if o else None, "end": o[1] if o else None}
                for j, o in enumerate(offsets)
            ],
        }


def _marker(path: Path) -> dict:
    """A radlite-trained model's radlite_model.json as a dict ({} if absent, unreadable or not an object)."""
    from radlite.models.resolve import _read_marker

    marker = _read_marker(Path(path))
    return marker if isinstance(marker, dict) else {}


def trained_max_length(path: Path) -> int | None:
    """The cross-encoder pair length in a radlite-trained model's marker, if any."""
    config = _marker(path).get("config")
    value = config.get("max_length") if isinstance(config, dict) else None
    return int(value) if isinstance(value, int) and value > 0 else None


def fast_quantized(path: Path) -> bool:
    """Whether the fast path may quantise this cross-encoder to int8: a radlite model's marker can say
    `"fast_precision": "fp32"` to keep its fast path exact (the shipped default does not: int8 halves its
    latency and its nDCG@10 on radbench9 dev did not move measurably, see benchmarks/reranker.md)."""
    return _marker(path).get("fast_precision") != "fp32"


class CrossEncoderReranker:
    """A one-logit cross-encoder returning raw logits (calibration happens in fusion).

    `fast=True` (the default in the engine) scores with the int8 ONNX Runtime export of the same
    model (radlite.models.onnx; its speed and agreement with the exact logits: benchmarks/speed.md);
    `fast=False` with sentence-transformers' `CrossEncoder.predict`, the exact path. If the fast
    path cannot be built (no onnxruntime, an architecture the exporter cannot trace), the exact
    one is used and a warning says why.
    """

    def __init__(
        self,
        path: Path,
        device: str | None = None,
        batch_size: int = 32,
        max_length: int | None = None,
        fast: bool = False,
        sha256: str | None = None,
    ):
        from transformers import AutoConfig

        from radlite.errors import ModelError

        # the pair length the model was trained at (radlite records it), else 512
        max_length = max_length or trained_max_length(Path(path)) or 512
        self.max_length = max_length

        labels = AutoConfig.from_pretrained(str(path)).num_labels  # checked for both paths, before either loads
        if labels != 1:
            raise ModelError(f"reranker {path} has {labels} outputs; a one-logit cross-encoder is needed")
        self.batch_size = batch_size
        self.cache_size = 50_000
        self._cache: dict[tuple[str, str], float] = {}
        self.model = self.fast = None
        if fast and (device or "cpu") == "cpu" and sha256:

            def build():
                from radlite.models.onnx import OnnxCrossEncoder

                return OnnxCrossEncoder(path, sha256, max_length=max_length, quantize=fast_quantized(Path(path)))

            self.fast = _fast_or_exact("reranker", build)
        self.backend = ("onnx-int8" if self.fast.quantize else "onnx-fp32") if self.fast is not None else "torch"
        if self.fast is None:
            from sentence_transformers import CrossEncoder

            self.model = CrossEncoder(str(path), device=device or "cpu", max_length=max_length)

    @_locked
    def predict(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Logits of the pairs, uncached."""
        if self.fast is not None:
            return self.fast.predict(pairs)
        import torch

        out = self.model.predict(
            list(pairs), batch_size=self.batch_size, activation_fn=torch.nn.Identity(), show_progress_bar=False
        )
        return np.asarray(out, dtype=np.float32).reshape(-1)

    @_locked
    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Logits of (query, text) pairs; pairs scored before (same query, same text) come from a cache."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        todo = [t for t in dict.fromkeys(texts) if (query, t) not in self._cache]
        if todo:
            logits = self.predict([(query, t) for t in todo])
            if len(self._cache) + len(todo) > self.cache_size:
                self._cache.clear()
            self._cache.update({(query, t): float(x) for t, x in zip(todo, logits)})
        return np.array([self._cache[(query, t)] for t in texts], dtype=np.float32)
