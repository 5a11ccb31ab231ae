"""Choose the ColBERT candidate index by measurement: recall against exact MaxSim, latency, build.

Compares, on the same token vectors (default ColBERT model over ../shared/data/medline passages):
  * exact   brute-force MaxSim over every passage (radlite `ColbertIndex.exact_search`)
  * radlite centroid-IVF candidates + exact MaxSim re-scoring (the default)
  * PLAID   PyLate's PLAID with its C++ backend (`use_fast=False`; fast-plaid does not import
            beside torch 2.13 here), nbits=4, default n_ivf_probe / n_full_scores
  * Voyager PyLate's HNSW token index, candidates re-scored by PyLate's exact MaxSim reranker

    python benchmarks/colbert_index.py --out benchmarks/colbert_index.md [--skip-pylate]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radlite.config import ColbertIndexConfig, IndexConfig  # noqa: E402
from radlite.corpus import load_corpus, passage_input, split_passages  # noqa: E402
from radlite.index.colbert import ColbertIndex  # noqa: E402
from radlite.models import ColbertEncoder, resolve_model  # noqa: E402

K = 10


def overlap(a, b) -> float:
    return len(set(a[:K]) & set(b[:K])) / K


def timed_queries(fn, queries):
    out, ms = [], []
    fn(queries[0])
    for q in queries:
        t = time.perf_counter()
        out.append(fn(q))
        ms.append((time.perf_counter() - t) * 1000)
    return out, ms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "medline")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "colbert_index.md")
    ap.add_argument("--skip-pylate", action="store_true")
    args = ap.parse_args()

    docs = load_corpus(args.data)
    cfg = IndexConfig()
    spans = split_passages(docs, cfg.chunking)
    texts = [passage_input(docs[s.doc], s, cfg.chunking) for s in spans]
    queries_text = [json.loads(x)["text"] for x in (args.data / "queries.jsonl").read_text().splitlines() if x.strip()]
    enc = ColbertEncoder(resolve_model("colbert", "default").path)
    t = time.perf_counter()
    doc_vecs = enc.encode_passages(texts, progress=True)
    encode_s = time.perf_counter() - t
    queries = [enc.encode_query(q) for q in queries_text]
    n_tokens = sum(len(v) for v in doc_vecs)
    rows = []

    t = time.perf_counter()
    index = ColbertIndex.build(doc_vecs, ColbertIndexConfig())
    build_s = time.perf_counter() - t
    exact, exact_ms = timed_queries(lambda q: list(index.exact_search(q, K)[0]), queries)
    rows.append(("exact MaxSim (brute force, fp16 store)", 0.0, exact_ms, 1.0, 256 + 8 / max(1, n_tokens / len(texts))))
    cfg_c = index.config if hasattr(index, "config") else ColbertIndexConfig()
    ivf, ivf_ms = timed_queries(lambda q: list(index.search(q, K, nprobe=cfg_c.nprobe, rescore=cfg_c.rescore)[0]), queries)
    sizes = index.nbytes()
    candidate_bytes = (sizes["codes"] + sizes["ivf_pids"] + sizes["ivf_offsets"] + sizes["centroids"]) / n_tokens
    rows.append((f"radlite centroid IVF ({len(index.centroids)} centroids, nprobe {cfg_c.nprobe}, rescore {cfg_c.rescore}) + exact MaxSim",
                 build_s, ivf_ms, np.mean([overlap(a, b) for a, b in zip(ivf, exact)]),
                 candidate_bytes + sizes["vectors"] / n_tokens))
    wide, wide_ms = timed_queries(lambda q: list(index.search(q, K, nprobe=32, rescore=512)[0]), queries)
    rows.append(("radlite centroid IVF (nprobe 32, rescore 512) + exact MaxSim", build_s, wide_ms,
                 np.mean([overlap(a, b) for a, b in zip(wide, exact)]), candidate_bytes + sizes["vectors"] / n_tokens))

    if not args.skip_pylate:
        from pylate import indexes, retrieve

        ids = [str(i) for i in range(len(texts))]
        for name, make in (
            ("PyLate PLAID (C++ backend, nbits 4; build includes compiling on first use)",
             lambda d: indexes.PLAID(index_folder=d, index_name="plaid", override=True, use_fast=False, show_progress=False)),
            ("PyLate Voyager (HNSW over tokens) + MaxSim", lambda d: indexes.Voyager(index_folder=d, index_name="voyager", override=True)),
        ):
            folder = tempfile.mkdtemp()
            try:
                t = time.perf_counter()
                pl_index = make(folder)
                pl_index.add_documents(documents_ids=ids, documents_embeddings=doc_vecs)
                build = time.perf_counter() - t
                retriever = retrieve.ColBERT(index=pl_index)
                res, ms = timed_queries(lambda q: [int(r["id"]) for r in retriever.retrieve([q], k=K)[0]], queries)
                size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / n_tokens
                rows.append((name, build, ms, np.mean([overlap(a, b) for a, b in zip(res, exact)]), size))
            except Exception as exc:  # record the failure instead of hiding the row
                rows.append((f"{name}: failed ({type(exc).__name__}: {str(exc)[:120]})", float("nan"), [float("nan")], float("nan"), float("nan")))
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    lines = ["# ColBERT candidate index: measured choice", "",
             f"Data: {args.data.name}, {len(docs)} documents -> {len(texts)} passages, {n_tokens} token vectors (128-d); "
             f"{len(queries)} queries; default ColBERT model (MiniLM + untrained projection). Encoding took {encode_s:.0f} s. "
             f"2-core CPU. Command: `python benchmarks/colbert_index.py`.", "",
             "| index | build (s) | p50 ms | p95 ms | top-10 overlap with exact | bytes per token on disk |", "|---|---|---|---|---|---|"]
    for name, build, ms, ov, bpt in rows:
        lines.append(f"| {name} | {build:.1f} | {np.percentile(ms, 50):.1f} | {np.percentile(ms, 95):.1f} | {ov:.3f} | {bpt:.0f} |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
