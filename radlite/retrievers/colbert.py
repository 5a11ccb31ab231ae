"""Late-interaction (ColBERT) index: centroid-IVF candidates, MaxSim on residual-compressed tokens.

Layout (all plain .npy, memory-mapped on load except the small codebooks):
  centroids.npy   (K, d) float32      k-means centroids of the token vectors (faiss)
  codes.npy       (T,)   uint16/int32 nearest centroid of every token
  residuals.npy   (T, M) uint8        product-quantised residual (token - its centroid), M bytes
  codebooks.npy   (M, 256, d/M) float32  the residual quantiser's sub-codebooks
  offsets.npy     (P+1,) int64        token range of each passage
  ivf_offsets.npy (K+1,) int64        CSR: passages that have a token in each centroid
  ivf_pids.npy    (nnz,) int32
  vectors.npy     (T, d) float16      with `full_vectors`: exact token vectors for re-scoring
                                      (residuals and codebooks are then not stored)

With `full_vectors` (the default) the fp16 vectors are stored and candidates are re-scored
exactly; without, a token costs 2 + M bytes (66 with the default M = 64; M = 32 gives 34)
instead of 258. Exact is the default because the pipeline relies on exact ColBERT scores (an
index grown by add/delete scores like a fresh build; fusion re-scores passages) and because the
compressed top-10 agreement with exact MaxSim was 0.96 on a 5k synthetic set but 0.94 on
medline (0.87 with M = 32; benchmarks/colbert_index.md). The speed-up is the candidate stage,
the same in both. `nprobe=0` searches by brute force over every passage.

Search (PLAID-like; the matrix products in torch, radlite/index/linalg.py):
  1. every query token scores all centroids and probes its `nprobe` best;
  2. a passage's approximate score is, per query token, the best probed-centroid score among
     its tokens, or the token's next-best centroid score (an upper bound for what was not
     probed) when it has none; summed over query tokens. It reads only the inverted lists;
  3. the best `rescore` passages are decoded (centroid + residual) and scored by MaxSim, a
     segmented max (numpy `maximum.reduceat`) over each passage's own tokens, so no padding.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from radlite.config import ColbertIndexConfig
from radlite.retrievers import csr
from radlite.retrievers.linalg import as_tensor, matmul_t
from radlite.retrievers.topk import top_k

logger = logging.getLogger(__name__)

_REQUIRED = ("centroids", "codes", "offsets", "ivf_offsets", "ivf_pids")
_OPTIONAL = ("residuals", "codebooks", "vectors")
_PQ_BITS = 8
_KMEANS_POINTS_PER_CENTROID = 64  # faiss asks for at least 39; more buys little and costs build time


def maxsim(query: np.ndarray, tokens: np.ndarray, seg_starts: np.ndarray) -> np.ndarray:
    """Sum over query tokens of the max similarity to any token of each segment.

    `tokens` holds the passages' token vectors back to back, `seg_starts` the first row of each
    passage; every passage must have at least one token.
    """
    if len(seg_starts) == 0:
        return np.zeros(0, dtype=np.float32)
    sims = matmul_t(query, tokens)  # (Lq, T); stored fp16 tokens are widened in torch (radlite.retrievers.linalg)
    return np.maximum.reduceat(sims, seg_starts, axis=1).sum(axis=0)


def auto_centroids(n_tokens: int) -> int:
    """A power of two near 4 * sqrt(T), with at least 40 tokens per centroid (faiss asks 39)."""
    want = 2 ** round(math.log2(max(1.0, 4 * math.sqrt(n_tokens))))
    cap = 2 ** int(math.log2(max(1, n_tokens // 40)))
    return int(max(1, min(want, cap)))


class ColbertIndex:
    def __init__(self, centroids, codes, offsets, ivf_offsets, ivf_pids, vectors=None, residuals=None, codebooks=None):
        if vectors is None and (residuals is None or codebooks is None):
            raise ValueError("a ColBERT index needs its token vectors or their residual codes")
        self.centroids = centroids
        self.codes = codes
        self.offsets = offsets
        self.ivf_offsets = ivf_offsets
        self.ivf_pids = ivf_pids
        self._centroids_cache = None
        self.vectors = vectors
        self.residuals = residuals
        self.codebooks = codebooks

    # -- construction -------------------------------------------------------------------
    @classmethod
    def build(cls, passages: Sequence[np.ndarray], cfg: ColbertIndexConfig) -> "ColbertIndex":
        """An index of `passages` (one (L_i, 128) float32 array of unit token vectors each): k-means centroids,
        one code per token, inverted lists, and fp16 vectors or PQ residuals as `cfg` says."""
        vectors, offsets = _stack(passages)
        k = min(cfg.n_centroids or auto_centroids(len(vectors)), len(vectors))
        logger.info("colbert: k-means of %d token vectors into %d centroids", len(vectors), k)
        centroids = _kmeans(vectors, k, cfg)
        codes = _assign(centroids, vectors)
        ivf_offsets, ivf_pids = _inverted_lists(codes, offsets, k)
        if cfg.full_vectors:
            return cls(centroids, codes, offsets, ivf_offsets, ivf_pids, vectors.astype(np.float16))
        codebooks = _train_residual_pq(vectors, centroids, codes, cfg)
        residuals = _encode_residuals(codebooks, vectors, centroids, codes)
        return cls(centroids, codes, offsets, ivf_offsets, ivf_pids, None, residuals, codebooks)

    def appended(self, passages: Sequence[np.ndarray], cfg: ColbertIndexConfig | None = None) -> "ColbertIndex":
        """New passages are assigned to the existing centroids and codebooks; lists are rebuilt.

        The result keeps this index's layout (residuals and/or full vectors). If the collection
        has outgrown its centroids (fewer than a quarter of what k-means would now choose, e.g.
        a tiny index grown large), everything is re-clustered instead, since too few centroids
        make the candidate stage unselective; a compressed index then re-encodes its decoded
        vectors.
        """
        new_vectors, new_offsets = _stack(passages)
        total = self.n_tokens + len(new_vectors)
        if cfg is not None and not cfg.n_centroids and 4 * len(self.centroids) < auto_centroids(total):
            old = self.token_vectors(np.arange(self.n_tokens))
            rows = np.split(old, np.asarray(self.offsets[1:-1]))
            news = np.split(new_vectors, new_offsets[1:-1])
            return ColbertIndex.build(list(rows) + list(news), cfg)
        new_codes = _assign(self.centroids, new_vectors)
        codes = np.concatenate([np.asarray(self.codes), new_codes])
        offsets = np.concatenate([np.asarray(self.offsets), new_offsets[1:] + self.offsets[-1]])
        vectors = residuals = None
        if self.vectors is not None:
            vectors = np.concatenate([np.asarray(self.vectors), new_vectors.astype(np.float16)])
        if self.residuals is not None:
            new_residuals = _encode_residuals(self.codebooks, new_vectors, self.centroids, new_codes)
            residuals = np.concatenate([np.asarray(self.residuals), new_residuals])
        ivf_offsets, ivf_pids = _inverted_lists(codes, offsets, len(self.centroids))
        return ColbertIndex(self.centroids, codes, offsets, ivf_offsets, ivf_pids, vectors, residuals, self.codebooks)

    def subset(self, keep: np.ndarray) -> "ColbertIndex":
        """The index restricted to passages `keep` (ascending), renumbered from 0."""
        rows = csr.entries(self.offsets, keep)
        lengths = np.diff(self.offsets)[keep]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        codes = np.asarray(self.codes)[rows]
        ivf_offsets, ivf_pids = _inverted_lists(codes, offsets, len(self.centroids))
        vectors = None if self.vectors is None else np.asarray(self.vectors)[rows]
        residuals = None if self.residuals is None else np.asarray(self.residuals)[rows]
        return ColbertIndex(self.centroids, codes, offsets, ivf_offsets, ivf_pids, vectors, residuals, self.codebooks)

    # -- token vectors --------------------------------------------------------------------
    @property
    def exact(self) -> bool:
        """Whether re-scoring reads exact (fp16) token vectors rather than decoded ones."""
        return self.vectors is not None

    def token_vectors(self, rows: np.ndarray, widen: bool = True) -> np.ndarray:
        """Vectors of the given token rows: stored ones if kept (fp16 widened to float32 unless
        `widen=False`, for callers that widen in torch), else decoded (float32)."""
        if self.vectors is None:
            return self.decode(rows)
        stored = np.take(self.vectors, rows, axis=0)
        return stored.astype(np.float32) if widen else stored

    def decode(self, rows: np.ndarray) -> np.ndarray:
        """Centroid plus product-quantised residual of the given token rows."""
        codes = np.asarray(self.residuals[rows])  # (n, M) uint8
        n_sub, ksub, dsub = self.codebooks.shape
        # one flat gather of d/M-float sub-vectors (as opaque items), much faster than 2-d fancy indexing
        items = np.ascontiguousarray(self.codebooks, dtype=np.float32).reshape(n_sub * ksub, dsub)
        items = items.view(np.dtype((np.void, 4 * dsub))).ravel()
        flat = (codes + (np.arange(n_sub, dtype=np.intp) * ksub)).ravel()
        residual = np.take(items, flat).view(np.float32).reshape(len(codes), n_sub * dsub)
        return np.take(self.centroids, np.asarray(self.codes[rows], dtype=np.intp), axis=0) + residual

    # -- search ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tokens(self) -> int:
        """Token vectors stored, over all passages."""
        return int(self.offsets[-1])

    def score(self, query: np.ndarray, pids: np.ndarray) -> np.ndarray:
        """MaxSim of the query against the given passages (exact with full vectors)."""
        pids = np.asarray(pids, dtype=np.int64)
        if len(pids) == 0:
            return np.zeros(0, dtype=np.float32)
        lengths = np.diff(self.offsets)[pids]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        # stored fp16 rows go to maxsim as they are (widened there, in torch); PQ rows are decoded
        tokens = self.token_vectors(csr.entries(self.offsets, pids), widen=False)
        return maxsim(query.astype(np.float32, copy=False), tokens, starts)

    def search(self, query: np.ndarray, k: int, nprobe: int = 8, rescore: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Top-k passages by MaxSim among IVF candidates, or over all passages if nprobe <= 0."""
        if nprobe <= 0:
            return self.exact_search(query, k)
        query = query.astype(np.float32, copy=False)
        cand = self.candidates(query, nprobe, max(rescore, k))
        return top_k(cand, self.score(query, cand), k)

    def exact_search(self, query: np.ndarray, k: int, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force MaxSim over every passage (the reference for the candidate stage)."""
        scores = np.concatenate(
            [self.score(query, np.arange(s, min(s + block, len(self)))) for s in range(0, len(self), block)]
        )
        return top_k(np.arange(len(self)), scores, k)

    def candidates(self, query: np.ndarray, nprobe: int, keep: int) -> np.ndarray:
        """The `keep` passages with the best approximate score from the probed inverted lists."""
        if len(self) <= keep:
            return np.arange(len(self), dtype=np.int64)
        approx = self.approximate_scores(matmul_t(query, self._centroids_t()), nprobe)
        return np.sort(np.argpartition(-approx, keep - 1)[:keep]).astype(np.int64)

    def _centroids_t(self):
        """The centroids as a float32 tensor, made once (radlite.retrievers.linalg)."""
        if self._centroids_cache is None:
            self._centroids_cache = as_tensor(self.centroids)
        return self._centroids_cache

    def approximate_scores(self, cscores: np.ndarray, nprobe: int) -> np.ndarray:
        """Per passage: sum over query tokens of the excess of its best probed centroid score
        over the token's floor (its best unprobed centroid score); 0 for untouched passages.

        Each token's probed cells are taken in rising order of score, and each cell's list (no
        passage twice in a list) overwrites the last: what remains per (token, passage) is the
        best cell's excess. 8 vectorised writes replace np.maximum.at over ~100k updates (about half
        the time; benchmarks/colbert_index.md)."""
        n_query, n_cells = cscores.shape
        nprobe = min(nprobe, n_cells)
        if nprobe < n_cells:
            top = np.argpartition(cscores, n_cells - nprobe - 1, axis=1)[:, n_cells - nprobe - 1 :]
        else:
            top = np.broadcast_to(np.arange(n_cells), cscores.shape)
        scores = np.take_along_axis(cscores, top, axis=1)
        rising = np.argsort(scores, axis=1, kind="stable")
        top, scores = np.take_along_axis(top, rising, axis=1), np.take_along_axis(scores, rising, axis=1)
        if nprobe < n_cells:  # column 0 is the best unprobed cell: the floor
            floor, top, scores = scores[:, :1], top[:, 1:], scores[:, 1:]
        else:
            floor = scores[:, :1]
        ivf_offsets, ivf_pids = np.asarray(self.ivf_offsets), np.asarray(self.ivf_pids)
        best = np.zeros((n_query, len(self)), dtype=np.float32)
        for j in range(top.shape[1]):
            cells = top[:, j]
            lengths = ivf_offsets[cells + 1] - ivf_offsets[cells]
            rows = np.repeat(np.arange(n_query), lengths)
            best[rows, ivf_pids[csr.entries(ivf_offsets, cells)]] = np.repeat(scores[:, j] - floor[:, 0], lengths)
        return best.sum(axis=0)

    # -- persistence ----------------------------------------------------------------------
    def check(self, n_passages: int) -> list[str]:
        """What is wrong with the stored arrays for an index of `n_passages` passages; [] when sound."""
        problems = []
        off, ivo = np.asarray(self.offsets), np.asarray(self.ivf_offsets)
        n_tok, k = len(self.codes), len(self.centroids)
        if len(off) != n_passages + 1 or off[0] != 0 or np.any(np.diff(off) < 0) or off[-1] != n_tok:
            problems.append("colbert: token offsets do not match the passages")
        codes = np.asarray(self.codes)
        if n_tok and (codes.min() < 0 or codes.max() >= k):
            problems.append("colbert: centroid codes out of range")
        pids = np.asarray(self.ivf_pids)
        if len(ivo) != k + 1 or ivo[0] != 0 or np.any(np.diff(ivo) < 0) or ivo[-1] != len(pids):
            problems.append("colbert: inverted-list offsets are not valid")
        if len(pids) and (pids.min() < 0 or pids.max() >= n_passages):
            problems.append("colbert: inverted lists name passages out of range")
        for name, arr in (("centroids", self.centroids), ("token vectors", self.vectors)):
            if arr is not None and not np.all(np.isfinite(np.asarray(arr, dtype=np.float32))):
                problems.append(f"colbert: {name} that are not finite")
        return problems

    def save(self, folder: Path) -> None:
        """Write every array into `folder` (created)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, array in self._arrays().items():
            np.save(folder / f"{name}.npy", np.ascontiguousarray(array))

    @classmethod
    def load(cls, folder: Path) -> "ColbertIndex":
        """Memory-maps every array; an index written before residuals existed has only vectors."""
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _REQUIRED}
        arrays.update(
            {
                name: np.load(folder / f"{name}.npy", mmap_mode="r")
                for name in _OPTIONAL
                if (folder / f"{name}.npy").is_file()
            }
        )
        for small in ("centroids", "codebooks"):  # read on every query
            if small in arrays:
                arrays[small] = np.asarray(arrays[small])
        return cls(**arrays)

    def nbytes(self) -> dict[str, int]:
        """Bytes of each stored array, by name."""
        return {name: int(array.nbytes) for name, array in self._arrays().items()}

    def _arrays(self) -> dict[str, np.ndarray]:
        names = _REQUIRED + _OPTIONAL
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


def _stack(passages: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(p) for p in passages], dtype=np.int64)
    if len(lengths) and lengths.min() == 0:
        raise ValueError("every passage needs at least one token vector")
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    vectors = (
        np.concatenate([np.asarray(p, dtype=np.float32) for p in passages])
        if len(passages)
        else np.zeros((0, 0), np.float32)
    )
    return np.ascontiguousarray(vectors), offsets


def _kmeans(vectors: np.ndarray, k: int, cfg: ColbertIndexConfig) -> np.ndarray:
    """Spherical k-means centroids (faiss) on a sample of the token vectors."""
    import faiss

    if k == 1:  # too few tokens to cluster: one centroid, every passage a candidate
        return np.ascontiguousarray(vectors.mean(axis=0, keepdims=True), dtype=np.float32)
    kmeans = faiss.Kmeans(
        vectors.shape[1],
        k,
        niter=cfg.kmeans_iters,
        seed=cfg.seed,
        spherical=True,
        max_points_per_centroid=_KMEANS_POINTS_PER_CENTROID,
        verbose=False,
    )
    kmeans.train(vectors)
    return np.ascontiguousarray(kmeans.centroids, dtype=np.float32)


def _assign(centroids: np.ndarray, vectors: np.ndarray, block: int = 65536) -> np.ndarray:
    dtype = np.uint16 if len(centroids) <= np.iinfo(np.uint16).max else np.int32
    out = np.empty(len(vectors), dtype=dtype)
    for s in range(0, len(vectors), block):
        out[s : s + block] = np.argmax(vectors[s : s + block].astype(np.float32) @ centroids.T, axis=1)
    return out


def _train_residual_pq(
    vectors: np.ndarray,
    centroids: np.ndarray,
    codes: np.ndarray,
    cfg: ColbertIndexConfig,
    points_per_code: int = 16,
    iters: int = 8,
) -> np.ndarray:
    """Sub-codebooks (M, 256, d/M): k-means in every sub-space of a sample of the residuals.

    numpy, all sub-spaces at once: faiss's PQ training is far slower for 4-d sub-spaces here.
    A sample smaller than the codebook is repeated (every point then gets its own code).
    """
    n_sub, ksub = cfg.pq_subvectors, 2**_PQ_BITS
    if vectors.shape[1] % n_sub:
        raise ValueError(f"pq_subvectors={n_sub} must divide the token dimension {vectors.shape[1]}")
    rng = np.random.default_rng(cfg.seed)
    rows = np.sort(rng.choice(len(vectors), size=min(ksub * points_per_code, len(vectors)), replace=False))
    sample = np.resize(vectors[rows] - centroids[codes[rows]], (max(ksub, len(rows)), vectors.shape[1]))
    x = np.ascontiguousarray(
        sample.reshape(len(sample), n_sub, -1).transpose(1, 0, 2), dtype=np.float32
    )  # (M, n, dsub)
    books = x[:, rng.choice(len(sample), size=ksub, replace=False)].copy()
    x1 = np.concatenate([x, np.ones(x.shape[:2] + (1,), np.float32)], axis=2)
    cell = np.arange(n_sub)[:, None] * ksub
    for _ in range(iters):
        # nearest code = argmax of x.c - |c|^2 / 2, one batched matmul with x augmented by a 1
        aug = np.concatenate([books, -0.5 * (books**2).sum(axis=2, keepdims=True)], axis=2)
        nearest = (np.matmul(x1, aug.transpose(0, 2, 1)).argmax(axis=2) + cell).ravel()
        counts = np.bincount(nearest, minlength=n_sub * ksub)
        sums = np.stack(
            [np.bincount(nearest, weights=x[..., j].ravel(), minlength=n_sub * ksub) for j in range(x.shape[2])], axis=1
        )
        flat = books.reshape(n_sub * ksub, -1)
        used = counts > 0  # an empty code keeps its place
        flat[used] = sums[used] / counts[used, None]
    return books


def _encode_residuals(
    codebooks: np.ndarray, vectors: np.ndarray, centroids: np.ndarray, codes: np.ndarray, block: int = 262144
) -> np.ndarray:
    """(T, M) uint8 codes of each token's residual from its centroid."""
    import faiss

    n_sub, ksub, dsub = codebooks.shape
    pq = faiss.ProductQuantizer(n_sub * dsub, n_sub, _PQ_BITS)
    faiss.copy_array_to_vector(np.ascontiguousarray(codebooks, dtype=np.float32).ravel(), pq.centroids)
    out = np.empty((len(vectors), n_sub), dtype=np.uint8)
    for s in range(0, len(vectors), block):
        part = vectors[s : s + block] - centroids[np.asarray(codes[s : s + block], dtype=np.intp)]
        out[s : s + block] = pq.compute_codes(np.ascontiguousarray(part, dtype=np.float32))
    return out


def _inverted_lists(codes: np.ndarray, offsets: np.ndarray, n_centroids: int) -> tuple[np.ndarray, np.ndarray]:
    n_passages = len(offsets) - 1
    pid_of_token = csr.row_of_entries(offsets)
    pairs = np.unique(np.asarray(codes, dtype=np.int64) * max(n_passages, 1) + pid_of_token)
    cells = pairs // max(n_passages, 1)
    ivf_pids = (pairs % max(n_passages, 1)).astype(np.int32)
    ivf_offsets = np.concatenate([[0], np.cumsum(np.bincount(cells, minlength=n_centroids))]).astype(np.int64)
    return ivf_offsets, ivf_pids
