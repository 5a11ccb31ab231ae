"""ColBERT reading queries whole against cutting them at the trained 32 tokens: ColBERT alone, nDCG@10 per set
and per query style, paired sign-flip test. Writes benchmarks/colbert_query_length.md.

    python benchmarks/colbert_query_length.py     # after benchmarks/reranker.py built the indexes

`cut at 32` is the behaviour until now (PyLate truncates a query at query_length); `whole` is the default:
queries longer than 32 tokens are encoded at their own length (up to 256), shorter ones exactly as before.
Nothing is tuned: the policy has no parameter chosen on any set.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from radlite.eval import metrics  # noqa: E402
from radlite.eval.datasets import load_dataset  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from reranker import SETS, built_sets, engine_for, index_name  # noqa: E402


def run(key: str) -> list[str]:
    source, split = SETS[key]
    data = load_dataset(source, split)
    engine = engine_for(index_name(key), data.corpus, None)
    enc = engine.encoder("colbert")
    long_share = np.mean([enc.query_length(q.text) > enc.trained_query_length for q in data.queries])
    per = {}
    for name, cap in (("cut at 32", enc.trained_query_length), ("whole", enc.max_query_tokens)):
        enc.max_query_tokens = cap
        r = {
            q.id: {h["id"]: h["score"] for h in engine.search(q.text, top_k=50, candidates=50, signals=["colbert"])}
            for q in data.queries
        }
        per[name] = metrics.per_query(r, data.qrels)["ndcg@10"]
    styles = {q.id: q.style for q in data.queries}
    p = metrics.paired_permutation_test(per["whole"], per["cut at 32"])
    out = [
        f"## {key} ({len(per['whole'])} queries, {100 * long_share:.0f}% longer than 32 tokens)",
        "",
        "| ColBERT query | nDCG@10 [95% CI] |"
        + ("".join(f" {s} |" for s in sorted(set(styles.values()))) if any(styles.values()) else ""),
        "|---|---|" + ("---|" * len(set(styles.values())) if any(styles.values()) else ""),
    ]
    for name, pq in per.items():
        ci = metrics.bootstrap_ci(pq.values())
        row = f"| {name} | {ci[0]:.3f} [{ci[1]:.3f}, {ci[2]:.3f}] |"
        if any(styles.values()):
            g = metrics.grouped(pq, styles)
            row += "".join(f" {g[s][0]:.3f} (n={g[s][3]}) |" for s in sorted(g))
        out.append(row)
    out += ["", f"whole minus cut: p = {p:.4f} (paired sign-flip test).", ""]
    return out


def main() -> None:
    keys = built_sets()
    lines = [
        "# ColBERT queries read whole (issue 14, item 6)",
        "",
        f"Command: `python benchmarks/colbert_query_length.py` (date {time.strftime('%Y-%m-%d')}). ColBERT "
        "alone (the shipped colbert-minilm-l6-128-radlite-v1) retrieves 50; indexes built by "
        "benchmarks/reranker.py.",
        "",
    ]
    for k in keys:
        lines += run(k)
        print(k, file=sys.stderr, flush=True)
    (ROOT / "benchmarks" / "colbert_query_length.md").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
