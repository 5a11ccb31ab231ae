"""The dev-split evaluator a training run keeps its best checkpoint by (nDCG@10)."""

from __future__ import annotations

from radlite.errors import RadliteError
from radlite.signals import BIENCODER, COLBERT
from radlite.train.config import TrainConfig
from radlite.train.data import document_text


def dev_evaluator(cfg: TrainConfig, dev: str, batch_size: int = 32):
    """An evaluator of the library's own kind over the dev split (nDCG@10 is the metric kept)."""
    from radlite.eval.datasets import load_dataset

    ds = load_dataset(dev, "dev")
    corpus = {d.id: document_text(d) for d in ds.corpus}
    queries = {q.id: q.text for q in ds.queries}
    relevant = {qid: {d for d, g in rel.items() if g > 0 and d in corpus} for qid, rel in ds.qrels.items()}
    relevant = {q: r for q, r in relevant.items() if r}
    queries = {q: t for q, t in queries.items() if q in relevant}
    if not queries:
        raise RadliteError(f"dev set {dev}: no dev query with a relevant document", param="dev")
    common = dict(
        name="dev",
        ndcg_at_k=[10],
        mrr_at_k=[10],
        accuracy_at_k=[1, 10],
        precision_recall_at_k=[10],
        map_at_k=[100],
        batch_size=batch_size,
        show_progress_bar=False,
        write_csv=False,
    )
    if cfg.kind == COLBERT:
        from pylate.evaluation import PyLateInformationRetrievalEvaluator

        return PyLateInformationRetrievalEvaluator(queries=queries, corpus=corpus, relevant_docs=relevant, **common)
    if cfg.kind == BIENCODER:
        from sentence_transformers.evaluation import InformationRetrievalEvaluator

        return InformationRetrievalEvaluator(queries=queries, corpus=corpus, relevant_docs=relevant, **common)
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    from radlite.config import BM25Config
    from radlite.retrievers.bm25 import BM25Index

    texts = list(corpus.values())
    bm25 = BM25Index.build(texts, BM25Config())
    samples = []
    for qid, q in queries.items():
        top = bm25.scores(q).argsort()[::-1][: cfg.dev_candidates]
        samples.append(
            {"query": q, "positive": [corpus[d] for d in relevant[qid]], "documents": [texts[i] for i in top]}
        )
    # reranks BM25's list as it is (positives are not added), so it measures what users get
    return CrossEncoderRerankingEvaluator(
        samples=samples, at_k=10, always_rerank_positives=False, name="dev", batch_size=batch_size, write_csv=False
    )


def primary_metric(evaluator, result: dict) -> str:
    key = getattr(evaluator, "primary_metric", None)
    if key and not key.startswith(evaluator.name + "_") and evaluator.name:
        key = f"{evaluator.name}_{key}"
    if key in result:
        return key
    ndcg = [k for k in result if "ndcg@10" in k]
    if not ndcg:
        raise RadliteError(f"dev evaluator returned no nDCG@10 ({sorted(result)})")
    return ndcg[0]
