"""The bi-encoder alone on MedQuAD pairs no default was trained on: radlite's trained bi-encoder vs all-MiniLM-L6-v2.

    python benchmarks/biencoder_medquad.py

300 MedQuAD questions outside the 400 the defaults' recipe samples (radlite.train.defaults.MEDQUAD), searched among
their answers and 1,500 other MedQuAD answers (seeded); nDCG@10 of each bi-encoder alone, exact cosine. A check of
general medical retrieval beside radbench9 dev, used with it to choose the trained bi-encoder. Writes
benchmarks/biencoder_medquad.md.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RADLITE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def heldout() -> tuple[list, list[str], dict[str, dict[str, int]]]:
    """(300 MedQuAD examples outside the defaults' recipe sample, the answers they are searched among: theirs and
    1,500 others, qrels {question number: {answer number: 1}}), the same on every run (seeded)."""
    from radlite.train import load_training_data
    from radlite.train.defaults import BIENCODER, MEDQUAD

    medquad = SHARED / "medquad" / "medquad_qa.jsonl"
    every = load_training_data(medquad)
    seen = {e.query for e in load_training_data(medquad, sample=MEDQUAD[BIENCODER], seed=0).examples}
    rng = random.Random(1)
    questions = rng.sample([e for e in every.examples if e.query not in seen], 300)
    answers = list(dict.fromkeys([p for e in questions for p in e.positives] + rng.sample(every.collection, 1500)))
    where = {a: i for i, a in enumerate(answers)}
    qrels = {str(i): {str(where[p]): 1 for p in e.related if p in where} for i, e in enumerate(questions)}
    return questions, answers, qrels


def main() -> None:
    from sentence_transformers import SentenceTransformer

    from radlite.eval import metrics
    from radlite.models.resolve import resolve_model

    questions, answers, qrels = heldout()
    rows = []
    for label, name in (("all-MiniLM-L6-v2 (`untrained`)", "untrained"), ("radlite's trained (`default`)", "default")):
        model = SentenceTransformer(str(resolve_model("biencoder", name).path), device="cpu")
        docs = model.encode(answers, batch_size=32, normalize_embeddings=True, show_progress_bar=True)
        queries = model.encode([e.query for e in questions], batch_size=64, normalize_embeddings=True)
        sims = queries @ docs.T
        runs = {}
        for i in range(len(questions)):
            top = np.argsort(-sims[i])[:10]
            runs[str(i)] = {str(j): float(sims[i, j]) for j in top}
        per = metrics.per_query(runs, qrels, ["ndcg@10"])["ndcg@10"]
        rows.append((label, float(np.mean(list(per.values())))))
    lines = [
        "# The bi-encoder alone on held-out MedQuAD pairs",
        "",
        f"`python benchmarks/biencoder_medquad.py` on {time.strftime('%Y-%m-%d')}: 300 questions the bi-encoder never "
        f"trained on, among {len(answers)} MedQuAD answers; nDCG@10, exact cosine.",
        "",
        "| bi-encoder | nDCG@10 |",
        "|---|---:|",
        *[f"| {label} | {value:.3f} |" for label, value in rows],
    ]
    (ROOT / "benchmarks" / "biencoder_medquad.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
