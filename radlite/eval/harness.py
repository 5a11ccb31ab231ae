"""Evaluate every configuration of an index on a dataset's queries: runs, latencies, tables.

Configurations (each a real `RadLITESearch.search` call, so what is measured is what users get):
  bm25, biencoder, colbert            one first-stage signal alone
  colbert+reranker                    ColBERT candidates ordered by the cross-encoder
  fused (seed weights)                all signals, bi-encoder 0.5 / cross-encoder 0.2 / BM25 0.3
  fused (index weights)               all signals with the weights stored in the index, when
                                      they differ from the seed's (e.g. after tuning)
The cross-encoder caches (query, passage) scores, so configurations share its work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from radlite.config import SEED_WEIGHTS, fusion_preset
from radlite.errors import CorpusError
from radlite.eval import metrics
from radlite.eval.datasets import Dataset
from radlite.signals import BIENCODER, BM25, COLBERT, CROSSENCODER

logger = logging.getLogger(__name__)


@dataclass
class ConfigResult:
    name: str
    run: dict[str, dict[str, float]]
    latency_ms: list[float]
    stage_ms: dict[str, list[float]] = field(default_factory=dict)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict)
    calibration: tuple[list[float], list[int]] = field(default_factory=lambda: ([], []))  # (calibrated score, relevant)


def configurations(engine) -> dict[str, dict[str, Any]]:
    """The configurations `run_all` measures for this engine, by name (search() keyword arguments):
    each first-stage signal alone, the cross-encoder over ColBERT's candidates, the fused pipeline
    with the seed weights, and with the index's fusion where it differs."""
    signals = engine.index.signals
    rerank = CROSSENCODER in engine.models
    out: dict[str, dict[str, Any]] = {s: {"signals": [s]} for s in signals}
    if rerank and COLBERT in signals:
        out["colbert+reranker"] = {
            "signals": [COLBERT, CROSSENCODER],
            "weights": {COLBERT: 0.0, CROSSENCODER: 1.0},
        }
    out["fused (seed weights)"] = {"signals": None, **fusion_preset("seed")}
    fusion = engine.index.config.fusion
    if fusion.weights != SEED_WEIGHTS or fusion.method != "weighted" or fusion.normalization != "minmax" or fusion.prf:
        out["fused (index weights)"] = {"signals": None}
    return out


def check_coverage(engine, dataset: Dataset) -> None:
    """The index must hold the dataset's corpus: refuse clearly instead of reporting zeros."""
    ids = {d.id for d in engine.index.documents}
    judged = {d for docs in dataset.qrels.values() for d, g in docs.items() if g >= 1}
    if not judged:
        raise CorpusError(f"{dataset.name} ({dataset.split}): no relevant judgments")
    found = len(judged & ids) / len(judged)
    if found < 0.5:
        raise CorpusError(
            f"the index holds only {found:.0%} of the documents judged relevant in {dataset.name}; "
            f"build it from that dataset's corpus (radlite index {dataset.name} -o DIR)"
        )
    if found < 1:
        logger.warning("%.1f%% of judged documents are missing from the index", 100 * (1 - found))


def run_all(
    engine,
    dataset: Dataset,
    top_k: int = 50,
    candidates: int = 50,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, ConfigResult]:
    """Search every query of `dataset` under every configuration: runs, per-query metrics, latencies by stage and
    (for the fused pipeline) the cross-encoder's calibrated scores with their labels.

    Raises:
        IndexFormatError: the index does not hold the dataset's judged documents."""
    check_coverage(engine, dataset)
    results = {}
    for name, cfg in configurations(engine).items():
        run, lat, stages, calib = {}, [], {}, ([], [])
        for i, q in enumerate(dataset.queries):
            hits = engine.search(q.text, top_k=top_k, candidates=max(candidates, top_k), **cfg)
            run[q.id] = {h["id"]: h["score"] for h in hits}
            for h in hits:
                ce = h["signals"].get(CROSSENCODER)
                if ce is not None and ce["calibrated"] is not None:
                    calib[0].append(ce["calibrated"])
                    calib[1].append(int(dataset.qrels.get(q.id, {}).get(h["id"], 0) >= 1))
            lat.append(engine.last_timings["total"])
            for stage, ms in engine.last_timings.items():
                stages.setdefault(stage, []).append(ms)
            if progress:
                progress(name, i + 1, len(dataset.queries))
        res = ConfigResult(name, run, lat, stages, calibration=calib)
        res.per_query = metrics.per_query(run, dataset.qrels)
        results[name] = res
    return results


def summary(results: dict[str, ConfigResult], dataset: Dataset) -> dict[str, Any]:
    """Metrics with 95% bootstrap intervals per configuration, category and style, and
    paired tests against BM25 and against the best single signal (by nDCG@10)."""
    rare_docs = {d.id for d in dataset.corpus if d.metadata.get("rare") is True}
    rare_queries = [
        q.id for q in dataset.queries if any(g == 2 and d in rare_docs for d, g in dataset.qrels.get(q.id, {}).items())
    ]
    categories = {q.id: q.category for q in dataset.queries}
    styles = {q.id: q.style for q in dataset.queries}
    singles = [n for n in results if n in (BM25, BIENCODER, COLBERT)]
    best_single = max(singles, key=lambda n: np.mean(list(results[n].per_query["ndcg@10"].values())), default=None)
    out: dict[str, Any] = {
        "dataset": dataset.name,
        "split": dataset.split,
        "queries": len(metrics.judged_queries(dataset.qrels)),
        "best_single": best_single,
        "configurations": {},
    }
    for name, res in results.items():
        cis = {m: metrics.bootstrap_ci(v.values()) for m, v in res.per_query.items()}
        entry = {
            "metrics": cis,
            "zebra_found_rate": metrics.found_rate(res.run, dataset.qrels, rare_queries) if rare_queries else None,
            "latency_ms": {
                "p50": float(np.percentile(res.latency_ms, 50)),
                "p95": float(np.percentile(res.latency_ms, 95)),
            },
            "stage_ms": {
                s: {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95))}
                for s, v in res.stage_ms.items()
            },
            "by_category": metrics.grouped(res.per_query["ndcg@10"], categories),
            "by_style": metrics.grouped(res.per_query["ndcg@10"], styles),
            "p_vs_bm25": None,
            "p_vs_best_single": None,
        }
        if BM25 in results and name != BM25:
            entry["p_vs_bm25"] = metrics.paired_permutation_test(
                res.per_query["ndcg@10"], results[BM25].per_query["ndcg@10"]
            )
        if best_single and name != best_single:
            entry["p_vs_best_single"] = metrics.paired_permutation_test(
                res.per_query["ndcg@10"], results[best_single].per_query["ndcg@10"]
            )
        out["configurations"][name] = entry
    return out


def markdown(summary_: dict[str, Any]) -> str:
    """The overall, per-category and per-style tables of a summary as markdown."""
    cfgs = summary_["configurations"]
    lines = [
        f"### {summary_['dataset']} ({summary_['split']}, {summary_['queries']} queries)",
        "",
        "| configuration | MRR@10 | nDCG@10 [95% CI] | R@1 | R@5 | R@10 | R@50 | zebra found | p vs BM25 | p vs "
        "best single | p50 / p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, e in cfgs.items():
        m = e["metrics"]
        nd = m["ndcg@10"]
        z = "-" if e["zebra_found_rate"] is None else f"{e['zebra_found_rate']:.2f}"
        p1 = "-" if e["p_vs_bm25"] is None else f"{e['p_vs_bm25']:.3f}"
        p2 = "-" if e["p_vs_best_single"] is None else f"{e['p_vs_best_single']:.3f}"
        lines.append(
            f"| {name} | {m['mrr@10'][0]:.3f} | {nd[0]:.3f} [{nd[1]:.3f}, {nd[2]:.3f}] | {m['recall@1'][0]:.3f} | "
            f"{m['recall@5'][0]:.3f} | {m['recall@10'][0]:.3f} | {m['recall@50'][0]:.3f} | {z} | {p1} | {p2} | "
            f"{e['latency_ms']['p50']:.0f} / {e['latency_ms']['p95']:.0f} |"
        )
    for key, title in (("by_category", "nDCG@10 by category"), ("by_style", "nDCG@10 by query style")):
        groups = sorted({g for e in cfgs.values() for g in e[key]})
        if not groups:
            continue
        lines += [
            "",
            f"{title} (mean [95% CI], n):",
            "",
            "| configuration | " + " | ".join(groups) + " |",
            "|---|" + "---|" * len(groups),
        ]
        for name, e in cfgs.items():
            cells = [
                f"{e[key][g][0]:.3f} [{e[key][g][1]:.2f}, {e[key][g][2]:.2f}] n={e[key][g][3]}" if g in e[key] else "-"
                for g in groups
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
