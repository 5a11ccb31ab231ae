"""The HTTP API in-process (FastAPI's TestClient), on the tiny index with the tiny models."""

from __future__ import annotations

import shutil

import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from radlite.serve.app import ServeConfig, create_app  # noqa: E402


@pytest.fixture()
def served(tiny_index, tmp_path):
    """A private copy of the tiny index, served with writes allowed."""
    root = tmp_path / "idx"
    shutil.copytree(tiny_index, root)

    def start(**options):
        client = TestClient(create_app(ServeConfig(index_dir=str(root), **options)))
        client.__enter__()
        clients.append(client)
        return client

    clients = []
    yield start, root
    for c in clients:
        c.__exit__(None, None, None)


def test_importing_the_app_module_loads_no_model():
    import subprocess
    import sys

    code = (
        "import sys, radlite.serve.app as a; a.create_app; "
        "print(any(m in sys.modules for m in ('torch', 'sentence_transformers', 'pylate')))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def test_search_returns_the_cli_result_objects_with_timings(served, tiny_index):
    from radlite.search.engine import RadLITESearch

    start, _ = served
    client = start()
    resp = client.post("/search", json={"query": "filling defect pulmonary artery", "top_k": 3})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [r["id"] for r in body["results"]][:1] == ["pe"]
    direct = RadLITESearch.load(tiny_index).search("filling defect pulmonary artery", top_k=3)
    assert [r["id"] for r in body["results"]] == [r["id"] for r in direct]
    assert set(body["results"][0]) == set(direct[0])  # the same fields as `radlite search --json`
    # the tiny test models have no fitted relevance estimate: no claim either way
    assert body["confident"] is None and body["results"][0]["relevance"] is None
    assert {"encode_query", "bm25", "biencoder", "colbert", "pool", "rerank", "fusion", "total"} <= set(body["timings"])
    assert body["fusion"]["method"] == "weighted" and set(body["fusion"]["weights"]) == {
        "bm25",
        "biencoder",
        "colbert",
        "crossencoder",
    }
    # weights and signals from the request are applied
    only = client.post("/search", json={"query": "odontoid fracture", "signals": ["bm25"], "top_k": 2}).json()
    assert only["results"][0]["id"] == "cspine" and set(only["results"][0]["signals"]) == {"bm25"}
    neuro = client.post("/search", json={"query": "lesions", "category": "neuro"}).json()
    assert [r["id"] for r in neuro["results"]] == ["ms"]
    # how the search read the query comes with it; searched as typed, there is nothing to show
    read = client.post("/search", json={"query": "no pneumothorax after biopsy", "top_k": 2}).json()["read_as"]
    assert read["negated"] == [{"cue": "no", "text": "pneumothorax"}]
    typed = client.post("/search", json={"query": "no pneumothorax after biopsy", "expand": False}).json()
    assert typed["read_as"] is None


def test_search_takes_a_named_fusion_and_a_normalisation(served):
    start, _ = served
    client = start()
    body = {"query": "odontoid fracture c-spine", "top_k": 3}
    seed = client.post("/search", json={**body, "fusion": "seed"}).json()
    assert seed["fusion"]["normalization"] == "minmax" and seed["fusion"]["weights"]["biencoder"] == 0.5
    assert all(0 <= r["signals"]["bm25"]["normalized"] <= 1 for r in seed["results"])
    own = client.post("/search", json=body).json()
    assert own["fusion"]["normalization"] == "zscore"
    both = client.post("/search", json={**body, "fusion": "seed", "normalization": "zscore"}).json()
    assert both["fusion"]["normalization"] == "zscore"  # a setting given beside the name wins
    assert client.post("/search", json={**body, "fusion": "card"}).status_code == 422


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"query": ""}, 422, "empty query"),
        ({"query": "   "}, 422, "empty query"),
        ({"query": "x" * 101}, 422, "limit is 100"),
        ({"query": "mass", "top_k": 0}, 422, "top_k"),
        ({"query": "mass", "top_k": 101}, 422, "top_k"),
        ({"query": "mass", "candidates": 5000}, 422, "candidates"),
        ({"query": "mass", "colour": "red"}, 422, "colour"),
        ({"query": "mass", "signals": ["tfidf"]}, 422, "tfidf"),
        ({"query": "mass", "weights": {"bm25": -1}}, 422, ">= 0"),
        ({"query": "mass", "method": "borda"}, 422, "method"),
        ({"top_k": 3}, 422, "query"),
    ],
)
def test_bad_search_requests_get_a_clear_4xx(served, body, status, words):
    start, _ = served
    client = start(max_query_chars=100)
    resp = client.post("/search", json=body)
    assert resp.status_code == status, resp.text
    assert words in resp.json()["detail"]


def test_malformed_json_and_huge_bodies_are_refused(served):
    start, _ = served
    client = start(max_body_bytes=1000)
    resp = client.post("/search", content=b'{"query": "mass", ', headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and "malformed JSON" in resp.json()["detail"]
    resp = client.post(
        "/search", content=b'{"query": "' + b"a" * 2000 + b'"}', headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 413


def test_documents_read_add_delete_and_persist(served):
    from radlite.index import SearchIndex

    start, root = served
    client = start(allow_writes=True)
    assert client.get("/documents/pe").json()["title"] == "Pulmonary embolism"
    assert client.get("/documents/nope").status_code == 404
    new = {
        "id": "appy",
        "title": "Appendicitis",
        "text": "Ultrasound shows a non-compressible appendix over 6 mm with a fecalith.",
        "category": "gi",
    }
    resp = client.post("/documents", json={"documents": [new]})
    assert resp.status_code == 201 and resp.json() == {"added": ["appy"], "documents": 6}
    assert client.post("/documents", json={"documents": [new]}).status_code == 409  # already there
    hits = client.post("/search", json={"query": "non-compressible appendix fecalith", "top_k": 1}).json()["results"]
    assert hits[0]["id"] == "appy"
    assert [d.id for d in SearchIndex.load(root).documents][-1] == "appy"  # saved before it was served
    assert client.delete("/documents/pe").json() == {"deleted": "pe", "documents": 5}
    assert client.get("/documents/pe").status_code == 404
    assert client.delete("/documents/pe").status_code == 404
    assert "pe" not in [d.id for d in SearchIndex.load(root).documents]
    info = client.get("/info").json()
    assert info["documents"] == 5 and info["writes_allowed"] is True and info["index_format_version"] == 1
    assert "gi" in info["categories"] and set(info["models"]) == {"biencoder", "colbert", "crossencoder"}


def test_writes_are_refused_unless_allowed(served):
    start, _ = served
    client = start()
    doc = {"documents": [{"text": "a new note"}]}
    assert client.post("/documents", json=doc).status_code == 403
    resp = client.delete("/documents/pe")
    assert resp.status_code == 403 and "--allow-writes" in resp.json()["detail"]
    assert client.get("/documents/pe").status_code == 200


def test_a_worker_sees_writes_made_by_another(served):
    start, _ = served
    writer, reader = start(allow_writes=True), start()
    assert reader.get("/info").json()["documents"] == 5
    writer.post("/documents", json={"documents": [{"id": "x1", "text": "pneumothorax with a visible pleural line"}]})
    assert reader.get("/info").json()["documents"] == 6 and reader.get("/documents/x1").status_code == 200


def test_health_openapi_page_and_explanation(served):
    start, _ = served
    client = start()
    assert client.get("/health").json() == {"status": "ok"}
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/search", "/explain", "/documents", "/documents/{doc_id}", "/health", "/info"} <= set(paths)
    page = client.get("/")
    assert page.status_code == 200 and "search-form" in page.text and "http" not in page.text.replace("http-equiv", "")
    assert client.get("/static/app.js").status_code == 200
    ex = client.post("/explain", json={"query": "filling defect pulmonary artery", "id": "pe"}).json()
    spans = [(m["start"], m["end"]) for m in ex["colbert"]["matches"] if m["start"] is not None]
    assert spans and all(0 <= a < b <= len(ex["text"]) for a, b in spans)
    for m in ex["colbert"]["matches"]:  # each span is the word piece the query token matched
        if m["start"] is not None:
            assert ex["text"][m["start"] : m["end"]].lower() == m["doc_token"].removeprefix("##"), m
    # the alignment is the MaxSim the index scored: its similarities add up to the stored score
    assert abs(ex["colbert"]["score"] - ex["colbert"]["index_score"]) < 0.05
    words = {ex["text"][s["start"] : s["end"]].lower() for s in ex["bm25"]["spans"]}
    assert {"filling", "defect", "pulmonary", "artery"} <= words
    assert client.post("/explain", json={"query": "x", "id": "nope"}).status_code == 404


def test_documents_that_would_break_later_requests_are_refused(served):
    start, _ = served
    client = start(allow_writes=True, max_body_bytes=100_000)
    nan = b'{"documents": [{"id": "n1", "text": "a note", "metadata": {"size": NaN}}]}'
    resp = client.post("/documents", content=nan, headers={"Content-Type": "application/json"})
    assert resp.status_code == 422 and "plain JSON" in resp.json()["detail"]
    resp = client.post("/documents", json={"documents": [{"id": "w1", "text": "   "}]})
    assert resp.status_code == 422 and "whitespace" in resp.json()["detail"]
    assert client.get("/info").json()["documents"] == 5  # nothing was stored

    def chunks():
        yield b'{"query": '
        yield b'"mass"}'

    resp = client.post("/search", content=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 411
    # a non-ASCII digit id does not break later adds (the next free number is computed from ASCII ids)
    assert client.post("/documents", json={"documents": [{"id": "\u00b2", "text": "squared note"}]}).status_code == 201
    resp = client.post("/documents", json={"documents": [{"text": "an id-less note about renal cysts"}]})
    assert resp.status_code == 201 and resp.json()["added"] == ["0"]


def test_feedback_is_stored_beside_the_index_and_checked(served, monkeypatch):
    from radlite.index import feedback
    from radlite.index.feedback import FeedbackLog

    start, root = served
    client = start()  # writes not allowed: a mark is not a change to the index
    info = client.get("/info").json()
    assert info["feedback"] is True and info["fusion_fitted"] is None
    # radlite's default fusion over the tiny test models: its measured numbers are not theirs, so none are shown
    assert info["fusion_measured"]["ndcg@10"] == {} and info["fusion_measured"]["models"].startswith("other models")
    ok = client.post("/feedback", json={"query": "filling defect", "id": "pe", "relevant": True})
    assert ok.status_code == 201 and ok.json()["recorded"]["relevant"] is True
    assert client.post("/feedback", json={"query": "filling defect", "id": "ms", "relevant": False}).status_code == 201
    assert FeedbackLog(root).judgments() == {"filling defect": {"pe": 1, "ms": 0}}
    unknown = client.post("/feedback", json={"query": "q", "id": "nope", "relevant": True})
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    assert client.post("/feedback", json={"query": "q", "id": "pe", "relevant": "maybe"}).status_code == 422
    assert client.post("/feedback", json={"query": "q" * 2001, "id": "pe", "relevant": True}).status_code == 422
    assert client.post("/feedback", json={"query": " ", "id": "pe", "relevant": True}).status_code == 422
    monkeypatch.setattr(feedback, "MAX_BYTES", 100)  # a full log is the server's state: 507, not the client's fault
    full = client.post("/feedback", json={"query": "q", "id": "pe", "relevant": True})
    assert full.status_code == 507 and "full" in full.json()["detail"]
    monkeypatch.undo()
    off = start(feedback=False)
    assert off.post("/feedback", json={"query": "q", "id": "pe", "relevant": True}).status_code == 403
    assert len(FeedbackLog(root).records()) == 2
