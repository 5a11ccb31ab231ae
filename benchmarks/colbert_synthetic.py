"""Token vectors for the ColBERT index benchmark: real encodings, cached, and a synthetic 50k set.

`encoded` encodes the medline passages (the project's own chunking) and queries once with the
default ColBERT model and caches them under build/ (git-ignored); radbench9's test queries are
added to have enough queries for p95. `synthesise` builds passages in embedding space, not text:
each one takes a length from the real length distribution, starts with the first span of a real
passage (so it has the [CLS]/[D] marker tokens) and continues with random spans of other real
passages; a small Gaussian jitter (re-normalised) keeps repeated tokens from being exact copies.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from radlite.config import IndexConfig
from radlite.corpus import load_corpus, passage_input, split_passages


def encoded(data: Path, cache: Path) -> dict[str, np.ndarray]:
    """vectors (T, 128) float32, offsets (P+1,), queries (Q, 32, 128), n_documents, encode_s."""
    if cache.is_file():
        with np.load(cache) as z:
            return dict(z)
    import time

    from radlite.eval.datasets import load_dataset
    from radlite.models import ColbertEncoder, resolve_model

    docs = load_corpus(data)
    chunking = IndexConfig().chunking
    texts = [passage_input(docs[s.doc], s, chunking) for s in split_passages(docs, chunking)]
    queries = [json.loads(x)["text"] for x in (data / "queries.jsonl").read_text().splitlines() if x.strip()]
    n_medline = len(queries)
    queries += [q.text for q in load_dataset("radbench9", "test").queries]
    enc = ColbertEncoder(resolve_model("colbert", "default").path)
    t = time.perf_counter()
    passages = enc.encode_passages(texts, progress=True)
    encode_s = time.perf_counter() - t
    out = {
        "vectors": np.concatenate(passages).astype(np.float32),
        "offsets": np.concatenate([[0], np.cumsum([len(p) for p in passages])]).astype(np.int64),
        "queries": np.stack([enc.encode_query(q) for q in queries]).astype(np.float32),
        "n_medline_queries": np.int64(n_medline),
        "n_documents": np.int64(len(docs)),
        "encode_s": np.float64(encode_s),
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def passages_of(vectors: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return np.split(vectors, offsets[1:-1])


def synthesise(
    vectors: np.ndarray,
    offsets: np.ndarray,
    n: int,
    seed: int = 0,
    span: tuple[int, int] = (4, 24),
    jitter: float = 0.05,
) -> list[np.ndarray]:
    """`n` passages of real token vectors: spans of random real passages, real length distribution."""
    rng = np.random.default_rng(seed)
    lengths = np.diff(offsets)
    out = []
    for length in rng.choice(lengths, size=n):
        rows, first = [], True
        while sum(len(r) for r in rows) < length:
            p = rng.integers(len(lengths))
            width = min(int(rng.integers(*span)), int(lengths[p]))
            start = 0 if first else int(rng.integers(0, lengths[p] - width + 1))
            rows.append(np.arange(offsets[p] + start, offsets[p] + start + width))
            first = False
        toks = vectors[np.concatenate(rows)[:length]]
        toks = toks + rng.normal(scale=jitter / np.sqrt(toks.shape[1]), size=toks.shape).astype(np.float32)
        out.append((toks / np.linalg.norm(toks, axis=1, keepdims=True)).astype(np.float32))
    return out


def built_index(passages_fn, folder: Path, cfg):
    """The index built from `passages_fn()` with `cfg`, saved under `folder` and reused if there.

    Returns (index loaded memory-mapped, build seconds of the run that built it, passages or None).
    """
    import time

    from radlite.retrievers.colbert import ColbertIndex

    meta = folder / "build.json"
    passages = None
    if not meta.is_file():
        passages = passages_fn()
        t = time.perf_counter()
        index = ColbertIndex.build(passages, cfg)
        build_s = time.perf_counter() - t
        index.save(folder)
        meta.write_text(json.dumps({"build_s": build_s, "n_passages": len(passages)}))
    return ColbertIndex.load(folder), json.loads(meta.read_text())["build_s"], passages
