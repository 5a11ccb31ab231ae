"""The bundled benchmark's shape and split discipline, and BEIR loading of the shared sets."""

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from radlite.errors import CorpusError
from radlite.eval.datasets import SPLITS, load_dataset, radbench9_parts, split_of

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
STOP = {"the", "and", "with", "of", "on", "in", "for"}


def parts():
    out = {}
    for cf in sorted(radbench9_parts().glob("*.corpus.jsonl")):
        cat = cf.name.split(".")[0]
        docs = [json.loads(x) for x in cf.read_text().splitlines() if x.strip()]
        qf = cf.with_name(f"{cat}.queries.jsonl")
        queries = [json.loads(x) for x in qf.read_text().splitlines() if x.strip()]
        out[cat] = (docs, queries)
    return out


def words(text):
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) >= 3 and w not in STOP}


def test_every_part_is_well_formed():
    for cat, (docs, queries) in parts().items():
        ids = {d["id"] for d in docs}
        assert len(docs) >= 40 and len(queries) >= 60, cat
        assert len(ids) == len(docs)
        cond = {d["id"]: d["condition"] for d in docs}
        for d in docs:
            assert d["category"] == cat and 80 <= len(d["text"].split()) <= 250, d["id"]
            assert isinstance(d["rare"], bool) and d["modality"] and d["title"]
        styles = Counter(q["style"] for q in queries)
        assert set(styles) == {"term", "lay", "board"} and min(styles.values()) >= len(queries) // 4, cat
        no_title = 0
        for q in queries:
            answers = [d for d, g in q["qrels"].items() if g == 2]
            assert answers and set(q["qrels"]) <= ids, q["id"]
            assert all(cond[d] == q["condition"] for d in answers), q["id"]
            title_words = set().union(*(words(next(x["title"] for x in docs if x["id"] == d)) for d in answers))
            no_title += not (words(q["text"]) & title_words)
        assert no_title >= len(queries) / 2, cat


def test_no_condition_in_two_splits():
    seen = {}
    for split in SPLITS:
        ds = load_dataset("radbench9", split)
        for q in ds.queries:
            assert split_of(q.metadata["condition"]) == split
            seen.setdefault(q.metadata["condition"], set()).add(split)
    assert all(len(s) == 1 for s in seen.values())
    shares = Counter(split_of(c) for c in seen)
    total = sum(shares.values())
    assert (
        0.45 < shares["train"] / total < 0.75
        and 0.05 < shares["dev"] / total < 0.3
        and 0.12 < shares["test"] / total < 0.4
    )


def test_full_benchmark_size():
    p = parts()
    if len(p) < 9:
        pytest.skip(f"radbench9 has {len(p)} of 9 subspecialties so far")
    assert sum(len(d) for d, _ in p.values()) >= 450 and sum(len(q) for _, q in p.values()) >= 600
    assert sum(d["rare"] for docs, _ in p.values() for d in docs) >= 40


@pytest.mark.skipif(not (SHARED / "medline").is_dir(), reason="shared data not present")
def test_beir_folders_load():
    med = load_dataset(SHARED / "medline")
    assert len(med.corpus) == 1033 and len(med.queries) == 30
    live = load_dataset(SHARED / "liveqa-med")
    assert len(live.queries) == 103 and max(max(g.values()) for g in live.qrels.values()) == 3
    with pytest.raises(CorpusError, match="no qrels/train.tsv"):
        load_dataset(SHARED / "medline", split="train")
    with pytest.raises(CorpusError, match="unknown split"):
        load_dataset("radbench9", split="validation")


def test_vocabulary_styles_are_well_formed():
    """Issue 18's query styles: abbrev (written the way clinicians write) and negation (a finding present plus a
    negated distractor that names another condition in the corpus), judged like the rest."""
    styles = Counter()
    for cf in sorted(radbench9_parts().glob("*.corpus.jsonl")):
        cat = cf.name.split(".")[0]
        docs = {d["id"]: d for d in map(json.loads, cf.read_text().splitlines())}
        for q in map(json.loads, cf.with_name(f"{cat}.vocab.jsonl").read_text().splitlines()):
            styles[q["style"]] += 1
            assert q["style"] in {"abbrev", "negation"} and q["category"] == cat, q["id"]
            answers = [d for d, g in q["qrels"].items() if g == 2]
            assert answers and set(q["qrels"]) <= set(docs), q["id"]
            assert all(docs[d]["condition"] == q["condition"] for d in answers), q["id"]
            if q["style"] == "negation":
                negated = q["negated"]
                assert negated and set(negated) <= set(docs), q["id"]
                # the distractor is another condition, and never judged relevant to the query
                assert all(docs[d]["condition"] != q["condition"] and d not in q["qrels"] for d in negated), q["id"]
    assert styles["abbrev"] >= 150 and styles["negation"] >= 100
    test = Counter(q.style for q in load_dataset("radbench9", "test").queries)
    assert test["abbrev"] >= 30 and test["negation"] >= 20
