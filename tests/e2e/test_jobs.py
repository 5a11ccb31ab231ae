"""Large writes as background jobs: 202 + GET /jobs/{id}, cancelling, failures, and shutdown."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

fastapi = pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from radlite.index.store import live_generation, writer_lock  # noqa: E402
from radlite.serve.app import ServeConfig, create_app  # noqa: E402

APPY = {
    "id": "appy",
    "title": "Appendicitis",
    "text": "Ultrasound shows a non-compressible appendix over 6 mm with a fecalith.",
    "category": "gi",
}


@pytest.fixture()
def served(tiny_index, tmp_path):
    root = tmp_path / "idx"
    shutil.copytree(tiny_index, root)
    with TestClient(create_app(ServeConfig(index_dir=str(root), allow_writes=True))) as client:
        yield client, root


def wait_for(client, job_id: str, states=("done", "failed", "cancelled"), timeout: float = 120) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s")


def test_a_large_write_is_a_job_that_ends_searchable(served):
    client, root = served
    many = [{"id": f"note-{i}", "text": f"Follow-up chest CT number {i}: stable 4 mm nodule."} for i in range(70)]
    resp = client.post("/documents", json={"documents": [APPY, *many]})  # 71 passages > the 64 default
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert resp.headers["location"] == f"/jobs/{job['id']}" and job["state"] == "queued"
    assert job["progress"] == {"encoded": 0, "total": 71}
    done = wait_for(client, job["id"])
    assert done["state"] == "done", done
    assert done["result"]["added"][:2] == ["appy", "note-0"] and done["result"]["documents"] == 76
    assert done["progress"] == {"encoded": 71, "total": 71}
    assert done["result"]["generation"] == live_generation(root).name
    # the worker reloads the generation the job wrote
    hits = client.post("/search", json={"query": "non-compressible appendix fecalith", "top_k": 1}).json()
    assert hits["results"][0]["id"] == "appy"
    assert [j["id"] for j in client.get("/jobs").json()] == [job["id"]]
    assert not (root / ".jobs" / job["id"] / "request.json").exists()  # the documents do not linger


def test_wait_for_completion_false_makes_a_small_write_a_job(served):
    client, _ = served
    resp = client.post("/documents", params={"wait_for_completion": "false"}, json={"documents": [APPY]})
    assert resp.status_code == 202
    assert wait_for(client, resp.json()["id"])["result"]["added"] == ["appy"]


def test_a_queued_job_is_cancelled_and_later_writes_queue_behind_it(served):
    client, root = served
    before = live_generation(root).name
    with writer_lock(root):  # another writer holds the index: the job waits for the lock
        job = client.post("/documents", params={"wait_for_completion": "false"}, json={"documents": [APPY]}).json()
        wait_for(client, job["id"], states=("queued",))
        time.sleep(1)  # it is waiting on the lock now, not starting
        assert client.get(f"/jobs/{job['id']}").json()["detail"] == "waiting for the index's writer lock"
        # while it waits, a small add and a delete queue behind it instead of blocking the request
        behind = client.post("/documents", json={"documents": [{"id": "x1", "text": "a pleural line"}]})
        gone = client.delete("/documents/pe")
        assert behind.status_code == 202 and gone.status_code == 202
        cancelled = client.delete(f"/jobs/{job['id']}")
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        assert client.delete(f"/jobs/{behind.json()['id']}").json()["state"] == "cancelled"
    assert wait_for(client, gone.json()["id"])["result"] == {
        "deleted": ["pe"],
        "documents": 4,
        "generation": live_generation(root).name,
    }
    from radlite.index import SearchIndex

    ids = [d.id for d in SearchIndex.load(root).documents]
    assert "appy" not in ids and "x1" not in ids and "pe" not in ids and live_generation(root).name != before


def test_a_failed_job_says_why_and_unknown_jobs_are_404(served):
    client, _ = served
    job = client.post(
        "/documents", params={"wait_for_completion": "false"}, json={"documents": [{"id": "pe", "text": "x"}]}
    )
    failed = wait_for(client, job.json()["id"])
    assert failed["state"] == "failed" and failed["status_code"] == 409 and "already in the index" in failed["error"]
    assert client.get("/jobs/" + "0" * 32).status_code == 404
    assert client.get("/jobs/..%2F..%2FCURRENT").status_code == 404
    assert client.delete("/jobs/nope").status_code == 404


def test_jobs_need_writes_allowed(tiny_index):
    with TestClient(create_app(ServeConfig(index_dir=str(tiny_index)))) as client:
        assert client.get("/jobs").status_code == 403


def test_sigterm_during_a_job_stops_the_server_in_seconds_and_writes_nothing(tiny_index, tmp_path):
    """A real server: SIGTERM while its job waits for the lock ends the server and the job's process
    within seconds, the index unchanged and no partial generation left."""
    from radlite.serve.process import running_server

    root = tmp_path / "idx"
    shutil.copytree(tiny_index, root)
    before = live_generation(root).name
    log = open(tmp_path / "serve.log", "w")
    with writer_lock(root):
        with running_server(root, "--allow-writes", log=log) as base:
            job = httpx.post(
                base + "/documents", params={"wait_for_completion": "false"}, json={"documents": [APPY]}, timeout=30
            ).json()
            pid = int((root / ".jobs" / job["id"] / "pid").read_text())
            server = base.process
            t = time.monotonic()
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=15)
            stopped = time.monotonic() - t
    assert stopped < 10, stopped
    assert not _alive(pid)
    assert live_generation(root).name == before and not list(root.glob(".gen-*"))


def _alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie (Linux /proc; elsewhere: whether it exists)."""
    status = Path(f"/proc/{pid}/status")
    if status.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            return "\tZ" not in [line for line in status.read_text().splitlines() if line.startswith("State")][0]
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_job_whose_process_died_is_failed_for_good_and_does_not_hold_writes(served):
    """A record left "running" by a crash or reboot (its pid may belong to another process by now) is reported
    failed, once and for all, and later writes are applied at once again."""
    import json

    client, root = served
    folder = root / ".jobs" / ("a" * 32)
    folder.mkdir(parents=True)
    (folder / "pid").write_text(str(os.getpid()))  # a live pid, but not a job's: no lock is held
    (folder / "request.json").write_text('{"action": "add", "items": []}')
    stale = {
        "id": "a" * 32,
        "action": "add",
        "state": "running",
        "detail": "encoding passages",
        "created": "2026-01-01T00:00:00.000+00:00",
        "updated": "2026-01-01T00:00:00.000+00:00",
        "items": 1,
        "progress": None,
        "result": None,
        "error": None,
    }
    (folder / "status.json").write_text(json.dumps(stale))
    job = client.get(f"/jobs/{'a' * 32}").json()
    assert job["state"] == "failed" and "nothing was written" in job["error"]
    assert json.loads((folder / "status.json").read_text())["state"] == "failed"
    assert not (folder / "request.json").exists()
    assert client.delete(f"/jobs/{'a' * 32}").json()["state"] == "failed"  # nothing signalled
    resp = client.post("/documents", json={"documents": [APPY]})
    assert resp.status_code == 201


def test_too_many_queued_jobs_get_429(tiny_index, tmp_path):
    root = tmp_path / "idx"
    shutil.copytree(tiny_index, root)
    config = ServeConfig(index_dir=str(root), allow_writes=True, max_queued_jobs=1)
    with TestClient(create_app(config)) as client, writer_lock(root):
        first = client.post("/documents", params={"wait_for_completion": "false"}, json={"documents": [APPY]})
        assert first.status_code == 202
        more = client.post("/documents", json={"documents": [{"id": "x2", "text": "a pleural line"}]})
        assert more.status_code == 429 and "retry" in more.json()["detail"]
        assert client.delete(f"/jobs/{first.json()['id']}").json()["state"] == "cancelled"
