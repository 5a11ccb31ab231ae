"""The Qdrant backend (qdrant-client's embedded local mode) against the local backend: same top-10
per signal, same fused results, kept in step by add/delete, and the CLI working unchanged on it."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from radlite.backends.qdrant import passage_point, settings_for
from radlite.cli import app
from radlite.corpus import load_corpus
from radlite.errors import IndexFormatError, RadliteError
from radlite.index import SearchIndex
from radlite.search.engine import RadLITESearch
from radlite.search.stages import Timer, retrieve
from tests.conftest import (
    NEW_DOCS,
    SAMPLE,
    assert_same_top10,
    backend_engine,
    model_flags,
    rewrite_manifest,
    sample_query_texts,
)

pytest.importorskip("qdrant_client")


@pytest.fixture(scope="module")
def pair(tiny_models, tmp_path_factory):
    """The bundled sample indexed by both backends, saved and loaded back."""
    root = tmp_path_factory.mktemp("backends")
    docs = load_corpus(SAMPLE / "radiology_sample.jsonl")
    backend_engine(tiny_models).index_corpus(docs).save(root / "local")
    backend_engine(tiny_models, settings_for(None, root / "qdrant-data")).index_corpus(docs).save(root / "qdrant")
    return root, RadLITESearch.load(root / "local"), RadLITESearch.load(root / "qdrant")


def _assert_same(local, remote, queries, category=None):
    assert len(local.index.passages) == len(remote.index.passages)
    for query in queries:
        q = local.encode_query(query, ["biencoder", "colbert"], Timer())
        for signal in ("bm25", "biencoder", "colbert"):
            a_ids, a_scores = retrieve(local.index, q, signal, 11, category=category)
            b_ids, b_scores = retrieve(remote.index, q, signal, 11, category=category)
            assert_same_top10(a_ids, a_scores, b_ids, b_scores, (signal, query))
        a = local.search(query, top_k=10, candidates=20, category=category)
        b = remote.search(query, top_k=10, candidates=20, category=category)
        assert [r["id"] for r in a] == [r["id"] for r in b], query
        assert [r["passage_span"] for r in a] == [r["passage_span"] for r in b]
        np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in b], rtol=1e-4, atol=1e-6)
        for s in ("bm25", "biencoder", "colbert", "crossencoder"):
            np.testing.assert_allclose(
                [r["signals"][s]["raw"] for r in a], [r["signals"][s]["raw"] for r in b], rtol=1e-4, atol=1e-5
            )


def test_same_top10_per_signal_and_same_fused_results(pair):
    root, local, remote = pair
    manifest = json.loads(
        (root / "qdrant" / (root / "qdrant" / "CURRENT").read_text().strip() / "manifest.json").read_text()
    )
    assert manifest["backend"]["kind"] == "qdrant" and manifest["backend"]["path"].endswith("qdrant-data")
    assert remote.index.backend.kind == "qdrant" and not hasattr(remote.index.backend, "dense")  # all in Qdrant
    _assert_same(local, remote, sample_query_texts())


def test_category_filter_runs_inside_qdrant(pair):
    _, local, remote = pair
    results = remote.search("fracture", top_k=5, candidates=10, category="msk")
    assert results and all(r["category"] == "msk" for r in results)
    _assert_same(local, remote, ["fracture trauma", "mass on mammography"], category="msk")


def test_add_and_delete_keep_the_backends_in_step(pair, tmp_path):
    root, local, remote = pair
    for engine in (local, remote):
        engine.index = engine.with_documents(NEW_DOCS)
        engine.delete_documents(["new-2", engine.index.documents[0].id])
    assert [d.id for d in local.index.documents] == [d.id for d in remote.index.documents]
    state = remote.index.backend
    assert state.weights_avgdl == state.counts.avgdl  # tolerance 0: every change rewrote the weights
    _assert_same(local, remote, sample_query_texts())
    assert remote.search("scaphoid waist fracture", top_k=3, candidates=10, signals=["bm25"])[0]["id"] != "new-2"
    assert remote.search("pleural line deep sulcus", top_k=1, candidates=5, signals=["bm25"])[0]["id"] == "new-1"
    # saved and loaded back, the Qdrant index is the same again
    remote.save(root / "qdrant")
    local.save(root / "local")
    _assert_same(RadLITESearch.load(root / "local"), RadLITESearch.load(root / "qdrant"), sample_query_texts()[:4])


def test_avgdl_tolerance_skips_rewriting_weights_for_small_changes(tiny_models, tmp_path):
    docs = load_corpus(SAMPLE / "radiology_sample.jsonl")
    engine = backend_engine(tiny_models, settings_for(None, tmp_path / "qd", bm25_avgdl_tolerance=0.5)).index_corpus(
        docs
    )
    before = engine.index.backend.weights_avgdl
    engine.index = engine.with_documents(NEW_DOCS)
    state = engine.index.backend
    assert state.counts.avgdl != before and state.weights_avgdl == before  # moved, but by less than 50%
    # the new passages were weighted at the stored average length, like the old ones
    pid = len(engine.index.passages) - 1
    terms, w = state.counts.weights([pid], before, engine.index.config.bm25)[0]
    point = state.client.retrieve(state.collection, [passage_point(engine.index, pid)], with_vectors=["bm25"])[0]
    assert point.vector["bm25"].indices == terms.tolist()
    np.testing.assert_allclose(point.vector["bm25"].values, w, rtol=1e-6)
    assert engine.search("thickened pylorus infant", top_k=1, candidates=5, signals=["bm25"])[0]["id"] == "new-3"


def test_colbert_alone_on_qdrant_is_the_exact_maxsim_ranking(pair):
    """Without the bi-encoder among the chosen signals the pipeline still encodes its query for the
    ColBERT prefetch, so ColBERT alone ranks what the full search ranks."""
    _, local, remote = pair
    for query in sample_query_texts()[:6]:
        a = local.search(query, top_k=10, candidates=20, signals=["colbert"])
        b = remote.search(query, top_k=10, candidates=20, signals=["colbert"])
        assert [r["id"] for r in a] == [r["id"] for r in b], query
        np.testing.assert_allclose([r["colbert_score"] for r in a], [r["colbert_score"] for r in b], rtol=1e-5)


def test_points_left_by_an_interrupted_add_never_map_to_other_passages(tiny_models, tmp_path):
    docs = load_corpus(SAMPLE / "radiology_sample.jsonl")
    engine = backend_engine(tiny_models, settings_for(None, tmp_path / "qd")).index_corpus(docs)
    state = engine.index.backend
    long_doc = {"id": "long", "title": "Long", "text": " ".join(["pneumothorax pleural line"] * 150)}
    engine.with_documents([long_doc])  # Qdrant written, the catalog never saved: points of 'long' left behind
    assert state.client.count(state.collection, exact=True).count > len(engine.index.passages)
    # the stray points (3 passages of 'long') are invisible to this catalog
    q = engine.encode_query("pneumothorax pleural line", ["biencoder", "colbert"], Timer())
    for signal in ("bm25", "biencoder", "colbert"):
        pids, _ = retrieve(engine.index, q, signal, 50)
        assert pids.max() < len(engine.index.passages)
    # re-adding the id with one passage replaces all of them
    engine.index = engine.with_documents([{**long_doc, "text": "pneumothorax pleural line"}])
    assert state.client.count(state.collection, exact=True).count == len(engine.index.passages)
    hits = engine.search("pneumothorax pleural line", top_k=3, candidates=10, signals=["bm25"])
    assert hits[0]["id"] == "long" and hits[0]["passage"] == "pneumothorax pleural line"
    # a stray point under a known document but a passage number it does not have is skipped
    from qdrant_client import models as m

    from radlite.backends.qdrant import point_id

    real = state.client.retrieve(state.collection, [point_id("long", 0)], with_vectors=True, with_payload=True)[0]
    state.client.upsert(
        state.collection,
        points=[m.PointStruct(id=point_id("long", 2), vector=real.vector, payload={**real.payload, "passage": 2})],
    )
    q = engine.encode_query("pneumothorax pleural line", ["biencoder", "colbert"], Timer())
    for signal in ("bm25", "biencoder", "colbert"):
        pids, _ = retrieve(engine.index, q, signal, 80)
        assert len(pids) == len(set(pids.tolist())) and pids.max() < len(engine.index.passages), signal
        assert (engine.index.passage_doc(pids) == len(engine.index.documents) - 1).sum() == 1, signal


def test_a_missing_collection_or_bad_settings_are_clear_errors(pair, tmp_path):
    root, _, remote = pair
    with pytest.raises(RadliteError, match="exactly one of url"):
        settings_for("http://localhost:6333", tmp_path / "q")
    with pytest.raises(RadliteError, match="exactly one of url"):
        settings_for(None, None)
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(root / "qdrant", broken)
    gen = broken / (broken / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["backend"]["collection"] = "radlite-gone"
    rewrite_manifest(gen, manifest)
    with pytest.raises(IndexFormatError, match="collection 'radlite-gone' is missing"):
        SearchIndex.load(broken)
    # a server that is not there, and a request Qdrant refuses: one line naming it, no traceback
    from radlite.backends.qdrant import client_for
    from radlite.errors import BackendError

    with pytest.raises(BackendError, match="cannot open Qdrant at http://127.0.0.1:1"):
        client_for(settings_for("http://127.0.0.1:1", None))
    with pytest.raises(BackendError, match=r"Qdrant at .* failed \(count\)"):
        remote.index.backend.client.count("no-such-collection", exact=True)
    result = CliRunner().invoke(
        app,
        [
            "index",
            str(SAMPLE / "radiology_sample.jsonl"),
            "-o",
            str(tmp_path / "x"),
            "--signals",
            "bm25",
            "--backend",
            "qdrant",
            "--qdrant-url",
            "http://127.0.0.1:1",
        ],
    )
    assert result.exit_code == 2 and "cannot open Qdrant at http://127.0.0.1:1" in result.output
    assert "Traceback" not in result.output


def test_an_interrupted_delete_is_searchable_and_a_rerun_repairs_it(tiny_models, tmp_path, caplog):
    """Points deleted in Qdrant while the catalog's save never happened (a crash in between): the
    index still loads and searches, and re-running the delete brings both back in step."""
    from qdrant_client import models as m

    docs = load_corpus(SAMPLE / "radiology_sample.jsonl")
    engine = backend_engine(tiny_models, settings_for(None, tmp_path / "qd")).index_corpus(docs)
    engine.save(tmp_path / "idx")
    gone = docs[5].id
    remote = engine.index.backend
    remote.client.delete(
        remote.collection,
        points_selector=m.FilterSelector(
            filter=m.Filter(must=[m.FieldCondition(key="doc_id", match=m.MatchValue(value=gone))])
        ),
    )
    with caplog.at_level("WARNING"):
        again = RadLITESearch.load(tmp_path / "idx")
    assert "re-run the interrupted add/delete" in caplog.text
    assert gone not in [r["id"] for r in again.search(docs[5].title or docs[5].text[:60], top_k=10, candidates=20)]
    result = CliRunner().invoke(app, ["delete", str(tmp_path / "idx"), gone])
    assert result.exit_code == 0, result.output
    caplog.clear()
    with caplog.at_level("WARNING"):
        repaired = SearchIndex.load(tmp_path / "idx")
    assert "re-run" not in caplog.text and gone not in [d.id for d in repaired.documents]


def test_cli_index_search_add_delete_info_eval_tune_on_qdrant(tiny_models, tmp_path):
    runner = CliRunner()
    beir = _sample_beir(tmp_path / "beir")
    models = model_flags(tiny_models)
    idx, local = tmp_path / "idx", tmp_path / "local"
    build = runner.invoke(
        app, ["index", str(beir), "-o", str(idx), "--backend", "qdrant", "--qdrant-path", str(tmp_path / "qd"), *models]
    )
    assert build.exit_code == 0, build.output
    assert runner.invoke(app, ["index", str(beir), "-o", str(local), *models]).exit_code == 0

    def top(index, query, signals):
        res = runner.invoke(app, ["search", str(index), query, "--json", "-k", "3", "--signals", signals])
        assert res.exit_code == 0, res.output
        return [(r["id"], r["score"]) for r in json.loads(res.stdout)]

    for signals in ("bm25", "biencoder", "bm25,biencoder,crossencoder"):
        remote, here = (top(i, "linguine sign silicone implant MRI", signals) for i in (idx, local))
        assert [d for d, _ in remote] == [d for d, _ in here]
        assert [x for _, x in remote] == pytest.approx([x for _, x in here], abs=1e-4)
    info = runner.invoke(app, ["info", str(idx)])
    assert "qdrant" in info.stdout and "collection radlite-" in info.stdout
    (tmp_path / "more.jsonl").write_text("\n".join(json.dumps(d) for d in NEW_DOCS))
    assert runner.invoke(app, ["add", str(idx), str(tmp_path / "more.jsonl")]).exit_code == 0
    assert top(idx, "thickened pylorus infant", "bm25")[0][0] == "new-3"
    deleted = runner.invoke(app, ["delete", str(idx), "new-3"])
    assert deleted.exit_code == 0 and "deleted 1 documents" in deleted.output
    assert "new-3" not in [i for i, _ in top(idx, "thickened pylorus infant", "bm25")]
    evaluated = runner.invoke(app, ["eval", str(idx), "--dataset", str(beir), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["configurations"]["bm25"]["metrics"]["mrr@10"][0] > 0.5
    tuned = runner.invoke(app, ["tune", str(idx), "--dataset", str(beir), "--split", "dev"])
    assert tuned.exit_code == 0 and "dev: nDCG@10" in tuned.output, tuned.output
    # a rebuild into the same folder moves to a new collection and drops the old one
    from radlite.backends.qdrant import client_for
    from radlite.index import read_manifest

    before = read_manifest(idx)["backend"]
    again = runner.invoke(
        app, ["index", str(beir), "-o", str(idx), "--backend", "qdrant", "--qdrant-path", str(tmp_path / "qd"), *models]
    )
    assert again.exit_code == 0, again.output
    after = read_manifest(idx)["backend"]
    client = client_for(after)
    assert after["collection"] != before["collection"]
    # the previous generation (kept for readers still on it) keeps its collection until the next write
    assert client.collection_exists(after["collection"]) and client.collection_exists(before["collection"])
    assert runner.invoke(app, ["delete", str(idx), "brst-005"]).exit_code == 0
    assert client.collection_exists(after["collection"]) and not client.collection_exists(before["collection"])
    refused = runner.invoke(app, ["serve", str(idx), "--workers", "2"])
    assert refused.exit_code == 2 and "--workers 1" in refused.output
    both = runner.invoke(app, ["index", str(beir), "-o", str(tmp_path / "x"), "--backend", "qdrant"])
    assert both.exit_code == 2 and "exactly one of url" in both.output and "(option --qdrant-url)" in both.output


def _sample_beir(folder):
    """The bundled sample as a BEIR folder; its 12 queries split 8 dev / 4 test."""
    (folder / "qrels").mkdir(parents=True)
    docs = [json.loads(line) for line in (SAMPLE / "radiology_sample.jsonl").read_text().splitlines()]
    (folder / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": d["id"], "title": d.get("title", ""), "text": d["text"]}) for d in docs)
    )
    queries = [json.loads(line) for line in (SAMPLE / "queries.jsonl").read_text().splitlines()]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps({"_id": q["id"], "text": q["text"]}) for q in queries))
    for name, part in (("dev", queries[:8]), ("test", queries[8:])):
        (folder / "qrels" / f"{name}.tsv").write_text(
            "".join(f"{q['id']}\t{r}\t1\n" for q in part for r in q["relevant"])
        )
    return folder


def test_the_server_searches_adds_deletes_and_explains_on_a_qdrant_index(pair):
    """`radlite serve` on a Qdrant index: the same app, writes go to the collection and the catalog."""
    from fastapi.testclient import TestClient

    from radlite.serve.app import ServeConfig, create_app

    root, local, _ = pair
    with TestClient(create_app(ServeConfig(index_dir=str(root / "qdrant"), allow_writes=True))) as client:
        body = client.post("/search", json={"query": "linguine sign silicone implant MRI", "top_k": 5}).json()
        want = local.search("linguine sign silicone implant MRI", top_k=5)
        assert [r["id"] for r in body["results"]] == [r["id"] for r in want]
        assert client.get("/info").json()["index_format_version"] == 2
        added = client.post(
            "/documents",
            json={"documents": [{"id": "srv-1", "text": "Lipoma of the forearm: fat density mass on CT."}]},
        )
        assert added.status_code == 201, added.text
        hit = client.post(
            "/search", json={"query": "lipoma forearm fat density", "top_k": 1, "signals": ["bm25"]}
        ).json()
        assert hit["results"][0]["id"] == "srv-1"
        why = client.post("/explain", json={"query": "lipoma forearm", "id": "srv-1"})
        assert why.status_code == 200 and "lipoma" in why.json()["bm25"]["matched_terms"]
        assert client.delete("/documents/srv-1").status_code == 200
        gone = client.post(
            "/search", json={"query": "lipoma forearm fat density", "top_k": 3, "signals": ["bm25"]}
        ).json()
        assert "srv-1" not in [r["id"] for r in gone["results"]]
