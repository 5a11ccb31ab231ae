"""First-stage search speed of this checkout against an earlier commit, on the same index, in the same run.

A refactor should not slow the first stage. This runs the same query loop (medline queries, BM25 +
bi-encoder + ColBERT, no cross-encoder unless `--rerank`, top 10 of 50 candidates) under two checkouts: the commit
`--base` (a git worktree in a temporary folder) and the working tree, in child processes that
alternate for `--rounds` rounds, so drift of the machine falls on both. Both must return the same
documents in the same order. Reports p50 / p95 of every stage and the ratio new / base.

    python benchmarks/first_stage_ab.py --base 0fa7eea --index /tmp/ab/medline-index --rounds 6
    python benchmarks/first_stage_ab.py --base 2c2588d --index /tmp/vw/medline-index --rerank \
        --out benchmarks/rerank_ab.md      # the whole default search, cross-encoder included
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RADLITE_SHARED_DATA", ROOT.parent / "shared" / "data"))
STAGES = ["encode_query", "bm25", "biencoder", "colbert", "pool", "rerank", "fusion", "total"]

CHILD = r"""
import importlib, json, sys
index, queries, module, repo, rerank = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
RadLITESearch = importlib.import_module(module).RadLITESearch
assert RadLITESearch.__module__ and importlib.import_module(module).__file__.startswith(repo), "wrong checkout"
engine = RadLITESearch.load(index, use_reranker=rerank == "1")
for q in queries[:3]:
    engine.search(q, top_k=10, candidates=50)  # warm-up: models, ONNX sessions, caches
laps, ids = [], []
for q in queries:
    results = engine.search(q, top_k=10, candidates=50)
    laps.append(dict(engine.last_timings))
    ids.append([r["id"] for r in results])
print(json.dumps({"laps": laps, "ids": ids}))
"""


def run(repo: Path, index: Path, queries: list[str], rerank: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": str(repo), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    # the engine's module in that checkout (radlite.pipeline before the search/ package existed)
    module = "radlite.search.engine" if (repo / "radlite" / "search" / "engine.py").exists() else "radlite.pipeline"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(index), json.dumps(queries), module, str(repo), "1" if rerank else "0"],
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"the search under {repo} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="the commit to compare against")
    ap.add_argument("--index", type=Path, required=True, help="a saved local index both versions read")
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rerank", action="store_true", help="search with the index's cross-encoder too")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "first_stage_ab.md")
    args = ap.parse_args()
    queries = [json.loads(x)["text"] for x in (SHARED / "medline" / "queries.jsonl").read_text().splitlines() if x]
    queries = (queries * 3)[: args.queries]
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(base), args.base], cwd=ROOT, check=True, capture_output=True
        )
        try:
            laps: dict[str, list[dict]] = {"base": [], "new": []}
            ids: dict[str, list] = {}
            for r in range(args.rounds):
                for who, repo in (("base", base), ("new", ROOT)) if r % 2 == 0 else (("new", ROOT), ("base", base)):
                    print(f"round {r + 1}: {who}", file=sys.stderr, flush=True)
                    res = run(repo, args.index, queries, args.rerank)
                    laps[who] += res["laps"]
                    ids.setdefault(who, res["ids"])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, capture_output=True)
    same = ids["base"] == ids["new"]
    rev = subprocess.run(["git", "rev-parse", "--short", args.base], cwd=ROOT, capture_output=True, text=True)
    lines = [
        f"# {'Search' if args.rerank else 'First-stage'} speed: this checkout against an earlier commit",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}.",
        f"Command: `python benchmarks/first_stage_ab.py --base {args.base} --index {args.index} "
        f"--queries {args.queries} --rounds {args.rounds}{' --rerank' if args.rerank else ''}"
        f"{f' --out {args.out.resolve().relative_to(ROOT)}' if args.out.resolve().is_relative_to(ROOT) else ''}`.",
        f"Index: {args.index.name} (the default models; BM25 + bi-encoder + ColBERT, "
        f"{'the cross-encoder at the default fusion' if args.rerank else 'no cross-encoder'}), "
        f"{args.queries} medline queries x {args.rounds} rounds per version, child processes alternating.",
        f"Base: {rev.stdout.strip()}. Same documents in the same order for every query: {'yes' if same else 'NO'}.",
        "",
        "| stage | base p50 / p95 ms | new p50 / p95 ms | new / base (p50) |",
        "|---|---|---|---|",
    ]
    for s in STAGES:
        b = np.array([x.get(s, 0.0) for x in laps["base"]])
        n = np.array([x.get(s, 0.0) for x in laps["new"]])
        pb, pn = np.percentile(b, 50), np.percentile(n, 50)
        ratio = f"{pn / pb:.2f}" if pb > 0.05 else "-"
        lines.append(
            f"| {s} | {pb:.2f} / {np.percentile(b, 95):.2f} | {pn:.2f} / {np.percentile(n, 95):.2f} | {ratio} |"
        )
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
