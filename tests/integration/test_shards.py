"""Fan-out, tested: the corpus split over N local shards with scatter-gather top-k merging returns
exactly the single index's results, per signal and fused (docs/scaling.md leans on this)."""

import dataclasses

import numpy as np
import pytest

from radlite.backends.shards import ShardedBackend
from radlite.search.stages import Timer, retrieve
from tests.conftest import assert_same_top10, backend_engine, sample_query_texts


@pytest.fixture(scope="module")
def single(tiny_models):
    from radlite.corpus import load_corpus
    from tests.conftest import SAMPLE

    return backend_engine(tiny_models).index_corpus(load_corpus(SAMPLE / "radiology_sample.jsonl"))


@pytest.mark.parametrize("n", [2, 3, 7])
def test_scatter_gather_equals_the_single_index(single, tiny_models, n):
    sharded = backend_engine(tiny_models)
    sharded.index = dataclasses.replace(single.index, backend=ShardedBackend.of(single.index, n))
    shards = sharded.index.backend.shards
    assert len(shards) == n and sum(len(s.index.passages) for s in shards) == len(single.index.passages)
    assert sorted(np.concatenate([s.global_pids for s in shards]).tolist()) == list(range(len(single.index.passages)))
    for query in sample_query_texts():
        q = single.encode_query(query, ["biencoder", "colbert"], Timer())
        for signal in ("bm25", "biencoder", "colbert"):
            a = retrieve(single.index, q, signal, 11)
            b = retrieve(sharded.index, q, signal, 11)
            assert_same_top10(*a, *b, (n, signal, query))
        x = single.search(query, top_k=10, candidates=20)
        y = sharded.search(query, top_k=10, candidates=20)
        assert [r["id"] for r in x] == [r["id"] for r in y], (n, query)
        np.testing.assert_allclose([r["score"] for r in x], [r["score"] for r in y], rtol=1e-4, atol=1e-6)
    # a category filter is applied on every shard before the merge
    x = single.search("fracture", top_k=5, candidates=10, category="msk")
    y = sharded.search("fracture", top_k=5, candidates=10, category="msk")
    assert [r["id"] for r in x] == [r["id"] for r in y] and all(r["category"] == "msk" for r in y)


def test_bm25_with_per_shard_statistics_would_not_be_exact(single):
    """Why the coordinator gathers statistics first: each shard's own BM25 (its own IDF and average
    length) ranks differently from the collection's."""
    from radlite.retrievers.bm25 import BM25Index
    from radlite.search.stages import QueryVectors

    sharded = ShardedBackend.of(single.index, 3)
    query = "fracture of the spine after trauma"
    global_scores = np.concatenate([s for s in sharded._bm25_all(QueryVectors(query))])
    own = np.concatenate(
        [
            BM25Index.build(
                [sh.index.encoder_input(p) for p in range(len(sh.index.passages))], single.index.config.bm25
            ).scores(query)
            for sh in sharded.shards
        ]
    )
    order = np.concatenate([sh.global_pids for sh in sharded.shards])
    exact = single.index.backend.bm25.scores(query)[order]
    np.testing.assert_allclose(global_scores, exact, rtol=1e-5, atol=1e-6)
    assert not np.allclose(own, exact, rtol=1e-3)
