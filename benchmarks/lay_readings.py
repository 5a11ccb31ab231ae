"""How often radlite reads a lay expression in a query as the medical term it means.

    python benchmarks/lay_readings.py

benchmarks/data/lay_readings.tsv holds short queries as patients, relatives or non-radiologists write them, each with
one lay expression and the term a radiology teaching file would use ("water on the lungs": pleural effusion; "bleed
on the brain": intracranial hemorrhage), written by a helper session from medical knowledge without reading radlite's
lexicon or benchmark queries; about a quarter use a less common variant of a well-known expression ("blood clots in
my lungs"). Rows are split by the lay expression (sha1 of it in lower case, even: dev, odd: test): dev's misreadings
are listed and may be fixed, test's are only counted.

A reading is right when a lexicon phrase that shares a word with the lay expression maps to the expected term (or one
of its accepted forms; benchmarks/abbreviation_readings.same_meaning). Writes benchmarks/lay_readings.md and its
section of RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "benchmarks" / "data" / "lay_readings.tsv"


def read_cases(path: Path = CASES) -> list[dict]:
    """The rows, split by the lay expression in lower case (abbreviation_readings.read_cases)."""
    from abbreviation_readings import read_cases as read_set

    return read_set(path, split_by=lambda row: row["lay"].lower())


def read(expander, row: dict) -> list[str]:
    """The terms of the query's lexicon phrases that share a word with the lay expression."""
    lay = set(row["lay"].lower().split())
    return [
        t for p in expander.expand(row["query"]).phrases if set(p["text"].lower().split()) & lay for t in p["terms"]
    ]


def main() -> None:
    from abbreviation_readings import same_meaning

    from radlite.terms.expand import Expander
    from radlite.terms.lexicon import load_lexicon

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "lay_readings.md")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = ap.parse_args()
    rows = read_cases()
    lexicon = load_lexicon()
    expander = Expander(lexicon)
    got = [read(expander, r) for r in rows]
    right = [any(same_meaning(t, r["accepted"]) for t in g) for g, r in zip(got, rows)]
    head = [
        "# Lay expressions: read as the medical term they mean (issue 18)",
        "",
        f"`python benchmarks/lay_readings.py` on {platform.machine()}, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d')}. Lexicon {lexicon.version} (sha256 {lexicon.sha256[:12]}), read by the "
        f"installed radlite.terms.expand. {len(rows)} queries from benchmarks/data/lay_readings.tsv (written by a "
        "helper session without reading radlite's lexicon or benchmarks); a reading is right when a lexicon phrase "
        "sharing a word with the lay expression maps to the expected term. Cells: share right, right of all, and in "
        "brackets how many got no phrase at all.",
        "",
    ]
    table = ["| split | queries | right (no phrase) |", "|---|---:|---:|"]
    for split in ("dev", "test", "all"):
        idx = [i for i, r in enumerate(rows) if split == "all" or r["split"] == split]
        n_right, unread = sum(right[i] for i in idx), sum(not got[i] for i in idx)
        table.append(f"| {split} | {len(idx)} | {n_right / len(idx):.0%}, {n_right}/{len(idx)} ({unread}) |")
    lines = [
        *head,
        *table,
        "",
        "Dev's misreadings are listed and may be fixed, so its number can be inflated; test's are counted, not listed.",
        "",
        "| query | lay | expected | read as |",
        "|---|---|---|---|",
    ]
    for i, r in enumerate(rows):
        if r["split"] == "dev" and not right[i]:
            lines.append(f"| {r['query']} | {r['lay']} | {r['expected']} | {', '.join(got[i][:3]) or '(nothing)'} |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text, encoding="utf-8")
    print(text)
    from _sections import put_section

    put_section(
        args.results,
        "<!-- lay-readings:start -->",
        "<!-- lay-readings:end -->",
        "\n".join([head[0].replace("# ", "### ", 1), *head[1:], *table])
        + "\n\nDetails, with dev's misreadings: benchmarks/lay_readings.md.",
        after="<!-- abbreviation-readings:end -->",
    )


if __name__ == "__main__":
    main()
