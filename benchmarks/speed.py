"""Speed of radlite on this machine, each fast path as a ratio to its exact baseline in the same run.

Sections (python benchmarks/speed.py --out benchmarks/speed.md):
  A. reranker: radlite's int8 ONNX cross-encoder vs plain `CrossEncoder.predict` (same model, same
     max_length 512) on liveqa-med: BM25's top 20 for each test query; pairs/s, Spearman of the
     logits over all pairs, nDCG@10 of each reranked list;
  B. query encoding for all three retrievers (BM25 tokens, bi-encoder vector, ColBERT token
     vectors): fast (ONNX Runtime) vs exact (library encode), p50/p95;
  C. indexing: passages/s of each passage encoder against the model's raw forward time on the same
     length-sorted batches (tokenisation outside the clock);
  D. end to end on medline (1,834 passages): search p50/p95 per stage, fast vs exact, and the seed
     card's reference loop on the same models;
  E. end to end on a 50,000-passage index (synthetic: texts are mixtures of real medline sentences;
     bi-encoder and ColBERT vectors are built from real encoded passages, see `synthetic_index`),
     in a child process so its peak RSS is the serving cost.
  G. opening the medline index with and without checksum verification (benchmarks/load_verify.py);
     `--rerun-f` measures G again and keeps A-E from speed.json (section F, reranking, is written by
     benchmarks/reranker.py).
The ColBERT index at 50k passages, with its own baseline, is benchmarks/colbert_index.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))  # load_verify (section G), _sections

from _sections import SPEED_RERANKER_HEADING, owned_sections  # noqa: E402

from radlite.corpus import load_corpus  # noqa: E402
from radlite.search.engine import RadLITESearch  # noqa: E402

STAGES = ["encode_query", "bm25", "biencoder", "colbert", "pool", "rerank", "fusion", "total"]
SHARED = ROOT.parent / "shared" / "data"


def pct(values, p):
    return float(np.percentile(np.asarray(values, dtype=float), p)) if len(values) else float("nan")


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


# -- A. reranker ------------------------------------------------------------------------------


def reranker_section(n_queries: int, depth: int = 20) -> dict:
    import ir_measures
    import torch
    from ir_measures import nDCG
    from sentence_transformers import CrossEncoder

    from radlite.config import BM25Config
    from radlite.eval.datasets import load_dataset
    from radlite.models.encoders import CrossEncoderReranker
    from radlite.models.resolve import resolve_model
    from radlite.retrievers.bm25 import BM25Index

    data = load_dataset(SHARED / "liveqa-med", "test")
    ids = [d.id for d in data.corpus]
    texts = [(d.title + ". " if d.title else "") + d.text for d in data.corpus]
    bm25 = BM25Index.build(texts, BM25Config())
    queries = [q for q in data.queries if q.id in data.qrels][:n_queries]
    pairs, owner = [], []
    for q in queries:
        s = bm25.scores(q.text)
        for i in np.argsort(-s)[:depth]:
            pairs.append((q.text, texts[i]))
            owner.append((q.id, ids[i]))
    model = resolve_model("crossencoder", "default")
    plain = CrossEncoder(str(model.path), max_length=512, device="cpu")
    fast = CrossEncoderReranker(model.path, fast=True, sha256=model.sha256, max_length=512)
    plain.predict(pairs[:8], show_progress_bar=False)
    fast.predict(pairs[:8])
    exact, t_exact = timed(
        lambda: np.asarray(
            plain.predict(pairs, batch_size=32, activation_fn=torch.nn.Identity(), show_progress_bar=False)
        ).reshape(-1)
    )
    quick, t_fast = timed(fast.predict, pairs)
    lengths = [
        len(x)
        for x in plain.tokenizer([p[0] for p in pairs], [p[1] for p in pairs], truncation=True, max_length=512)[
            "input_ids"
        ]
    ]

    def ndcg(scores):
        run: dict[str, dict[str, float]] = {}
        for (qid, did), v in zip(owner, scores):
            run.setdefault(qid, {})[did] = float(v)
        return ir_measures.calc_aggregate([nDCG @ 10], {q.id: data.qrels[q.id] for q in queries}, run)[nDCG @ 10]

    cfg = plain.model.config
    h, layers = cfg.hidden_size, cfg.num_hidden_layers
    flops = float(sum(layers * (2 * (4 * h * h + 2 * h * cfg.intermediate_size) * n + 4 * n * n * h) for n in lengths))
    return {
        "pairs": len(pairs),
        "queries": len(queries),
        "depth": depth,
        "tokens_mean": float(np.mean(lengths)),
        "gflop_per_pair": flops / len(pairs) / 1e9,
        "exact_gflops": flops / t_exact / 1e9,
        "fast_gflops": flops / t_fast / 1e9,
        "tokens_p95": pct(lengths, 95),
        "exact_pairs_s": len(pairs) / t_exact,
        "fast_pairs_s": len(pairs) / t_fast,
        "spearman": spearman(exact, quick),
        "ndcg_exact": ndcg(exact),
        "ndcg_fast": ndcg(quick),
        "ndcg_bm25": ndcg([-i for i in range(len(pairs))]),
        "backend": fast.backend,
    }


def machine_gflops() -> dict:
    """fp32 matrix-product rate of this machine through torch (all threads), square and BERT-shaped."""
    import torch

    out = {}
    for name, (m, k, n) in {"square_2048": (2048, 2048, 2048), "bert_ffn_256x384x1536": (256, 384, 1536)}.items():
        a, b = torch.randn(m, k), torch.randn(k, n)
        for _ in range(3):
            a @ b
        reps = max(3, int(2e10 / (2 * m * k * n)))
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        out[name] = 2 * m * k * n * reps / (time.perf_counter() - t) / 1e9
    return out


# -- B. query encoding ------------------------------------------------------------------------


def query_section(queries: list[str]) -> dict:
    """All three retrievers' query work, as the engine does it: BM25 tokens + scores, then the
    bi-encoder and ColBERT vectors (side by side on the fast path, one after the other exact)."""
    from radlite.config import BM25Config
    from radlite.models.encoders import QUERY_INT8, BiEncoder, ColbertEncoder, encode_query_pair
    from radlite.models.resolve import resolve_model
    from radlite.retrievers.bm25 import BM25Index

    bm25 = BM25Index.build(["a tiny collection", "so that BM25 tokenises and scores the query"], BM25Config())
    out = {"int8": dict(QUERY_INT8)}
    for mode in ("exact", "fast"):
        enc = {}
        for kind, cls in (("biencoder", BiEncoder), ("colbert", ColbertEncoder)):
            m = resolve_model(kind, "default")
            enc[kind] = cls(m.path, fast=mode == "fast", sha256=m.sha256)
        for q in queries[:3]:  # warm up: the fast encoders are built on the first query
            encode_query_pair(enc["biencoder"], enc["colbert"], q, parallel=mode == "fast")
        laps = []
        for q in queries * 3:
            t = time.perf_counter()
            bm25.scores(q)  # BM25 needs no model: its whole query cost
            encode_query_pair(enc["biencoder"], enc["colbert"], q, parallel=mode == "fast")
            laps.append((time.perf_counter() - t) * 1000)
        out[mode] = (pct(laps, 50), pct(laps, 95))
        out[f"{mode}_vectors"] = [
            encode_query_pair(enc["biencoder"], enc["colbert"], q, parallel=False) for q in queries[:10]
        ]
    ex, fa = out.pop("exact_vectors"), out.pop("fast_vectors")
    out["biencoder_cos_min"] = min(float(a[0] @ b[0]) for a, b in zip(ex, fa))
    out["colbert_token_cos_mean"] = float(np.mean([(a[1] * b[1]).sum(axis=1).mean() for a, b in zip(ex, fa)]))
    out["colbert_token_cos_min"] = min(float((a[1] * b[1]).sum(axis=1).min()) for a, b in zip(ex, fa))
    out["query_tokens"] = float(np.mean([len(q.split()) for q in queries]))
    return out


# -- C. indexing ------------------------------------------------------------------------------


def indexing_section(texts: list[str]) -> dict:
    import torch

    from radlite.models.encoders import BiEncoder, ColbertEncoder
    from radlite.models.resolve import resolve_model

    out = {}
    for kind, cls in (("biencoder", BiEncoder), ("colbert", ColbertEncoder)):
        m = resolve_model(kind, "default")
        enc = cls(m.path)
        enc.encode_passages(texts[:32])
        _, wall = timed(enc.encode_passages, texts)
        model = enc.model
        order = np.argsort([-len(t) for t in texts])
        batches = [[texts[i] for i in order[s : s + enc.batch_size]] for s in range(0, len(texts), enc.batch_size)]
        feats = [model.tokenize(b, is_query=False) if kind == "colbert" else model.tokenize(b) for b in batches]
        raw = 0.0
        with torch.inference_mode():
            for f in feats:
                t = time.perf_counter()
                model(f)
                raw += time.perf_counter() - t
        out[kind] = {
            "passages": len(texts),
            "passages_s": len(texts) / wall,
            "raw_forward_s": raw,
            "wall_s": wall,
            "ratio": wall / raw,
        }
    return out


# -- D. end to end on medline -----------------------------------------------------------------


class SeedReferenceLoop:
    """The seed card's RADLITESearch as described: one vector per document, no passages,
    bi-encoder top-50 by dot product, cross-encoder logits / 1.5, BM25 / max, fused 0.5/0.2/0.3."""

    def __init__(self, engine: RadLITESearch, texts: list[str]):
        import bm25s
        from sentence_transformers import CrossEncoder

        self.bi = engine.encoder("biencoder").model
        self.ce = CrossEncoder(str(engine.models["crossencoder"].path), max_length=512, device="cpu")
        self.texts = texts
        self.emb = self.bi.encode(texts, normalize_embeddings=True, batch_size=32, show_progress_bar=False)
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    def search(self, query: str, top_k: int = 10, candidates: int = 50):
        import bm25s
        import torch

        q = self.bi.encode(query, normalize_embeddings=True, show_progress_bar=False)
        bi = self.emb @ q
        top = np.argsort(-bi)[:candidates]
        logits = self.ce.predict(
            [(query, self.texts[i]) for i in top], activation_fn=torch.nn.Identity(), show_progress_bar=False
        )
        ce = 1 / (1 + np.exp(-np.asarray(logits) / 1.5))
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        bm = self.bm25.get_scores(tokens.ids[0]) if len(tokens.ids[0]) else np.zeros(len(self.texts))
        bm = bm[top] / bm[top].max() if bm[top].max() > 0 else bm[top]
        fused = 0.5 * bi[top] + 0.2 * ce + 0.3 * bm
        return top[np.argsort(-fused)[:top_k]]


def search_laps(engine: RadLITESearch, queries: list[str], candidates: int) -> dict:
    if "crossencoder" in engine.models:
        engine.encoder("crossencoder").cache_size = 0  # real reranking, not cache hits
    engine.search(queries[0], top_k=10, candidates=candidates)
    laps = {s: [] for s in STAGES}
    for q in queries:
        engine.search(q, top_k=10, candidates=candidates)
        for s in STAGES:
            laps[s].append(engine.last_timings.get(s, 0.0))
    return {s: (pct(v, 50), pct(v, 95)) for s, v in laps.items()}


def medline_section(work: Path, queries: list[str], candidates: int) -> dict:
    docs = load_corpus(SHARED / "medline")
    path = work / "medline-index"
    if not (path / "CURRENT").exists():
        print("[medline] indexing", file=sys.stderr, flush=True)
        RadLITESearch(show_progress=True).index_corpus(docs).save(path)
    out = {"passages": None}
    for mode in ("exact", "fast"):
        engine = RadLITESearch.load(path, exact=mode == "exact")
        out[mode] = search_laps(engine, queries, candidates)
        out["passages"] = len(engine.index.passages)
    ref = SeedReferenceLoop(engine, [(d.title + ". " if d.title else "") + d.text for d in docs])
    ref.search(queries[0])
    laps = []
    for q in queries:
        _, t = timed(ref.search, q, 10, candidates)
        laps.append(t * 1000)
    out["reference"] = (pct(laps, 50), pct(laps, 95))
    return out


# -- E. 50k passages, in a child process ------------------------------------------------------


def synthetic_index(n_passages: int, work: Path, seed: int = 0) -> Path:
    """A saved index of `n_passages` synthetic passages: each is 3-6 real medline sentences drawn at
    random; its bi-encoder vector is the normalised mean of its sentences' source passages' real
    vectors, its ColBERT tokens real token vectors of those source passages (spans), so the
    vector distributions are the real ones without encoding 50,000 texts (~40 min here)."""
    import re

    from radlite.index import SearchIndex
    from radlite.types import Document

    path = work / f"synthetic-{n_passages}"
    if (path / "CURRENT").exists():
        return path
    base = RadLITESearch.load(work / "medline-index")
    idx = base.index
    sent = [
        (p, s) for p in range(len(idx.passages)) for s in re.split(r"(?<=[.!?])\s+", idx.passage_text(p)) if len(s) > 20
    ]
    rng = np.random.default_rng(seed)
    dense = np.asarray(idx.backend.dense.embeddings, dtype=np.float32)
    offsets = np.asarray(idx.backend.colbert.offsets)
    docs, bi_vecs, col_vecs = [], [], []
    for i in range(n_passages):
        picks = [sent[j] for j in rng.integers(len(sent), size=int(rng.integers(3, 7)))]
        docs.append(Document(id=f"s{i}", text=" ".join(s for _, s in picks)))
        v = dense[[p for p, _ in picks]].mean(axis=0)
        bi_vecs.append(v / np.linalg.norm(v))
        spans = []
        for p, _ in picks:  # a span of up to 40 real token vectors of each source passage
            a, b = int(offsets[p]), int(offsets[p + 1])
            start = int(rng.integers(a, max(a + 1, b - 40)))
            spans.append(idx.backend.colbert.token_vectors(np.arange(start, min(b, start + 40))))
        col_vecs.append(np.concatenate(spans))

    class Given:  # hands the synthesised vectors to SearchIndex.build in place of an encoder
        def __init__(self, vecs):
            self.vecs = vecs

        def encode_passages(self, texts, progress=False):
            return self.vecs

    config = base.index.config
    config.chunking.passage_words = 10_000  # one passage per synthetic document
    index = SearchIndex.build(
        docs, config, {"biencoder": Given(np.stack(bi_vecs)), "colbert": Given(col_vecs)}, base._models_json()
    )
    index.save(path)
    return path


def serve_child(path: Path, queries: list[str], candidates: int, exact: bool) -> dict:
    t = time.perf_counter()
    engine = RadLITESearch.load(path, exact=exact)
    load_s = time.perf_counter() - t
    laps = search_laps(engine, queries, candidates)
    # serving memory, read before the brute-force check below touches every token vector; VmHWM, not
    # ru_maxrss: the latter carries the parent's peak across fork+exec. RssAnon is the process's own memory,
    # RssFile the resident pages of memory-mapped index files (shared page cache the kernel can drop)
    status = {
        x.split(":")[0]: int(x.split()[1]) / 1024
        for x in Path("/proc/self/status").read_text().splitlines()
        if x.startswith(("VmHWM", "RssAnon", "RssFile"))
    }
    out = {}
    if not exact:
        no_rerank = RadLITESearch.load(path, use_reranker=False)
        out["no_rerank"] = search_laps(no_rerank, queries, candidates)
        out["colbert"] = colbert_at_scale(engine, queries)
    return {
        "passages": len(engine.index.passages),
        "load_s": load_s,
        "latency": laps,
        "peak_rss_mb": status["VmHWM"],
        "anon_rss_mb": status["RssAnon"],
        "file_rss_mb": status["RssFile"],
        **out,
    }


def colbert_at_scale(engine: RadLITESearch, queries: list[str], k: int = 100) -> dict:
    """ColBERT search alone: p50/p95 for the top `k` with the index's settings, top-10 agreement with
    brute-force MaxSim over every passage, and bytes per token of the whole ColBERT index."""
    col, cfg = engine.index.backend.colbert, engine.index.config.colbert
    enc = engine.encoder("colbert")
    vecs = [enc.encode_query(q) for q in queries]
    col.search(vecs[0], k, nprobe=cfg.nprobe, rescore=max(cfg.rescore, k))
    laps, tops = [], []
    for q in vecs:
        t = time.perf_counter()
        pids, _ = col.search(q, k, nprobe=cfg.nprobe, rescore=max(cfg.rescore, k))
        laps.append((time.perf_counter() - t) * 1000)
        tops.append(pids[:10])
    overlap = [len(set(top.tolist()) & set(col.exact_search(q, 10)[0].tolist())) / 10 for q, top in zip(vecs, tops)]
    n_bytes = sum(col.nbytes().values())
    return {
        "k": k,
        "nprobe": cfg.nprobe,
        "rescore": max(cfg.rescore, k),
        "p50": pct(laps, 50),
        "p95": pct(laps, 95),
        "top10_overlap": float(np.mean(overlap)),
        "tokens": col.n_tokens,
        "bytes_per_token": n_bytes / col.n_tokens,
        "vector_bytes_per_token": col.nbytes().get("vectors", 0) / col.n_tokens,
    }


def run_child(path: Path, queries: list[str], candidates: int, exact: bool) -> dict:
    args = [sys.executable, __file__, "--child", str(path), "--candidates", str(candidates)] + (
        ["--exact"] if exact else []
    )
    out = subprocess.run(args, input=json.dumps(queries), capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"section E child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- report -----------------------------------------------------------------------------------


def load_section(work: Path) -> dict:
    """G: SearchIndex.load of the medline index with and without verifying its checksums."""
    from load_verify import measure

    index = work / "medline-index"
    if not index.exists():
        RadLITESearch().index_corpus(load_corpus(SHARED / "medline")).save(index)
    return measure(index)


def machine() -> str:
    import onnxruntime
    import torch

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.platform()}; Python {platform.python_version()}, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), onnxruntime {onnxruntime.__version__}"
    )


def report(r: dict, command: str) -> str:
    a, b, c, d = r["reranker"], r["query"], r["indexing"], r["medline"]
    ms = lambda x: f"{x[0]:.1f} / {x[1]:.1f}"  # noqa: E731
    lines = [
        "# radlite speed",
        "",
        f"Machine: {r.get('machine') or machine()}.",
        f"Command: `{command}` (date {r.get('date') or time.strftime('%Y-%m-%d')}).",
        "Models: the trained defaults (all-MiniLM-L6-v2 bi-encoder; ColBERT and cross-encoder fine-tuned from MiniLM). "
        "Every ratio compares two paths measured in this one run.",
        "",
        "## Targets",
        "",
        "| target | goal | measured | met |",
        "|---|---|---|---|",
    ]
    ce_ratio = a["fast_pairs_s"] / a["exact_pairs_s"]
    lines.append(
        f"| cross-encoder pairs/s vs `CrossEncoder.predict` (max_length 512) | >= 8x | {ce_ratio:.2f}x "
        f"({a['fast_pairs_s']:.1f} vs {a['exact_pairs_s']:.1f}) | {'yes' if ce_ratio >= 8 else 'no'} |"
    )
    lines.append(
        f"| rank agreement on {a['pairs']} pairs (Spearman vs fp32) | >= 0.98 | {a['spearman']:.4f} | "
        f"{'yes' if a['spearman'] >= 0.98 else 'no'} |"
    )
    loss = a["ndcg_exact"] - a["ndcg_fast"]
    lines.append(
        f"| nDCG@10 loss on liveqa-med (rerank BM25 top {a['depth']}) | <= 0.005 | {loss:+.4f} "
        f"({a['ndcg_fast']:.4f} vs {a['ndcg_exact']:.4f}) | {'yes' if loss <= 0.005 else 'no'} |"
    )
    lines.append(
        f"| query encoding, all three retrievers, p50 | <= 15 ms | {b['fast'][0]:.1f} ms (exact path "
        f"{b['exact'][0]:.1f} ms) | {'yes' if b['fast'][0] <= 15 else 'no'} |"
    )
    for kind in ("biencoder", "colbert"):
        x = c[kind]
        lines.append(
            f"| indexing, {kind}: wall time / raw forward time | <= 1.3x | {x['ratio']:.2f}x "
            f"({x['passages_s']:.1f} passages/s) | {'yes' if x['ratio'] <= 1.3 else 'no'} |"
        )
    e = r.get("synthetic")
    if e:
        f, x = e["fast"], e["exact"]
        lines.append(
            f"| end to end, {f['passages']} passages, p50 / p95 | <= 150 / 300 ms | "
            f"{ms(f['latency']['total'])} ms | "
            f"{'yes' if f['latency']['total'][0] <= 150 and f['latency']['total'][1] <= 300 else 'no'} |"
        )
        if "no_rerank" in f:
            lines.append(
                f"| ... same, without the cross-encoder (first stage + fusion, `--no-rerank`) | (not a target) | "
                f"{ms(f['no_rerank']['total'])} ms | - |"
            )
        if "colbert" in f:
            cb = f["colbert"]
            lines.append(
                f"| ColBERT search, top {cb['k']} of {f['passages']} passages, p50 | <= 20 ms | "
                f"{cb['p50']:.1f} ms (p95 {cb['p95']:.1f}) | {'yes' if cb['p50'] <= 20 else 'no'} |"
            )
            lines.append(
                f"| ColBERT top-10 agreement with exact MaxSim | >= 0.95 | {cb['top10_overlap']:.3f} | "
                f"{'yes' if cb['top10_overlap'] >= 0.95 else 'no'} |"
            )
            lines.append(
                f"| ColBERT index size per token | <= 40 B | {cb['bytes_per_token']:.0f} B "
                f"({cb['vector_bytes_per_token']:.0f} B "
                f"fp16 vectors + codes and lists) | {'yes' if cb['bytes_per_token'] <= 40 else 'no'} |"
            )
        split = (
            f" (at the end {f['anon_rss_mb']:.0f} MB the process's own, {f['file_rss_mb']:.0f} MB mapped index pages)"
            if "anon_rss_mb" in f
            else ""
        )
        lines.append(
            f"| serving memory, {f['passages']} passages (peak RSS) | stated | {f['peak_rss_mb']:.0f} MB{split} | - |"
        )
    if "load" in r:
        extra = np.median(r["load"]["verify_ms"]) - np.median(r["load"]["no_verify_ms"])
        lines.append(
            f"| checksum verification when opening an index ({r['load']['bytes'] / 1e6:.0f} MB, once per load) "
            f"| stated | +{extra:.0f} ms | - |"
        )
    ref_ratio = d["reference"][0] / d["fast"]["total"][0]
    lines.append(
        f"| end to end vs the seed card's reference loop (medline, p50) | >= 20x | {ref_ratio:.2f}x | "
        f"{'yes' if ref_ratio >= 20 else 'no'} |"
    )
    g = r["gflops"]
    lines += [
        "",
        "## A. Reranker (liveqa-med, BM25 top %d of %d queries)" % (a["depth"], a["queries"]),
        "",
        f"Pairs: {a['pairs']}, tokens per pair mean {a['tokens_mean']:.0f}, p95 {a['tokens_p95']:.0f}; "
        f"{a['gflop_per_pair']:.2f} GFLOP per pair (matrix products and attention of the {a['tokens_mean']:.0f} "
        f"tokens). Exact path {a['exact_gflops']:.0f} GFLOP/s, fast path {a['fast_gflops']:.0f} GFLOP/s "
        f"(fp32-equivalent), against this machine's fp32 matrix product rate measured in the same run: "
        f"{g['square_2048']:.0f} GFLOP/s (2048^3), {g['bert_ffn_256x384x1536']:.0f} GFLOP/s (BERT-shaped "
        f"256x384x1536). "
        f"nDCG@10: BM25 order {a['ndcg_bm25']:.4f}, exact rerank {a['ndcg_exact']:.4f}, fast {a['ndcg_fast']:.4f}.",
        "",
        "## B. Query encoding (ms, p50 / p95; BM25 tokens + bi-encoder + ColBERT)",
        "",
        f"exact {ms(b['exact'])} (one after the other, PyTorch); fast {ms(b['fast'])} (ONNX Runtime, bi-encoder and "
        f"ColBERT side by side; int8: {', '.join(k for k, v in b.get('int8', {}).items() if v) or 'none'}). "
        f"Queries: medline, {b.get('query_tokens', 0):.1f} words on average. Agreement with the exact vectors: "
        f"bi-encoder cosine >= {b.get('biencoder_cos_min', float('nan')):.6f}; ColBERT token cosine mean "
        f"{b.get('colbert_token_cos_mean', float('nan')):.4f}, min {b.get('colbert_token_cos_min', float('nan')):.4f}.",
        "",
        "## C. Indexing",
        "",
        "| encoder | passages | passages/s | raw forward (s) | wall (s) | wall / raw |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("biencoder", "colbert"):
        x = c[kind]
        lines.append(
            f"| {kind} | {x['passages']} | {x['passages_s']:.1f} | {x['raw_forward_s']:.1f} | {x['wall_s']:.1f} | "
            f"{x['ratio']:.2f} |"
        )
    lines += [
        "",
        f"## D. End to end on medline ({d['passages']} passages), ms p50 / p95, top 10 of 50 candidates",
        "",
        "The default search: the cross-encoder, at the default fusion's weight 0, reads the 10 results returned.",
        "",
        "| path | " + " | ".join(STAGES) + " |",
        "|---|" + "---|" * len(STAGES),
    ]
    for mode in ("exact", "fast"):
        lines.append(f"| {mode} | " + " | ".join(ms(d[mode][s]) for s in STAGES) + " |")
    lines.append(f"| seed reference loop | total {ms(d['reference'])} |" + " |" * (len(STAGES) - 1))
    if e:
        lines += [
            "",
            f"## E. End to end on {e['fast']['passages']} synthetic passages (child process; the default search, as D)",
            "",
            "| path | load (s) | peak RSS (MB) | own / mapped at the end (MB) | " + " | ".join(STAGES) + " |",
            "|---|---|---|---|" + "---|" * len(STAGES),
        ]
        for mode in ("exact", "fast"):
            x = e[mode]
            own = f"{x['anon_rss_mb']:.0f} / {x['file_rss_mb']:.0f}" if "anon_rss_mb" in x else "-"
            lines.append(
                f"| {mode} | {x['load_s']:.1f} | {x['peak_rss_mb']:.0f} | {own} | "
                + " | ".join(ms(x["latency"][s]) for s in STAGES)
                + " |"
            )
    if "load" in r:
        from load_verify import table

        lines += ["", "## G. Opening an index: checksum verification (`SearchIndex.load`)", "", *table(r["load"])]
    lines += ["", "## Limits", "", r.get("limits", "")]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "speed.md")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("RADLITE_SPEED_WORK", "/tmp/radlite-speed")))
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--rerank-queries", type=int, default=50, help="liveqa-med queries for section A (x20 pairs)")
    ap.add_argument("--candidates", type=int, default=50)
    ap.add_argument("--synthetic", type=int, default=50_000, help="passages of section E (0: skip)")
    ap.add_argument("--sections", default="ABCDE", help="a quick check: run only these sections (no report)")
    ap.add_argument("--compose", action="store_true", help="only rewrite the report from its .json and speed_limits.md")
    ap.add_argument("--rerun-e", action="store_true", help="measure section E again, keep A-D from speed.partial.json")
    ap.add_argument("--rerun-f", action="store_true", help="measure section G again, keep A-E from speed.json")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--exact", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(serve_child(args.child, json.loads(sys.stdin.read()), args.candidates, args.exact)))
        return
    limits = ROOT / "benchmarks" / "speed_limits.md"
    if args.compose:
        r = json.loads(args.out.with_suffix(".json").read_text(encoding="utf-8"))
        write_report(args.out, r, r.get("command", "python benchmarks/speed.py"), limits, save_json=False)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    queries = [
        json.loads(x)["text"] for x in (SHARED / "medline" / "queries.jsonl").read_text().splitlines() if x.strip()
    ]
    queries = (queries * 3)[: args.queries]
    r = {}
    if args.sections != "ABCDE":
        quick = {
            "A": lambda: reranker_section(args.rerank_queries),
            "B": lambda: query_section(queries),
            "C": lambda: indexing_section([d.text for d in load_corpus(SHARED / "medline")][:64]),
        }
        for name in args.sections:
            print(name, json.dumps(quick[name](), default=float, indent=1))
        return
    if args.rerun_f:
        import re

        r = json.loads(args.out.with_suffix(".json").read_text(encoding="utf-8"))
        old = args.out.read_text(encoding="utf-8")
        # A-E keep the machine line and date of the run that measured them
        r.setdefault("machine", re.search(r"^Machine: (.*)\.$", old, re.M).group(1))
        r.setdefault("date", re.search(r"\(date (\d{4}-\d\d-\d\d)\)", old).group(1))
        r["load"] = load_section(args.work)
        write_report(args.out, r, r["command"], limits)
        return
    partial = args.out.with_suffix(".partial.json")  # each section is kept as soon as it is measured
    if args.rerun_e:  # sections A-D from the last run's partial results, E measured again
        r = json.loads(partial.read_text(encoding="utf-8"))
        path = synthetic_index(args.synthetic, args.work)
        r["synthetic"] = {m: run_child(path, queries, args.candidates, m == "exact") for m in ("exact", "fast")}
        partial.write_text(json.dumps(r, indent=2, default=float), encoding="utf-8")
        return finish(args, r, limits)

    def keep():
        partial.write_text(json.dumps(r, indent=2, default=float), encoding="utf-8")

    r["gflops"] = machine_gflops()
    print("A. reranker", file=sys.stderr, flush=True)
    r["reranker"] = reranker_section(args.rerank_queries)
    keep()
    print("B. query encoding", file=sys.stderr, flush=True)
    r["query"] = query_section(queries)
    keep()
    print("D. medline end to end", file=sys.stderr, flush=True)
    r["medline"] = medline_section(args.work, queries, args.candidates)
    keep()
    print("G. opening an index (checksums)", file=sys.stderr, flush=True)
    r["load"] = load_section(args.work)
    keep()
    print("C. indexing", file=sys.stderr, flush=True)
    engine = RadLITESearch.load(args.work / "medline-index")
    texts = [engine.index.encoder_input(p) for p in range(0, len(engine.index.passages), 7)][:256]
    r["indexing"] = indexing_section(texts)
    keep()
    if args.synthetic:
        print("E. synthetic end to end", file=sys.stderr, flush=True)
        path = synthetic_index(args.synthetic, args.work)
        r["synthetic"] = {m: run_child(path, queries, args.candidates, m == "exact") for m in ("exact", "fast")}
    finish(args, r, limits)


def reranker_part(path: Path) -> str:
    """Section F of the report at `path`, as benchmarks/reranker.py wrote it (this script does not measure it), under
    its heading; "" where there is none."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    kept = [s for s in owned_sections(old) if s.startswith("<!-- reranker:")]
    if not kept and "<!-- reranker:" in old:
        print("warning: section F's markers in the old report are not a pair; it is not kept", file=sys.stderr)
    return "".join(f"{SPEED_RERANKER_HEADING}\n\n{section}\n" for section in kept)


def write_report(out: Path, r: dict, command: str, limits: Path, save_json: bool = True) -> None:
    """Write the report at `out` from the results `r` and speed_limits.md, with reranker.py's section F kept, and, with
    `save_json`, the results beside it (out.json)."""
    r["limits"] = limits.read_text(encoding="utf-8") if limits.is_file() else ""
    out.write_text(report(r, command) + reranker_part(out), encoding="utf-8")
    if save_json:
        out.with_suffix(".json").write_text(
            json.dumps({k: v for k, v in r.items() if k != "limits"}, indent=2, default=float), encoding="utf-8"
        )
    print(out.read_text())


def finish(args, r: dict, limits: Path) -> None:
    command = "python benchmarks/speed.py" + "".join(
        f" --{k.replace('_', '-')} {v}"
        for k, v in (("queries", args.queries), ("rerank_queries", args.rerank_queries), ("synthetic", args.synthetic))
    )
    if args.rerun_e:  # the report wraps the command in backticks
        command += f"` for sections A-D, then `{command} --rerun-e"
    r["command"] = command
    write_report(args.out, r, command, limits)


if __name__ == "__main__":
    main()
