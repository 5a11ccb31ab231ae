"""The cross-encoder's fusion weight, chosen on radbench9 dev only: the default pipeline (seed weights for the
first stage) with the cross-encoder weighted 0, 0.1, 0.2, 0.4 and 0.8; nDCG@10 on dev picks the weight,
radbench9 test is reported beside it and never used to choose.

    python benchmarks/crossencoder_weight.py      # after benchmarks/reranker.py built the radbench9 index
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radlite import evaluate  # noqa: E402
from radlite.config import SEED_WEIGHTS  # noqa: E402
from radlite.datasets import load_dataset  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from reranker import engine_for  # noqa: E402

WEIGHTS = (0.0, 0.1, 0.2, 0.4, 0.8)


def main() -> None:
    out = {}
    for split in ("dev", "test"):
        data = load_dataset("radbench9", split)
        engine = engine_for("radbench9", data.corpus, None)
        out[split] = {}
        for w in WEIGHTS:
            run = {q.id: {h["id"]: h["score"] for h in engine.search(q.text, top_k=50, candidates=50,
                                                                       weights={**SEED_WEIGHTS, "crossencoder": w})}
                   for q in data.queries}
            out[split][w] = evaluate.bootstrap_ci(evaluate.per_query(run, data.qrels)["ndcg@10"].values())
    best = max(WEIGHTS, key=lambda w: out["dev"][w][0])
    lines = ["# The cross-encoder's fusion weight (chosen on radbench9 dev)", "",
             "Command: `python benchmarks/crossencoder_weight.py`. First-stage weights: the seed's (bi-encoder 0.5, "
             "BM25 0.3, ColBERT 0); the cross-encoder's weight varies. nDCG@10 [95% CI].", "",
             "| cross-encoder weight | radbench9 dev | radbench9 test |", "|---|---|---|"]
    for w in WEIGHTS:
        d, t = out["dev"][w], out["test"][w]
        lines.append(f"| {w}{' (chosen on dev)' if w == best else ''} | {d[0]:.3f} [{d[1]:.3f}, {d[2]:.3f}] | "
                     f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}] |")
    (ROOT / "benchmarks" / "crossencoder_weight.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(json.dumps({"best_on_dev": best, **{s: {str(k): v for k, v in r.items()} for s, r in out.items()}}))


if __name__ == "__main__":
    main()
