"""Fit fusion weights, RRF k and the cross-encoder temperature on a dev split.

Each dev query is searched once with every signal; its reranked candidates (each with every
signal's raw score and rank) form a table that is re-fused offline for every setting tried:
  * temperature: minimises the log-loss of sigmoid(logit / T) against the judgments (relevant =
    grade >= 1) over all reranked candidates, by a log-spaced grid then a finer one;
  * weighted fusion: a grid over the simplex of signal weights (step 0.1);
  * RRF: k in {10, 20, 40, 60, 100} with the best weighted-fusion weights, and equal weights.
The setting with the best mean nDCG@10 on dev is kept. Test queries are never used here.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from radlite.config import FusionConfig
from radlite.errors import QueryError
from radlite.eval import metrics
from radlite.eval.datasets import Dataset
from radlite.search import fusion
from radlite.signals import BIENCODER, CROSSENCODER, FIRST_STAGE, SIGNALS


@dataclass
class Table:
    """One query's candidates: their ids, every signal's raw scores and ranks, how far the search pushed each
    down for naming what the query negates (`negation_penalty`; None: none recorded), and the bi-encoder similarity
    of each candidate's passage to each other's (`similarity`, for pseudo-relevance feedback; None: not recorded)."""

    qid: str
    docs: list[str]
    raw: dict[str, np.ndarray]
    ranks: dict[str, np.ndarray]
    penalty: np.ndarray | None = None
    similarity: np.ndarray | None = None


def candidate_tables(
    engine, dataset: Dataset, candidates: int = 50, progress: Callable[[int, int], None] | None = None
) -> list[Table]:
    """Search each query of `dataset` once with every signal and keep its reranked candidates' raw scores and
    ranks: the tables every setting is refitted on."""
    if CROSSENCODER not in engine.models:
        raise QueryError("tuning needs a reranker: the index has none and none was given")
    tables = []
    for i, q in enumerate(dataset.queries):
        hits = engine.search(
            q.text, top_k=candidates, candidates=candidates, weights=engine.index.config.fusion.weights
        )
        signals = list(hits[0]["signals"]) if hits else []
        raw = {s: np.array([h["signals"][s]["raw"] for h in hits], dtype=np.float64) for s in signals}
        ranks = {
            s: np.array(
                [np.nan if h["signals"][s]["rank"] is None else h["signals"][s]["rank"] for h in hits], dtype=np.float64
            )
            for s in signals
        }
        penalty = np.array([h["negation_penalty"] for h in hits], dtype=np.float64)
        tables.append(Table(q.id, [h["id"] for h in hits], raw, ranks, penalty, similarity(engine.index, hits)))
        if progress:
            progress(i + 1, len(dataset.queries))
    return tables


def similarity(index, hits) -> np.ndarray | None:
    """The bi-encoder similarity of the hits' passages to each other ((n, n) float32; None: no bi-encoder, or a
    backend that cannot read its vectors back)."""
    if not hits or BIENCODER not in index.signals:
        return None
    pids = index.first_passages[[h.corpus_index for h in hits]] + np.array([h.passage_index for h in hits])
    try:
        vectors = index.backend.biencoder_vectors(index, pids.astype(np.int64))
    except NotImplementedError:
        return None
    return (vectors @ vectors.T).astype(np.float32)


def fuse(table: Table, cfg: FusionConfig) -> dict[str, float]:
    """Re-fuse one table under `cfg`: {document id: fused score}."""
    signals = list(table.raw)
    w = fusion.active_weights(cfg.weights, signals)
    if cfg.method == "rrf":
        scores = fusion.rrf(table.ranks, w, cfg.rrf_k)
    else:
        norm = {s: fusion.normalise(v, cfg.normalization) for s, v in table.raw.items() if s in FIRST_STAGE}
        if CROSSENCODER in table.raw:
            norm[CROSSENCODER] = fusion.calibrate(table.raw[CROSSENCODER], cfg.temperature)
        scores = fusion.weighted(norm, w)
        if table.penalty is not None:  # as the search does under weighted fusion (not RRF)
            scores = scores - table.penalty
        if cfg.prf and table.similarity is not None and len(scores) > 1:  # as the search does
            scores = scores + fusion.like_first(scores, lambda i: table.similarity[i], cfg.prf, cfg.normalization)
    return dict(zip(table.docs, scores.tolist()))


def mean_ndcg(tables: list[Table], qrels, cfg: FusionConfig) -> float:
    """Mean nDCG@10 of the tables fused under `cfg`, against `qrels`."""
    run = {t.qid: fuse(t, cfg) for t in tables}
    judged = {q: qrels[q] for q in run if q in qrels}  # the queries of these tables only
    return float(np.mean(list(metrics.per_query(run, judged, ["ndcg@10"])["ndcg@10"].values())))


def fit_temperature(tables: list[Table], qrels) -> float:
    """The temperature T minimising the log-loss of sigmoid(logit / T) against the judgments (relevant: grade >=
    1) over every reranked candidate."""
    logits = np.concatenate([t.raw[CROSSENCODER] for t in tables if CROSSENCODER in t.raw] or [np.zeros(0)])
    labels = np.concatenate(
        [[qrels.get(t.qid, {}).get(d, 0) >= 1 for d in t.docs] for t in tables if CROSSENCODER in t.raw]
        or [np.zeros(0)]
    ).astype(np.float64)
    if len(logits) == 0 or labels.min() == labels.max():
        return FusionConfig().temperature

    def loss(temp: float) -> float:
        p = np.clip(fusion.calibrate(logits, temp), 1e-7, 1 - 1e-7)
        return float(-np.mean(labels * np.log(p) + (1 - labels) * np.log(1 - p)))

    coarse = np.geomspace(0.05, 50, 41)
    best = coarse[int(np.argmin([loss(t) for t in coarse]))]
    fine = np.geomspace(best / 1.2, best * 1.2, 21)
    return float(fine[int(np.argmin([loss(t) for t in fine]))])


def tune(tables: list[Table], qrels, start: FusionConfig, step: float = 0.1) -> tuple[FusionConfig, dict[str, Any]]:
    """The best fusion on these tables (weighted over a simplex grid with step `step`, then RRF) and a summary of
    the fit: dev nDCG@10 before and after, settings tried."""
    signals = list(tables[0].raw) if tables else []
    temperature = fit_temperature(tables, qrels)
    n = int(round(1 / step))
    best_cfg, best = None, -1.0
    tried = 0
    for combo in itertools.product(range(n + 1), repeat=len(signals)):
        if sum(combo) != n:
            continue
        cfg = FusionConfig(
            method="weighted",
            weights={s: c * step for s, c in zip(signals, combo)},
            temperature=temperature,
            rrf_k=start.rrf_k,
            normalization=start.normalization,
            prf=start.prf,
        )
        score = mean_ndcg(tables, qrels, cfg)
        tried += 1
        if score > best + 1e-12:
            best_cfg, best = cfg, score
    for k in (10, 20, 40, 60, 100):
        for weights in (best_cfg.weights, {s: 1.0 for s in signals}):
            cfg = FusionConfig(
                method="rrf", weights=dict(weights), temperature=temperature, rrf_k=k, normalization=start.normalization
            )
            score = mean_ndcg(tables, qrels, cfg)
            tried += 1
            if score > best + 1e-12:
                best_cfg, best = cfg, score
    for s in SIGNALS:
        best_cfg.weights.setdefault(s, 0.0)
    before = mean_ndcg(tables, qrels, start)
    return best_cfg, {
        "dev_ndcg@10_before": before,
        "dev_ndcg@10_after": best,
        "settings_tried": tried,
        "temperature": temperature,
    }


def tune_index(
    index_dir: str | Path, dev: Dataset, candidates: int = 50, progress: Callable[[int, int], None] | None = None
) -> tuple[FusionConfig, dict[str, Any], Any]:
    """Fit the fusion of the index at `index_dir` on `dev` (never a test split) and save it there as a
    new generation, under the index's writer lock. Returns (the fitted FusionConfig, the fit's
    summary, the engine that searched `dev`, with the fusion it had before).

    Raises:
        QueryError: `dev` is a test split.
        IndexFormatError: the index does not cover the dataset's judged documents, or cannot be opened.
    """
    from radlite.eval.harness import check_coverage
    from radlite.index.store import writer_lock
    from radlite.search.engine import RadLITESearch

    if dev.split == "test":
        raise QueryError("refusing to tune on the test split: fit on 'dev' (or 'train') and evaluate on test")
    index_dir = Path(index_dir)
    with writer_lock(index_dir) if index_dir.is_dir() else contextlib.nullcontext():
        engine = RadLITESearch.load(index_dir)
        check_coverage(engine, dev)
        tables = candidate_tables(engine, dev, candidates, progress=progress)
        best, info = tune(tables, dev.qrels, engine.index.config.fusion)
        best.fitted = {
            "by": "radlite tune",
            "dataset": dev.name,
            "split": dev.split,
            "queries": len(dev.queries),
            "ndcg@10_before": round(info["dev_ndcg@10_before"], 4),
            "ndcg@10_after": round(info["dev_ndcg@10_after"], 4),
            "date": time.strftime("%Y-%m-%d"),
        }
        _save_fusion(index_dir, best)
    return best, info, engine


def _save_fusion(index_dir: Path, best: FusionConfig) -> None:
    """Make `best` the index's fusion in a new generation, keeping the setting it replaces for --rollback (the
    caller holds the writer lock)."""
    from radlite.index import SearchIndex

    updated = SearchIndex.load(index_dir)
    best.previous = {k: v for k, v in asdict(updated.config.fusion).items() if k != "previous"}
    updated.config.fusion = best
    updated.save(index_dir)


MIN_FEEDBACK_QUERIES = 10


def feedback_dataset(index_dir: str | Path, known: set[str]) -> tuple[Dataset, dict[str, int]]:
    """The index's user feedback as a dataset: one query per distinct query text with at least one result marked
    relevant, judged by its latest marks. Returns it with counts of what was left out (marks of documents no
    longer in the index, queries with no relevant mark)."""
    from radlite.eval.datasets import Query
    from radlite.index.feedback import FeedbackLog, query_id

    queries, qrels = [], {}
    dropped = {"marks_of_missing_documents": 0, "queries_without_a_relevant_mark": 0}
    for text, docs in sorted(FeedbackLog(index_dir).judgments().items()):
        kept = {d: g for d, g in docs.items() if d in known}
        dropped["marks_of_missing_documents"] += len(docs) - len(kept)
        if not any(kept.values()):
            dropped["queries_without_a_relevant_mark"] += 1
            continue
        qid = query_id(text)
        queries.append(Query(qid, text))
        qrels[qid] = kept
    return Dataset("feedback", "feedback", [], queries, qrels), dropped


def cross_validate(
    tables: list[Table], qrels, start: FusionConfig, folds: int = 5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-query nDCG@10 of each table under `start` and under the fusion fitted on the other folds' queries
    (k-fold over queries, shuffled with `seed`): (before, after), in the order of `tables`."""
    if folds < 2 or len(tables) < 2:
        raise QueryError("cross-validation needs at least 2 folds and 2 queries")
    order = np.random.default_rng(seed).permutation(len(tables))
    before, after = np.zeros(len(tables)), np.zeros(len(tables))
    for fold in np.array_split(order, min(folds, len(tables))):
        held = set(fold.tolist())
        fitted, _ = tune([t for i, t in enumerate(tables) if i not in held], qrels, start)
        for i in fold:
            before[i] = mean_ndcg([tables[i]], qrels, start)
            after[i] = mean_ndcg([tables[i]], qrels, fitted)
    return before, after


def tune_feedback_index(
    index_dir: str | Path,
    candidates: int = 50,
    folds: int = 5,
    min_queries: int = MIN_FEEDBACK_QUERIES,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Fit the fusion of the index at `index_dir` on its users' feedback (`radlite.index.feedback`).

    The fit is first cross-validated: each fold's queries are held out, the fusion is fitted on the rest and
    both fusions are scored on the held-out queries. Only if the fitted fusion scores higher there on average,
    and is better on more held-out queries than it is worse, is it fitted on all the feedback and saved (the
    setting it replaces is kept for `radlite tune --rollback`). If the current fusion was itself fitted on these
    marks, "before" is scored on queries it saw, which only makes a new fit harder to accept.
    Returns a summary: queries, judgments, held-out nDCG@10 before and after, per-query wins and losses, whether
    it was saved, and the fusion.

    Raises:
        QueryError: fewer than `min_queries` queries with a result marked relevant.
    """
    from radlite.index.store import writer_lock
    from radlite.search.engine import RadLITESearch

    index_dir = Path(index_dir)
    with writer_lock(index_dir) if index_dir.is_dir() else contextlib.nullcontext():
        engine = RadLITESearch.load(index_dir)
        data, dropped = feedback_dataset(index_dir, {d.id for d in engine.index.documents})
        if len(data.queries) < max(min_queries, 2):
            raise QueryError(
                f"tuning from feedback needs at least {max(min_queries, 2)} queries with a result marked relevant; "
                f"this index has {len(data.queries)} (mark results on the search page, POST /feedback or "
                "`radlite feedback INDEX --query ... --id ... --relevant`)"
            )
        start = engine.index.config.fusion
        tables = candidate_tables(engine, data, candidates, progress=progress)
        before, after = cross_validate(tables, data.qrels, start, folds)
        summary = {
            "queries": len(data.queries),
            "judgments": sum(len(d) for d in data.qrels.values()),
            **dropped,
            "folds": min(folds, len(tables)),
            "heldout_ndcg@10_before": float(before.mean()),
            "heldout_ndcg@10_after": float(after.mean()),
            "queries_better": int((after > before + 1e-9).sum()),
            "queries_worse": int((after < before - 1e-9).sum()),
            "saved": False,
            "fusion": start,
        }
        # saved only if the fit helps held-out queries on average and helps more of them than it hurts (ten
        # queries' mean alone moves with one query)
        if after.mean() <= before.mean() + 1e-9 or summary["queries_better"] <= summary["queries_worse"]:
            return summary
        best, info = tune(tables, data.qrels, start)
        best.fitted = {
            "by": "radlite tune --feedback",
            "dataset": "user feedback",
            "split": f"{summary['folds']}-fold cross-validation",
            "queries": len(data.queries),
            "judgments": summary["judgments"],
            "ndcg@10_before": round(summary["heldout_ndcg@10_before"], 4),
            "ndcg@10_after": round(summary["heldout_ndcg@10_after"], 4),
            "date": time.strftime("%Y-%m-%d"),
        }
        _save_fusion(index_dir, best)
    return {**summary, "saved": True, "fusion": best}


def rollback_index(index_dir: str | Path) -> FusionConfig:
    """Put back the fusion the last `radlite tune` replaced (one step; the rolled-back setting is not kept).

    Raises:
        QueryError: the index's fusion replaced none (never tuned, or already rolled back)."""
    from radlite.index import SearchIndex
    from radlite.index.store import writer_lock

    index_dir = Path(index_dir)
    with writer_lock(index_dir) if index_dir.is_dir() else contextlib.nullcontext():
        updated = SearchIndex.load(index_dir)
        previous = updated.config.fusion.previous
        if not previous:
            raise QueryError("this index's fusion replaced no earlier one: nothing to roll back to")
        updated.config.fusion = FusionConfig(  # a setting saved before prf existed had none
            **{"prf": 0.0, **{k: v for k, v in previous.items() if k in FusionConfig.__dataclass_fields__}}
        )
        updated.save(index_dir)
    return updated.config.fusion
