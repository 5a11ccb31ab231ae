"""The cross-encoder on its own and in the pipeline, the shipped default against a baseline, with
the latency of reranking 50 candidates: writes benchmarks/reranker.md (and reranker.json).

    python benchmarks/reranker.py --baseline /path/to/crossencoder-minilm-l6-radlite-v1

Per set (radbench9 dev and test, medline, liveqa-med; indexes built with the default first stage):
  bm25, biencoder, colbert          each first-stage signal alone
  colbert+CE                        ColBERT's top 50 documents ordered by the cross-encoder alone
  pipeline without CE / with CE     the default fusion (the index's settings) without and with it
nDCG@10 with 95% bootstrap intervals, paired sign-flip tests, per query style on radbench9, and the
pairwise accuracy of the cross-encoder alone: for each (grade-2 passage, unjudged passage) pair in
the same ColBERT top-50 list, how often the relevant one scores higher (ties count half).
Latency: reranking the 50 ColBERT candidates of radbench9 test queries, cold (no score cache),
with each model's own fast path (ONNX Runtime, at the precision its marker asks for); the baseline at
the 512-token pairs it was
run at until now. A baseline folder is optional (`--baseline`); without it those rows are left out.
"""

from __future__ import annotations

import argparse
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

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from radlite.eval import metrics  # noqa: E402
from radlite.eval.datasets import load_dataset  # noqa: E402
from radlite.models import CrossEncoderReranker, resolve_model  # noqa: E402
from radlite.search.engine import RadLITESearch  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))  # _sections, beside this script
from _sections import SPEED_RERANKER_HEADING, put_section  # noqa: E402

SHARED = Path(os.environ.get("RADLITE_SHARED_DATA", ROOT.parent / "shared" / "data"))
WORK = Path(os.environ.get("RADLITE_RERANKER_WORK", "/tmp/radlite-reranker"))
SETS = {
    "radbench9-dev": ("radbench9", "dev"),
    "radbench9-test": ("radbench9", "test"),
    "medline": (SHARED / "medline", "test"),
    "liveqa-med": (SHARED / "liveqa-med", "test"),
}
FIRST = ("bm25", "biencoder", "colbert")
CANDIDATES = 50


def index_name(key: str) -> str:
    """The index folder a set is searched in (radbench9's dev and test share one corpus)."""
    source = SETS[key][0]
    return "radbench9" if source == "radbench9" else Path(source).name


def built_sets() -> list[str]:
    """radbench9 dev and test, and the other sets whose index an earlier run of this script built."""
    return [k for k in SETS if k.startswith("radbench9") or (WORK / f"{index_name(k)}-index" / "CURRENT").is_file()]


def engine_for(index_name: str, corpus, reranker: str | None) -> RadLITESearch:
    path = WORK / f"{index_name}-index"
    if not (path / "CURRENT").is_file():
        RadLITESearch(reranker=None).index_corpus(corpus).save(path)
    return RadLITESearch.load(path, reranker=reranker or "default")


def pairwise(lists: dict[str, list[tuple[str, float]]], qrels: dict) -> dict[str, float]:
    """Per query: share of (grade-2, unjudged) pairs in its list that the scores order right."""
    out = {}
    for qid, items in lists.items():
        judged = qrels.get(qid, {})
        pos = [s for d, s in items if judged.get(d, 0) >= 2]
        neg = [s for d, s in items if d not in judged]
        if pos and neg:
            p, n = np.array(pos)[:, None], np.array(neg)[None, :]
            out[qid] = float(((p > n) + 0.5 * (p == n)).mean())
    return out


def run_set(key: str, baseline: Path | None) -> dict:
    source, split = SETS[key]
    data = load_dataset(source, split)
    engine = engine_for(index_name(key), data.corpus, None)
    rerankers = {"new": engine}
    if baseline is not None:
        old = RadLITESearch.load(WORK / f"{index_name(key)}-index", reranker=str(baseline))
        old._encoders["crossencoder"] = CrossEncoderReranker(
            old.models["crossencoder"].path, fast=True, sha256=old.models["crossencoder"].sha256, max_length=512
        )
        rerankers["baseline"] = old
    runs: dict[str, dict] = {}
    lists: dict[str, dict] = {}
    configs = {s: dict(signals=[s]) for s in FIRST}
    configs["pipeline without CE"] = dict(signals=list(FIRST))
    for who in rerankers:
        configs[f"colbert+CE ({who})"] = dict(
            signals=["colbert", "crossencoder"], weights={"colbert": 0.0, "crossencoder": 1.0}, who=who
        )
        configs[f"pipeline with CE ({who})"] = dict(signals=None, who=who)
    for name, cfg in configs.items():
        cfg = dict(cfg)
        eng = rerankers[cfg.pop("who", "new")]
        run, ce_lists = {}, {}
        for q in tqdm(data.queries, desc=f"{key}: {name}", leave=False):
            hits = eng.search(q.text, top_k=CANDIDATES, candidates=CANDIDATES, **cfg)
            run[q.id] = {h["id"]: h["score"] for h in hits}
            if name.startswith("colbert+CE"):
                ce_lists[q.id] = [(h["id"], h["signals"]["crossencoder"]["raw"]) for h in hits]
            elif name == "colbert":
                ce_lists[q.id] = [(h["id"], h["signals"]["colbert"]["raw"]) for h in hits]
        runs[name] = run
        if ce_lists:
            lists[name] = ce_lists
    per_query = {n: metrics.per_query(r, data.qrels)["ndcg@10"] for n, r in runs.items()}
    styles = {q.id: q.style for q in data.queries}
    out = {"set": key, "queries": len(metrics.judged_queries(data.qrels)), "configs": {}}
    for name, pq in per_query.items():
        entry = {
            "ndcg@10": metrics.bootstrap_ci(pq.values()),
            "p_vs": {s: metrics.paired_permutation_test(pq, per_query[s]) for s in FIRST if s != name},
        }
        if any(styles.values()):
            entry["by_style"] = metrics.grouped(pq, styles)
        if name in lists:
            acc = pairwise(lists[name], data.qrels)
            entry["pairwise"] = metrics.bootstrap_ci(acc.values()) + (len(acc),)
            if any(styles.values()):
                entry["pairwise_by_style"] = metrics.grouped(acc, styles)
        out["configs"][name] = entry
    for who in rerankers:
        ce, plain = per_query[f"pipeline with CE ({who})"], per_query["pipeline without CE"]
        diff = [ce[q] - plain[q] for q in ce]
        out["configs"][f"pipeline with CE ({who})"]["gain_vs_without"] = metrics.bootstrap_ci(diff)
        out["configs"][f"pipeline with CE ({who})"]["p_vs_without"] = metrics.paired_permutation_test(ce, plain)
    out["fusion"] = engine.fusion_settings()
    return out


def latency(baseline: Path | None, n_queries: int) -> dict:
    data = load_dataset("radbench9", "test")
    engine = engine_for("radbench9", data.corpus, None)
    index = engine.index
    lists = []
    for q in data.queries[:n_queries]:
        hits = engine.search(q.text, top_k=CANDIDATES, candidates=CANDIDATES, signals=["colbert"])
        pids = [int(index.doc_passages(np.array([h["corpus_index"]]))[0]) + h["passage_index"] for h in hits]
        lists.append((q.text, [index.encoder_input(p) for p in pids]))
    models = {"new": (resolve_model("crossencoder", "default"), None)}
    if baseline is not None:
        models["baseline"] = (resolve_model("crossencoder", str(baseline)), 512)
    out = {}
    for who, (m, max_length) in models.items():
        rr = CrossEncoderReranker(m.path, fast=True, sha256=m.sha256, max_length=max_length)
        rr.predict([(lists[0][0], t) for t in lists[0][1][:4]])  # session warm-up (and the one-time export)
        times = []
        for query, texts in lists:
            t = time.perf_counter()
            rr.predict([(query, x) for x in texts])
            times.append(1000 * (time.perf_counter() - t))
        out[who] = {
            "model": m.path.name,
            "backend": rr.backend,
            "max_length": rr.max_length,
            "p50_ms": float(np.percentile(times, 50)),
            "p95_ms": float(np.percentile(times, 95)),
            "queries": len(times),
            "pairs": CANDIDATES,
        }
    return out


def fmt(ci) -> str:
    return f"{ci[0]:.3f} [{ci[1]:.3f}, {ci[2]:.3f}]"


def markdown(results: list[dict], lat: dict, meta: dict) -> str:
    lines = [
        "# The cross-encoder: alone, in the pipeline, and its latency",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (CPU only). Date {meta['date']}. "
        f"Command: `{meta['command']}` ({meta['minutes']:.0f} min). Indexes: the default first stage; "
        f"the cross-encoder reranks {CANDIDATES} candidates. `new` is the shipped default "
        f"({meta['new']}); `baseline` is {meta['baseline'] or 'not run'}.",
        "",
        "p-values: paired sign-flip randomisation test on per-query nDCG@10. Pairwise accuracy: (grade-2 "
        "passage, unjudged passage) pairs in the same ColBERT top-50 list ordered right by the scores "
        "(ties half); the `colbert` row is ColBERT's own score on the same pairs.",
        "",
    ]
    lines += [
        "## Latency: reranking 50 candidates (radbench9 test queries, cold)",
        "",
        "| model | backend | pair tokens | p50 ms | p95 ms | queries |",
        "|---|---|---|---|---|---|",
    ]
    for who, r in lat.items():
        lines.append(
            f"| {who} ({r['model']}) | {r['backend']} | {r['max_length']} | {r['p50_ms']:.0f} | "
            f"{r['p95_ms']:.0f} | {r['queries']} |"
        )
    lines.append("")
    for res in results:
        lines += [
            f"## {res['set']} ({res['queries']} queries)",
            "",
            "| configuration | nDCG@10 [95% CI] | p vs bm25 | p vs biencoder | p vs colbert | pairwise acc. |",
            "|---|---|---|---|---|---|",
        ]
        for name, e in res["configs"].items():
            p = [f"{e['p_vs'][s]:.3f}" if s in e["p_vs"] else "-" for s in FIRST]
            pw = f"{e['pairwise'][0]:.3f} (n={e['pairwise'][3]})" if "pairwise" in e else "-"
            lines.append(f"| {name} | {fmt(e['ndcg@10'])} | {' | '.join(p)} | {pw} |")
        for name, e in res["configs"].items():
            if "gain_vs_without" in e:
                lines.append(
                    f"\n{name} minus pipeline without CE: {fmt(e['gain_vs_without'])} nDCG@10, "
                    f"p = {e['p_vs_without']:.3f}."
                )
        lines.append(f"\nFusion used by the pipeline rows: {json.dumps(res['fusion'])}.")
        styled = [(n, e) for n, e in res["configs"].items() if e.get("by_style")]
        if styled:
            keys = sorted(styled[0][1]["by_style"])
            lines += [
                "",
                "nDCG@10 by query style (mean [95% CI], n):",
                "",
                "| configuration | " + " | ".join(keys) + " |",
                "|---" * (len(keys) + 1) + "|",
            ]
            for n, e in styled:
                lines.append(
                    f"| {n} | "
                    + " | ".join(
                        f"{e['by_style'][k][0]:.3f} [{e['by_style'][k][1]:.2f}, "
                        f"{e['by_style'][k][2]:.2f}] n={e['by_style'][k][3]}"
                        for k in keys
                    )
                    + " |"
                )
            pw = [(n, e) for n, e in styled if e.get("pairwise_by_style")]
            if pw:
                lines += [
                    "",
                    "Pairwise accuracy by query style (mean [95% CI], queries):",
                    "",
                    "| scores | " + " | ".join(keys) + " |",
                    "|---" * (len(keys) + 1) + "|",
                ]
                for n, e in pw:
                    s = e["pairwise_by_style"]
                    lines.append(
                        f"| {n} | "
                        + " | ".join(f"{s[k][0]:.3f} [{s[k][1]:.2f}, {s[k][2]:.2f}] n={s[k][3]}" for k in keys)
                        + " |"
                    )
        lines.append("")
    return "\n".join(lines)


def latency_block(lat: dict, meta: dict) -> str:
    """The latency table for speed.md (between its reranker markers)."""
    rows = [
        f"Command: `{meta['command']}` (date {meta['date']}); full tables in `benchmarks/reranker.md`. Reranking "
        f"the {CANDIDATES} ColBERT candidates of radbench9 test queries, cold (no score cache), each model on its "
        "fast path (ONNX Runtime, length-sorted batches), measured in the same run:",
        "",
        "| model | pair tokens | p50 ms | p95 ms | goal p50 / p95 | met |",
        "|---|---|---|---|---|---|",
    ]
    for who, r in lat.items():
        met = "yes" if r["p50_ms"] <= 300 and r["p95_ms"] <= 500 else "no"
        rows.append(
            f"| {who} ({r['model']}) | {r['max_length']} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
            f"300 / 500 ms | {met} |"
        )
    if "baseline" in lat:
        rows += ["", f"Ratio baseline / new, p50: {lat['baseline']['p50_ms'] / lat['new']['p50_ms']:.1f}x."]
    return "\n".join(rows)


def results_block(results: list[dict], lat: dict, meta: dict) -> str:
    """The before/after summary for RESULTS.md: nDCG@10 per set and configuration, pairwise accuracy."""
    sets = [r["set"] for r in results]
    names = list(results[0]["configs"])
    rows = [
        f"Command: `{meta['command']}` (date {meta['date']}, {meta['minutes']:.0f} min); every number, the "
        "paired tests and the per-style tables are in `benchmarks/reranker.md`. `baseline` = the cross-encoder "
        f"shipped until now ({meta['baseline'] or 'not run'}), `new` = the default ({meta['new']}). The "
        "cross-encoder reranks 50 candidates; `colbert+CE` is ColBERT's top 50 ordered by the cross-encoder alone.",
        "",
        "nDCG@10:",
        "",
        "| configuration | " + " | ".join(sets) + " |",
        "|---" * (len(sets) + 1) + "|",
    ]
    for n in names:
        rows.append(f"| {n} | " + " | ".join(f"{r['configs'][n]['ndcg@10'][0]:.3f}" for r in results) + " |")
    rows += [
        "",
        "Pairwise accuracy (grade-2 above unjudged in the same ColBERT top 50):",
        "",
        "| scores | " + " | ".join(sets) + " |",
        "|---" * (len(sets) + 1) + "|",
    ]
    for n in names:
        if any("pairwise" in r["configs"][n] for r in results):
            rows.append(
                f"| {n} | "
                + " | ".join(
                    f"{r['configs'][n]['pairwise'][0]:.3f}" if "pairwise" in r["configs"][n] else "-" for r in results
                )
                + " |"
            )
    rows += [
        "",
        "Latency of reranking 50 candidates, p50 / p95 ms: "
        + "; ".join(
            f"{who} {r['p50_ms']:.0f} / {r['p95_ms']:.0f} ({r['max_length']}-token pairs)" for who, r in lat.items()
        )
        + ".",
    ]
    return "\n".join(rows)


def update_block(path: Path, text: str, heading: str) -> None:
    """Replace the text between `<!-- reranker:begin -->` and `<!-- reranker:end -->` (appended if absent)."""
    put_section(path, "<!-- reranker:begin -->", "<!-- reranker:end -->", text, heading=heading)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", type=Path, help="a cross-encoder folder to compare with (e.g. the v1 default)")
    p.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS))
    p.add_argument("--latency-queries", type=int, default=60)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "reranker.md")
    p.add_argument(
        "--speed-md",
        default=str(ROOT / "benchmarks" / "speed.md"),
        help="where the latency table goes (its reranker block); '' to skip",
    )
    p.add_argument(
        "--results-md",
        default=str(ROOT / "benchmarks" / "RESULTS.md"),
        help="where the before/after summary goes (its reranker block); '' to skip",
    )
    a = p.parse_args()
    started = time.time()
    WORK.mkdir(parents=True, exist_ok=True)
    lat = latency(a.baseline, a.latency_queries)
    print(json.dumps(lat), file=sys.stderr, flush=True)
    results = []
    for key in a.sets.split(","):
        results.append(run_set(key, a.baseline))
        print(f"{key}: {time.time() - started:.0f} s", file=sys.stderr, flush=True)
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "minutes": (time.time() - started) / 60,
        "command": "python benchmarks/reranker.py" + (" --baseline BASELINE" if a.baseline else ""),
        "new": resolve_model("crossencoder", "default").path.name,
        "baseline": a.baseline.name if a.baseline else None,
    }
    a.out.write_text(markdown(results, lat, meta), encoding="utf-8")
    a.out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "latency": lat, "sets": results}, indent=1, default=float), encoding="utf-8"
    )
    if a.speed_md:
        update_block(Path(a.speed_md), latency_block(lat, meta), SPEED_RERANKER_HEADING)
    if a.results_md:
        update_block(
            Path(a.results_md), results_block(results, lat, meta), "## The cross-encoder, before and after (issue 14)"
        )
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
