"""Large writes as background jobs, each in a child process at the lowest CPU priority.

A write of more than `ServeConfig.background_passages` passages, any write sent with
`?wait_for_completion=false`, and any write while another job is waiting or running is not
applied inside the request: the server stores it under INDEX_DIR/.jobs/<id>/, starts a child
process for it and answers 202 with the job's status. The child

* runs at nice 19, so the server's searches get the cores first while it encodes
  (benchmarks/write_load.md measures searches during a maximum-size write);
* takes the index's writer lock, loads the newest generation, applies the write and saves a new
  generation atomically: what `radlite add` / `radlite delete` do;
* keeps its state in status.json (replaced atomically): queued, running (passages encoded of the
  total), done (with the result), failed (with the error's sentence and the HTTP status it means),
  or cancelled;
* stops on SIGTERM or SIGINT (DELETE /jobs/{id}, or the server shutting down) within one encoding
  batch, leaving the index as it was; once saving has begun it finishes instead (a save takes
  seconds and leaves either the old or the new index), and the job ends "done".

Any worker answers GET /jobs/{id} (it reads the status file) and DELETE /jobs/{id} (it signals the
child); the worker that started a child reaps it and records a crash as "failed". A job's documents
are removed from .jobs when it ends; a finished job's record after a day.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from radlite.fsutil import write_atomic

JOBS_DIR = ".jobs"
ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "cancelled")
KEEP_S = 86_400  # finished jobs' records are kept this long
_ID = re.compile(r"^[0-9a-f]{32}$")
SAVING = "saving a new generation"
UNCHANGED = "stopped before saving; the index is unchanged"


class Cancelled(Exception):
    """The job was asked to stop (SIGTERM / SIGINT) or its server went away."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


STARTUP_S = 60  # a job this young whose process holds no lock yet is still starting


def _held(folder: Path) -> bool:
    """Whether the job's process is alive: it holds an exclusive lock on `lock` for its whole life (a pid
    can be reused; a lock dies with its process)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; trust the pid
        pid = JobBoard._pid(folder)
        return bool(pid) and _pid_alive(pid)
    try:
        fh = open(folder / "lock", "a+")
    except OSError:
        return False
    with fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _age_s(status: dict) -> float:
    try:
        return time.time() - datetime.fromisoformat(status["created"]).timestamp()
    except (KeyError, ValueError):
        return float("inf")


def _record_end(folder: Path, exit_code: int | None = None) -> dict | None:
    """After a job's process has ended: if it left no final state (killed, crashed, or stopped before its
    signal handler was set), record what that means, and delete the job's documents. Returns the status."""
    status = _read_json(folder / "status.json")
    if status is not None and status["state"] in ACTIVE:
        ended = "the job's process ended" + ("" if exit_code is None else f" (exit status {exit_code})")
        if status.get("detail") == SAVING:  # killed outright while saving: one generation or the other
            status.update(
                state="failed",
                error=f"{ended} while saving; the index holds either the old or the new generation (GET /info)",
            )
        elif (folder / "cancel").exists():  # asked to stop before its handler was set
            status.update(state="cancelled", detail=UNCHANGED)
        else:
            status.update(state="failed", error=f"{ended} before finishing; nothing was written")
        status["updated"] = _now()
        _write_json(folder / "status.json", status)
    (folder / "request.json").unlink(missing_ok=True)
    return status


class JobBoard:
    """The jobs of one index directory, as one server worker sees them."""

    def __init__(self, root: str | Path, config_env: str):
        self.root = Path(root)
        self.dir = self.root / JOBS_DIR
        self.config_env = config_env  # the server's settings (ServeConfig.to_env()), handed to each child
        self._children: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    # -- the server's side -----------------------------------------------------------------------
    def submit(self, action: str, items: Sequence[Any], passages: int | None = None) -> dict:
        """Store a write (`action` "add" with document records, or "delete" with ids), start its
        child process and return its status."""
        from radlite.serve.config import ENV, TOKEN_ENV

        self._prune()
        job_id = uuid.uuid4().hex
        folder = self.dir / job_id
        folder.mkdir(parents=True)
        # the documents may hold patient data: readable by the server's user only
        fd = os.open(folder / "request.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"action": action, "items": list(items)}, fh)
        status = {
            "id": job_id,
            "action": action,
            "state": "queued",
            "detail": "starting",
            "created": _now(),
            "updated": _now(),
            "items": len(items),
            "progress": {"encoded": 0, "total": passages} if action == "add" else None,
            "result": None,
            "error": None,
        }
        _write_json(folder / "status.json", status)
        env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}  # the child needs no API token
        env[ENV] = self.config_env
        with self._lock:
            proc = subprocess.Popen(
                [sys.executable, "-m", "radlite.serve.jobs", str(folder)], env=env, stdin=subprocess.DEVNULL
            )
            (folder / "pid").write_text(str(proc.pid), encoding="ascii")
            self._children[job_id] = proc
        threading.Thread(target=self._reap, args=(job_id, proc), daemon=True).start()
        return status

    def status(self, job_id: str) -> dict | None:
        """The job's status (None: no such job). A job whose process is gone without a final state
        is reported failed."""
        if not _ID.match(job_id):
            return None
        folder = self.dir / job_id
        status = _read_json(folder / "status.json")
        if status is None:
            return None
        starting = status.get("detail") == "starting" and _age_s(status) < STARTUP_S
        if status["state"] in ACTIVE and not starting and job_id not in self._children and not _held(folder):
            # gone without a result (a crash, a reboot; its own worker would have reaped it): say so, for good
            status = _record_end(folder) or status
        return status

    def jobs(self) -> list[dict]:
        """Every job on record, newest first."""
        found = [self.status(p.name) for p in self.dir.iterdir()] if self.dir.is_dir() else []
        return sorted((s for s in found if s), key=lambda s: s["created"], reverse=True)

    def active(self) -> int:
        """How many jobs are waiting or running on this index (a new write then queues behind them)."""
        return sum(s["state"] in ACTIVE for s in self.jobs())

    def cancel(self, job_id: str, wait_s: float = 10.0) -> dict | None:
        """Ask a waiting or running job to stop; waits up to `wait_s` for it to end and returns its status."""
        status = self.status(job_id)
        if status is None or status["state"] in FINAL:
            return status
        # the mark covers a child that has not yet set its SIGTERM handler (it checks the mark first)
        (self.dir / job_id / "cancel").touch()
        pid = self._pid(self.dir / job_id)
        if pid and _held(self.dir / job_id):  # only a live job's process is signalled, never a reused pid
            try:
                os.kill(pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            status = self.status(job_id)
            if status is None or status["state"] in FINAL:
                break
            time.sleep(0.1)
        return status

    def stop_all(self, wait_s: float = 4.0) -> None:
        """Stop this worker's running jobs (the server is shutting down): SIGTERM, then SIGKILL after `wait_s`."""
        with self._lock:
            running = [(job_id, p) for job_id, p in self._children.items() if p.poll() is None]
        for _, p in running:
            p.terminate()
        deadline = time.monotonic() + wait_s
        for job_id, p in running:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                status = _read_json(self.dir / job_id / "status.json") or {}
                if status.get("detail") == SAVING:  # a save takes seconds: let it finish rather than guess
                    try:
                        p.wait(timeout=60)
                        continue
                    except subprocess.TimeoutExpired:
                        pass
                p.kill()
                p.wait()

    def _reap(self, job_id: str, proc: subprocess.Popen) -> None:
        code = proc.wait()
        _record_end(self.dir / job_id, code)
        with self._lock:
            self._children.pop(job_id, None)

    @staticmethod
    def _pid(folder: Path) -> int | None:
        try:
            return int((folder / "pid").read_text(encoding="ascii"))
        except (OSError, ValueError):
            return None

    def _prune(self) -> None:
        if not self.dir.is_dir():
            return
        import shutil

        for folder in self.dir.iterdir():
            status = _read_json(folder / "status.json")
            if status is not None and status["state"] in FINAL and time.time() - folder.stat().st_mtime > KEEP_S:
                shutil.rmtree(folder, ignore_errors=True)


# -- the child's side ----------------------------------------------------------------------------
class _Reporting:
    """A passage encoder that encodes in chunks and reports each one (and notices an orphaned job)."""

    def __init__(self, encoder, tick, chunk: int = 32):
        self.encoder, self.tick, self.chunk = encoder, tick, chunk

    def encode_passages(self, texts: Sequence[str], progress: bool = False):
        if len(texts) == 0:
            return self.encoder.encode_passages(texts)
        parts = []
        for start in range(0, len(texts), self.chunk):
            part = texts[start : start + self.chunk]
            parts.append(self.encoder.encode_passages(part))
            self.tick(len(part))
        if isinstance(parts[0], np.ndarray):
            return np.concatenate(parts)
        return [vectors for part in parts for vectors in part]


def run(folder: Path) -> int:
    """Apply the write stored in `folder` to the index two levels up; returns the exit status."""
    from radlite.errors import RadliteError
    from radlite.index.store import live_generation, writer_lock
    from radlite.search.engine import RadLITESearch
    from radlite.serve.config import ServeConfig, http_status
    from radlite.signals import ENCODED

    folder = Path(folder)
    root = folder.parent.parent
    status = _read_json(folder / "status.json") or {}
    phase = {"saving": False, "asked": False}

    def update(**changes) -> None:
        status.update(changes, updated=_now())
        _write_json(folder / "status.json", status)

    def on_signal(signum, frame):
        phase["asked"] = True
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one stop is enough: a second signal (Ctrl-C, then the
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # server's SIGTERM) must not interrupt the final state
        if not phase["saving"]:
            raise Cancelled

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:  # held for this process's whole life: the server's proof that the job is alive
        import fcntl

        life = open(folder / "lock", "a+")
        fcntl.flock(life.fileno(), fcntl.LOCK_EX)
    except ImportError:
        pass
    cancelled = (folder / "cancel").exists
    try:
        os.nice(19)  # searches first
    except OSError:
        pass
    parent = os.getppid()
    try:
        config = ServeConfig.from_env()
        request = _read_json(folder / "request.json")
        if request is None:
            raise RadliteError("the job's request is missing")
        if cancelled():
            raise Cancelled
        update(state="queued", detail="waiting for the index's writer lock")
        with writer_lock(root):
            update(state="running", detail="loading the index")
            engine = RadLITESearch.load(
                root,
                use_reranker=False,
                exact=config.exact,
                verify=config.verify,
                trust_models=config.trust_models or (),
            )
            index = engine.require_index()
            if request["action"] == "add":
                kinds = [s for s in index.signals if s in ENCODED]
                done = [0]

                def tick(n: int) -> None:
                    if os.getppid() != parent or cancelled():
                        raise Cancelled  # asked to stop, or the server that started this job is gone
                    done[0] += n
                    progress = status.get("progress") or {}
                    update(progress={"encoded": done[0] // max(1, len(kinds)), "total": progress.get("total")})

                update(detail="encoding passages")
                encoders = {s: _Reporting(engine.encoder(s), tick) for s in kinds}
                updated = engine.with_documents(request["items"], index=index, encoders=encoders)
                new = [d.id for d in updated.documents[len(index.documents) :]]
                result = {"added": new, "documents": len(updated.documents)}
            else:
                updated = index.without_documents(request["items"])
                result = {"deleted": request["items"], "documents": len(updated.documents)}
            phase["saving"] = True
            if phase["asked"] or cancelled():
                raise Cancelled
            update(detail=SAVING)
            updated.save(root)
        update(state="done", detail="", result={**result, "generation": live_generation(root).name})
        return 0
    except Cancelled:
        update(state="cancelled", detail=UNCHANGED)
        return 0
    except RadliteError as exc:  # what the synchronous call would have answered
        update(state="failed", detail="", error=str(exc), status_code=http_status(exc))
        return 1
    except Exception as exc:  # noqa: BLE001 - recorded for the client, and the traceback goes to the log
        import traceback

        traceback.print_exc()
        update(state="failed", detail="", error=f"{type(exc).__name__}: {exc}", status_code=500)
        return 1
    finally:
        (folder / "request.json").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
