"""Query understanding on and off for consumer health questions no default was trained on (held-out MedQuAD).

    python benchmarks/vocabulary_medquad.py --work /tmp/radlite-vocab

The 300 MedQuAD questions of benchmarks/biencoder_medquad.py (outside the 400 the defaults' recipe samples), searched
among their answers and 1,500 other MedQuAD answers with radlite's default fusion (BM25, bi-encoder and ColBERT,
default models; indexed once into WORK/medquad-index), expansion off and on. Not a test set: a check, beside
radbench9 dev, that the lexicon does not hurt general medical questions, and a place to find what it reads wrongly
(the worst changes are listed). Writes benchmarks/vocabulary_medquad.md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from biencoder_medquad import heldout

    from radlite.cli._common import understanding_text
    from radlite.config import DEFAULT_WEIGHTS
    from radlite.eval import metrics
    from radlite.search.engine import RadLITESearch
    from radlite.terms.lexicon import load_lexicon

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/radlite-vocab"))
    args = ap.parse_args()
    questions, answers, qrels = heldout()
    index = args.work / "medquad-index"
    if not index.exists():
        print(f"indexing {len(answers)} MedQuAD answers with the default models...", flush=True)
        docs = [{"id": str(i), "text": a} for i, a in enumerate(answers)]
        RadLITESearch(show_progress=True).index_corpus(docs).save(index)
    engine = RadLITESearch.load(index)
    per = {}
    for expand in (False, True):
        print(f"searching, expansion {'on' if expand else 'off'}...", flush=True)
        runs = {}
        for i, e in enumerate(questions):
            hits = engine.search(
                e.query,
                top_k=10,
                candidates=50,
                signals=["bm25", "biencoder", "colbert"],
                expand=expand,
                weights=dict(DEFAULT_WEIGHTS),
                method="weighted",
                normalization="zscore",
            )
            runs[str(i)] = {h.id: float(h.score) for h in hits}
        per[expand] = metrics.per_query(runs, qrels, ["ndcg@10"])["ndcg@10"]
    diffs = {k: per[True][k] - per[False][k] for k in per[True]}
    mean, lo, hi = metrics.bootstrap_ci(list(diffs.values()), n=10_000)
    changed = sum(abs(d) > 1e-9 for d in diffs.values())
    lexicon = load_lexicon()
    lines = [
        "# Query understanding on and off: held-out MedQuAD questions",
        "",
        f"`python benchmarks/vocabulary_medquad.py` on {time.strftime('%Y-%m-%d')}: {len(questions)} MedQuAD "
        f"questions no default trained on, among {len(answers)} MedQuAD answers; radlite's default fusion, default "
        f"models; lexicon {lexicon.version} (sha256 {lexicon.sha256[:12]}). nDCG@10; on - off is the paired "
        "difference, mean [95% bootstrap CI].",
        "",
        "| expansion off | on | on - off | questions whose score changed |",
        "|---:|---:|---|---:|",
        f"| {np.mean(list(per[False].values())):.3f} | {np.mean(list(per[True].values())):.3f} | "
        f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}] | {changed} |",
        "",
        "The five largest losses, and how the question was read:",
        "",
        "| off | on | question | read as |",
        "|---:|---:|---|---|",
    ]
    for k in sorted(diffs, key=diffs.get)[:5]:
        if diffs[k] >= 0:
            break
        read = understanding_text(engine.understand(questions[int(k)].query, True))
        query = questions[int(k)].query.replace("|", "/")
        lines.append(f"| {per[False][k]:.2f} | {per[True][k]:.2f} | {query} | {read or '-'} |")
    out = ROOT / "benchmarks" / "vocabulary_medquad.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
