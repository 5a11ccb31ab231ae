"""Choose the ColBERT candidate index by measurement: recall against exact MaxSim, latency, build.

Compares, on the same token vectors (default ColBERT model over ../shared/data/medline passages):
  * exact   brute-force MaxSim over every passage (radlite `ColbertIndex.exact_search`)
  * radlite centroid-IVF candidates + exact MaxSim re-scoring (the default)
  * PLAID   PyLate's PLAID with its C++ backend (`use_fast=False`; fast-plaid does not import
            beside torch 2.13 here), nbits=4, default n_ivf_probe / n_full_scores
  * Voyager PyLate's HNSW token index, candidates re-scored by PyLate's exact MaxSim reranker

    python benchmarks/colbert_index.py --out benchmarks/colbert_index.md [--skip-pylate]

`--synthetic 50000` instead measures the speed issue's setting on a set synthetic in embedding
space (benchmarks/colbert_synthetic.py), one run: exact brute force over fp16 vectors (the
reference), the previous path (IVF + centroid interaction over every candidate + exact fp16
re-scoring), the new candidate stage with exact re-scoring (`full_vectors`, the default), and
the same with residual-compressed re-scoring (`full_vectors=False`, M bytes per token); p50/p95 for
top-100 and top-10, top-10 overlap with
exact, bytes per token per file, peak RSS, and the machine's measured matmul and copy speed.

    python benchmarks/colbert_index.py --synthetic 50000 --out benchmarks/colbert_index_50k.md
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from radlite.config import ColbertIndexConfig, IndexConfig  # noqa: E402
from radlite.corpus import load_corpus, passage_input, split_passages  # noqa: E402
from radlite.models import ColbertEncoder, resolve_model  # noqa: E402
from radlite.retrievers.colbert import ColbertIndex, _encode_residuals, _train_residual_pq  # noqa: E402
from radlite.retrievers.csr import entries as _segment_rows  # noqa: E402
from radlite.retrievers.topk import top_k as _top  # noqa: E402

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
    if "--synthetic" in sys.argv:
        return synthetic_main()
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
    ivf, ivf_ms = timed_queries(
        lambda q: list(index.search(q, K, nprobe=cfg_c.nprobe, rescore=cfg_c.rescore)[0]), queries
    )
    sizes = index.nbytes()
    candidate_bytes = (sizes["codes"] + sizes["ivf_pids"] + sizes["ivf_offsets"] + sizes["centroids"]) / n_tokens
    rows.append(
        (
            f"radlite centroid IVF ({len(index.centroids)} centroids, nprobe {cfg_c.nprobe}, rescore "
            f"{cfg_c.rescore}) + exact MaxSim",
            build_s,
            ivf_ms,
            np.mean([overlap(a, b) for a, b in zip(ivf, exact)]),
            candidate_bytes + sizes["vectors"] / n_tokens,
        )
    )
    wide, wide_ms = timed_queries(lambda q: list(index.search(q, K, nprobe=32, rescore=512)[0]), queries)
    rows.append(
        (
            "radlite centroid IVF (nprobe 32, rescore 512) + exact MaxSim",
            build_s,
            wide_ms,
            np.mean([overlap(a, b) for a, b in zip(wide, exact)]),
            candidate_bytes + sizes["vectors"] / n_tokens,
        )
    )

    if not args.skip_pylate:
        from pylate import indexes, retrieve

        ids = [str(i) for i in range(len(texts))]
        for name, make in (
            (
                "PyLate PLAID (C++ backend, nbits 4; build includes compiling on first use)",
                lambda d: indexes.PLAID(
                    index_folder=d, index_name="plaid", override=True, use_fast=False, show_progress=False
                ),
            ),
            (
                "PyLate Voyager (HNSW over tokens) + MaxSim",
                lambda d: indexes.Voyager(index_folder=d, index_name="voyager", override=True),
            ),
        ):
            folder = tempfile.mkdtemp()
            try:
                t = time.perf_counter()
                pl_index = make(folder)
                pl_index.add_documents(documents_ids=ids, documents_embeddings=doc_vecs)
                build = time.perf_counter() - t
                retriever = retrieve.ColBERT(index=pl_index)

                def search(q, retriever=retriever):
                    return [int(r["id"]) for r in retriever.retrieve([q], k=K)[0]]

                res, ms = timed_queries(search, queries)
                size = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / n_tokens
                rows.append((name, build, ms, np.mean([overlap(a, b) for a, b in zip(res, exact)]), size))
            except Exception as exc:  # record the failure instead of hiding the row
                rows.append(
                    (
                        f"{name}: failed ({type(exc).__name__}: {str(exc)[:120]})",
                        float("nan"),
                        [float("nan")],
                        float("nan"),
                        float("nan"),
                    )
                )
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    lines = [
        "# ColBERT candidate index: measured choice",
        "",
        f"Data: {args.data.name}, {len(docs)} documents -> {len(texts)} passages, {n_tokens} token vectors (128-d); "
        f"{len(queries)} queries; default ColBERT model (MiniLM + untrained projection). Encoding took "
        f"{encode_s:.0f} s. "
        f"2-core CPU. Command: `python benchmarks/colbert_index.py`.",
        "",
        "| index | build (s) | p50 ms | p95 ms | top-10 overlap with exact | bytes per token on disk |",
        "|---|---|---|---|---|---|",
    ]
    for name, build, ms, ov, bpt in rows:
        lines.append(
            f"| {name} | {build:.1f} | {np.percentile(ms, 50):.1f} | {np.percentile(ms, 95):.1f} | {ov:.3f} | "
            f"{bpt:.0f} |"
        )
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)


def old_candidates(index: ColbertIndex, query: np.ndarray, nprobe: int, keep: int) -> np.ndarray:
    """The previous candidate stage (kept here as the baseline): every passage in a probed list
    is scored by centroid interaction over all of its tokens."""
    cscores = query @ index.centroids.T
    probe = np.argpartition(-cscores, nprobe - 1, axis=1)[:, :nprobe]
    cells = np.unique(probe)
    cand = np.unique(np.asarray(index.ivf_pids)[_segment_rows(index.ivf_offsets, cells)])
    if len(cand) <= keep:
        return cand.astype(np.int64)
    lengths = np.diff(index.offsets)[cand]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    approx = np.maximum.reduceat(
        cscores[:, np.asarray(index.codes)[_segment_rows(index.offsets, cand)]], starts, axis=1
    ).sum(axis=0)
    return np.sort(cand[np.argpartition(-approx, keep - 1)[:keep]]).astype(np.int64)


def exact_top10(index: ColbertIndex, queries: np.ndarray, block_tokens: int = 32768) -> list[np.ndarray]:
    """Brute-force exact MaxSim top 10 of every query, all queries per block of passages."""
    flat = queries.reshape(-1, queries.shape[2])
    ends = np.searchsorted(
        np.asarray(index.offsets), np.arange(block_tokens, index.n_tokens + block_tokens, block_tokens)
    )
    scores, first = [], 0
    for last in np.unique(np.minimum(ends, len(index))):
        if last <= first:
            continue
        rows = np.arange(index.offsets[first], index.offsets[last])
        starts = np.asarray(index.offsets[first:last]) - index.offsets[first]
        sims = flat @ np.asarray(index.vectors[rows], dtype=np.float32).T
        scores.append(np.maximum.reduceat(sims, starts, axis=1).reshape(len(queries), -1, last - first).sum(axis=1))
        first = last
    allscores = np.concatenate(scores, axis=1)
    return [np.argsort(-s, kind="stable")[:K] for s in allscores]


def machine_peaks() -> tuple[float, float]:
    """Measured fp32 matmul GFLOP/s (the MaxSim shape) and large-array copy GB/s, best of 5."""
    q, x = np.random.rand(32, 128).astype(np.float32), np.random.rand(65536, 128).astype(np.float32)
    a, b = np.random.rand(2**26).astype(np.float32), np.empty(2**26, np.float32)
    mm, cp = [], []
    for _ in range(5):
        t = time.perf_counter()
        q @ x.T
        mm.append(2 * q.size * len(x) / (time.perf_counter() - t) / 1e9)
        t = time.perf_counter()
        np.copyto(b, a)
        cp.append(2 * a.nbytes / (time.perf_counter() - t) / 1e9)
    return max(mm), max(cp)


def compress(index: ColbertIndex, cfg: ColbertIndexConfig) -> ColbertIndex:
    """The same centroids and lists with residual codes instead of vectors (as `full_vectors=False`
    would build them), so both re-scoring paths are measured on one k-means."""
    vectors = np.asarray(index.vectors, dtype=np.float32)
    codes = np.asarray(index.codes)
    codebooks = _train_residual_pq(vectors, index.centroids, codes, cfg)
    residuals = _encode_residuals(codebooks, vectors, index.centroids, codes)
    return ColbertIndex(
        index.centroids, index.codes, index.offsets, index.ivf_offsets, index.ivf_pids, None, residuals, codebooks
    )


def synthetic_main() -> None:
    import resource

    from colbert_synthetic import built_index, encoded, synthesise

    ap = argparse.ArgumentParser()
    ap.add_argument("--synthetic", type=int, default=50000)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "medline")
    ap.add_argument("--cache", type=Path, default=ROOT / "build" / "colbert_bench")
    ap.add_argument("--queries", type=int, default=64, help="queries measured (the reference is brute force for each)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "colbert_index_50k.md")
    args = ap.parse_args()

    real = encoded(args.data, args.cache / f"{args.data.name}.npz")
    queries = real["queries"][: args.queries]
    cfg = ColbertIndexConfig()
    index, build_s, _ = built_index(
        lambda: synthesise(real["vectors"], real["offsets"], args.synthetic),
        args.cache / f"synthetic{args.synthetic}",
        cfg,
    )
    compressed = compress(index, ColbertIndexConfig(full_vectors=False))
    t = time.perf_counter()
    exact = exact_top10(index, queries)
    ref_s = time.perf_counter() - t
    n_tokens, m = index.n_tokens, compressed.residuals.shape[1]
    gflops, gbps = machine_peaks()
    _, brute_ms = timed_queries(lambda q: index.exact_search(q, 100), queries[:5])
    paths = [
        ("exact brute-force MaxSim, fp16 vectors (reference)", None),
        (
            f"previous: IVF nprobe {cfg.nprobe} + centroid interaction + exact fp16 re-scoring of {cfg.rescore}",
            lambda q, k: _top(c := old_candidates(index, q, cfg.nprobe, max(cfg.rescore, k)), index.score(q, c), k)[0],
        ),
        (
            f"new default: candidates (nprobe {cfg.nprobe}, {cfg.rescore}) + exact fp16 re-scoring (full_vectors)",
            lambda q, k: index.search(q, k, cfg.nprobe, cfg.rescore)[0],
        ),
        (
            f"new candidates + residual-compressed re-scoring (full_vectors=False, {m} B residual)",
            lambda q, k: compressed.search(q, k, cfg.nprobe, cfg.rescore)[0],
        ),
    ]
    lines = [
        f"# ColBERT index at {args.synthetic} passages (synthetic in embedding space)",
        "",
        f"{len(index)} passages, {n_tokens} tokens ({n_tokens / len(index):.0f} per passage), "
        f"{len(index.centroids)} centroids, "
        f"{len(queries)} queries x 32 tokens. Build (k-means + assign, full_vectors) {build_s:.0f} s; "
        f"brute-force reference for all queries {ref_s:.0f} s. Machine: {os.cpu_count()} cores, measured "
        f"{gflops:.0f} GFLOP/s fp32 matmul (32x128 @ 128x65536), {gbps:.1f} GB/s copy.",
        "",
        "| path | top-100 p50 ms | top-100 p95 ms | top-10 p50 ms | top-10 overlap with exact |",
        "|---|---|---|---|---|",
        f"| {paths[0][0]} | {np.percentile(brute_ms, 50):.0f} | {np.percentile(brute_ms, 95):.0f} | - | 1.000 |",
    ]
    for name, fn in paths[1:]:
        res, ms100 = timed_queries(lambda q, fn=fn: fn(q, 100), queries)
        _, ms10 = timed_queries(lambda q, fn=fn: fn(q, K), queries)
        lines.append(
            f"| {name} | {np.percentile(ms100, 50):.1f} | {np.percentile(ms100, 95):.1f} | "
            f"{np.percentile(ms10, 50):.1f} | {np.mean([overlap(a, b) for a, b in zip(res, exact)]):.3f} |"
        )
    sizes = {**index.nbytes(), **compressed.nbytes()}
    lines += [
        "",
        "Bytes per token on disk: " + ", ".join(f"{k} {v / n_tokens:.2f}" for k, v in sizes.items()),
        f"(compressed index: {sum(v for k, v in sizes.items() if k != 'vectors') / n_tokens:.1f} B/token in all).",
        f"Brute force needs {2 * 32 * 128 * n_tokens / 1e9:.1f} GFLOP per query.",
        f"Peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB.",
    ]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
