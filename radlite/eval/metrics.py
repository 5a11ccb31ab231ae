"""Retrieval metrics per query (ir-measures), grouped tables with bootstrap confidence
intervals, and a paired significance test. Pure functions over runs and qrels:

run   = {query id: {document id: score}}
qrels = {query id: {document id: grade}}   grade >= 1 is relevant; nDCG gains are the grades
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

METRIC_NAMES = ("mrr@10", "ndcg@10", "recall@1", "recall@5", "recall@10", "recall@50")


def _measures():
    from ir_measures import RR, R, nDCG

    return {
        "mrr@10": RR @ 10,
        "ndcg@10": nDCG @ 10,
        "recall@1": R @ 1,
        "recall@5": R @ 5,
        "recall@10": R @ 10,
        "recall@50": R @ 50,
    }


def judged_queries(qrels: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Queries with at least one relevant document: the ones every metric is averaged over."""
    return sorted(q for q, docs in qrels.items() if any(g >= 1 for g in docs.values()))


def per_query(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: Iterable[str] = METRIC_NAMES,
) -> dict[str, dict[str, float]]:
    """metric -> query id -> value, for every judged query (0 where the run found nothing)."""
    import ir_measures

    measures = _measures()
    unknown = [m for m in metrics if m not in measures]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; known: {', '.join(measures)}")
    names = {str(measures[m]): m for m in metrics}
    qids = judged_queries(qrels)
    out = {m: {q: 0.0 for q in qids} for m in metrics}
    clean_run = {q: {d: float(s) for d, s in docs.items()} for q, docs in run.items() if q in qrels and docs}
    clean_qrels = {q: {d: int(g) for d, g in qrels[q].items()} for q in qids}
    for rec in ir_measures.iter_calc([measures[m] for m in metrics], clean_qrels, clean_run):
        if rec.query_id in out[names[str(rec.measure)]]:
            out[names[str(rec.measure)]][rec.query_id] = float(rec.value)
    return out


def found_rate(
    run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]], qids: Iterable[str], k: int = 10
) -> float:
    """Share of the given queries with a relevant document in the top k (e.g. rare conditions)."""
    qids = list(qids)
    if not qids:
        return float("nan")
    hits = 0
    for q in qids:
        top = sorted(run.get(q, {}).items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        hits += any(qrels.get(q, {}).get(d, 0) >= 1 for d, _ in top)
    return hits / len(qids)


def bootstrap_ci(
    values: Iterable[float], n: int = 2000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float, float]:
    """Mean and percentile-bootstrap (1 - alpha) interval over queries."""
    v = np.asarray(list(values), dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n, len(v)))].mean(axis=1)
    return float(v.mean()), float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def paired_permutation_test(a: Mapping[str, float], b: Mapping[str, float], n: int = 10000, seed: int = 0) -> float:
    """Two-sided p-value of a paired sign-flip randomisation test on the mean difference."""
    qids = sorted(set(a) & set(b))
    d = np.array([a[q] - b[q] for q in qids], dtype=np.float64)
    if len(d) == 0 or not d.any():
        return 1.0
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n, len(d)))
    null = np.abs((signs * d).mean(axis=1))
    return float((np.sum(null >= abs(d.mean()) - 1e-12) + 1) / (n + 1))


def grouped(
    values: Mapping[str, float], groups: Mapping[str, str | None], **ci
) -> dict[str, tuple[float, float, float, int]]:
    """Group -> (mean, low, high, number of queries), for queries whose group is known."""
    buckets: dict[str, list[float]] = {}
    for q, v in values.items():
        g = groups.get(q)
        if g:
            buckets.setdefault(g, []).append(v)
    return {g: (*bootstrap_ci(vs, **ci), len(vs)) for g, vs in sorted(buckets.items())}
