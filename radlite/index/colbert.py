"""Late-interaction (ColBERT) index: centroid-IVF candidate generation, exact MaxSim re-scoring.

Layout (all plain .npy):
  centroids.npy   (K, d) float32   k-means centroids of the token vectors (faiss)
  codes.npy       (T,)   uint16/int32  nearest centroid of every token  <- the compressed index
  offsets.npy     (P+1,) int64     token range of each passage
  ivf_offsets.npy (K+1,) int64     CSR: passages that have a token in each centroid
  ivf_pids.npy    (nnz,) int32
  vectors.npy     (T, d) float16   token vectors, memory-mapped, read only for re-scoring

Search follows PLAID's first two stages: the `nprobe` nearest centroids of each query token
give candidate passages; their centroid-interaction score (MaxSim with every token replaced by
its centroid, read from `codes` alone) keeps the best `rescore`; those are re-scored with exact
MaxSim on the stored vectors. MaxSim is a segmented max (numpy `maximum.reduceat`) over each
passage's own tokens, so there is no padding to mask at all.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from radlite.config import ColbertIndexConfig

logger = logging.getLogger(__name__)

_FILES = ("centroids", "codes", "offsets", "ivf_offsets", "ivf_pids", "vectors")


def maxsim(query: np.ndarray, tokens: np.ndarray, seg_starts: np.ndarray) -> np.ndarray:
    """Sum over query tokens of the max similarity to any token of each segment.

    `tokens` holds the passages' token vectors back to back, `seg_starts` the first row of each
    passage; every passage must have at least one token.
    """
    if len(seg_starts) == 0:
        return np.zeros(0, dtype=np.float32)
    sims = query @ tokens.T  # (Lq, T)
    return np.maximum.reduceat(sims, seg_starts, axis=1).sum(axis=0)


def auto_centroids(n_tokens: int) -> int:
    """A power of two near 4 * sqrt(T), with at least 40 tokens per centroid (faiss asks 39)."""
    want = 2 ** round(math.log2(max(1.0, 4 * math.sqrt(n_tokens))))
    cap = 2 ** int(math.log2(max(1, n_tokens // 40)))
    return int(max(1, min(want, cap)))


class ColbertIndex:
    def __init__(self, centroids, codes, offsets, ivf_offsets, ivf_pids, vectors):
        self.centroids = centroids
        self.codes = codes
        self.offsets = offsets
        self.ivf_offsets = ivf_offsets
        self.ivf_pids = ivf_pids
        self.vectors = vectors

    # -- construction -------------------------------------------------------------------
    @classmethod
    def build(cls, passages: Sequence[np.ndarray], cfg: ColbertIndexConfig) -> "ColbertIndex":
        import faiss

        vectors, offsets = _stack(passages)
        n_tokens, dim = vectors.shape
        k = cfg.n_centroids or auto_centroids(n_tokens)
        k = min(k, n_tokens)
        logger.info("colbert: k-means of %d token vectors into %d centroids", n_tokens, k)
        if k == 1:  # too few tokens to cluster: one centroid, every passage a candidate
            centroids = vectors.mean(axis=0, keepdims=True)
        else:
            kmeans = faiss.Kmeans(dim, k, niter=cfg.kmeans_iters, seed=cfg.seed, spherical=True,
                                  max_points_per_centroid=256, verbose=False)
            kmeans.train(vectors)
            centroids = kmeans.centroids
        centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        codes = _assign(centroids, vectors)
        ivf_offsets, ivf_pids = _inverted_lists(codes, offsets, k)
        return cls(centroids, codes, offsets, ivf_offsets, ivf_pids, vectors.astype(np.float16))

    def appended(self, passages: Sequence[np.ndarray], cfg: ColbertIndexConfig | None = None) -> "ColbertIndex":
        """New passages are assigned to the existing centroids; the inverted lists are rebuilt.

        If the collection has outgrown its centroids (fewer than a quarter of what k-means would
        now choose, e.g. a tiny index grown large), everything is re-clustered instead, since
        too few centroids make the candidate stage unselective.
        """
        new_vectors, new_offsets = _stack(passages)
        total = self.n_tokens + len(new_vectors)
        if cfg is not None and not cfg.n_centroids and 4 * len(self.centroids) < auto_centroids(total):
            lengths = np.diff(self.offsets)
            old = np.asarray(self.vectors, dtype=np.float32)
            rows = np.split(old, np.cumsum(lengths)[:-1]) if len(lengths) else []
            news = np.split(new_vectors, new_offsets[1:-1])
            return ColbertIndex.build(list(rows) + list(news), cfg)
        codes = np.concatenate([np.asarray(self.codes), _assign(self.centroids, new_vectors)])
        offsets = np.concatenate([np.asarray(self.offsets), new_offsets[1:] + self.offsets[-1]])
        vectors = np.concatenate([np.asarray(self.vectors), new_vectors.astype(np.float16)])
        ivf_offsets, ivf_pids = _inverted_lists(codes, offsets, len(self.centroids))
        return ColbertIndex(self.centroids, codes, offsets, ivf_offsets, ivf_pids, vectors)

    def subset(self, keep: np.ndarray) -> "ColbertIndex":
        """The index restricted to passages `keep` (ascending), renumbered from 0."""
        rows = _token_rows(self.offsets, keep)
        lengths = np.diff(self.offsets)[keep]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        codes = np.asarray(self.codes)[rows]
        ivf_offsets, ivf_pids = _inverted_lists(codes, offsets, len(self.centroids))
        return ColbertIndex(self.centroids, codes, offsets, ivf_offsets, ivf_pids, np.asarray(self.vectors)[rows])

    # -- search ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def score(self, query: np.ndarray, pids: np.ndarray) -> np.ndarray:
        """Exact MaxSim of the query against the given passages."""
        pids = np.asarray(pids, dtype=np.int64)
        if len(pids) == 0:
            return np.zeros(0, dtype=np.float32)
        rows = _token_rows(self.offsets, pids)
        lengths = np.diff(self.offsets)[pids]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        tokens = np.asarray(self.vectors[rows], dtype=np.float32)
        return maxsim(query.astype(np.float32, copy=False), tokens, starts)

    def search(self, query: np.ndarray, k: int, nprobe: int = 8, rescore: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Top-k passages by exact MaxSim among IVF candidates: (pids, scores), best first."""
        query = query.astype(np.float32, copy=False)
        cand = self.candidates(query, nprobe, max(rescore, k))
        return _top(cand, self.score(query, cand), k)

    def exact_search(self, query: np.ndarray, k: int, block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force exact MaxSim over every passage (the reference for the candidate stage)."""
        scores = np.concatenate(
            [self.score(query, np.arange(s, min(s + block, len(self)))) for s in range(0, len(self), block)]
        )
        return _top(np.arange(len(self)), scores, k)

    def candidates(self, query: np.ndarray, nprobe: int, keep: int) -> np.ndarray:
        """Passages near the query's centroids, cut to `keep` by centroid interaction."""
        cscores = query @ self.centroids.T  # (Lq, K)
        nprobe = min(nprobe, cscores.shape[1])
        probe = np.argpartition(-cscores, nprobe - 1, axis=1)[:, :nprobe]
        cells = np.unique(probe)
        lists = [self.ivf_pids[self.ivf_offsets[c] : self.ivf_offsets[c + 1]] for c in cells]
        cand = np.unique(np.concatenate(lists)) if lists else np.zeros(0, dtype=np.int64)
        if len(cand) <= keep:
            return cand.astype(np.int64)
        rows = _token_rows(self.offsets, cand)
        lengths = np.diff(self.offsets)[cand]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        approx = np.maximum.reduceat(cscores[:, np.asarray(self.codes)[rows]], starts, axis=1).sum(axis=0)
        best = np.argpartition(-approx, keep - 1)[:keep]
        return np.sort(cand[best]).astype(np.int64)

    # -- persistence ----------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for name in _FILES:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))

    @classmethod
    def load(cls, folder: Path) -> "ColbertIndex":
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _FILES}
        arrays["centroids"] = np.asarray(arrays["centroids"])  # small, used on every query
        return cls(**arrays)

    def nbytes(self) -> dict[str, int]:
        return {name: int(getattr(self, name).nbytes) for name in _FILES}


def _stack(passages: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(p) for p in passages], dtype=np.int64)
    if len(lengths) and lengths.min() == 0:
        raise ValueError("every passage needs at least one token vector")
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    vectors = np.concatenate([np.asarray(p, dtype=np.float32) for p in passages]) if len(passages) else np.zeros((0, 0), np.float32)
    return np.ascontiguousarray(vectors), offsets


def _assign(centroids: np.ndarray, vectors: np.ndarray, block: int = 65536) -> np.ndarray:
    dtype = np.uint16 if len(centroids) <= np.iinfo(np.uint16).max else np.int32
    out = np.empty(len(vectors), dtype=dtype)
    for s in range(0, len(vectors), block):
        out[s : s + block] = np.argmax(vectors[s : s + block].astype(np.float32) @ centroids.T, axis=1)
    return out


def _token_rows(offsets: np.ndarray, pids: np.ndarray) -> np.ndarray:
    """Row numbers of all tokens of `pids`, passage after passage."""
    starts = np.asarray(offsets[pids], dtype=np.int64)
    lengths = np.asarray(offsets[pids + 1], dtype=np.int64) - starts
    if len(lengths) == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + shift


def _inverted_lists(codes: np.ndarray, offsets: np.ndarray, n_centroids: int) -> tuple[np.ndarray, np.ndarray]:
    n_passages = len(offsets) - 1
    pid_of_token = np.repeat(np.arange(n_passages, dtype=np.int64), np.diff(offsets))
    pairs = np.unique(np.asarray(codes, dtype=np.int64) * max(n_passages, 1) + pid_of_token)
    cells = pairs // max(n_passages, 1)
    ivf_pids = (pairs % max(n_passages, 1)).astype(np.int32)
    ivf_offsets = np.concatenate([[0], np.cumsum(np.bincount(cells, minlength=n_centroids))]).astype(np.int64)
    return ivf_offsets, ivf_pids


def _top(pids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if len(pids) == 0:
        return pids.astype(np.int64), scores.astype(np.float32)
    k = min(k, len(pids))
    part = np.argpartition(-scores, k - 1)[:k]
    order = part[np.lexsort((pids[part], -scores[part]))]
    return pids[order].astype(np.int64), scores[order].astype(np.float32)
