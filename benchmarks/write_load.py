"""Searches while the server writes: the largest write it accepts, as a background job and in-request
(writes benchmarks/write_load.md).

    python benchmarks/write_load.py --out benchmarks/write_load.md

Serves a radbench9 index built with the default models (`radlite serve --allow-writes`, one worker)
and runs one search client (radbench9 queries, the default pipeline) in four phases:

1. no write: the baseline, in the same run;
2. during a maximum-size write (5 documents x 400 passages = 2000 passages, both caps) that the
   server runs as a background job (202, a child process at nice 19), polled at GET /jobs/{id};
3. during the same write applied inside the request, as every write was before jobs existed
   (a second server started with --background-over 100000);
4. SIGTERM to the server while its job encodes: seconds until the server has exited, whether the
   job's process is gone and whether the index is unchanged (same generation, no partial folder).

Latencies are ratios against phase 1 of the same run: these machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def big_documents(n_docs: int = 5, passages: int = 400) -> list[dict]:
    """`n_docs` documents of exactly `passages` passages each, from medline's corpus text."""
    from radlite.config import ChunkingConfig
    from radlite.corpus import documents_from_records, split_passages
    from radlite.eval.datasets import load_dataset

    words = " ".join(d.text for d in load_dataset(SHARED / "medline", "test").corpus).split()
    chunking = ChunkingConfig()
    step = chunking.passage_words - chunking.overlap_words
    size = step * (passages - 1) + chunking.passage_words
    words = words * (1 + n_docs * size // len(words))  # medline's corpus may be shorter than the write
    run = time.strftime("%H%M%S")
    docs = [
        {"id": f"big-{run}-{i}", "title": f"Long document {i}", "text": " ".join(words[i * size : (i + 1) * size])}
        for i in range(n_docs)
    ]
    counts = [len(split_passages([d], chunking)) for d in documents_from_records(docs)]
    assert counts == [passages] * n_docs, counts
    return docs


class Searcher:
    """One client searching back to back; `lap()` collects the latencies since the last call."""

    def __init__(self, base: str, queries: list[str]):
        import httpx

        self.http = httpx.Client(base_url=base, timeout=300)
        self.queries, self.laps, self.errors = queries, [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        rng = random.Random(0)
        while not self.stop.is_set():
            t = time.perf_counter()
            try:
                ok = self.http.post("/search", json={"query": rng.choice(self.queries), "top_k": 10}).status_code == 200
            except Exception:  # noqa: BLE001 - a timeout or refused connection is what is being counted
                ok = False
            self.laps.append((time.perf_counter() - t) * 1000)
            self.errors += not ok

    def lap(self) -> tuple[list[float], int]:
        laps, errors = self.laps, self.errors
        self.laps, self.errors = [], 0
        return laps, errors

    def close(self):
        self.stop.set()
        self.thread.join()


def stats(laps: list[float]) -> dict:
    a = np.asarray(laps)
    return {
        "n": len(a),
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "max": float(a.max()),
        "over_1s": int((a > 1000).sum()),
    }


def write_phase(base: str, searcher: Searcher, docs: list[dict]) -> dict:
    import httpx

    searcher.lap()
    t = time.perf_counter()
    resp = httpx.post(base + "/documents", json={"documents": docs}, timeout=3600)
    job = None
    if resp.status_code == 202:
        job = resp.json()["id"]
        while True:
            state = httpx.get(f"{base}/jobs/{job}", timeout=60).json()
            if state["state"] not in ("queued", "running"):
                break
            time.sleep(0.5)
        assert state["state"] == "done", state
    else:
        assert resp.status_code == 201, resp.text
    took = time.perf_counter() - t
    laps, errors = searcher.lap()
    return {"status": resp.status_code, "write_s": took, "errors": errors, **stats(laps)}


def main() -> None:
    from radlite.eval.datasets import load_dataset
    from radlite.index.store import live_generation
    from radlite.search.engine import RadLITESearch
    from radlite.serve.process import running_server

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "write_load.md")
    ap.add_argument("--work", type=Path, default=Path("/tmp/radlite-write-load"))
    ap.add_argument("--baseline-s", type=float, default=60)
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    index = args.work / "radbench9-index"
    if not index.exists():
        print("indexing radbench9 with the default models...", file=sys.stderr)
        RadLITESearch(show_progress=True).index_corpus(load_dataset("radbench9", "dev").corpus).save(index)
    queries = [q.text for q in load_dataset("radbench9", "dev").queries]
    docs = big_documents()
    rows = {}
    log = open(args.work / "serve.log", "w")

    for name, extra in (
        ("background job (this change)", []),
        ("in the request (before)", ["--background-over", "100000"]),
    ):
        served = args.work / f"served-{len(rows)}"
        shutil.rmtree(served, ignore_errors=True)
        shutil.copytree(index, served)
        with running_server(served, "--allow-writes", *extra, log=log) as base:
            import httpx

            for q in queries:  # warm: the ONNX fast path plans each new input length once
                httpx.post(base + "/search", json={"query": q, "top_k": 10}, timeout=300)
            searcher = Searcher(base, queries)
            time.sleep(args.baseline_s)
            laps, errors = searcher.lap()
            rows[f"{name}: no write"] = {"errors": errors, **stats(laps)}
            print(name, rows[f"{name}: no write"], file=sys.stderr)
            rows[f"{name}: during the write"] = write_phase(base, searcher, docs)
            print(name, rows[f"{name}: during the write"], file=sys.stderr)
            searcher.close()

    # SIGTERM while a job encodes
    served = args.work / "served-sigterm"
    shutil.rmtree(served, ignore_errors=True)
    shutil.copytree(index, served)
    before = live_generation(served).name
    with running_server(served, "--allow-writes", log=log) as base:
        job = httpx.post(base + "/documents", json={"documents": docs}, timeout=60).json()["id"]
        while (httpx.get(f"{base}/jobs/{job}", timeout=60).json()["progress"] or {}).get("encoded", 0) < 64:
            time.sleep(0.2)
        pid = int((served / ".jobs" / job / "pid").read_text())
        t = time.perf_counter()
        base.process.send_signal(signal.SIGTERM)
        base.process.wait(timeout=120)
        stop_s = time.perf_counter() - t
    time.sleep(0.5)
    job_gone = not Path(f"/proc/{pid}").exists() or "\tZ" in Path(f"/proc/{pid}/status").read_text()
    unchanged = live_generation(served).name == before and not list(served.glob(".gen-*"))

    base = {name.split(":")[0]: r for name, r in rows.items() if name.endswith("no write")}
    lines = [
        "# Searches during the largest write the server accepts",
        "",
        f"`python benchmarks/write_load.py` on {platform.node() or 'this machine'} ({os.cpu_count()} cores), "
        f"{time.strftime('%Y-%m-%d')}. Index: radbench9 (dev corpus) with the default models, one worker; one client "
        "searching back to back (radbench9 dev queries, default pipeline, top 10). The write: 5 documents x 400 "
        "passages = 2,000 passages (the per-document and per-request caps).",
        "",
        "| server, phase | searches | p50 ms | p95 ms | max ms | searches over 1 s | p95 / no-write p95 | errors "
        "| write took s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['n']} | {r['p50']:.0f} | {r['p95']:.0f} | {r['max']:.0f} | {r['over_1s']} | "
            f"{r['p95'] / base[name.split(':')[0]]['p95']:.2f} | {r['errors']} | "
            + (f"{r['write_s']:.0f} |" if "write_s" in r else "- |")
        )
    lines += [
        "",
        "SIGTERM to the server while its job was encoding (after 64 passages): "
        f"the server exited in **{stop_s:.1f} s**; "
        f"the job's process {'was gone' if job_gone else 'WAS STILL RUNNING'}; "
        f"the index {'was unchanged (same generation, no partial folder)' if unchanged else 'CHANGED'}.",
        "",
        "Each server answered every radbench9 dev query once before the measured phases (the ONNX fast path "
        "plans each new input length on first sight). p95 ratios are against the same server's no-write phase.",
        "",
        "Reading it: a background job encodes in a child process at nice 19, so the kernel gives the "
        "server's searches the cores first; in-request, the write's encoding runs in the server's own "
        "process at the same priority as the searches and holds a request thread for the whole write; a search "
        "that needs a model the write is using waits for the whole encode (the in-request maximum). The job takes "
        "longer because it yields the cores to a client that searches without pause.",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
