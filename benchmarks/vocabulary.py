"""Query understanding on and off (radlite.terms): nDCG@10 per query style, negation, other collections, latency.

    python benchmarks/vocabulary.py --work /tmp/radlite-vocab [--split test]

Indexes (or reuses WORK/<collection>-index) radbench9, medline and liveqa-med with the default models, and searches
every query of radbench9 `--split` (its styles term, lay, board and, since issue 18, abbrev and negation), medline
test and liveqa-med test twice: with expansion off (the query as typed) and on (radlite's lexicon). The pipeline is
radlite's default fusion of the three first-stage signals (the cross-encoder has weight 0 in it, so it is left out:
the ranking is the same); BM25 alone is shown too. Negation queries also report how often a passage of the
negated condition is in the top 3. Paired bootstrap 95% CIs (10,000 resamples of queries) for on - off. Expansion's
own time is measured per query (p50, p95) beside the whole search's.

Writes benchmarks/vocabulary.md, benchmarks/vocabulary_styles.png and the section of benchmarks/RESULTS.md between
its vocabulary markers. Choices (weights in radlite.terms.expand) were made on `--split dev`; the committed report
is `--split test`.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RADLITE_SHARED_DATA", ROOT.parent / "shared" / "data"))
FIRST = ["bm25", "biencoder", "colbert"]
STYLES = ["term", "lay", "board", "abbrev", "negation"]


def dataset(collection: str, split: str):
    from radlite.eval.datasets import load_dataset

    return load_dataset(collection if collection == "radbench9" else SHARED / collection, split)


def engine_for(work: Path, collection: str, corpus):
    from radlite.search.engine import RadLITESearch

    index = work / f"{collection}-index"
    if not index.exists():
        print(f"indexing {collection} with the default models...", flush=True)
        RadLITESearch(show_progress=True).index_corpus(corpus).save(index)
    return RadLITESearch.load(index)


def run(engine, data, expand: bool, signals: list[str]):
    """{query id: {doc: score}}, {query id: top-3 ids}, per-query search ms."""
    from radlite.config import DEFAULT_WEIGHTS

    runs, top3, ms = {}, {}, []
    for q in data.queries:
        t = time.perf_counter()
        # radlite's default fusion, whatever an older index's manifest holds
        hits = engine.search(
            q.text,
            top_k=10,
            candidates=50,
            signals=signals,
            expand=expand,
            weights=dict(DEFAULT_WEIGHTS),
            method="weighted",
            normalization="zscore",
        )
        ms.append((time.perf_counter() - t) * 1000)
        runs[q.id] = {h.id: float(h.score) for h in hits}
        top3[q.id] = [h.id for h in hits[:3]]
    return runs, top3, ms


def paired(a: dict, b: dict) -> tuple[float, float, float]:
    """Mean a - b over the queries both have, and its 95% bootstrap interval (10,000 resamples)."""
    from radlite.eval.metrics import bootstrap_ci

    return bootstrap_ci([a[k] - b[k] for k in sorted(set(a) & set(b))], n=10_000)


def fmt(d: tuple[float, float, float]) -> str:
    mean, lo, hi = d
    return f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def main() -> None:
    from radlite.eval import metrics
    from radlite.terms.lexicon import load_lexicon

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/radlite-vocab"))
    ap.add_argument("--split", default="test", choices=["dev", "test"])
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    out = args.out or ROOT / "benchmarks" / ("vocabulary.md" if args.split == "test" else f"vocabulary_{args.split}.md")

    sets = {f"radbench9 {args.split}": dataset("radbench9", args.split)}
    if args.split == "test":
        sets["medline test"] = dataset("medline", "test")
        sets["liveqa-med test"] = dataset("liveqa-med", "test")
    per = {}  # (set, pipeline, expand) -> {qid: ndcg}
    top3, times, expand_ms = {}, {}, []
    for name, data in sets.items():
        engine = engine_for(args.work, name.split()[0], data.corpus)
        engine.understand("warm up", True)  # the lexicon loaded, the collection's vocabulary read
        for q in data.queries:  # expansion's own time, as a search of this index does it
            t = time.perf_counter()
            engine.understand(q.text, True)
            expand_ms.append((time.perf_counter() - t) * 1000)
        for pipeline, signals in (("default fusion", FIRST), ("bm25 alone", ["bm25"])):
            for expand in (False, True):
                print(f"{name}: {pipeline}, expansion {'on' if expand else 'off'}...", flush=True)
                runs, t3, ms = run(engine, data, expand, signals)
                per[(name, pipeline, expand)] = metrics.per_query(runs, data.qrels, ["ndcg@10"])["ndcg@10"]
                top3[(name, pipeline, expand)] = t3
                times[(name, pipeline, expand)] = ms
    rb = f"radbench9 {args.split}"
    rb_data = sets[rb]
    style_of = {q.id: q.style for q in rb_data.queries}

    lexicon = load_lexicon()

    lines = [
        "# Query understanding on and off: abbreviations, synonyms, lay words, negation (issue 18)",
        "",
        f"`python benchmarks/vocabulary.py --split {args.split}` on {platform.machine()}, {os.cpu_count()} cores, "
        f'{time.strftime("%Y-%m-%d")}. Default models; "default fusion" is radlite\'s default (equal weights over '
        "z-scored BM25, bi-encoder and ColBERT; the cross-encoder's weight is 0, so it is not run). nDCG@10; "
        "on - off is the paired difference, mean [95% bootstrap CI]. Lexicon "
        f"{lexicon.version} (sha256 {lexicon.sha256[:12]}).",
        "",
        f"## radbench9 {args.split} by query style",
        "",
        "| style | queries | default fusion off | on | on - off | BM25 off | on | on - off |",
        "|---|---:|---:|---:|---|---:|---:|---|",
    ]
    style_rows = {}
    for style in STYLES + ["all"]:
        ids = {q for q, s in style_of.items() if style == "all" or s == style}
        if not ids:
            continue
        cells = []
        for pipeline in ("default fusion", "bm25 alone"):
            off = {q: v for q, v in per[(rb, pipeline, False)].items() if q in ids}
            on = {q: v for q, v in per[(rb, pipeline, True)].items() if q in ids}
            cells += [f"{np.mean(list(off.values())):.3f}", f"{np.mean(list(on.values())):.3f}", fmt(paired(on, off))]
            if pipeline == "default fusion":
                style_rows[style] = (np.mean(list(off.values())), np.mean(list(on.values())))
        lines.append(f"| {style} | {len(ids)} | " + " | ".join(cells) + " |")

    negation = [q for q in rb_data.queries if q.style == "negation"]
    lines += ["", "## Negation: a passage of the negated condition in the top 3", ""]
    if negation:
        lines += ["| pipeline | off | on |", "|---|---:|---:|"]
        for pipeline in ("default fusion", "bm25 alone"):
            cells = []
            for expand in (False, True):
                t3 = top3[(rb, pipeline, expand)]
                clean = sum(not set(q.metadata.get("negated", [])) & set(t3[q.id]) for q in negation)
                cells.append(f"{clean / len(negation):.0%} of {len(negation)} kept it out")
            lines.append(f"| {pipeline} | " + " | ".join(cells) + " |")

    if len(sets) > 1:
        lines += [
            "",
            "## Other collections (no loss beyond noise expected)",
            "",
            "| set | queries | default fusion off | on | on - off | BM25 off | on | on - off |",
            "|---|---:|---:|---:|---|---:|---:|---|",
        ]
        for name in list(sets)[1:]:
            cells = []
            for pipeline in ("default fusion", "bm25 alone"):
                off, on = per[(name, pipeline, False)], per[(name, pipeline, True)]
                cells += [f"{np.mean(list(off.values())):.3f}", f"{np.mean(list(on.values())):.3f}"]
                cells.append(fmt(paired(on, off)))
            lines.append(f"| {name} | {len(per[(name, 'default fusion', False)])} | " + " | ".join(cells) + " |")

    off_ms = np.concatenate([times[(n, "default fusion", False)] for n in sets])
    on_ms = np.concatenate([times[(n, "default fusion", True)] for n in sets])
    lines += [
        "",
        "## Latency",
        "",
        f"Expansion itself: p50 {np.percentile(expand_ms, 50):.2f} ms, p95 {np.percentile(expand_ms, 95):.2f} ms "
        f"over {len(expand_ms)} queries (lexicon loaded). The whole first-stage search (default fusion, no "
        f"cross-encoder): p50 {np.percentile(off_ms, 50):.0f} ms off, {np.percentile(on_ms, 50):.0f} ms on "
        "(the expanded text is longer for the neural encoders).",
    ]
    text = "\n".join(lines) + "\n"
    out.write_text(text, encoding="utf-8")
    print(text)
    if args.split == "test":
        plot(style_rows, ROOT / "benchmarks" / "vocabulary_styles.png")
        section = [
            "## Query understanding: abbreviations, synonyms, lay words and negation (issue 18)",
            "",
            *[("#" + x if x.startswith("## ") else x) for x in lines[2:]],
            "",
            "![nDCG@10 by query style, expansion off and on](vocabulary_styles.png)",
        ]
        write_section(section, args.results)


def plot(rows: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = [s for s in rows if s != "all"]
    x = np.arange(len(styles))
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=120)
    ax.bar(x - 0.2, [rows[s][0] for s in styles], 0.4, label="expansion off", color="#9aa5b1")
    ax.bar(x + 0.2, [rows[s][1] for s in styles], 0.4, label="expansion on", color="#27496d")
    ax.set_xticks(x, styles)
    ax.set_ylabel("nDCG@10 (radbench9 test)")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_section(lines: list[str], path: Path) -> None:
    """Replace the vocabulary section of RESULTS.md (between its markers) with `lines`; a new one goes after the
    fusion section."""
    from _sections import put_section

    body = "\n".join(lines)
    put_section(
        path, "<!-- vocabulary:start -->", "<!-- vocabulary:end -->", body, after="<!-- fusion_transfer:end -->"
    )


if __name__ == "__main__":
    main()
