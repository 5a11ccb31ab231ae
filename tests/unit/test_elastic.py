"""Reranking Elasticsearch / OpenSearch hits: on search responses of both engines' documented
shape, and the `rerank-es` command through each official client against a local HTTP server that
answers with those responses (no real cluster can run here)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest

from radlite.errors import QueryError, RadliteError
from radlite.integrations.elastic import rerank_hits

DATA = Path(__file__).resolve().parents[1] / "data"
ES = json.loads((DATA / "elasticsearch_search_response.json").read_text())
OS = json.loads((DATA / "opensearch_search_response.json").read_text())
QUERY = "filling defect in the pulmonary artery on CT angiography"


@pytest.fixture(scope="module")
def default_reranker():
    from radlite.models import CrossEncoderReranker, resolve_model

    m = resolve_model("crossencoder", "default")
    return CrossEncoderReranker(m.path)  # the exact path: this test is about reranking, not speed


@pytest.mark.slow
def test_rerank_hits_moves_the_relevant_article_above_a_keyword_match(default_reranker):
    hits = ES["hits"]["hits"]
    out = rerank_hits(QUERY, hits, text_field="content", reranker=default_reranker)
    ids = [h["_id"] for h in out]
    assert hits[0]["_id"] == "a17"  # BM25 put the parking notice first
    assert ids.index("a03") < ids.index("a17") and ids.index("a03") < ids.index("a08")
    # every original field kept, the new ones added, ordered by combined_score
    by_id = {h["_id"]: h for h in hits}
    for h in out:
        assert {k: h[k] for k in by_id[h["_id"]]} == by_id[h["_id"]]
    assert [h["combined_score"] for h in out] == sorted((h["combined_score"] for h in out), reverse=True)
    # combined = 0.3 * min-max(_score) + 0.7 * sigmoid(logit / 1.5), with the model's own logits
    logits = default_reranker.predict([(QUERY, h["_source"]["content"]) for h in hits])
    scores = np.array([h["_score"] for h in hits])
    want = 0.3 * (scores - scores.min()) / (scores.max() - scores.min()) + 0.7 / (1 + np.exp(-logits / 1.5))
    got = {h["_id"]: h["combined_score"] for h in out}
    assert np.allclose([got[h["_id"]] for h in hits], want, atol=1e-6)
    assert hits[0].get("combined_score") is None  # the caller's hits are not modified


def test_opensearch_hits_nested_text_field_whole_response_and_errors(tiny_models):
    from radlite.models import CrossEncoderReranker

    tiny = CrossEncoderReranker(Path(tiny_models["reranker"]))
    a = rerank_hits(QUERY, OS["hits"]["hits"], text_field="body.text", reranker=tiny, weights=(1.0, 0.0))
    assert [h["_id"] for h in a] == [h["_id"] for h in OS["hits"]["hits"]]  # rerank weight 0: BM25 order
    assert a[0]["_source"]["tags"] == ["teaching"] and "rerank_logit" in a[0]
    b = rerank_hits(QUERY, OS, text_field="body.text", reranker=tiny, top_k=2)  # the whole response works too
    assert len(b) == 2
    with pytest.raises(RadliteError, match="'a17' has no text in field 'content'"):
        rerank_hits(QUERY, OS["hits"]["hits"], text_field="content", reranker=tiny)
    with pytest.raises(QueryError, match="empty query"):
        rerank_hits(" ", OS["hits"]["hits"], reranker=tiny)
    with pytest.raises(QueryError, match="weights"):
        rerank_hits(QUERY, OS["hits"]["hits"], text_field="body.text", reranker=tiny, weights=(0, 0))
    assert rerank_hits(QUERY, [], reranker=tiny) == []


class _Recorded(BaseHTTPRequestHandler):
    """Answers any _search with a recorded response, as the engine would (headers included)."""

    response: dict = {}
    headers_out: dict = {}
    seen: list = []

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        self.seen.append((self.command, self.path, json.loads(self.rfile.read(length) or b"{}")))
        body = json.dumps(self.response).encode()
        self.send_response(200)
        for k, v in self.headers_out.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET = _answer

    def log_message(self, *args):
        pass


@pytest.mark.parametrize(
    "engine, response, field, headers",
    [
        (
            "elasticsearch",
            ES,
            "content",
            {
                "X-Elastic-Product": "Elasticsearch",
                "Content-Type": "application/vnd.elasticsearch+json;compatible-with=9",
            },
        ),
        ("opensearch", OS, "body.text", {"Content-Type": "application/json; charset=UTF-8"}),
    ],
)
def test_rerank_es_command_through_the_official_client(engine, response, field, headers, tiny_models):
    from typer.testing import CliRunner

    from radlite.cli import app

    handler = type("H", (_Recorded,), {"response": response, "headers_out": headers, "seen": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        result = CliRunner().invoke(
            app,
            [
                "rerank-es",
                QUERY,
                "--url",
                url,
                "--index",
                "radiology-articles",
                "--engine",
                engine,
                "--text-field",
                field,
                "--size",
                "5",
                "--json",
                "--reranker",
                tiny_models["reranker"],
                "--exact",
            ],
        )
        assert result.exit_code == 0, result.output
        out = json.loads(result.stdout)
        assert sorted(h["_id"] for h in out["hits"]) == sorted(h["_id"] for h in response["hits"]["hits"])
        method, path, body = handler.seen[-1]
        assert path.startswith("/radiology-articles/_search")
        assert body["query"] == {"match": {field: QUERY}} and (body.get("size") == 5 or "size=5" in path)
    finally:
        server.shutdown()
    # an unreachable cluster is a one-line error, not a traceback
    result = CliRunner().invoke(
        app,
        [
            "rerank-es",
            QUERY,
            "--url",
            "http://127.0.0.1:9",
            "--index",
            "x",
            "--engine",
            engine,
            "--reranker",
            tiny_models["reranker"],
            "--exact",
        ],
    )
    assert (
        result.exit_code != 0 and "search on http://127.0.0.1:9" in result.output and "Traceback" not in result.output
    )
