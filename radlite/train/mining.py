"""Hard negatives: BM25's best-ranked passages that are not relevant, with a guard against false negatives.

For each query the collection is ranked with radlite's BM25 (the same tokenizer as the index);
of the top `depth` (default 100) passages, the positives, every passage judged relevant, and
near-duplicates of a positive are dropped. The rest are checked by a guard model (by default
the all-MiniLM-L6-v2 bi-encoder, or a cross-encoder once one is trained): a candidate it scores
within `margin` of the positive, or above it, is likely an unjudged relevant passage and is
skipped. The first `num_negatives` survivors are the example's hard negatives.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from radlite.config import BM25Config
from radlite.train.data import Example, TrainingData, near_duplicate

logger = logging.getLogger(__name__)

# guard(query, texts) -> scores, higher = more relevant; texts[0] is the positive
Guard = Callable[[str, Sequence[str]], np.ndarray]


def mine_hard_negatives(
    data: TrainingData,
    num_negatives: int = 1,
    depth: int = 100,
    margin: float = 0.05,
    guard: Guard | None = None,
    progress: bool = True,
) -> dict:
    """Fill each example's `negatives` up to `num_negatives` (given negatives first). Returns counts."""
    from radlite.retrievers.bm25 import BM25Index

    stats = {
        "examples": len(data.examples),
        "mined": 0,
        "skipped_positive": 0,
        "skipped_duplicate": 0,
        "skipped_guard": 0,
        "short": 0,
    }
    # several sources share one collection: another source's passages are negatives too
    bm25 = BM25Index.build(data.collection, BM25Config())
    pool_size = max(num_negatives * 3, num_negatives + 2)
    todo = [ex for ex in data.examples if len(ex.negatives) < num_negatives]
    ranked = []
    for ex in tqdm(todo, desc="ranking with BM25", disable=not progress, unit="query"):
        scores = bm25.scores(ex.query)
        k = min(depth, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        ranked.append(top[scores[top] > 0])
    prime = getattr(guard, "prime", None)
    if prime is not None:  # encode what the first screening of every query needs in large batches, not per query
        first = {i for top in ranked for i in top[: 2 * pool_size + 4].tolist()}
        prime([ex.query for ex in todo], [ex.positives[0] for ex in todo] + [data.collection[i] for i in sorted(first)])
    for ex, top in zip(tqdm(todo, desc="mining BM25 hard negatives", disable=not progress, unit="query"), ranked):
        pool, chunk = [], []
        need = num_negatives - len(ex.negatives)
        for i in top:  # scan the top `depth` in chunks; the guard screens each chunk before looking further
            text = data.collection[i]
            if text in ex.related or text in ex.positives or text in ex.negatives or text in pool or text in chunk:
                stats["skipped_positive"] += 1
                continue
            if any(near_duplicate(text, p) for p in ex.positives):
                stats["skipped_duplicate"] += 1
                continue
            chunk.append(text)
            if len(chunk) >= pool_size:
                pool += _screen(ex, chunk, guard, margin, stats)
                chunk = []
                if len(pool) >= need:
                    break
        if chunk and len(pool) < need:
            pool += _screen(ex, chunk, guard, margin, stats)
        take = pool[: num_negatives - len(ex.negatives)]
        stats["mined"] += len(take)
        ex.negatives.extend(take)
        if len(ex.negatives) < num_negatives:
            stats["short"] += 1
    logger.info("hard negatives: %s", stats)
    return stats


def _screen(ex: Example, chunk: list[str], guard: Guard | None, margin: float, stats: dict) -> list[str]:
    if guard is None:
        return chunk
    s = guard(ex.query, [ex.positives[0], *chunk])
    keep = [t for t, v in zip(chunk, s[1:]) if v < s[0] - margin]
    stats["skipped_guard"] += len(chunk) - len(keep)
    return keep


def fill_random_negatives(examples: list[Example], collection: list[str], num_negatives: int, seed: int = 0) -> None:
    """Examples BM25 found too few negatives for get random passages of the collection (not relevant)."""
    _add_random(examples, collection, num_negatives, np.random.default_rng(seed), "negatives")


def _add_random(examples: list[Example], collection: list[str], n: int, rng, target: str) -> None:
    """Append random collection texts to each example's `target` list until it holds `n` (50 draws at most);
    a text relevant to the example, or already among its positives or negatives, is never taken."""
    for ex in examples:
        into = getattr(ex, target)
        tries = 0
        while len(into) < n and tries < 50:
            tries += 1
            text = collection[int(rng.integers(len(collection)))]
            if text not in ex.related and text not in ex.positives and text not in ex.negatives:
                into.append(text)


def biencoder_guard(model_path: str, max_length: int = 128, batch_size: int = 64) -> Guard:
    """Cosine similarity of a sentence-transformers model (texts cut to `max_length` tokens)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_path), device=None)
    model.max_seq_length = min(max_length, model.max_seq_length or max_length)
    cache: dict[str, np.ndarray] = {}
    queries: dict[str, np.ndarray] = {}

    def encode(texts: Sequence[str], store: dict, query: bool, progress: bool = False) -> None:
        todo = [t for t in dict.fromkeys(texts) if t not in store]
        if todo:
            fn = model.encode_query if query else model.encode_document
            vecs = fn(
                todo,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
            store.update(zip(todo, vecs))

    def guard(query: str, texts: Sequence[str]) -> np.ndarray:
        encode(texts, cache, query=False)
        encode([query], queries, query=True)
        q = queries[query]
        return np.array([float(cache[t] @ q) for t in texts], dtype=np.float32)

    def prime(query_texts: Sequence[str], texts: Sequence[str]) -> None:
        """Encode many queries and passages at once (the guard then only looks them up)."""
        encode(query_texts, queries, query=True, progress=len(query_texts) > 1000)
        encode(texts, cache, query=False, progress=len(texts) > 1000)

    guard.prime = prime
    return guard


def crossencoder_guard(model_path: str, max_length: int = 256, batch_size: int = 32) -> Guard:
    """Logits of a trained cross-encoder."""
    import torch
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(model_path), device=None, max_length=max_length)

    def guard(query: str, texts: Sequence[str]) -> np.ndarray:
        out = model.predict(
            [(query, t) for t in texts],
            batch_size=batch_size,
            activation_fn=torch.nn.Identity(),
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32).reshape(-1)

    return guard


def add_easy_negatives(examples: list[Example], collection: list[str], n: int, seed: int = 0) -> None:
    """Random passages as extra negatives: a cross-encoder that only ever sees hard negatives can score
    an unrelated passage above the positive (seen here: 35% pairwise accuracy on random passages)."""
    _add_random(examples, collection, n, np.random.default_rng(seed + 1), "easy")
