"""Fit and measure radlite's "no confident match" signal.

Fused scores are normalised within each query, so they cannot say whether anything relevant was
found. Two first-stage scores are absolute: the bi-encoder's cosine and ColBERT's MaxSim per query
token. A logistic model on them, fitted on radbench9 dev (a result is positive when judged relevant)
plus nonsense and off-topic queries (every result negative), gives each result a relevance
probability; a query is "confident" when its best result's probability reaches a threshold chosen
on the same fitting data (just above every fitting nonsense query's best result). Measured on what
the fit never saw: radbench9 test, medline test (if its index is given) and held-out nonsense.

    python benchmarks/no_match.py --work /tmp/nomatch [--medline-index /tmp/ab/medline-index]
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from radlite.eval.datasets import load_dataset  # noqa: E402
from radlite.search.engine import RadLITESearch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RADLITE_SHARED_DATA", ROOT.parent / "shared" / "data"))

# nonsense, injection and off-topic queries: the first half fits, the second half is held out
NONSENSE = [
    "the of and a to is in",
    "' OR 1=1; DROP TABLE documents; --",
    "asdf qwerty zxcv",
    "lorem ipsum dolor sit amet",
    "best pizza in naples",
    "how to change a car tyre",
    "stock market forecast for next year",
    "python list comprehension",
    "who won the world cup in 1998",
    "recipe for chocolate cake",
    "cheap flights to paris",
    "weather tomorrow",
    "<script>alert(1)</script>",
    "aaaaaaaaaaaaaaaaaaaa",
    "1234567890",
    "translate hello into french",
    "guitar chords for wonderwall",
    "how to train a puppy",
    "meaning of life the universe and everything",
    "knitting patterns for beginners",
    "electric car battery range",
    "football transfer rumours",
    "tax return deadline",
    "is it going to rain",
    "song lyrics",
    "movie showtimes tonight",
    "how tall is the eiffel tower",
    "banana bread",
    "SELECT * FROM users WHERE 1=1",
    "and or not but if then",
    "zzz",
    "best laptop 2026",
    "wedding speech ideas",
    "how do magnets work",
    "learn spanish fast",
    "garden tomato blight",
    "bitcoin price",
    "ikea assembly instructions",
    "marathon training plan",
    "history of the roman empire",
    "cheap hotel london",
    "pasta carbonara",
    "how to tie a tie",
    "birthday party games",
    "car insurance quote",
    "what is quantum computing",
    "best hiking trails",
    "coffee machine descaling",
    "poker rules",
    "solar panel installation",
]
# ... and 400 more written for this benchmark (benchmarks/data/off_topic_queries.txt: everyday web searches,
# other technical fields, other languages, gibberish, injection and markup, numbers and ids, everyday
# questions), shuffled once: half fits the model and its threshold, half is held out
OFF_TOPIC = NONSENSE + (ROOT / "benchmarks" / "data" / "off_topic_queries.txt").read_text(encoding="utf-8").splitlines()
random.Random(0).shuffle(OFF_TOPIC)
FIT, HELD_OUT = OFF_TOPIC[: len(OFF_TOPIC) // 2], OFF_TOPIC[len(OFF_TOPIC) // 2 :]
MAX_FALSE = 0.0  # no fitting nonsense query may be confident


def features(engine: RadLITESearch, query: str, k: int = 10) -> tuple[list[str], np.ndarray]:
    """Top-k document ids and their (bi-encoder cosine, ColBERT MaxSim per query token)."""
    q_len = engine.encoder("colbert").query_length(query)
    # the first stage only: the cross-encoder's weight is 0 in the default fusion, so the order is the same
    hits = engine.search(query, top_k=k, candidates=50, signals=["bm25", "biencoder", "colbert"])
    x = np.array([[h.signals["biencoder"].raw, h.signals["colbert"].raw / q_len] for h in hits], dtype=np.float64)
    return [h.id for h in hits], x.reshape(-1, 2)


def table(engine, queries: list[str], qrels: dict | None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    xs, ys, top_rel = [], [], []
    for i, text in enumerate(queries):
        ids, x = features(engine, text)
        rel = qrels.get(str(i), {}) if qrels is not None else {}
        y = np.array([int(rel.get(d, 0) >= 1) for d in ids])
        xs.append(x)
        ys.append(y)
        top_rel.append(int(len(y) > 0 and y[0] == 1))
    return np.vstack(xs), np.concatenate(ys), top_rel


def real(engine, split: str, data=None):
    data = data or load_dataset("radbench9", split)
    queries = [q.text for q in data.queries]
    qrels = {str(i): data.qrels.get(q.id, {}) for i, q in enumerate(data.queries)}
    return queries, qrels


def default_fusion(engine: RadLITESearch) -> RadLITESearch:
    """The engine with radlite's default fusion, whatever fusion its index was built with: the estimate is
    applied to the best result of the default pipeline."""
    from radlite.config import FusionConfig

    engine.index.config.fusion = FusionConfig()
    return engine


def top_probability(engine, queries, model) -> np.ndarray:
    return np.array([model.predict_proba(features(engine, q)[1][:1])[0, 1] for q in queries])


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/nomatch"))
    ap.add_argument("--medline-index", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "no_match.md")
    args = ap.parse_args()
    index = args.work / "radbench9-index"
    if not (index / "CURRENT").exists():
        RadLITESearch().index_corpus(load_dataset("radbench9", "dev").corpus).save(index)
    engine = default_fusion(RadLITESearch.load(index))

    dev_q, dev_rel = real(engine, "dev")
    x_dev, y_dev, _ = table(engine, dev_q, dev_rel)
    x_fit, y_fit, _ = table(engine, FIT, None)
    x = np.vstack([x_dev, x_fit])
    y = np.concatenate([y_dev, y_fit])
    model = LogisticRegression(class_weight="balanced").fit(x, y)
    fit_top = top_probability(engine, FIT, model)
    # the lowest P above all but MAX_FALSE of the fitting nonsense queries' best results
    threshold = float(np.nextafter(np.quantile(fit_top, 1 - MAX_FALSE), 1.0))

    rows = []

    def measure(name, queries, qrels):
        p = top_probability(engine, queries, model)
        confident = p >= threshold
        line = {"set": name, "queries": len(queries), "confident": float(confident.mean())}
        if qrels is not None:
            _, _, top_rel = table(engine, queries, qrels)
            top_rel = np.array(top_rel, dtype=bool)
            line["top1 relevant | confident"] = float(top_rel[confident].mean()) if confident.any() else None
            line["top1 relevant | not confident"] = float(top_rel[~confident].mean()) if (~confident).any() else None
        rows.append(line)

    measure("radbench9 dev (fit)", dev_q, dev_rel)
    measure("off-topic and nonsense (fit)", FIT, None)
    test_q, test_rel = real(engine, "test")
    measure("radbench9 test", test_q, test_rel)
    measure("off-topic and nonsense (held out)", HELD_OUT, None)
    if args.medline_index is not None:
        medline = load_dataset(SHARED / "medline", "test")
        med_engine = default_fusion(RadLITESearch.load(args.medline_index))
        engine = med_engine
        mq, mrel = real(engine, "test", medline)
        measure("medline test (another collection)", mq, mrel)
        measure("off-topic and nonsense on medline (held out)", HELD_OUT, None)

    coef = {
        "biencoder": float(model.coef_[0][0]),
        "colbert_per_token": float(model.coef_[0][1]),
        "bias": float(model.intercept_[0]),
        "threshold": threshold,
    }
    lines = [
        "# No confident match: an absolute relevance estimate",
        "",
        "Command: `python benchmarks/no_match.py"
        + (f" --medline-index {args.medline_index}" if args.medline_index else "")
        + "` (default models, default fusion, top 10 of 50 candidates).",
        "Model: P(relevant) = sigmoid(a * bi-encoder cosine + b * ColBERT MaxSim per query token + c), fitted on "
        f"radbench9 dev ({len(dev_q)} queries, judged top-10 results) and {len(FIT)} off-topic / nonsense queries "
        "(every result negative), class-balanced. A query is confident when its best result's P reaches the "
        "threshold, set just above the best result of every fitting nonsense query "
        f"(at most {MAX_FALSE:.0%} confident).",
        f"Fitted: `{json.dumps(coef)}` (radlite.search.relevance.DEFAULT).",
        "",
        "| set | queries | confident | top-1 relevant when confident | top-1 relevant when not |",
        "|---|---|---|---|---|",
    ]
    for r in rows:

        def f(v):
            return "-" if v is None else f"{v:.2f}"

        lines.append(
            f"| {r['set']} | {r['queries']} | {r['confident']:.2f} | "
            f"{f(r.get('top1 relevant | confident'))} | {f(r.get('top1 relevant | not confident'))} |"
        )
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
