"""Quality check for int8 query encoders: nDCG@10 of the bi-encoder and ColBERT signals alone with
fp32 vs int8 ONNX query vectors (passages unchanged), and their top-10 overlap.

    python benchmarks/query_int8.py [--indexes /tmp/radlite-results] > benchmarks/query_int8.md

Uses the indexes benchmarks/results.py builds (default-<set>-index under --indexes). The rule is the
issue's no-loss check for the reranker: an int8 encoder is used only where nDCG@10 drops by at most
0.005 on every set (radlite.models.encoders.QUERY_INT8).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import radlite.models.encoders as encoders  # noqa: E402
from radlite.eval.datasets import load_dataset  # noqa: E402
from radlite.eval.metrics import per_query  # noqa: E402
from radlite.search.engine import RadLITESearch  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--indexes", type=Path, default=Path("/tmp/radlite-results"))
    args = ap.parse_args()
    print("# int8 query encoders: quality against fp32\n")
    print(
        "nDCG@10 of each signal alone (top 10 of 100 candidates, no reranking), fp32 vs int8 query vectors; "
        "passages encoded once, unchanged. Command: `python benchmarks/query_int8.py`.\n"
    )
    print("| set | signal | fp32 | int8 | change | top-10 overlap |\n|---|---|---|---|---|---|")
    saved = dict(encoders.QUERY_INT8)
    for name in ("medline", "liveqa-med", "radbench9"):
        ds = load_dataset(name if name == "radbench9" else SHARED / name)
        runs = {}
        for int8 in (False, True):
            encoders.QUERY_INT8.update({"biencoder": int8, "colbert": int8})
            engine = RadLITESearch.load(args.indexes / f"default-{name}-index", use_reranker=False)
            for signal in ("biencoder", "colbert"):
                runs[(int8, signal)] = {
                    q.id: {
                        r["id"]: r["score"] for r in engine.search(q.text, top_k=10, candidates=100, signals=[signal])
                    }
                    for q in ds.queries
                }
        for signal in ("biencoder", "colbert"):
            a, b = runs[(False, signal)], runs[(True, signal)]
            nd = [float(np.mean(list(per_query(r, ds.qrels, ["ndcg@10"])["ndcg@10"].values()))) for r in (a, b)]
            overlap = float(np.mean([len(set(a[q]) & set(b[q])) / 10 for q in a]))
            print(
                f"| {name} | {signal} | {nd[0]:.4f} | {nd[1]:.4f} | {nd[1] - nd[0]:+.4f} | {overlap:.3f} |", flush=True
            )
    encoders.QUERY_INT8.update(saved)


if __name__ == "__main__":
    main()
