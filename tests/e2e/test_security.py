"""The server as a hospital system needs it: a Host allow-list (DNS rebinding), a bearer token for
writes (and optionally reads), an access log without query text by default, and no filesystem paths
in /info."""

import logging
import shutil

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from radlite.serve.app import TOKEN_ENV, ServeConfig, create_app, default_hosts  # noqa: E402

TOKEN = "s3cret-token-of-32-characters-xx"
DOC = {"documents": [{"id": "new", "text": "Crescent sign of avascular necrosis."}]}


@pytest.fixture()
def root(tiny_index, tmp_path):
    path = tmp_path / "idx"
    shutil.copytree(tiny_index, path)
    return path


def test_a_host_the_server_does_not_answer_to_is_refused_before_any_write(root):
    config = ServeConfig(index_dir=str(root), allow_writes=True, allowed_hosts=default_hosts("127.0.0.1"))
    with TestClient(create_app(config), base_url="http://127.0.0.1:8765") as client:
        evil = client.delete("/documents/pe", headers={"host": "evil.example:8765"})
        assert evil.status_code == 400
        assert client.get("/documents/pe").status_code == 200  # still there
        assert client.get("/health", headers={"host": "localhost:8765"}).status_code == 200
    assert default_hosts("0.0.0.0") == ["localhost", "127.0.0.1", "[::1]", "::1"]
    assert default_hosts("10.0.0.5")[-1] == "10.0.0.5" and default_hosts("x", ["search.hospital"]) == [
        "search.hospital"
    ]


def test_writes_need_the_token_and_reads_can(root, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = ServeConfig(index_dir=str(root), allow_writes=True, require_token=True)
    with TestClient(create_app(config)) as client:
        assert client.post("/documents", json=DOC).status_code == 401
        wrong = client.post("/documents", json=DOC, headers={"authorization": "Bearer " + "x" * 32})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert client.post("/search", json={"query": "crescent"}).status_code == 200  # reads stay open
        ok = client.post("/documents", json=DOC, headers={"authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 201
        # background jobs are writes too: listing, reading and cancelling them need the token
        assert client.get("/jobs").status_code == 401 and client.delete("/jobs/" + "0" * 32).status_code == 401
        assert client.get("/jobs", headers={"authorization": f"Bearer {TOKEN}"}).json() == []
    with TestClient(create_app(ServeConfig(index_dir=str(root), require_token=True, auth_reads=True))) as client:
        assert client.post("/search", json={"query": "crescent"}).status_code == 401
        assert client.get("/health").status_code == 200
        auth = {"authorization": f"Bearer {TOKEN}"}
        assert client.post("/search", json={"query": "crescent"}, headers=auth).status_code == 200


def test_a_short_or_missing_token_stops_the_app_from_starting(root, monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "short")
    with pytest.raises(Exception, match="at least 16 characters"):
        create_app(ServeConfig(index_dir=str(root), require_token=True))


def test_access_log_has_no_query_text_unless_asked_and_info_shows_no_paths(root, caplog):
    with TestClient(create_app(ServeConfig(index_dir=str(root), access_log=True))) as client:
        with caplog.at_level(logging.INFO, logger="radlite.access"):
            assert client.post("/search", json={"query": "patient jane doe fracture"}).status_code == 200
        lines = [r.getMessage() for r in caplog.records if r.name == "radlite.access"]
        assert any("POST /search 200" in x for x in lines) and not any("jane" in x for x in lines)
        for m in client.get("/info").json()["models"].values():
            assert "/" not in m["name"] and str(root.parent) not in m["name"]
    caplog.clear()
    with TestClient(create_app(ServeConfig(index_dir=str(root), access_log=True, log_queries=True))) as client:
        with caplog.at_level(logging.INFO, logger="radlite.access"):
            client.post("/search", json={"query": "patient jane doe fracture"})
        assert any("jane" in r.getMessage() for r in caplog.records if r.name == "radlite.access")


def test_a_write_too_large_to_encode_quickly_is_refused_with_the_numbers(root):
    config = ServeConfig(
        index_dir=str(root), allow_writes=True, max_passages_per_document=3, max_passages_per_request=4
    )
    long_text = " ".join(["pleural effusion"] * 300)  # 600 words: 6 passages of 128 words, overlap 32
    with TestClient(create_app(config)) as client:
        one = client.post("/documents", json={"documents": [{"id": "long", "text": long_text}]})
        assert one.status_code == 413 and "6 passages" in one.json()["detail"] and "limit of 3" in one.json()["detail"]
        docs = [{"id": f"d{i}", "text": "short note on pneumothorax"} for i in range(5)]
        many = client.post("/documents", json={"documents": docs})
        assert many.status_code == 413 and "5 passages" in many.json()["detail"]
        assert client.get("/documents/long").status_code == 404  # nothing was written
        ok = client.post("/documents", json={"documents": docs[:4]})
        assert ok.status_code == 201
