"""Which fusion transfers to collections it was not fitted on (writes benchmarks/fusion_transfer.md).

    python benchmarks/fusion_transfer.py --work /tmp/radlite-fusion

Builds (or reuses) an index of radbench9, medline and liveqa-med with the default models, searches
every query of radbench9 train, dev and test, medline test and liveqa-med test once with every
signal (`radlite.eval.tune.candidate_tables`: each query's 50 reranked candidates with every
signal's raw score and rank, and the search's negation penalty), then re-fuses those candidates
offline under each fusion (every fusion that scores candidates subtracts the negation penalty, as the
search does under weighted fusion; each signal alone and RRF do not). The queries are read as the
indexes say (an index built since issue 18 expands them: abbreviations, synonyms, negation):

* each signal alone; the seed card's weights (bi-encoder 0.5, cross-encoder 0.2, BM25 0.3); the
  previous default (the same with cross-encoder 0, min-max); radlite's default (`FusionConfig()`);
* no-fit rules: equal weights over the three first-stage signals after min-max or z-score
  normalisation within the query; RRF (k = 60);
* fitted on radbench9 only (train and dev; medline and liveqa-med are never fitted on, and no test
  split is): `radlite tune`'s weight grid on dev, and a logistic regression on z-scored signals.

A fusion is chosen on radbench9 dev; medline and liveqa-med show whether it transfers. Paired
bootstrap 95% CIs (10,000 resamples of queries) compare each no-fit rule with the best single signal
of each set and with the previous default.

Then leave one collection out: for each of radbench9, medline and liveqa-med, every fitted fusion is
fitted on the other two (radbench9 train+dev; medline's and liveqa-med's only split, test, which is
never the one reported in that row) and scored on the one left out (radbench9: test). The logistic
regressions and trees weigh each collection the same; `radlite tune`'s grid, as the command does,
averages over queries (radbench9's 514 weigh most). Fitted: `radlite tune`'s weight grid, a
logistic regression on z-scores, and a
logistic regression and gradient-boosted trees (scikit-learn) on per-query features: each signal's
z-score, its z-score times the signal's confidence on the query (its first minus its tenth
candidate's z-score), its reciprocal rank, and how many signals put the candidate in their top 10.

The main table and the leave-one-collection-out table are also written into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import pickle
import platform
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RADLITE_SHARED_DATA", ROOT.parent / "shared" / "data"))
FIRST = ["bm25", "biencoder", "colbert"]
SETS = {  # name: (collection, split)
    "radbench9 train": ("radbench9", "train"),
    "radbench9 dev": ("radbench9", "dev"),
    "radbench9 test": ("radbench9", "test"),
    "medline test": ("medline", "test"),
    "liveqa-med test": ("liveqa-med", "test"),
}
REPORTED = ["radbench9 dev", "radbench9 test", "medline test", "liveqa-med test"]
PREVIOUS = "previous default (seed weights, CE 0; min-max)"
NEW = "default (equal weights, z-score, feedback 0.5: radlite's FusionConfig())"
NO_PRF = "equal weights, z-score, no feedback (the default before pseudo-relevance feedback)"
PRF_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)


def dataset(collection: str, split: str):
    from radlite.eval.datasets import load_dataset

    return load_dataset(collection if collection == "radbench9" else SHARED / collection, split)


def tables(work: Path) -> dict:
    """{set: (candidate tables, qrels)}, cached in WORK/tables.pkl."""
    from radlite.eval.tune import candidate_tables
    from radlite.search.engine import RadLITESearch

    cache = work / "tables.pkl"
    if cache.exists():
        cached = pickle.loads(cache.read_bytes())
        if all(t.similarity is not None for tabs, _ in cached.values() for t in tabs if t.docs):
            return cached  # tables pickled before they kept the candidates' similarity are searched again
    out = {}
    for name, (collection, split) in SETS.items():
        index = work / f"{collection}-index"
        data = dataset(collection, split)
        if not index.exists():
            print(f"indexing {collection} with the default models...", flush=True)
            RadLITESearch(show_progress=True).index_corpus(data.corpus).save(index)
        print(f"searching {name} ({len(data.queries)} queries)...", flush=True)
        out[name] = (candidate_tables(RadLITESearch.load(index), data, 50), data.qrels)
    cache.write_bytes(pickle.dumps(out))
    return out


def pen(t) -> np.ndarray | float:
    """How far the search pushed each candidate down for naming what the query negates (0 in tables cached before
    tables kept it): every fusion that scores candidates subtracts it, as the search does under weighted fusion."""
    return 0.0 if t.penalty is None else t.penalty  # a table pickled before tables had it reads the default


def zscore(v: np.ndarray) -> np.ndarray:
    """The plain z-score over the candidates, the logistic regression's features (radlite's default fusion
    uses fusion.zscore, shifted so the lowest is 0: the same order when summed)."""
    v = np.asarray(v, dtype=np.float64)
    out, ok = np.zeros_like(v), ~np.isnan(v)
    if ok.sum() > 1 and v[ok].std() > 0:
        out[ok] = (v[ok] - v[ok].mean()) / v[ok].std()
    return out


def features(t) -> np.ndarray:
    """Per-candidate features that mean the same on any collection (see the module docstring)."""
    cols = []
    for s in FIRST:
        z = zscore(t.raw[s])
        top = np.sort(z)[::-1]
        confidence = top[0] - top[min(9, len(top) - 1)]
        rank = np.nan_to_num(t.ranks[s], nan=100.0)
        cols += [z, z * confidence, 1.0 / (10.0 + rank)]
    cols.append(sum((np.nan_to_num(t.ranks[s], nan=100.0) <= 10).astype(float) for s in FIRST))
    return np.c_[tuple(cols)]


COLLECTIONS = {  # collection: (sets fitted on when it is not the one left out, set reported when it is)
    "radbench9": (["radbench9 train", "radbench9 dev"], "radbench9 test"),
    "medline": (["medline test"], "medline test"),
    "liveqa-med": (["liveqa-med test"], "liveqa-med test"),
}


def leave_one_out(data: dict, per_query, paired) -> list[str]:
    """The leave-one-collection-out table (markdown lines)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    from radlite.config import FusionConfig
    from radlite.eval.tune import fuse, tune
    from radlite.search import fusion

    def training(names, featurise):
        x, y, w = [], [], []
        for n in names:
            tabs, qrels = data[n]
            share = 1.0 / sum(len(data[m][0]) for m in names if m.split()[0] == n.split()[0])
            for t in tabs:
                x.append(featurise(t))
                y.append([int(qrels.get(t.qid, {}).get(d, 0) >= 1) for d in t.docs])
                w.append(np.full(len(t.docs), share / len(t.docs)))
        w = np.concatenate(w)
        return np.vstack(x), np.concatenate(y), w / w.mean()

    zfeat = lambda t: np.c_[tuple(zscore(t.raw[s]) for s in FIRST)]  # noqa: E731
    default = FusionConfig()
    rows, order = {}, []
    for held, (_, report) in COLLECTIONS.items():
        names = [n for c, (fit, _) in COLLECTIONS.items() if c != held for n in fit]
        tabs, qrels = [], {}
        for n in names:
            tabs += data[n][0]
            qrels.update(data[n][1])
        grid, _ = tune(tabs, qrels, default)
        xz, yz, wz = training(names, zfeat)
        lr_z = LogisticRegression(max_iter=3000).fit(xz, yz, sample_weight=wz)
        xf, yf, wf = training(names, features)
        lr_f = LogisticRegression(max_iter=3000).fit(xf, yf, sample_weight=wf)
        gb_f = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=0).fit(
            xf, yf, sample_weight=wf
        )
        methods = {f"{s} alone": (lambda t, s=s: np.nan_to_num(t.raw[s], nan=-1e9)) for s in FIRST}
        methods[NEW] = lambda t: np.array([fuse(t, default)[d] for d in t.docs])
        methods["RRF k=60 (first stage)"] = lambda t: fusion.rrf(t.ranks, {s: 1.0 for s in FIRST}, 60)
        methods["`radlite tune` grid, fit on the other two"] = lambda t, g=grid: np.array(
            [fuse(t, g)[d] for d in t.docs]
        )
        methods["logistic regression on z-scores, fit on the other two"] = lambda t, m=lr_z: (
            m.decision_function(zfeat(t)) - pen(t)
        )
        methods["logistic regression on per-query features, fit on the other two"] = lambda t, m=lr_f: (
            m.decision_function(features(t)) - pen(t)
        )
        methods["gradient-boosted trees on per-query features, fit on the other two"] = lambda t, m=gb_f: (
            m.predict_proba(features(t))[:, 1] - pen(t)
        )
        for m, f in methods.items():
            rows.setdefault(m, {})[report] = per_query(report, f)
            if m not in order:
                order.append(m)
    reports = [r for _, r in COLLECTIONS.values()]
    mean = {m: {r: float(np.mean(list(rows[m][r].values()))) for r in reports} for m in order}
    lines = [
        "| fusion (left-out collection →) | "
        + " | ".join(reports)
        + " | vs default, "
        + reports[0]
        + " | vs default, "
        + reports[1]
        + " | vs default, "
        + reports[2]
        + " |",
        "|---|" + "---:|" * len(reports) + "---|" * len(reports),
    ]
    for m in order:
        best = {r: max(mean[k][r] for k in order) for r in reports}
        cells = [f"**{mean[m][r]:.3f}**" if mean[m][r] == best[r] else f"{mean[m][r]:.3f}" for r in reports]
        diffs = ["-" if m == NEW else paired(rows[m][r], rows[NEW][r]) for r in reports]
        lines.append(f"| {m} | " + " | ".join(cells + diffs) + " |")
    return lines


def prf_sweep(per_query, config, weights, paired) -> list[str]:
    """The pseudo-relevance feedback weight (FusionConfig.prf) over PRF_GRID on the default's equal z-scored weights:
    mean nDCG@10 per set, the difference from no feedback, and the weight radbench9 train and dev choose."""
    from radlite.config import FusionConfig

    sets = ["radbench9 train", *REPORTED]
    got = {p: {n: per_query(n, config(weights, "zscore", p)) for n in sets} for p in PRF_GRID}
    mean = {p: {n: float(np.mean(list(v.values()))) for n, v in by.items()} for p, by in got.items()}
    fit = {p: float(np.mean([mean[p]["radbench9 train"], mean[p]["radbench9 dev"]])) for p in PRF_GRID}
    chosen = max(PRF_GRID, key=lambda p: fit[p])
    lines = [
        "## Pseudo-relevance feedback",
        "",
        "Each candidate gains `prf` times its bi-encoder similarity to the candidate fused first (z-scored over the "
        "candidates, like the signals; the first stays first, the rest move towards it). nDCG@10 on the default's "
        "weights; in brackets the paired difference from no feedback, mean [95% bootstrap CI]. The weight is chosen "
        f"on radbench9 train and dev (mean of the two): **{chosen}** (radlite's default: {FusionConfig().prf}).",
        "",
        "| prf | " + " | ".join(sets) + " |",
        "|---:|" + "---:|" * len(sets),
    ]
    for p in PRF_GRID:
        cells = [
            f"{mean[p][n]:.3f}" + ("" if p == 0 else f" [{paired(got[p][n], got[0.0][n])}]")
            if n in REPORTED[1:]
            else f"{mean[p][n]:.3f}"
            for n in sets
        ]
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return lines


def write_results_section(lines: list[str], path: Path) -> None:
    """Replace the fusion section of RESULTS.md (between its markers) with `lines`."""
    from _sections import put_section

    put_section(path, "<!-- fusion_transfer:start -->", "<!-- fusion_transfer:end -->", "\n".join(lines))


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    from radlite.config import DEFAULT_WEIGHTS, SEED_TEMPERATURE, SEED_WEIGHTS, FusionConfig
    from radlite.eval import metrics
    from radlite.eval.tune import fuse, tune
    from radlite.search import fusion

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/radlite-fusion"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "fusion_transfer.md")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = tables(args.work)

    def per_query(name: str, scorer) -> dict[str, float]:
        tabs, qrels = data[name]
        run = {t.qid: dict(zip(t.docs, np.asarray(scorer(t), dtype=np.float64).tolist())) for t in tabs}
        return metrics.per_query(run, qrels, ["ndcg@10"])["ndcg@10"]

    def weighted(weights: dict[str, float], norm) -> callable:
        return lambda t: sum(w * norm(t.raw[s]) for s, w in weights.items() if w) - pen(t)

    def config(weights: dict[str, float], normalization: str = "minmax", prf: float = 0.0):
        cfg = FusionConfig(
            method="weighted",
            weights=dict(weights),
            temperature=SEED_TEMPERATURE,
            normalization=normalization,
            prf=prf,
        )
        return lambda t: np.array([fuse(t, cfg)[d] for d in t.docs])

    methods = {f"{s} alone": (lambda t, s=s: np.nan_to_num(t.raw[s], nan=-1e9)) for s in FIRST + ["crossencoder"]}
    methods["seed card weights (bi 0.5, CE 0.2, BM25 0.3)"] = config(SEED_WEIGHTS)
    methods[PREVIOUS] = config({**SEED_WEIGHTS, "crossencoder": 0.0})
    minmax = lambda v: np.nan_to_num(fusion.minmax(v))  # noqa: E731
    methods["equal weights, min-max"] = weighted({s: 1.0 for s in FIRST}, minmax)
    methods[NO_PRF] = config(DEFAULT_WEIGHTS, "zscore")
    methods[NEW] = config(DEFAULT_WEIGHTS, FusionConfig().normalization, FusionConfig().prf)
    methods["RRF k=60 (first stage)"] = lambda t: fusion.rrf(t.ranks, {s: 1.0 for s in FIRST}, 60)
    tuned, _ = tune(data["radbench9 dev"][0], data["radbench9 dev"][1], FusionConfig())
    methods["`radlite tune` on radbench9 dev"] = lambda t: np.array([fuse(t, tuned)[d] for d in t.docs])
    x, y = [], []
    for name in ("radbench9 train", "radbench9 dev"):
        tabs, qrels = data[name]
        for t in tabs:
            x.append(np.c_[tuple(zscore(t.raw[s]) for s in FIRST)])
            y.append([int(qrels.get(t.qid, {}).get(d, 0) >= 1) for d in t.docs])
    lr = LogisticRegression(class_weight="balanced", max_iter=2000).fit(np.vstack(x), np.concatenate(y))
    methods["logistic regression on z-scores, fit on radbench9 train+dev"] = lambda t: (
        lr.decision_function(np.c_[tuple(zscore(t.raw[s]) for s in FIRST)]) - pen(t)
    )

    scores = {m: {name: per_query(name, f) for name in REPORTED} for m, f in methods.items()}
    mean = {m: {n: float(np.mean(list(v.values()))) for n, v in sets.items()} for m, sets in scores.items()}

    def paired(a: dict, b: dict) -> str:
        mean, lo, hi = metrics.bootstrap_ci([a[k] - b[k] for k in sorted(set(a) & set(b))], n=10_000)
        return f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]"

    lines = [
        "# Fusion that transfers: each signal, the seed and current defaults, no-fit rules, and fits on radbench9",
        "",
        f"`python benchmarks/fusion_transfer.py` on {platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}. Default models (radlite's trained bi-encoder v1; trained ColBERT reads whole "
        "queries; cross-encoder v2). "
        "nDCG@10 of each query's 50 candidates re-fused offline; queries: "
        + ", ".join(f"{n} {len(scores['bm25 alone'][n])}" for n in REPORTED)
        + " (those with a relevant judgment)"
        + ". Fitted rows saw radbench9 train/dev only.",
        "",
        "| fusion | " + " | ".join(REPORTED) + " |",
        "|---|" + "---:|" * len(REPORTED),
    ]
    for m in methods:
        best = {n: max(mean[k][n] for k in methods) for n in REPORTED}
        lines.append(
            f"| {m} | "
            + " | ".join((f"**{mean[m][n]:.3f}**" if mean[m][n] == best[n] else f"{mean[m][n]:.3f}") for n in REPORTED)
            + " |"
        )
    lines += [
        "",
        "Paired differences, mean [95% bootstrap CI], on the sets not used for any choice:",
        "",
        "| fusion | set | vs best single signal | vs previous default |",
        "|---|---|---|---|",
    ]
    for m in (
        "equal weights, min-max",
        NO_PRF,
        NEW,
        "logistic regression on z-scores, fit on radbench9 train+dev",
    ):
        for n in REPORTED[1:]:
            single = max((f"{s} alone" for s in FIRST), key=lambda k: mean[k][n])
            lines.append(
                f"| {m} | {n} | {paired(scores[m][n], scores[single][n])} ({single.split()[0]}) | "
                f"{paired(scores[m][n], scores[PREVIOUS][n])} |"
            )
    dev_best = max(
        ("equal weights, min-max", NEW, "RRF k=60 (first stage)"),
        key=lambda k: mean[k]["radbench9 dev"],
    )
    lines += [
        "",
        f"Chosen on radbench9 dev among the no-fit rules: **{dev_best}** "
        f"({mean[dev_best]['radbench9 dev']:.3f} on dev). `radlite tune`'s weights: {tuned.method}, "
        + ", ".join(f"{s} {w:.1f}" for s, w in tuned.weights.items())
        + ".",
    ]
    lines += ["", *prf_sweep(per_query, config, DEFAULT_WEIGHTS, paired)]
    main_table = lines[lines.index("| fusion | " + " | ".join(REPORTED) + " |") :]
    main_table = main_table[: main_table.index("")]
    loco = leave_one_out(data, per_query, paired)
    lines += [
        "",
        "## Leave one collection out",
        "",
        "Each fitted fusion is fitted on the two other collections (the regressions and trees weigh each collection "
        "the same; the grid, like `radlite tune`, averages over queries) and scored on the one "
        "left out; nDCG@10, and the paired difference from radlite's default, mean [95% bootstrap CI]. The no-fit "
        "rows are the same in every column.",
        "",
        *loco,
    ]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_results_section(
        [
            "## Fusion: every signal, the seed weights, RRF, fits, and radlite's default (issue 17)",
            "",
            f"`python benchmarks/fusion_transfer.py` ({time.strftime('%Y-%m-%d')}; details, paired CIs and the "
            "method in [fusion_transfer.md](fusion_transfer.md)). nDCG@10 of each query's 50 candidates, re-fused "
            'offline. Rows fitted "on radbench9" saw radbench9 train/dev only.',
            "",
            *main_table,
            "",
            "Leave one collection out: fitted rows fitted on the other two collections (the regressions and trees "
            "weigh each collection the same; the grid, like `radlite tune`, averages over queries), scored on the "
            "one left out.",
            "",
            *loco,
        ],
        args.results,
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
