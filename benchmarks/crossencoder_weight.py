"""The cross-encoder's fusion weight, chosen on radbench9 dev only: the default pipeline (seed weights for the
first stage) with the cross-encoder weighted 0, 0.05, 0.1, 0.2, 0.4 and 0.8; nDCG@10 on dev picks the weight;
radbench9 test, medline and liveqa-med (where benchmarks/reranker.py built their indexes) are reported beside
it and never used to choose.

    python benchmarks/crossencoder_weight.py      # after benchmarks/reranker.py built the indexes

Each query is searched once: the candidate set does not depend on the cross-encoder's weight (it is chosen by
the first stage), so every weight's fused order is recomputed from the same normalised signal values with
radlite.search.fusion.weighted, the function the pipeline itself uses.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from radlite.config import SEED_WEIGHTS  # noqa: E402
from radlite.eval import metrics  # noqa: E402
from radlite.eval.datasets import load_dataset  # noqa: E402
from radlite.search import fusion  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from reranker import SETS, built_sets, engine_for, index_name  # noqa: E402

WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)
CANDIDATES = 50


def sweep(key: str) -> dict[float, tuple]:
    source, split = SETS[key]
    data = load_dataset(source, split)
    engine = engine_for(index_name(key), data.corpus, None)
    signals = ("bm25", "biencoder", "colbert", "crossencoder")
    per_weight: dict[float, dict] = {w: {} for w in WEIGHTS}
    for q in tqdm(data.queries, desc=key, leave=False):
        hits = engine.search(
            q.text, top_k=CANDIDATES, candidates=CANDIDATES, weights={**SEED_WEIGHTS, "crossencoder": 1.0}
        )
        ids = [h["id"] for h in hits]
        norm = {
            s: np.array(
                [h["signals"][s]["calibrated" if s == "crossencoder" else "normalized"] for h in hits], dtype=float
            )
            for s in signals
        }
        for w in WEIGHTS:
            fused = fusion.weighted(norm, fusion.active_weights({**SEED_WEIGHTS, "crossencoder": w}, list(signals)))
            per_weight[w][q.id] = dict(zip(ids, fused.tolist()))
    pq = {w: metrics.per_query(run, data.qrels)["ndcg@10"] for w, run in per_weight.items()}
    # each weight: (mean, CI low, CI high, p of the paired test against weight 0)
    return {
        w: metrics.bootstrap_ci(pq[w].values()) + (metrics.paired_permutation_test(pq[w], pq[0.0]),) for w in WEIGHTS
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "crossencoder_weight.md")
    args = ap.parse_args()
    keys = built_sets()
    out = {k: sweep(k) for k in keys}
    best = max(WEIGHTS, key=lambda w: out["radbench9-dev"][w][0])
    lines = [
        "# The cross-encoder's fusion weight (chosen on radbench9 dev)",
        "",
        "Command: `python benchmarks/crossencoder_weight.py`. First-stage weights: the seed's (bi-encoder 0.5, "
        "BM25 0.3, ColBERT 0); the cross-encoder (the shipped default) reranks 50 candidates and its weight "
        "varies. nDCG@10 [95% CI] (p: paired sign-flip test against weight 0); only radbench9 dev chooses.",
        "",
        "| cross-encoder weight | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    for w in WEIGHTS:
        cells = [
            f"{out[k][w][0]:.3f} [{out[k][w][1]:.3f}, {out[k][w][2]:.3f}]" + (f" p={out[k][w][3]:.3f}" if w else "")
            for k in keys
        ]
        lines.append(f"| {w}{' (chosen on dev)' if w == best else ''} | " + " | ".join(cells) + " |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(json.dumps({"best_on_dev": best, **{k: {str(w): v for w, v in r.items()} for k, r in out.items()}}))


if __name__ == "__main__":
    main()
