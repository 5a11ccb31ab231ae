"""Query understanding in the pipeline (radlite.terms): abbreviations reach BM25, a site glossary is stored with
the index, a negated condition's document is pushed down, expansion is visible on each result and can be
switched off per query, and an index written before expansion existed keeps searching as typed."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from radlite.cli import app
from tests.conftest import model_flags, rewrite_manifest

runner = CliRunner()

DOCS = [
    {
        "id": "sah",
        "title": "Subarachnoid hemorrhage",
        "text": "Noncontrast CT of the head shows hyperdense blood filling the basal cisterns and sulci.",
    },
    {
        "id": "sdh",
        "title": "Acute subdural hematoma",
        "text": "Noncontrast CT of the head shows a crescentic hyperdense collection along the convexity.",
    },
    {
        "id": "ptx",
        "title": "Pneumothorax",
        "text": "Chest radiograph after lung biopsy shows a visceral pleural line and absent lung markings.",
    },
    {
        "id": "bleed",
        "title": "Pulmonary hemorrhage after biopsy",
        "text": "Chest radiograph after lung biopsy shows ground-glass opacity along the needle track.",
    },
    {
        "id": "dens",
        "title": "Dens fracture",
        "text": "CT of the cervical spine shows a fracture through the base of the odontoid process.",
    },
]


@pytest.fixture(scope="module")
def vocab_index(tiny_models, tmp_path_factory):
    """DOCS indexed (tiny models) with a one-entry site glossary, through the CLI."""
    root = tmp_path_factory.mktemp("vocab")
    corpus = root / "docs.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    glossary = root / "site.tsv"
    glossary.write_text("# our own shorthand\nOPF\todontoid process fracture\n")
    out = root / "idx"
    result = runner.invoke(
        app, ["index", str(corpus), "-o", str(out), "--glossary", str(glossary)] + model_flags(tiny_models)
    )
    assert result.exit_code == 0, result.output
    return out


def bm25_ids(index, query, *extra) -> list[dict]:
    result = runner.invoke(app, ["search", str(index), query, "--signals", "bm25", "--json", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_manifest_records_the_lexicon_and_the_glossary(vocab_index):
    from radlite.terms.lexicon import load_lexicon

    info = json.loads(runner.invoke(app, ["info", str(vocab_index), "--json"]).stdout)
    vocabulary = info["config"]["vocabulary"]
    assert vocabulary["expand"] is True
    assert vocabulary["glossary"] == {"OPF": ["odontoid process fracture"]}
    shipped = load_lexicon()
    assert vocabulary["lexicon"] == {
        "lexicon": f"radlite-lexicon-v{shipped.version}",
        "sha256": shipped.sha256,
        "glossary_entries": 1,
    }
    text = runner.invoke(app, ["info", str(vocab_index)]).output
    assert "query expansion" in text and "site glossary of 1 terms" in text


def test_an_abbreviation_finds_the_document_that_spells_it_out_and_says_so(vocab_index):
    hits = bm25_ids(vocab_index, "SAH")
    assert hits[0]["id"] == "sah"
    assert "SAH -> subarachnoid hemorrhage" in hits[0]["expansions"]
    # as typed, BM25 finds no document with the word "SAH"
    assert bm25_ids(vocab_index, "SAH", "--no-expand") == []
    shown = runner.invoke(app, ["search", str(vocab_index), "SAH", "--signals", "bm25"])
    assert shown.exit_code == 0 and "read as: SAH = subarachnoid hemorrhage" in shown.output
    assert "read as" not in runner.invoke(app, ["search", str(vocab_index), "SAH", "--no-expand"]).output


def test_the_site_glossary_expands_the_sites_own_shorthand(vocab_index):
    hits = bm25_ids(vocab_index, "OPF")
    assert hits[0]["id"] == "dens"
    assert "OPF -> odontoid process fracture" in hits[0]["expansions"]


def test_a_negated_condition_is_pushed_down(vocab_index):
    from radlite.search.engine import NEGATION_WEIGHT, RadLITESearch

    engine = RadLITESearch.load(vocab_index)
    query = "chest radiograph after lung biopsy, no pneumothorax"
    typed = engine.search(query, signals=["bm25"], expand=False)
    assert typed[0].id == "ptx"  # as typed, the word "pneumothorax" pulls its document up
    read = engine.search(query, signals=["bm25"])
    assert read[0].id == "bleed"
    ptx = next(r for r in read if r.id == "ptx")
    # its title is all the query negates: the whole penalty
    assert ptx.negation_penalty == pytest.approx(NEGATION_WEIGHT)
    assert next(r for r in read if r.id == "bleed").negation_penalty == 0.0
    run = engine.search_run(query, signals=["bm25"])  # the same search, with how it read the query
    assert [r.id for r in run.results] == [r.id for r in read]
    understood = run.expansion
    assert understood.to_dict() == engine.understand(query).to_dict()
    assert engine.search_run(query, signals=["bm25"], expand=False).expansion is None
    # the reading asks this index's BM25 postings which words go with an ambiguous abbreviation's expansions
    assert engine._expander[1].postings is engine.index.backend.bm25_postings() is not None
    assert [n["cue"] for n in understood.negated] == ["no"] and "pneumothorax" in understood.negated[0]["text"]
    assert "pneumothorax" not in understood.neural_text  # the neural models do not read it either
    # RRF has no score scale to push on: the ranks stand as the signals give them
    assert engine.search(query, signals=["bm25"], method="rrf")[0].negation_penalty == 0.0


def test_bad_glossaries_are_refused_naming_the_line_and_write_no_index(tiny_models, tmp_path):
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    cases = {
        "bad.tsv": ("PE\tpulmonary embolism\nSAH subarachnoid hemorrhage\n", "bad.tsv:2"),
        "bad.json": ('{"PE": 3}', "'PE' must map to"),
        "empty.tsv": ("# nothing\n", "no entries"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        out = tmp_path / f"idx-{name}"
        result = runner.invoke(
            app, ["index", str(corpus), "-o", str(out), "--glossary", str(tmp_path / name)] + model_flags(tiny_models)
        )
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
        assert not out.exists()
    result = runner.invoke(app, ["index", str(corpus), "-o", str(tmp_path / "x"), "--glossary", str(tmp_path / "no")])
    assert result.exit_code == 2 and "cannot read the glossary" in result.output


def test_an_index_from_before_expansion_searches_as_typed(vocab_index, tiny_models, tmp_path):
    from radlite.search.engine import RadLITESearch

    old = tmp_path / "old"
    shutil.copytree(vocab_index, old)
    gen = old / (old / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    del manifest["config"]["vocabulary"]
    rewrite_manifest(gen, manifest)
    engine = RadLITESearch.load(old)
    assert engine.understand("SAH") is None
    assert engine.search("SAH", signals=["bm25"]) == []  # no document has the word "SAH"
    assert engine.understand("SAH", expand=True) is not None  # asked for, it is there
    assert "off (queries are searched as typed)" in runner.invoke(app, ["info", str(old)]).output
    # an index built with --no-expand says so too
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    off = tmp_path / "off"
    result = runner.invoke(app, ["index", str(corpus), "-o", str(off), "--no-expand"] + model_flags(tiny_models))
    assert result.exit_code == 0, result.output
    assert RadLITESearch.load(off).understand("SAH") is None
