import numpy as np
import pytest

from radlite.config import BM25Config, ColbertIndexConfig
from radlite.errors import IndexFormatError
from radlite.index.store import live_generation, write_generation
from radlite.retrievers.bm25 import BM25Index, tokenize
from radlite.retrievers.colbert import ColbertIndex, auto_centroids
from radlite.retrievers.dense import DenseIndex


def test_tokenizer_keeps_medical_tokens_and_stems_words():
    toks = tokenize("T2 hyperintense lesions of the C-spine; 18F-FDG avid, BI-RADS 4 at 3.0T.")
    for kept in ("t2", "c-spine", "18f-fdg", "bi-rads", "3.0t", "4"):
        assert kept in toks
    assert "lesion" in toks and "lesions" not in toks  # stemmed
    assert "the" not in toks and "of" not in toks  # stop-words
    assert "spine" in toks  # compound parts indexed too
    assert tokenize("Sjögren syndrome, Ménétrier disease") == tokenize("Sjogren syndrome, Menetrier disease")
    assert "sjogren" in tokenize("Sjögren")


def test_bm25_ranks_the_matching_passage_first_and_round_trips(tmp_path):
    texts = [
        "renal cell carcinoma enhancing mass",
        "c-spine odontoid fracture on CT",
        "pulmonary embolism filling defect",
    ]
    idx = BM25Index.build(texts, BM25Config())
    scores = idx.scores("odontoid fracture of the c-spine")
    assert int(np.argmax(scores)) == 1 and scores[0] == 0 and scores[2] == 0
    assert not idx.scores("the of and").any()
    idx.save(tmp_path / "bm25")
    assert np.allclose(BM25Index.load(tmp_path / "bm25").scores("embolism"), idx.scores("embolism"))


def test_bm25_scores_text_and_weighted_stems_alike_and_as_bm25s_does():
    texts = ["pulmonary embolism filling defect", "pleural effusion meniscus", "embolism embolism of fat"]
    cfg = BM25Config()
    idx = BM25Index.build(texts, cfg)
    # worked by hand (bm25s "lucene"): "embolism" is in 2 of 3 passages, idf = ln(1 + 1.5 / 2.5); passage 2 holds
    # it twice in 3 tokens (embol, embol, fat; "of" is a stop-word), avgdl = (4 + 3 + 3) / 3
    idf = np.log(1 + 1.5 / 2.5)
    tf = 2 / (2 + cfg.k1 * (1 - cfg.b + cfg.b * 3 / (10 / 3)))
    assert np.isclose(idx.scores("embolism")[2], idf * tf, rtol=1e-5)
    # text and its stems give the same scores, a repeated word counts twice, a weight scales its stem
    assert np.allclose(idx.scores({"pulmonari": 1.0, "embol": 1.0}), idx.scores("pulmonary embolism"))
    assert np.allclose(idx.scores("embolism embolism"), 2 * idx.scores("embolism"))
    half = idx.scores({"embol": 0.5})
    assert np.allclose(half, 0.5 * idx.scores("embolism")) and half[1] == 0
    # and what bm25s itself computes from the same stored index
    ids = [idx.vocab[t] for t in tokenize("fat embolism of the lung") if t in idx.vocab]
    assert np.allclose(idx.scores("fat embolism of the lung"), idx._retriever.get_scores(ids))


def reference_maxsim(q, passages):
    """Padded fp32 MaxSim with padding masked by -inf, the textbook way."""
    longest = max(len(p) for p in passages)
    padded = np.zeros((len(passages), longest, q.shape[1]), dtype=np.float32)
    mask = np.zeros((len(passages), longest), dtype=bool)
    for i, p in enumerate(passages):
        padded[i, : len(p)] = p
        mask[i, : len(p)] = True
    sims = np.einsum("qd,ptd->pqt", q, padded)
    sims[~mask[:, None, :].repeat(q.shape[0], axis=1)] = -np.inf
    return sims.max(axis=2).sum(axis=1)


def clustered_passages(n=300, seed=0):
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(20, 128)).astype(np.float32)
    out = []
    for i in range(n):
        t = topics[i % 20]
        toks = t + 0.6 * rng.normal(size=(rng.integers(3, 40), 128)).astype(np.float32)
        out.append((toks / np.linalg.norm(toks, axis=1, keepdims=True)).astype(np.float16).astype(np.float32))
    return out, topics


def test_maxsim_matches_padded_reference_with_negative_similarities():
    rng = np.random.default_rng(1)
    passages = [rng.normal(size=(n, 16)).astype(np.float32) for n in (1, 5, 2)]
    q = -np.abs(rng.normal(size=(4, 16)).astype(np.float32))  # many negative similarities: zero-padding would win
    idx = ColbertIndex(
        np.zeros((1, 16), np.float32),
        np.zeros(8, np.uint16),
        np.array([0, 1, 6, 8]),
        np.array([0, 3]),
        np.array([0, 1, 2], np.int32),
        np.concatenate(passages).astype(np.float32),
    )
    assert np.allclose(idx.score(q, np.array([0, 1, 2])), reference_maxsim(q, passages), atol=1e-5)


def test_candidate_search_agrees_with_exact_and_round_trips(tmp_path):
    passages, topics = clustered_passages()
    idx = ColbertIndex.build(passages, ColbertIndexConfig())
    assert len(idx.centroids) == auto_centroids(sum(len(p) for p in passages))
    rng = np.random.default_rng(2)
    overlap = []
    for t in range(10):
        q = topics[t] + 0.6 * rng.normal(size=(8, 128)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        got, got_s = idx.search(q, 10, nprobe=8, rescore=64)
        ref, ref_s = idx.exact_search(q, 10)
        assert np.allclose(ref_s, np.sort(reference_maxsim(q, passages))[::-1][:10], atol=1e-3)
        overlap.append(len(set(got) & set(ref)) / 10)
        # the scores of what it returns are exact MaxSim
        assert np.allclose(got_s, idx.score(q, got))
    assert np.mean(overlap) >= 0.9
    idx.save(tmp_path / "c")
    loaded = ColbertIndex.load(tmp_path / "c")
    assert np.array_equal(loaded.search(q, 10)[0], idx.search(q, 10)[0])


def test_colbert_subset_and_append_match_the_direct_scores():
    passages, _ = clustered_passages(60)
    idx = ColbertIndex.build(passages[:50], ColbertIndexConfig())
    grown = idx.appended(passages[50:])
    q = passages[55][:4]
    assert len(grown) == 60 and grown.exact_search(q, 1)[0][0] == 55
    assert np.allclose(grown.score(q, np.arange(60)), reference_maxsim(q, passages), atol=1e-3)
    keep = np.array([3, 10, 55])
    small = grown.subset(keep)
    assert np.allclose(small.score(q, np.arange(3)), grown.score(q, keep))
    # every passage can be found through the inverted lists after the rebuild
    assert set(np.asarray(small.ivf_pids)) == {0, 1, 2}


def test_tiny_index_grown_large_is_reclustered():
    passages, topics = clustered_passages(400)
    cfg = ColbertIndexConfig()
    small = ColbertIndex.build(passages[:1], cfg)
    assert len(small.centroids) == 1
    grown = small.appended(passages[1:], cfg)
    assert len(grown.centroids) > 16 and len(grown) == 400
    q = passages[123][:4]
    assert grown.search(q, 1, rescore=32)[0][0] == 123
    assert np.allclose(grown.score(q, np.arange(400)), reference_maxsim(q, passages), atol=1e-3)
    assert len(grown.score(q, np.zeros(0, dtype=np.int64))) == 0


def overlap_at_10(a, b) -> float:
    return len(set(a[:10]) & set(b[:10])) / 10


def topic_queries(topics, n=10, seed=2):
    rng = np.random.default_rng(seed)
    for t in range(n):
        q = topics[t] + 0.6 * rng.normal(size=(8, 128)).astype(np.float32)
        yield q / np.linalg.norm(q, axis=1, keepdims=True)


def test_compressed_index_decodes_close_agrees_with_exact_and_round_trips(tmp_path):
    passages, topics = clustered_passages()
    idx = ColbertIndex.build(passages, ColbertIndexConfig(full_vectors=False))
    assert idx.vectors is None and not idx.exact
    assert idx.residuals.shape == (idx.n_tokens, ColbertIndexConfig().pq_subvectors)
    original = np.concatenate(passages)
    decoded = idx.decode(np.arange(idx.n_tokens))
    assert np.mean(np.sum(decoded * original, axis=1)) > 0.95  # unit vectors: cosine
    overlap = [
        overlap_at_10(idx.search(q, 10)[0], np.argsort(-reference_maxsim(q, passages), kind="stable"))
        for q in topic_queries(topics)
    ]
    assert np.mean(overlap) >= 0.9
    idx.save(tmp_path / "c")
    assert not (tmp_path / "c" / "vectors.npy").exists()
    loaded = ColbertIndex.load(tmp_path / "c")
    assert isinstance(loaded.residuals, np.memmap)
    for q in topic_queries(topics, 3):
        assert np.array_equal(loaded.search(q, 10)[0], idx.search(q, 10)[0])


def test_exact_switch_is_brute_force_maxsim():
    passages, topics = clustered_passages(80)
    idx = ColbertIndex.build(passages, ColbertIndexConfig())
    for q in topic_queries(topics, 3):
        ref = reference_maxsim(q, passages)
        got, got_s = idx.search(q, 10, nprobe=0)
        assert np.array_equal(got, idx.exact_search(q, 10)[0])
        assert np.allclose(got_s, np.sort(ref)[::-1][:10], atol=1e-3)


def test_compressed_append_and_subset_keep_the_codes():
    passages, _ = clustered_passages(60)
    idx = ColbertIndex.build(passages[:50], ColbertIndexConfig(full_vectors=False))
    grown = idx.appended(passages[50:])
    assert grown.vectors is None and len(grown) == 60
    new_rows = np.arange(idx.n_tokens, grown.n_tokens)
    assert np.mean(np.sum(grown.decode(new_rows) * np.concatenate(passages[50:]), axis=1)) > 0.95
    q = passages[55][:4]
    assert grown.exact_search(q, 1)[0][0] == 55
    keep = np.array([3, 10, 55])
    small = grown.subset(keep)
    assert np.allclose(small.score(q, np.arange(3)), grown.score(q, keep))


def test_index_written_before_residuals_still_loads_and_searches(tmp_path):
    passages, topics = clustered_passages(80)
    idx = ColbertIndex.build(passages, ColbertIndexConfig())
    idx.save(tmp_path / "old")  # the full-vector layout is the one indexes had before residuals
    assert sorted(p.stem for p in (tmp_path / "old").iterdir()) == sorted(
        ["centroids", "codes", "offsets", "ivf_offsets", "ivf_pids", "vectors"]
    )
    old = ColbertIndex.load(tmp_path / "old")
    assert old.residuals is None and old.exact
    q = next(topic_queries(topics))
    assert np.array_equal(old.search(q, 10)[0], idx.search(q, 10)[0])
    grown = old.appended(passages[:2])
    assert grown.residuals is None and np.allclose(grown.score(q, [80, 81]), grown.score(q, [0, 1]))


def test_dense_scores_and_round_trip(tmp_path):
    emb = np.eye(3, dtype=np.float32)
    d = DenseIndex(emb)
    assert int(np.argmax(d.scores(np.array([0, 1, 0], np.float32)))) == 1
    d.save(tmp_path)
    assert np.array_equal(DenseIndex.load(tmp_path).embeddings, emb)


def test_interrupted_write_keeps_the_previous_generation(tmp_path):
    root = tmp_path / "idx"
    write_generation(root, lambda f: (f.mkdir(), (f / "manifest.json").write_text("{}"), (f / "x").write_text("old")))
    first = live_generation(root)

    def crash(folder):
        folder.mkdir()
        (folder / "x").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_generation(root, crash)
    assert live_generation(root) == first and (first / "x").read_text() == "old"
    assert not [p for p in root.iterdir() if p.name.endswith(".partial")]


def test_refuses_to_overwrite_a_foreign_folder(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(IndexFormatError, match="not a radlite index"):
        write_generation(tmp_path, lambda f: f.mkdir())
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("nprobe", [1, 3, 10_000])
def test_approximate_scores_take_each_tokens_best_probed_cell(nprobe):
    passages, _ = clustered_passages(80, seed=3)
    idx = ColbertIndex.build(passages, ColbertIndexConfig(n_centroids=16))
    q = passages[5][:6]
    cscores = q @ idx.centroids.T
    # the definition, one token and one passage at a time
    want = np.zeros(len(passages), dtype=np.float32)
    for t in range(len(q)):
        order = np.argsort(-cscores[t])
        probed = order[: min(nprobe, len(order))]
        floor = cscores[t, order[nprobe]] if nprobe < len(order) else cscores[t].min()
        for p in range(len(passages)):
            cells = set(np.asarray(idx.codes[idx.offsets[p] : idx.offsets[p + 1]]).tolist())
            hit = [cscores[t, c] - floor for c in probed if c in cells]
            want[p] += max(hit) if hit else 0.0
    assert np.allclose(idx.approximate_scores(cscores, nprobe), want, atol=1e-5)
    assert want.any()
