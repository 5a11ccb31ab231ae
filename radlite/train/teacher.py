"""The fused first stage as a teacher: candidate lists with soft scores, for listwise distillation.

For each training query, radlite's own first stage (BM25 + bi-encoder + ColBERT, each min-max
normalised over the candidates and summed with equal weights) ranks the source's collection.
Its best candidates that are not judged relevant become the example's hard negatives, and every
text in the example's list gets the teacher's score. A cross-encoder then learns from both the
judgment (the positive) and the teacher's ordering of the rest (`training_rows(..., loss="distill")`):
thousands of soft-labelled pairs instead of one binary label per pair, and no guard model is
needed against unjudged relevant passages, since the teacher scores them high rather than
calling them negatives.

Equal weights, not tuned ones: the teacher must not carry a setting fitted on any evaluation set.
"""

from __future__ import annotations

import logging
import random
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from radlite.signals import FIRST_STAGE
from radlite.train.data import Example, TrainingData, near_duplicate

logger = logging.getLogger(__name__)

TEACHER_WEIGHTS = dict.fromkeys(FIRST_STAGE, 1.0)


def first_stage_engine(
    collection: Sequence[str], biencoder: str = "untrained", colbert: str = "default", progress: bool = True
):
    """An in-memory first-stage index (no cross-encoder) over the collection's texts. The bi-encoder is the plain
    MiniLM, as when the shipped cross-encoder (v2) was distilled, so its recipe still makes the same model."""
    from radlite.config import IndexConfig
    from radlite.search.engine import RadLITESearch

    config = IndexConfig()
    config.chunking.passage_words = 10_000  # training texts are already cut; one passage each
    config.fusion.normalization = "minmax"  # the teacher's temperature was set for min-max sums (in [0, 3])
    engine = RadLITESearch(biencoder=biencoder, colbert=colbert, reranker=None, config=config, show_progress=progress)
    texts = list(dict.fromkeys(collection))  # sources that share passages list them once
    return engine.index_corpus([{"id": str(i), "text": t} for i, t in enumerate(texts)])


def teach(
    data: TrainingData, depth: int = 30, num_negatives: int = 6, engine=None, progress: bool = True, seed: int = 0
) -> dict:
    """Fill each example's `negatives` with the teacher's best non-relevant candidates and its
    `teacher` scores (positive, related and negatives). Returns counts."""
    engine = engine or first_stage_engine(data.collection, progress=progress)
    texts = [d.text for d in engine.index.documents]
    rng = random.Random(seed)
    # "mined": negatives the first stage gave (the key BM25 mining uses too); "negatives": with the random fill
    stats = {"examples": len(data.examples), "mined": 0, "negatives": 0, "positive_found": 0, "skipped_duplicate": 0}
    for ex in tqdm(data.examples, desc="teacher: fused first stage", disable=not progress, unit="query"):
        hits = engine.search(
            ex.query,
            top_k=depth,
            candidates=depth,
            weights=TEACHER_WEIGHTS,
            method="weighted",
            signals=list(TEACHER_WEIGHTS),
        )
        scored = [(texts[h["corpus_index"]], float(h["score"])) for h in hits]
        top = max((s for _, s in scored), default=1.0)
        ex.teacher = {}
        for text, score in scored:
            if text in ex.positives or text in ex.related:
                ex.teacher[text] = score
                stats["positive_found"] += text == ex.positives[0]
            elif len(ex.negatives) < num_negatives and text not in ex.negatives:
                if any(near_duplicate(text, p) for p in ex.positives):
                    stats["skipped_duplicate"] += 1
                    continue
                ex.negatives.append(text)
                ex.teacher[text] = score
        stats["mined"] += len(ex.negatives)
        # a judged text the first stage missed keeps its judgment: it scores as the teacher's best
        for text in [*ex.positives, *ex.related]:
            ex.teacher.setdefault(text, top)
        while len(ex.negatives) < num_negatives and len(texts) > len(ex.related) + num_negatives:
            text = texts[rng.randrange(len(texts))]  # short list: random passages, scored as the teacher's floor
            if text not in ex.related and text not in ex.positives and text not in ex.negatives:
                ex.negatives.append(text)
                ex.teacher[text] = 0.0
        stats["negatives"] += len(ex.negatives)
    logger.info("teacher: %s", stats)
    return stats


def distill_targets(
    ex: Example, docs: Sequence[str], mix: float = 0.5, temperature: float = 0.5, related_weight: float = 0.3
) -> list[float]:
    """The list's target distribution: (1 - mix) x the judgments (positive 1, related `related_weight`,
    others 0, normalised) + mix x softmax(teacher score / temperature)."""
    judged = np.array([1.0 if d in ex.positives else related_weight if d in ex.related else 0.0 for d in docs])
    judged = judged / judged.sum() if judged.sum() > 0 else np.full(len(docs), 1.0 / len(docs))
    teacher = getattr(ex, "teacher", None) or {}
    if mix > 0 and teacher:
        s = np.array([teacher.get(d, 0.0) for d in docs]) / temperature
        soft = np.exp(s - s.max())
        target = (1 - mix) * judged + mix * soft / soft.sum()
    else:
        target = judged
    return target.tolist()
