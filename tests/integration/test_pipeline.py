"""End-to-end behaviour of RadLITESearch: tiny models for mechanics, real MiniLM for relevance."""

import json
import shutil

import numpy as np
import pytest

from radlite.errors import IndexFormatError, ModelError, QueryError
from radlite.index import SearchIndex
from radlite.search.engine import RadLITESearch
from tests.conftest import RESULT_ORDER, TINY_DOCS

# Sample queries whose answer the demo shows first under every signal (see radlite demo).
AGREED = ["q02", "q05", "q07"]
RESULT_KEYS = set(RESULT_ORDER)


@pytest.mark.slow
@pytest.mark.parametrize("signals", [["bm25"], ["biencoder"], ["colbert"], None])
def test_relevant_document_first_for_each_retriever_and_fused(minilm_engine, sample_queries, signals):
    for q in [q for q in sample_queries if q["id"] in AGREED]:
        results = minilm_engine.search(q["text"], top_k=5, signals=signals)
        assert results[0]["id"] == q["relevant"][0], (signals, q["text"], [r["id"] for r in results])


@pytest.mark.slow
def test_result_carries_every_signal(minilm_engine, sample_queries):
    r = minilm_engine.search(sample_queries[0]["text"], top_k=3)[0]
    assert set(r) == RESULT_KEYS
    assert set(r["signals"]) == {"bm25", "biencoder", "colbert", "crossencoder"}
    for s in ("bm25", "biencoder", "colbert"):
        assert set(r["signals"][s]) >= {"raw", "normalized", "rank"}
    ce = r["signals"]["crossencoder"]
    assert ce["calibrated"] == pytest.approx(1 / (1 + np.exp(-ce["raw"] / 1.5)), rel=1e-5)
    assert not any("untrained" in r["signals"][s] for s in r["signals"])  # the defaults are trained
    # search leaves its stage times in last_timings (the CLI and the harness read them); search_run returns them
    stages = set(minilm_engine.last_timings)
    assert {"expand", "bm25", "biencoder", "colbert", "rerank", "fusion", "total"} <= stages
    run = minilm_engine.search_run(sample_queries[0]["text"], top_k=3)
    assert set(run.timings) == stages and [x["id"] for x in run.results] == [
        x["id"] for x in minilm_engine.search(sample_queries[0]["text"], top_k=3)
    ]
    # default weights: a third for each first-stage signal (z-scored), and the cross-encoder at the 0 it earned
    # (its score is kept), plus the pseudo-relevance feedback: the first result is the most like itself
    first = sum(r["signals"][s]["normalized"] / 3 for s in ("biencoder", "bm25", "colbert"))
    assert r["score"] == pytest.approx(first + r["prf"]) and r["prf"] > 0
    assert minilm_engine.search(sample_queries[0]["text"], top_k=1, prf=0)[0]["score"] == pytest.approx(first)
    # the seed card's 0.2 for the cross-encoder adds 0.2 x its calibrated score to the same document
    seed = minilm_engine.search(sample_queries[0]["text"], top_k=50, weights={"crossencoder": 0.2}, prf=0)
    same = next(x for x in seed if x["id"] == r["id"])
    assert same["score"] == pytest.approx(first + 0.2 * same["signals"]["crossencoder"]["calibrated"])
    assert r["passage"] in r["document"] and r["biencoder_score"] == r["signals"]["biencoder"]["raw"]


@pytest.mark.slow
def test_default_models_are_the_trained_ones_and_untrained_is_still_available():
    from radlite.models.resolve import resolve_model

    for kind in ("biencoder", "colbert", "crossencoder"):
        default, untrained = resolve_model(kind, "default"), resolve_model(kind, "untrained")
        assert default.trained is True and untrained.trained is not True  # the plain MiniLM has no radlite marker
        assert default.sha256 != untrained.sha256


@pytest.mark.slow
def test_an_index_built_when_the_default_bi_encoder_was_plain_minilm_keeps_it(sample_docs, tmp_path, caplog):
    """Before radlite shipped a trained bi-encoder, "default" was all-MiniLM-L6-v2 itself: such an index's manifest
    says "default" with MiniLM's weights, and it is searched with MiniLM, not refused or searched with the new one."""
    docs = sample_docs[:8]
    old = RadLITESearch(biencoder="untrained", reranker=None, signals=["bm25", "biencoder"]).index_corpus(docs)
    old.save(tmp_path / "idx")
    manifest = next((tmp_path / "idx").rglob("manifest.json"))
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["models"]["biencoder"]["name"] = "default"  # what the older radlite wrote
    manifest.write_text(json.dumps(data), encoding="utf-8")
    from radlite.fsutil import sha256_file
    from radlite.index.integrity import DIGEST

    (manifest.parent / DIGEST).write_text(sha256_file(manifest), encoding="utf-8")  # as that radlite wrote it
    with caplog.at_level("WARNING", logger="radlite.search.engine"):
        loaded = RadLITESearch.load(tmp_path / "idx")
    assert "built with all-MiniLM-L6-v2" in caplog.text and "rebuild the index" in caplog.text
    assert loaded.models["biencoder"].name == "untrained"
    assert loaded.models["biencoder"].sha256 == old.models["biencoder"].sha256
    query = docs[0]["text"][:80]
    assert [r["id"] for r in loaded.search(query, top_k=3)] == [r["id"] for r in old.search(query, top_k=3)]
    with pytest.raises(ModelError, match="all-MiniLM-L6-v2: 'untrained'"):  # "default" by hand is the new model
        RadLITESearch.load(tmp_path / "idx", biencoder="default")


@pytest.mark.slow
def test_a_default_built_from_an_older_shipped_version_is_rebuilt(radlite_home):
    from radlite.models.resolve import resolve_model

    first = resolve_model("crossencoder", "default")
    stamp = first.path / "radlite_shipped.sha256"
    stamp.write_text("an older release", encoding="utf-8")
    (first.path / "model.safetensors").write_bytes(b"stale weights")
    again = resolve_model("crossencoder", "default")
    assert again.path == first.path and stamp.read_text(encoding="utf-8") != "an older release"
    assert again.sha256 == first.sha256  # the shipped weights, not the stale file


@pytest.mark.slow
def test_a_damaged_built_default_is_found_by_its_checksums_and_rebuilt(radlite_home, caplog):
    from radlite.models.resolve import resolve_model

    first = resolve_model("colbert", "default")
    for name in ("tokenizer.json", "model.safetensors"):  # a file the weights hash does not cover, and one it does
        target = first.path / name
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
        with caplog.at_level("WARNING", logger="radlite.models.resolve"):
            again = resolve_model("colbert", "default")
        assert f"{name} differs from its checksum" in caplog.text and "rebuilding it" in caplog.text
        assert again.sha256 == first.sha256 and target.read_bytes() != bytes(data)
        caplog.clear()


@pytest.mark.slow
def test_saved_and_reloaded_index_gives_identical_results(minilm_engine, sample_queries):
    loaded = RadLITESearch.load(minilm_engine.saved_path)
    for q in sample_queries[:3]:
        a = minilm_engine.search(q["text"], top_k=5)
        b = loaded.search(q["text"], top_k=5)
        assert [r["id"] for r in a] == [r["id"] for r in b]
        assert [r["score"] for r in a] == pytest.approx([r["score"] for r in b], abs=1e-6)
        assert [r["signals"] for r in a] == [r["signals"] for r in b]


def tiny(tiny_models, **kw):
    return RadLITESearch(
        biencoder=tiny_models["biencoder"], colbert=tiny_models["colbert"], reranker=tiny_models["reranker"], **kw
    )


def test_add_and_delete_update_every_signal(tiny_models, tiny_index, tmp_path):
    path = tmp_path / "idx"
    shutil.copytree(tiny_index, path)
    engine = RadLITESearch.load(path)
    new = {
        "id": "zebra",
        "title": "Erdheim-Chester disease",
        "text": "Symmetric sclerosis of long bone diaphyses with hairy kidney perirenal infiltration.",
    }
    engine.add_documents([new])
    engine.save(path)
    reloaded = RadLITESearch.load(path)
    assert (
        reloaded.search("Erdheim-Chester hairy kidney sclerosis diaphyses", top_k=1, signals=["bm25"])[0]["id"]
        == "zebra"
    )
    # every signal equals an index built from scratch over the same documents (all scores exact)
    fresh = tiny(tiny_models).index_corpus(TINY_DOCS + [new])
    q = "hairy kidney"
    for s in ("bm25", "biencoder", "colbert"):
        a = reloaded.search(q, top_k=6, signals=[s])
        b = fresh.search(q, top_k=6, signals=[s])
        assert "zebra" in [r["id"] for r in a], s
        assert [r["id"] for r in a] == [r["id"] for r in b], s
        assert [r[f"{s}_score"] for r in a] == pytest.approx([r[f"{s}_score"] for r in b], abs=1e-3), s

    reloaded.delete_documents(["zebra", "pe"])
    reloaded.save(path)
    after = RadLITESearch.load(path)
    ids = {
        r["id"]
        for s in ("bm25", "biencoder", "colbert")
        for r in after.search("embolism hairy kidney", top_k=3, signals=[s])
    }
    assert "zebra" not in ids and "pe" not in ids
    assert len(after.index.documents) == len(TINY_DOCS) - 1
    assert after.search("odontoid c-spine fracture", top_k=1, signals=["bm25"])[0]["id"] == "cspine"
    remaining = [d for d in TINY_DOCS if d["id"] != "pe"]
    rebuilt = tiny(tiny_models).index_corpus(remaining)
    for s in ("bm25", "biencoder", "colbert"):
        a = after.search("fracture sign", top_k=4, signals=[s])
        b = rebuilt.search("fracture sign", top_k=4, signals=[s])
        assert [(r["id"], r["corpus_index"]) for r in a] == [(r["id"], r["corpus_index"]) for r in b], s
        assert [r[f"{s}_score"] for r in a] == pytest.approx([r[f"{s}_score"] for r in b], abs=1e-3), s
    with pytest.raises(IndexFormatError, match="not in the index"):
        after.delete_documents(["nope"])
    with pytest.raises(IndexFormatError, match="already in the index"):
        after.add_documents([{"id": "ms", "text": "dup"}])


def test_mismatched_model_is_refused(tiny_models, tiny_index):
    with pytest.raises(ModelError, match="was built with biencoder model"):
        RadLITESearch.load(tiny_index, biencoder=tiny_models["other_biencoder"])
    with pytest.raises(ModelError, match="neither a local folder nor a hub id"):
        RadLITESearch.load(tiny_index, biencoder="no such model!")
    with pytest.raises(ModelError, match="could not be fetched"):
        RadLITESearch.load(tiny_index, reranker="radlite-tests/does-not-exist")


def test_wrong_format_version_and_corruption_are_refused(tiny_index, tmp_path):
    path = tmp_path / "idx"
    shutil.copytree(tiny_index, path)
    gen = path / (path / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    from radlite.index.integrity import write_digest

    # a consistent manifest of another format version (as a newer radlite would write it)
    (gen / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))
    write_digest(gen)
    with pytest.raises(IndexFormatError, match="format version 99.*rebuild"):
        RadLITESearch.load(path)
    (gen / "manifest.json").write_text(json.dumps(manifest))
    write_digest(gen)
    (gen / "biencoder" / "embeddings.npy").write_bytes(b"garbage")
    with pytest.raises(IndexFormatError, match="biencoder/embeddings.npy is damaged"):
        SearchIndex.load(path)
    with pytest.raises(IndexFormatError, match="corrupted or unreadable"):  # unverified, the loader still refuses
        SearchIndex.load(path, verify=False)


def test_query_validation(tiny_models, tiny_index):
    engine = RadLITESearch.load(tiny_index)
    for bad in ("", "   ", None):
        with pytest.raises(QueryError, match="empty query"):
            engine.search(bad)
    with pytest.raises(QueryError, match="limit is 4000"):
        engine.search("x" * 5000)
    with pytest.raises(QueryError, match="candidates"):
        engine.search("fracture", top_k=10, candidates=5)
    with pytest.raises(QueryError, match="top_k must be"):
        engine.search("fracture", top_k=0)
    with pytest.raises(QueryError, match="unknown signal"):
        engine.search("fracture", signals=["splade"])


def test_rrf_category_filter_and_no_reranker(tiny_models, tiny_index):
    engine = RadLITESearch.load(tiny_index, use_reranker=False)
    res = engine.search("odontoid fracture c-spine", top_k=3, method="rrf")
    assert "crossencoder" not in res[0]["signals"] and res[0]["crossencoder_score"] is None
    ranks = [r["signals"][s]["rank"] for r in res[:1] for s in ("bm25", "biencoder", "colbert")]
    assert res[0]["score"] == pytest.approx(
        sum(0.0 if r is None else w / (60 + r) for r, w in zip(ranks, (1 / 3, 1 / 3, 1 / 3)))
    )
    only = engine.search("fracture lesions", top_k=5, category="neuro")
    assert only and {r["category"] for r in only} == {"neuro"}
    with pytest.raises(QueryError, match="unknown signal 'bm2'"):
        engine.search("fracture", weights={"bm2": 1.0})
    with pytest.raises(QueryError, match=">= 0"):
        engine.search("fracture", weights={"bm25": -1.0})


def test_index_without_reranker_is_searched_without_one(tiny_models, tmp_path):
    engine = RadLITESearch(biencoder=tiny_models["biencoder"], colbert=tiny_models["colbert"], reranker=None)
    engine.index_corpus(TINY_DOCS).save(tmp_path / "idx")
    loaded = RadLITESearch.load(tmp_path / "idx")
    assert "crossencoder" not in loaded.models
    assert "crossencoder" not in loaded.search("target sign", top_k=2)[0]["signals"]


def test_strings_get_fresh_ids_when_added(tiny_models):
    engine = tiny(tiny_models, signals=["bm25"]).index_corpus(["renal cyst", "liver cyst"])
    engine.add_documents(["splenic cyst"])
    assert [d.id for d in engine.index.documents] == ["0", "1", "2"]
    assert engine.search("splenic", top_k=1, signals=["bm25"])[0]["id"] == "2"


def test_relative_model_path_is_stored_absolute(tiny_models, tmp_path, monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(tiny_models["biencoder"]).parent)
    engine = RadLITESearch(biencoder="./bi", colbert=None, reranker=None, signals=["biencoder"])
    engine.index_corpus(TINY_DOCS).save(tmp_path / "idx")
    monkeypatch.chdir(tmp_path)
    assert RadLITESearch.load(tmp_path / "idx").search("target", top_k=1)[0]["id"]


def test_long_documents_are_split_and_reported_once(tiny_models):
    from radlite.config import IndexConfig

    cfg = IndexConfig()
    cfg.chunking.passage_words, cfg.chunking.overlap_words = 8, 2
    long_doc = {
        "id": "long",
        "text": "filler words about nothing much here at all. " * 4 + "The odontoid fracture of the c-spine is here.",
    }
    engine = tiny(tiny_models, config=cfg).index_corpus([long_doc, {"id": "other", "text": "renal cyst"}])
    assert len(engine.index.passages) > 3
    res = engine.search("odontoid fracture c-spine", top_k=2, signals=["bm25"])
    assert [r["id"] for r in res] == ["long"]
    assert "odontoid" in res[0]["passage"] and res[0]["passage_index"] > 0


@pytest.mark.slow
def test_nonsense_and_off_topic_queries_have_no_confident_match(minilm_engine, sample_queries):
    """The relevance estimate (fitted on radbench9 dev and other nonsense, benchmarks/no_match.md) on a
    collection it never saw: nearly every sample question is a confident match (96% of radbench9 test is;
    here "Agatston score 130 HU threshold" falls just below), no nonsense query is."""
    unsure = []
    for q in sample_queries:
        results = minilm_engine.search(q["text"], top_k=3)
        if not minilm_engine.confident(results):
            unsure.append((q["text"], results[0].relevance))
        assert 0 < results[0].relevance <= 1 and results[0].to_dict()["relevance"] == results[0].relevance
    assert len(unsure) <= 1, unsure
    for text in [
        "the of and a to is in",
        "' OR 1=1; DROP TABLE documents; --",
        "best pizza in naples",
        "how to tie a tie",
        "stock market forecast",
    ]:
        results = minilm_engine.search(text, top_k=3)
        assert results and results[0].score >= 0.5  # fused scores look sure of themselves...
        assert minilm_engine.confident(results) is False, (text, results[0].relevance)  # ...the estimate is not
    from typer.testing import CliRunner

    from radlite.cli import app

    said = CliRunner().invoke(app, ["search", str(minilm_engine.saved_path), "best pizza in naples", "-k", "2"])
    assert said.exit_code == 0 and "no confident match" in said.output
    sure = CliRunner().invoke(app, ["search", str(minilm_engine.saved_path), sample_queries[0]["text"], "-k", "2"])
    assert sure.exit_code == 0 and "no confident match" not in sure.output


def test_a_cross_encoder_at_weight_0_scores_only_the_results_returned(tiny_models, tiny_index):
    """At weight 0 (the default fusion) the cross-encoder cannot change the order, so it reads only the top_k
    results' passages: the same results, scores and cross-encoder values as reranking every candidate; at a weight
    above 0 it reads every candidate."""
    engine = RadLITESearch.load(tiny_index)
    ce = engine.encoder("crossencoder")
    pairs = []
    predict = ce.predict
    ce.predict = lambda batch: pairs.append(len(batch)) or predict(batch)
    for query in ("odontoid fracture c-spine", "fracture lesions", "target sign"):
        pairs.clear()
        ce._cache.clear()
        few = engine.search(query, top_k=2, candidates=8)
        assert pairs == [2] and "rerank" in engine.last_timings
        ce._cache.clear()
        every = engine.search(query, top_k=8, candidates=8)
        assert pairs[1] == len(every) > 2  # top_k = candidates: every candidate is scored, as when it counts
        assert [r["id"] for r in few] == [r["id"] for r in every[:2]]
        assert [r["score"] for r in few] == pytest.approx([r["score"] for r in every[:2]])
        # each result's own passage was read: its logit is the one it gets among all candidates
        assert [r["signals"]["crossencoder"]["raw"] for r in few] == pytest.approx(
            [r["signals"]["crossencoder"]["raw"] for r in every[:2]], abs=1e-4
        )
        assert sorted(r["signals"]["crossencoder"]["rank"] for r in few) == [1, 2]  # among the results it read
        ce._cache.clear()
        engine.search(query, top_k=2, candidates=8, weights={"crossencoder": 0.5})
        assert pairs[2] == len(every)
