"""CLI: the happy path on tiny models, and every error path gives one line and exit code 2."""

import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from radlite.cli import app
from tests.conftest import model_flags, rewrite_manifest

runner = CliRunner()


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def assert_clean_error(code, output, *needles):
    assert code == 2, output
    assert "Traceback" not in output
    for n in needles:
        assert n in output, output


def test_index_search_info_add_delete(tiny_models, tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        "\n".join(
            json.dumps(d)
            for d in [
                {"id": "a", "title": "Croup", "text": "Steeple sign on frontal radiograph of the neck."},
                {"id": "b", "title": "Epiglottitis", "text": "Thumb sign on lateral neck radiograph."},
            ]
        )
    )
    idx = tmp_path / "idx"
    models = model_flags(tiny_models)
    code, out = run("index", corpus, "-o", idx, *models)
    assert code == 0, out
    code, out = run("search", idx, "steeple", "--json", "-k", "2", "--signals", "bm25")
    assert code == 0, out
    results = json.loads(out[out.index("[") : out.rindex("]") + 1])
    assert results[0]["id"] == "a" and len(results) == 1
    code, out = run("info", idx)
    assert code == 0 and "documents / passages" in out and "2 / 2" in out
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"id": "c", "text": "Sail sign of thymus on chest radiograph."}))
    assert run("add", idx, more)[0] == 0
    code, out = run("search", idx, "sail sign thymus", "--signals", "bm25", "--json")
    assert code == 0 and json.loads(out[out.index("[") : out.rindex("]") + 1])[0]["id"] == "c"
    assert run("delete", idx, "c")[0] == 0
    code, out = run("search", idx, "sail thymus", "--json", "--signals", "bm25")
    assert json.loads(out[out.index("[") : out.rindex("]") + 1]) == []


def test_cli_error_paths(tiny_index, tmp_path):
    assert_clean_error(*run("index", tmp_path / "missing.jsonl", "-o", tmp_path / "x"), "corpus not found")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "ok"}\n{"id": "b", "text": \n')
    assert_clean_error(*run("index", bad, "-o", tmp_path / "x"), "line 2", "not valid JSON")
    nofield = tmp_path / "nofield.jsonl"
    nofield.write_text('{"id": "a", "body": "ok"}\n')
    assert_clean_error(*run("index", nofield, "-o", tmp_path / "x"), "missing field 'text'")
    assert_clean_error(*run("search", tiny_index, "  "), "empty query")
    assert_clean_error(*run("search", tiny_index, "x", "--reranker", "/no/such/model"), "model not found")
    assert_clean_error(*run("search", tmp_path / "nowhere", "x"), "index not found")
    copy = tmp_path / "old"
    shutil.copytree(tiny_index, copy)
    gen = copy / (copy / "CURRENT").read_text().strip()
    m = json.loads((gen / "manifest.json").read_text())
    rewrite_manifest(gen, {**m, "format_version": 0})
    assert_clean_error(*run("search", copy, "x"), "format version 0")
    assert_clean_error(*run("info", copy), "format version 0")
    assert_clean_error(*run("delete", tiny_index, "no-such-id"), "not in the index")
    assert_clean_error(*run("delete", tiny_index, "[/x]"), "'[/x]'")  # no markup crash in the error path
    assert_clean_error(*run("index", bad, "-o", tmp_path / "y", "--signals", ""), "--signals is empty")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    assert_clean_error(*run("index", empty, "-o", tmp_path / "z"), "empty")
    assert_clean_error(*run("delete", tiny_index, "pe", "intus", "ms", "birads", "cspine"), "leave the index empty")
    m2 = dict(m)
    del m2["counts"]
    rewrite_manifest(gen, m2)
    assert_clean_error(*run("search", copy, "x"), "damaged", "counts")
    (copy / "CURRENT").write_bytes(b"\xff\xfe")
    assert_clean_error(*run("search", copy, "x"), "unreadable")
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "a", "text": "ok"}\n')
    if os.geteuid() != 0:  # root ignores permissions
        assert_clean_error(*run("index", good, "-o", readonly / "idx"), "no write permission")
    assert_clean_error(*run("index", good, "-o", good), "not a directory")


def test_query_with_markup_characters_prints(tiny_index):
    code, out = run("search", tiny_index, "[/i] target [bold]sign", "--signals", "bm25", "--no-rerank")
    assert code == 0 and "[/i] target [bold]sign" in out


def test_interrupted_index_build_leaves_the_old_index(tiny_models, tiny_index, tmp_path, monkeypatch):
    from radlite.index import SearchIndex
    from radlite.search.engine import RadLITESearch

    path = tmp_path / "idx"
    shutil.copytree(tiny_index, path)
    before = RadLITESearch.load(path).search("target sign", top_k=3, signals=["bm25"])

    def boom(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("radlite.retrievers.colbert.ColbertIndex.save", boom)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "new", "text": "something else entirely"}))
    code, out = run(
        "index",
        corpus,
        "-o",
        path,
        "--biencoder",
        tiny_models["biencoder"],
        "--colbert-model",
        tiny_models["colbert"],
        "--reranker",
        tiny_models["reranker"],
    )
    assert code == 130 and "unchanged" in out
    monkeypatch.undo()
    after = RadLITESearch.load(path).search("target sign", top_k=3, signals=["bm25"])
    assert [r["id"] for r in after] == [r["id"] for r in before]
    assert len(SearchIndex.load(path).documents) == 5


def test_train_and_adapt_commands(tiny_models, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "\n".join(
            json.dumps(d)
            for d in [
                {
                    "query": "steeple sign",
                    "positive": "Croup: steeple sign on frontal neck radiograph.",
                    "category": "pediatric",
                },
                {
                    "query": "thumb sign",
                    "positive": "Epiglottitis: thumb sign on lateral neck radiograph.",
                    "category": "pediatric",
                },
                {
                    "query": "sail sign",
                    "positive": "Normal thymus: sail sign on chest radiograph.",
                    "category": "pediatric",
                },
                {"query": "polo mint", "positive": "Pulmonary embolism: polo mint sign on CT.", "category": "thoracic"},
            ]
        )
    )
    out_dir = tmp_path / "ce"
    code, out = run(
        "train",
        "reranker",
        "--data",
        pairs,
        "--out",
        out_dir,
        "--base",
        tiny_models["reranker"],
        "--max-steps",
        "1",
        "--batch-size",
        "4",
        "--guard",
        "none",
    )
    assert code == 0, out
    assert json.loads((out_dir / "radlite_model.json").read_text())["trained"] is True
    assert "written to" in out

    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "\n".join(
            json.dumps(d)
            for d in [
                {
                    "id": "a",
                    "title": "Croup in children",
                    "text": "The steeple sign is subglottic narrowing. It is seen on the frontal radiograph of the "
                    "neck in croup.",
                },
                {
                    "id": "b",
                    "title": "Epiglottitis in children",
                    "text": "The thumb sign is a swollen epiglottis. It is seen on the lateral radiograph of the neck.",
                },
            ]
        )
    )
    code, out = run(
        "adapt",
        docs,
        "--out",
        tmp_path / "bi",
        "--kind",
        "biencoder",
        "--base",
        tiny_models["biencoder"],
        "--max-steps",
        "1",
        "--batch-size",
        "2",
        "--guard",
        "none",
    )
    assert code == 0, out
    assert (tmp_path / "bi" / "modules.json").is_file()


def test_adapt_reranker_distils_from_the_first_stage_and_reports_its_negatives(tiny_models, tmp_path, monkeypatch):
    """`radlite adapt --kind reranker` trains listwise against the collection's own first stage and prints its
    summary table (it once ended in a KeyError there, after writing the model)."""
    import radlite.train.teacher as teacher

    tiny_first_stage = teacher.first_stage_engine
    monkeypatch.setattr(
        teacher,
        "first_stage_engine",
        lambda texts, progress=True: tiny_first_stage(
            texts, biencoder=tiny_models["biencoder"], colbert=tiny_models["colbert"], progress=False
        ),
    )
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "\n".join(
            json.dumps(d)
            for d in [
                {
                    "id": "a",
                    "title": "Croup in children",
                    "text": "The steeple sign is subglottic narrowing. It is seen on the frontal radiograph of the "
                    "neck in croup.",
                },
                {
                    "id": "b",
                    "title": "Epiglottitis in children",
                    "text": "The thumb sign is a swollen epiglottis. It is seen on the lateral radiograph of the neck.",
                },
                {
                    "id": "c",
                    "title": "Pulmonary embolism",
                    "text": "The polo mint sign is a central filling defect. It is seen on CT pulmonary angiography.",
                },
                {
                    "id": "d",
                    "title": "Multiple sclerosis",
                    "text": "Dawson fingers are periventricular lesions. They are seen on sagittal FLAIR images.",
                },
                {
                    "id": "e",
                    "title": "Intussusception",
                    "text": "The target sign is bowel within bowel. It is seen on abdominal ultrasound in children.",
                },
                {
                    "id": "f",
                    "title": "Odontoid fracture",
                    "text": "A lucent line crosses the dens. It is seen on CT of the cervical spine after trauma.",
                },
                {
                    "id": "g",
                    "title": "Pneumothorax",
                    "text": "A visceral pleural line without lung markings beyond it. It is seen on an erect chest "
                    "radiograph.",
                },
                {
                    "id": "h",
                    "title": "Appendicitis",
                    "text": "A dilated noncompressible appendix with periappendiceal fat stranding. It is seen on "
                    "CT or ultrasound.",
                },
                {
                    "id": "i",
                    "title": "Breast carcinoma",
                    "text": "A spiculated mass with pleomorphic calcifications. It is seen on mammography.",
                },
            ]
        )
    )  # the reranker adapts with 6 negatives per list: the collection needs more passages than that
    code, out = run(
        "adapt",
        docs,
        "--out",
        tmp_path / "ce",
        "--kind",
        "reranker",
        "--base",
        tiny_models["reranker"],
        "--max-steps",
        "1",
        "--batch-size",
        "2",
        "--max-length",
        "96",
    )
    assert code == 0, out
    assert "written to" in out and "Traceback" not in out
    marker = json.loads((tmp_path / "ce" / "radlite_model.json").read_text())
    assert marker["trained"] is True and marker["config"]["loss"] == "distill"
    assert marker["mining"]["mined"] > 0  # negatives the first stage gave, counted like BM25 mining's


def test_train_error_paths(tiny_models, tmp_path):
    assert_clean_error(
        *run("train", "colbert", "--data", tmp_path / "missing.jsonl", "--out", tmp_path / "m"),
        "training data not found",
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "x"}\n')
    assert_clean_error(*run("train", "reranker", "--data", bad, "--out", tmp_path / "m"), "line 1", "'positive'")
    ok = tmp_path / "ok.jsonl"
    ok.write_text('{"query": "x", "positive": "y"}\n')
    assert_clean_error(*run("train", "bm42", "--data", ok, "--out", tmp_path / "m"), "unknown model kind")
    assert_clean_error(
        *run("train", "reranker", "--data", ok, "--out", tmp_path / "m", "--base", tmp_path / "nowhere"),
        "model not found",
    )


def test_library_errors_get_the_cli_flag_and_python_m_radlite_runs(tmp_path):
    import subprocess
    import sys

    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "Target sign on ultrasound."}\n')
    res = runner.invoke(app, ["index", str(corpus), "-o", str(tmp_path / "i"), "--text-field", "body"])
    assert res.exit_code == 2 and "missing field 'body'" in res.output and "(option --text-field)" in res.output
    help_ = subprocess.run([sys.executable, "-m", "radlite", "--help"], capture_output=True, text=True, timeout=120)
    assert help_.returncode == 0 and "index" in help_.stdout and "search" in help_.stdout


def test_fusion_presets_and_normalisation(tiny_index):
    """`--fusion seed` is the RadLITE card's fusion (its weights over min-max); the index's own default is a third
    each over z-scores; an unknown name or normalisation is one line, exit 2."""
    query = "odontoid fracture c-spine"

    def results(*flags):
        res = runner.invoke(app, ["search", str(tiny_index), query, "--json", "-k", "3", *flags])
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)

    seed = results("--fusion", "seed")
    for r in seed:
        s = r["signals"]
        assert all(0 <= s[x]["normalized"] <= 1 for x in ("bm25", "biencoder", "colbert"))  # min-max
        card = (
            0.5 * s["biencoder"]["normalized"] + 0.3 * s["bm25"]["normalized"] + 0.2 * s["crossencoder"]["calibrated"]
        )
        assert r["score"] == pytest.approx(card) and r["prf"] == 0.0  # the card has no pseudo-relevance feedback
    own = results()
    for r in own:  # the fused score decomposes: each signal's share, plus the feedback for being like the first
        s = r["signals"]
        third = sum(s[x]["normalized"] for x in ("bm25", "biencoder", "colbert")) / 3
        assert r["score"] == pytest.approx(third + r["prf"])
    assert own[0]["prf"] == max(r["prf"] for r in own) > 0
    assert max(s["normalized"] for r in own for s in [r["signals"]["bm25"]]) > 1  # z-scores are not capped at 1
    rrf = results("--fusion", "rrf")
    assert rrf[0]["signals"]["bm25"]["normalized"] is None
    bad = runner.invoke(app, ["search", str(tiny_index), query, "--fusion", "card"])
    assert bad.exit_code == 2 and "unknown fusion 'card'" in bad.output and "Traceback" not in bad.output


def test_an_unknown_normalisation_is_a_query_error(tiny_index):
    from radlite.errors import QueryError
    from radlite.search.engine import RadLITESearch

    engine = RadLITESearch.load(tiny_index)
    with pytest.raises(QueryError, match="unknown normalization 'rank'"):
        engine.search("odontoid fracture", normalization="rank")
    assert engine.fusion_settings(normalization="minmax")["normalization"] == "minmax"
    assert engine.fusion_settings()["normalization"] == "zscore"
