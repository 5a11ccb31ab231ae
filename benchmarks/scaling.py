"""Measurements behind docs/scaling.md (python benchmarks/scaling.py --out benchmarks/scaling.md).

  A. bytes per passage of each signal in a real index (MEDLINE, 1,834 passages, default models),
     and what a passage holds: ColBERT tokens, BM25 terms, text;
  B. the Qdrant backend on the same vectors (qdrant-client's embedded local mode: no server can be
     installed here): upsert rate, top-10 agreement with the local backend per signal, latency;
  C. passage encoding, both encoders: passages/s in one process vs Ray Data on a local instance;
  D. fan-out: per-signal search latency of one 50,000-passage index vs the same split over 2 and
     4 shards (the slowest shard of each query is the latency of a parallel fan-out), the merge,
     and the merged top-10 against the single index's;
  E. query understanding at archive scale: how long radlite.terms takes to read a query when an
     ambiguous abbreviation is settled by what a collection of up to ~1M passages uses it with.
Indexes are reused from benchmarks/speed.py's work folder (/tmp/radlite-speed), built if missing.
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

from benchmarks.speed import SHARED, machine, pct, synthetic_index  # noqa: E402
from radlite.corpus import load_corpus  # noqa: E402
from radlite.search.engine import RadLITESearch  # noqa: E402
from radlite.search.stages import Timer, retrieve  # noqa: E402


def du(path: Path) -> int:
    return (
        sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
        if Path(path).is_dir()
        else Path(path).stat().st_size
    )


def medline_index(work: Path) -> Path:
    path = work / "medline-index"
    if not (path / "CURRENT").exists():
        print("[medline] indexing with the default models", file=sys.stderr, flush=True)
        RadLITESearch(show_progress=True).index_corpus(load_corpus(SHARED / "medline")).save(path)
    return path


def queries() -> list[str]:
    return [json.loads(x)["text"] for x in (SHARED / "medline" / "queries.jsonl").read_text().splitlines() if x.strip()]


# -- A ---------------------------------------------------------------------------------------------
def bytes_section(path: Path) -> dict:
    import tracemalloc

    from radlite.retrievers.bm25 import TermCounts
    from radlite.types import Document

    engine = RadLITESearch.load(path, use_reranker=False)
    idx = engine.index
    gen = path / (path / "CURRENT").read_text().strip()
    n = len(idx.passages)
    parts = {
        "bm25": du(gen / "bm25"),
        "biencoder": du(gen / "biencoder"),
        "colbert": du(gen / "colbert"),
        "catalog (documents.jsonl + passages.npy)": du(gen / "documents.jsonl") + du(gen / "passages.npy"),
    }
    texts = [idx.encoder_input(p) for p in range(n)]
    counts = TermCounts.of(texts)
    # what the catalog costs in RAM once loaded: the documents as Python objects, the passage table,
    # and (Qdrant backend) the BM25 term counts
    lines = (gen / "documents.jsonl").read_text(encoding="utf-8").splitlines()
    tracemalloc.start()
    docs = [Document.from_json(json.loads(line)) for line in lines]
    doc_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del docs
    catalog_ram = {
        "documents (Python objects)": doc_bytes / n,
        "passage table": idx.passages.nbytes / n,
        "BM25 term counts (Qdrant backend)": sum(
            a.nbytes for a in (counts.indptr, counts.terms, counts.tf, counts.lengths)
        )
        / n,
    }
    return {
        "passages": n,
        "documents": len(idx.documents),
        "bytes": parts,
        "per_passage": {k: v / n for k, v in parts.items()},
        "colbert_tokens_per_passage": idx.backend.colbert.n_tokens / n,
        "colbert_bytes_per_token": parts["colbert"] / idx.backend.colbert.n_tokens,
        "bm25_terms_per_passage": len(counts.terms) / n,
        "catalog_ram_per_passage": catalog_ram,
        "text_chars_per_passage": float(np.mean([len(t) for t in texts])),
        "biencoder_dim": idx.backend.dense.dim,
    }


# -- B ---------------------------------------------------------------------------------------------
class _Replay:
    """Hands an existing index's vectors to SearchIndex.build in order, chunk by chunk."""

    def __init__(self, vectors):
        self.vectors, self.at = vectors, 0

    def encode_passages(self, texts, progress=False):
        out = self.vectors[self.at : self.at + len(texts)]
        self.at += len(texts)
        return out


def qdrant_section(path: Path, qs: list[str]) -> dict:
    from radlite.backends.qdrant import settings_for
    from radlite.index import SearchIndex
    from radlite.types import Document

    local = RadLITESearch.load(path, use_reranker=False)
    idx = local.index
    n = len(idx.passages)
    dense = np.asarray(idx.backend.dense.embeddings)
    tokens = [
        idx.backend.colbert.token_vectors(np.arange(idx.backend.colbert.offsets[p], idx.backend.colbert.offsets[p + 1]))
        for p in range(n)
    ]
    folder = Path(tempfile.mkdtemp(prefix="radlite-qdrant-bench-"))
    t = time.perf_counter()
    built = SearchIndex.build(
        idx.documents,
        idx.config,
        {"biencoder": _Replay(dense), "colbert": _Replay(tokens)},
        idx.models,
        backend=settings_for(None, folder / "qd"),
    )
    upsert_s = time.perf_counter() - t
    remote = RadLITESearch.load(path, use_reranker=False)
    remote.index = built
    out = {"passages": n, "upsert_s": upsert_s, "upsert_per_s": n / upsert_s, "local_mode_disk_bytes": du(folder)}
    overlap = {s: [] for s in ("bm25", "biencoder", "colbert")}
    exact_overlap, lat = [], {s: {"local": [], "qdrant": []} for s in overlap}
    for query in qs:
        q = local.encode_query(query, ["biencoder", "colbert"], Timer())
        for s in overlap:
            t = time.perf_counter()
            a, _ = retrieve(idx, q, s, 10)
            lat[s]["local"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            b, _ = retrieve(built, q, s, 10)
            lat[s]["qdrant"].append((time.perf_counter() - t) * 1000)
            overlap[s].append(len(set(a.tolist()) & set(b.tolist())) / 10)
            if s == "colbert":
                exact = set(idx.backend.colbert.exact_search(q.colbert, 10)[0].tolist())
                exact_overlap.append((len(set(a.tolist()) & exact) / 10, len(set(b.tolist()) & exact) / 10))
    # one add of one document: with tolerance 0 every passage's BM25 weights are rewritten
    extra = [{"id": f"bench-add-{i}", "text": idx.documents[i].text} for i in range(2)]
    timings = {}
    for tol, doc in zip((0.0, 0.02), extra):
        remote.index.backend.settings["bm25_avgdl_tolerance"] = tol
        t = time.perf_counter()
        remote.index = remote.index.with_documents(
            [Document(id=doc["id"], text=doc["text"])],
            {"biencoder": remote.encoder("biencoder"), "colbert": remote.encoder("colbert")},
        )
        timings[tol] = time.perf_counter() - t
    out["add_one_document_s"] = {
        "tolerance 0 (rewrites every passage's BM25 weights)": timings[0.0],
        "tolerance 0.02 (average moved less: no rewrite)": timings[0.02],
    }
    built = remote.index
    out["top10_overlap"] = {s: float(np.mean(v)) for s, v in overlap.items()}
    out["colbert_vs_exact"] = {
        "local": float(np.mean([x for x, _ in exact_overlap])),
        "qdrant": float(np.mean([y for _, y in exact_overlap])),
    }
    out["latency_p50_ms"] = {s: {k: pct(v, 50) for k, v in d.items()} for s, d in lat.items()}
    built.backend.drop()
    shutil.rmtree(folder, ignore_errors=True)
    return out


# -- C ---------------------------------------------------------------------------------------------
def encoding_section(path: Path, n: int) -> dict:
    import ray

    from radlite.encoding import LocalEncoding, RayEncoding, gather

    engine = RadLITESearch.load(path, use_reranker=False)
    idx = engine.index
    texts = [idx.encoder_input(p) for p in range(0, len(idx.passages), max(1, len(idx.passages) // n))][:n]
    models = {s: engine.models[s].path for s in ("biencoder", "colbert")}
    local = LocalEncoding({s: engine.encoder(s) for s in models})
    gather(local, texts[:8])  # warm-up
    runs = {}
    t = time.perf_counter()
    gather(local, texts)
    runs["one process (torch: 2 threads)"] = time.perf_counter() - t
    t = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray_start = time.perf_counter() - t
    startup = {}
    for actors, threads in ((2, 1), (1, 2)):
        name = f"Ray Data, {actors} actor(s) x {threads} thread(s)"
        enc = RayEncoding(models, actors=actors, threads=threads, rows_per_task=32)
        t = time.perf_counter()
        gather(enc, texts[: actors * 2])  # a run of 2 passages per actor: starting the pool and loading models
        startup[name] = time.perf_counter() - t
        t = time.perf_counter()
        gather(enc, texts)
        runs[name] = time.perf_counter() - t
    ray.shutdown()
    out = {}
    for k, v in runs.items():
        out[k] = {"seconds": v, "passages_per_s": len(texts) / v}
        if k in startup:  # throughput once the actors are up (what a long job sees)
            out[k].update({"startup_s": startup[k], "steady_passages_per_s": len(texts) / max(1e-9, v - startup[k])})
    return {"passages": len(texts), "ray_init_s": ray_start, "runs": out}


# -- D ---------------------------------------------------------------------------------------------
def fanout_section(path: Path, qs: list[str], depth: int = 150) -> dict:
    from radlite.backends.shards import ShardedBackend
    from radlite.retrievers.topk import merge as _merge

    engine = RadLITESearch.load(path, use_reranker=False)
    idx = engine.index
    qv = [engine.encode_query(q, ["biencoder", "colbert"], Timer()) for q in qs]
    signals = ("biencoder", "colbert")
    single = {s: [] for s in signals}
    tops = {s: [] for s in signals}
    for q in qv:  # warm-up: every query once, so the memory-mapped vectors are in the page cache
        for s in signals:
            retrieve(idx, q, s, depth)
    for q in qv:
        for s in signals:
            t = time.perf_counter()
            pids, _ = retrieve(idx, q, s, depth)
            single[s].append((time.perf_counter() - t) * 1000)
            tops[s].append(set(pids[:10].tolist()))
    out = {
        "passages": len(idx.passages),
        "depth": depth,
        "single_p50_ms": {s: pct(v, 50) for s, v in single.items()},
        "single_p95_ms": {s: pct(v, 95) for s, v in single.items()},
        "sharded": {},
    }
    for n in (2, 4):
        t = time.perf_counter()
        sharded = ShardedBackend.of(idx, n)
        split_s = time.perf_counter() - t
        slowest = {s: [] for s in signals}
        merge = {s: [] for s in signals}
        agree = {s: [] for s in signals}
        for i, q in enumerate(qv):
            for s in signals:
                hits, times = [], []
                for shard in sharded.shards:
                    t = time.perf_counter()
                    pids, scores = retrieve(shard.index, q, s, depth)
                    times.append((time.perf_counter() - t) * 1000)
                    hits.append((shard.global_pids[pids], scores))
                t = time.perf_counter()
                merged, _ = _merge(hits, depth)
                merge[s].append((time.perf_counter() - t) * 1000)
                slowest[s].append(max(times))
                agree[s].append(len(set(merged[:10].tolist()) & tops[s][i]) / 10)
        out["sharded"][n] = {
            "split_s": split_s,
            "slowest_shard_p50_ms": {s: pct(v, 50) for s, v in slowest.items()},
            "slowest_shard_p95_ms": {s: pct(v, 95) for s, v in slowest.items()},
            "merge_p50_ms": {s: pct(v, 50) for s, v in merge.items()},
            "top10_agreement_with_single": {s: float(np.mean(v)) for s, v in agree.items()},
        }
        del sharded
    return out


# -- E ---------------------------------------------------------------------------------------------
class TiledPostings:
    """A collection made of `k` copies of another's passages (BM25 postings only): every word's share of the
    passages, and so what the reader's ratios see, is what it was, while each postings list is k times longer.
    The tiled lists are made once per word and kept, so a timing measures the reader, not the tiling."""

    def __init__(self, base, k: int):
        self.base, self.k, self.n_passages = base, k, base.n_passages * k
        self._made: dict[str, np.ndarray] = {}

    def postings(self, stem: str, most: int | None = None) -> np.ndarray | None:
        one = self.base.postings(stem)
        if most is not None and len(one) * self.k > most:
            return None
        out = self._made.get(stem)
        if out is None:
            shift = (np.arange(self.k, dtype=one.dtype) * self.base.n_passages)[:, None]
            out = self._made[stem] = (one[None, :] + shift).ravel()
        return out


def understanding_section(work: Path, tiles: tuple[int, ...] = (1, 10, 100, 1000)) -> dict:
    import csv

    from radlite.eval.datasets import load_dataset
    from radlite.terms import load_lexicon
    from radlite.terms.expand import Expander

    path = work / "radbench9-bm25-index"
    if not (path / "CURRENT").exists():
        corpus = load_dataset("radbench9", "test").corpus  # radbench9's one corpus (every split searches it)
        RadLITESearch(biencoder=None, colbert=None, signals=["bm25"]).index_corpus(corpus).save(path)
    backend = RadLITESearch.load(path, use_reranker=False).index.backend
    rows = ROOT / "benchmarks" / "data" / "abbreviation_readings.tsv"
    qs = [row["query"] for row in csv.DictReader(rows.open(encoding="utf-8"), delimiter="\t")]
    lexicon = load_lexicon()
    out = {"base_passages": backend.bm25_postings().n_passages, "queries": len(qs), "tiles": {}}
    out.update({"date": time.strftime("%Y-%m-%d"), "machine": machine()})
    previous = None
    for k in tiles:
        postings = TiledPostings(backend.bm25_postings(), k)
        throwaway = Expander(lexicon, backend.bm25_vocabulary(), postings)
        for q in qs:  # every list these queries ask for is tiled before the timed runs
            throwaway.expand(q)
        t = time.perf_counter()
        reader = Expander(lexicon, backend.bm25_vocabulary(), postings)  # its own memory of passages empty
        reader.expand("warm up")  # what a reader sets up once, on its first query
        setup = (time.perf_counter() - t) * 1000
        cold, warm, readings = [], [], []
        for q in qs:
            t = time.perf_counter()
            readings.append(json.dumps(reader.expand(q).to_dict(), sort_keys=True))
            cold.append((time.perf_counter() - t) * 1000)
        for q in qs:
            t = time.perf_counter()
            reader.expand(q)
            warm.append((time.perf_counter() - t) * 1000)
        out["tiles"][k] = {
            "passages": postings.n_passages,
            "setup_ms": setup,
            "first_p50_ms": pct(cold, 50),
            "first_p95_ms": pct(cold, 95),
            "first_max_ms": float(max(cold)),
            "again_p50_ms": pct(warm, 50),
            "again_p95_ms": pct(warm, 95),
            "same_readings_as_previous": None if previous is None else sum(a == b for a, b in zip(previous, readings)),
        }
        previous = readings
        print(f"  {postings.n_passages:,} passages: {out['tiles'][k]}", file=sys.stderr, flush=True)
    return out


def report(r: dict, command: str) -> str:
    a, b, c, d = r["bytes"], r["qdrant"], r["encoding"], r["fanout"]
    lines = [
        f"# radlite scaling measurements\n\nMachine: {r['machine']}. Date {r['date']}. Command: `{command}`.\n",
        f"## A. Bytes per passage (MEDLINE, {a['passages']} passages of {a['documents']} documents, default models)\n",
        "| part | bytes | bytes per passage |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {v:,} | {a['per_passage'][k]:,.0f} |" for k, v in a["bytes"].items()]
    lines += [
        "",
        f"A passage holds {a['colbert_tokens_per_passage']:.0f} ColBERT tokens "
        f"({a['colbert_bytes_per_token']:.0f} bytes per token in the local index, fp16 vectors + codes), "
        f"{a['bm25_terms_per_passage']:.0f} distinct BM25 terms and {a['text_chars_per_passage']:.0f} characters "
        f"of text; the bi-encoder vector is {a['biencoder_dim']}-d float32.\n",
        "Catalog in RAM once loaded, per passage (tracemalloc for the documents, array sizes for the rest): "
        + ", ".join(f"{k} {v:,.0f} B" for k, v in a["catalog_ram_per_passage"].items())
        + ".\n",
        "## B. The Qdrant backend on the same vectors (embedded local mode)\n",
        f"Upsert of {b['passages']} passages (dense + ColBERT multivector + BM25 sparse + payload): "
        f"{b['upsert_s']:.1f} s, {b['upsert_per_s']:.0f} passages/s; local-mode folder "
        f"{b['local_mode_disk_bytes']:,} bytes "
        f"(qdrant-client's local mode pickles points into SQLite: not a server's storage format).\n",
        "Adding one document (encoding included): "
        + "; ".join(f"{k}: {v:.1f} s" for k, v in b["add_one_document_s"].items())
        + f" ({b['passages']} passages in the collection).\n",
        "| signal | top-10 overlap, Qdrant vs local | p50 ms local | p50 ms Qdrant (local mode) |",
        "|---|---|---|---|",
    ]
    for s in ("bm25", "biencoder", "colbert"):
        lat = b["latency_p50_ms"][s]
        lines.append(f"| {s} | {b['top10_overlap'][s]:.3f} | {lat['local']:.1f} | {lat['qdrant']:.1f} |")
    lines += [
        "",
        f"ColBERT top-10 overlap with brute-force MaxSim over every passage: local IVF "
        f"{b['colbert_vs_exact']['local']:.3f}, Qdrant (dense + sparse prefetch, MaxSim re-score) "
        f"{b['colbert_vs_exact']['qdrant']:.3f}. Local mode searches by brute force in Python; a Qdrant server's "
        f"latency is not measured here.\n",
        f"## C. Passage encoding, both encoders ({c['passages']} MEDLINE passages)\n",
        "| run | seconds | passages/s | actor start-up s (a 2-passage run) | passages/s without start-up |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {k} | {v['seconds']:.1f} | {v['passages_per_s']:.1f} | "
        + (f"{v['startup_s']:.1f} | {v['steady_passages_per_s']:.1f} |" if "startup_s" in v else "- | - |")
        for k, v in c["runs"].items()
    ]
    lines += [
        "",
        f"Starting the local Ray instance took {c['ray_init_s']:.1f} s (not in the table). Each Ray run starts "
        "its actor pool and loads the models in every actor; the last column subtracts that (measured by a "
        "run of 2 passages per actor), which is what a long job sees.\n",
        f"## D. Fan-out ({d['passages']:,} synthetic passages, depth {d['depth']}, {r['n_queries']} MEDLINE queries)\n",
        "| layout | bi-encoder p50 / p95 ms | ColBERT p50 / p95 ms | merge p50 ms | top-10 agreement with one index "
        "(bi-encoder / ColBERT) |",
        "|---|---|---|---|---|",
        f"| one index | {d['single_p50_ms']['biencoder']:.1f} / {d['single_p95_ms']['biencoder']:.1f} | "
        f"{d['single_p50_ms']['colbert']:.1f} / {d['single_p95_ms']['colbert']:.1f} | - | 1 / 1 |",
    ]
    for n, v in d["sharded"].items():
        lines.append(
            f"| {n} shards (slowest shard) | {v['slowest_shard_p50_ms']['biencoder']:.1f} / "
            f"{v['slowest_shard_p95_ms']['biencoder']:.1f} | "
            f"{v['slowest_shard_p50_ms']['colbert']:.1f} / {v['slowest_shard_p95_ms']['colbert']:.1f} | "
            f"{v['merge_p50_ms']['biencoder']:.2f} / {v['merge_p50_ms']['colbert']:.2f} | "
            f"{v['top10_agreement_with_single']['biencoder']:.3f} / {v['top10_agreement_with_single']['colbert']:.3f} |"
        )
    lines += [
        "",
        "![fan-out latency and bytes per passage](scaling_fanout.png)",
        "",
        "Shards run one after another here (2 cores); the slowest shard per query is what a parallel fan-out "
        "waits for, before the network. Exactness of the merge is tested in tests/test_shards.py (exact search in "
        "each shard); here each shard uses the index's own ColBERT IVF, so its candidates are per shard.\n",
    ]
    e = r.get("understanding")
    if e:
        lines += [
            f"## E. Query understanding at archive scale ({e['queries']} queries with abbreviations, radbench9's "
            f"{e['base_passages']:,} passages and copies of them; {e['machine']}, {e['date']})\n",
            "An ambiguous abbreviation is read by the words the collection's passages use it with "
            "(radlite.terms.expand), so its cost grows with the postings it reads. The collection here is radbench9's "
            "passages repeated k times: every word's share of the passages stays the same and every postings list is "
            'k times longer. The queries are benchmarks/data/abbreviation_readings.tsv. "first" is a reader\'s '
            'first look at each query (nothing remembered); "again" the same queries once more, as a server sees '
            'repeated expansions; "set-up" what a new reader (one per index snapshot) does once, on its first '
            "query.\n",
            "| passages | set-up ms | first p50 / p95 / max ms | again p50 / p95 ms "
            "| readings the same as the row above |",
            "|---:|---:|---|---|---|",
        ]
        for v in e["tiles"].values():
            same = v["same_readings_as_previous"]
            same = "-" if same is None else f"{same} of {e['queries']}"
            lines.append(
                f"| {v['passages']:,} | {v['setup_ms']:.0f} | {v['first_p50_ms']:.2f} / {v['first_p95_ms']:.2f} / "
                f"{v['first_max_ms']:.1f} | "
                f"{v['again_p50_ms']:.2f} / {v['again_p95_ms']:.2f} | {same} |"
            )
        lines += [
            "",
            "Copies measure the cost, not how a larger collection reads. The reader counts a word only where at "
            "least two passages use it with an expansion; a word one passage uses with it is used by every copy of "
            "that passage, so from 10 copies on such words count too, and some queries' expansions or their order "
            "change (the last column compares the whole reading: expansions, weights, phrases, negation). Reading "
            "accuracy is measured on radbench9's own collection in abbreviation_readings.md.\n",
        ]
    return "\n".join(lines)


def plot(r: dict, path: Path) -> None:
    """Fan-out latency per layout (p50 bars, p95 whiskers) and bytes per passage per signal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d, a = r["fanout"], r["bytes"]
    layouts = ["one index"] + [f"{n} shards" for n in d["sharded"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.38
    for j, s in enumerate(("biencoder", "colbert")):
        p50 = [d["single_p50_ms"][s]] + [v["slowest_shard_p50_ms"][s] for v in d["sharded"].values()]
        p95 = [d["single_p95_ms"][s]] + [v["slowest_shard_p95_ms"][s] for v in d["sharded"].values()]
        xs = [i + (j - 0.5) * width for i in range(len(layouts))]
        ax1.bar(xs, p50, width, label=f"{s} p50", yerr=[[0] * len(p50), [b - a_ for a_, b in zip(p50, p95)]], capsize=3)
    ax1.set_xticks(range(len(layouts)), layouts)
    ax1.set_ylabel("ms (slowest shard per query; whisker: p95)")
    ax1.set_title(f"Fan-out over {d['passages']:,} passages")
    ax1.legend()
    parts = {k.split(" (")[0]: v for k, v in a["per_passage"].items()}
    ax2.barh(list(parts), list(parts.values()))
    ax2.set_xscale("log")
    ax2.set_xlabel("bytes per passage (log scale)")
    ax2.set_title("Local index, MEDLINE")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "scaling.md")
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("RADLITE_SPEED_WORK", "/tmp/radlite-speed")))
    ap.add_argument("--encode", type=int, default=192, help="passages for section C")
    ap.add_argument("--synthetic", type=int, default=50_000)
    ap.add_argument("--sections", default="ABCDE", help="measure only these (the others come from scaling.json)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    path = medline_index(args.work)
    qs = queries()
    partial = args.out.with_suffix(".json")
    r = json.loads(partial.read_text()) if partial.is_file() else {}
    r["n_queries"] = len(qs)
    if set("ABCD") & set(args.sections):  # the header's machine and date are A-D's; E carries its own
        r.update({"machine": machine(), "date": time.strftime("%Y-%m-%d")})
    steps = {
        "A": ("bytes", lambda: bytes_section(path)),
        "B": ("qdrant", lambda: qdrant_section(path, qs)),
        "C": ("encoding", lambda: encoding_section(path, args.encode)),
        "D": ("fanout", lambda: fanout_section(synthetic_index(args.synthetic, args.work), qs)),
        "E": ("understanding", lambda: understanding_section(args.work)),
    }
    for name in args.sections:
        key, fn = steps[name]
        print(f"{name}. {key}", file=sys.stderr, flush=True)
        r[key] = fn()
        partial.write_text(json.dumps(r, indent=2, default=float))
    if all(k in r for k in ("bytes", "qdrant", "encoding", "fanout")):
        plot(r, args.out.with_name("scaling_fanout.png"))
        args.out.write_text(report(r, "python benchmarks/scaling.py"), encoding="utf-8")
        print(args.out.read_text())


if __name__ == "__main__":
    main()
