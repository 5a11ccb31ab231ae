"""How often radlite reads an ambiguous abbreviation the way the rest of the query means it.

    python benchmarks/abbreviation_readings.py [--index WORK/radbench9-index]

benchmarks/data/abbreviation_readings.tsv holds short queries, each with one abbreviation and the reading a
radiologist would give it there ("AS" in "LFLG AS, AVA 0.9 cm2" is aortic stenosis; in "bamboo spine, HLA-B27" it is
ankylosing spondylitis), written by a helper session from medical knowledge without reading radlite's lexicon or
benchmark queries. Most abbreviations appear in two to four queries with different meanings; about one row in six is
a common, unambiguous abbreviation (a control). Rows are split by abbreviation into two halves (sha1 of the
abbreviation, even: dev, odd: test): lexicon fixes may be made from dev's misreadings, which this report lists;
test's are only counted, so its accuracy says how the reader does on abbreviations nobody fixed by hand.

A reading is right when radlite's first expansion (or, where the abbreviation is part of a lexicon phrase such as
"CP angle", the phrase's first term) names the expected meaning: after lower-casing, hyphen and apostrophe folding and
stemming (radlite's BM25 tokenizer), the same words as the expected text or one of its accepted forms, or those words
and more. Read two ways: by the lexicon alone (what an index without postings, or a tiny one, gets), and, with --index,
with the collection's help (radlite.terms.expand settles ambiguity by the words that go with each reading in the
indexed passages). Writes benchmarks/abbreviation_readings.md and its section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import platform
import re
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "benchmarks" / "data" / "abbreviation_readings.tsv"


def read_cases(path: Path = CASES, split_by=lambda row: row["abbreviation"]) -> list[dict]:
    """The rows of a reading set (query, what is read, expected, also_ok), each with its half ("split": dev where the
    sha1 of `split_by(row)` is even, else test) and its accepted meanings (expected and also_ok)."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for r in rows:
        r["split"] = "dev" if int(hashlib.sha1(split_by(r).encode()).hexdigest(), 16) % 2 == 0 else "test"
        r["accepted"] = [r["expected"], *[a for a in (r.get("also_ok") or "").split("|") if a.strip()]]
    return rows


def same_meaning(reading: str, accepted: list[str]) -> bool:
    """`reading` names one of the `accepted` meanings: the same words (lower case, hyphens and apostrophes folded,
    stemmed), or all of an accepted form's words and more ("cerebellopontine angle" for "cerebellopontine")."""
    from radlite.retrievers.bm25 import tokenize

    def words(text: str) -> frozenset:
        return frozenset(tokenize(text.lower().replace("-", " ").replace("'", "").replace("’", "")))

    got = words(reading)
    return bool(got) and any(w and (got == w or w <= got) for w in map(words, accepted))


def read(expander, row: dict) -> str | None:
    """The first expansion the query's abbreviation gets, or the first term of a phrase it is part of ("CP angle":
    cerebellopontine angle); None when it is read as neither."""
    e = expander.expand(row["query"])
    for a in e.abbreviations:
        if a["text"] == row["abbreviation"] and a["expansions"]:
            return a["expansions"][0]["text"]
    alone = re.compile(r"(?<![A-Za-z0-9])" + re.escape(row["abbreviation"]) + r"(?![A-Za-z0-9])")
    for p in e.phrases:
        if alone.search(p["text"]) and p["terms"]:  # "GBM" in "anti-GBM disease" too
            return p["terms"][0]
    return None


def main() -> None:
    from radlite.terms.expand import Expander
    from radlite.terms.lexicon import load_lexicon

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=Path, default=None, help="an index whose collection helps settle ambiguity")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "abbreviation_readings.md")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument(
        "--baseline-lexicon",
        type=Path,
        default=None,
        help="an earlier lexicon.json.gz to read with too, for comparison "
        "(e.g. `git show 70d84de:radlite/data/lexicon/lexicon.json.gz > /tmp/lexicon-4.json.gz`)",
    )
    args = ap.parse_args()
    rows = read_cases()
    lexicon = load_lexicon()
    lexicons = [(f"lexicon {lexicon.version}", lexicon)]
    if args.baseline_lexicon is not None:
        old = load_lexicon(str(args.baseline_lexicon))
        if old.sha256 == lexicon.sha256:
            raise SystemExit(f"{args.baseline_lexicon} is the installed lexicon itself")
        same = old.version == lexicon.version  # tell two builds of one version apart by their sha256
        lexicons = [
            (f"lexicon {old.version}" + (f" {old.sha256[:12]}" if same else ""), old),
            (f"lexicon {lexicon.version}" + (f" {lexicon.sha256[:12]}" if same else ""), lexicon),
        ]
    backend = None
    if args.index is not None:
        from radlite.search.engine import RadLITESearch

        backend = RadLITESearch.load(args.index).require_index().backend
    readers = {}
    for name, lex in lexicons:
        readers[f"{name} alone"] = Expander(lex)
        if backend is not None:
            readers[f"{name}, {args.index.name}'s collection"] = Expander(
                lex, backend.bm25_vocabulary(), backend.bm25_postings()
            )
    got = {name: [read(x, r) for r in rows] for name, x in readers.items()}
    right = {
        name: [g is not None and same_meaning(g, r["accepted"]) for g, r in zip(gs, rows)] for name, gs in got.items()
    }

    head = [
        "# Ambiguous abbreviations: read as the query means them (issue 18)",
        "",
        f"`python benchmarks/abbreviation_readings.py{' --index ' + str(args.index) if args.index else ''}"
        f"{' --baseline-lexicon ' + str(args.baseline_lexicon) if args.baseline_lexicon else ''}` on "
        f"{platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}. Lexicon {lexicon.version} "
        f"(sha256 {lexicon.sha256[:12]}). {len(rows)} queries from benchmarks/data/abbreviation_readings.tsv "
        "(written by a helper session without reading radlite's lexicon or benchmarks); a reading is right when "
        "radlite's first expansion names the expected meaning. Each lexicon is read by the installed "
        "radlite.terms.expand. Cells: share right, right of all, and in brackets how many were not read as an "
        "abbreviation at all.",
        "",
    ]
    table = [
        "| split | queries | abbreviations | " + " | ".join(f"right: {n}" for n in readers) + " |",
        "|---|---:|---:|" + "---:|" * len(readers),
    ]
    for split in ("dev", "test", "all"):
        idx = [i for i, r in enumerate(rows) if split == "all" or r["split"] == split]
        cells = [
            f"{sum(right[n][i] for i in idx) / len(idx):.0%}, {sum(right[n][i] for i in idx)}/{len(idx)} "
            f"({sum(got[n][i] is None for i in idx)})"
            for n in readers
        ]
        table.append(f"| {split} | {len(idx)} | {len({rows[i]['abbreviation'] for i in idx})} | {' | '.join(cells)} |")
    lines = head + table
    last = list(readers)[-1]
    lines += [
        "",
        "Dev is where misreadings are read and fixed (lexicon senses were added from them), so its gain is "
        "inflated; test's misreadings are counted, not listed, and none of its abbreviations was changed because of "
        "this set (one, NAC, gained a sense from a radbench9 train query before the set was written). The split is "
        "by the abbreviation as written, case and all, as the lexicon looks it up (CA and Ca are two).",
        "",
        f"Dev's misreadings ({last}):",
        "",
        "| query | abbreviation | expected | read as |",
        "|---|---|---|---|",
    ]
    for i, r in enumerate(rows):
        if r["split"] == "dev" and not right[last][i]:
            lines.append(f"| {r['query']} | {r['abbreviation']} | {r['expected']} | {got[last][i] or '(not read)'} |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)
    from _sections import put_section

    summary = "\n".join([head[0].replace("# ", "### ", 1), *head[1:], *table])
    put_section(
        args.results,
        "<!-- abbreviation-readings:start -->",
        "<!-- abbreviation-readings:end -->",
        summary + "\n\nDev's gain is inflated (lexicon fixes came from its misreadings); test's is not. Details, "
        "with dev's misreadings: benchmarks/abbreviation_readings.md.",
        after="<!-- vocabulary:end -->",
    )


if __name__ == "__main__":
    main()
