"""`radlite eval` on a tiny BEIR set with tiny models: every configuration, tables, report files."""

import json

from typer.testing import CliRunner

from radlite.cli import app
from tests.conftest import TINY_DOCS


def test_eval_reports_every_configuration(tiny_models, tiny_index, tmp_path):
    beir = tmp_path / "tiny-beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": d["id"], "title": d["title"], "text": d["text"]}) for d in TINY_DOCS)
    )
    queries = {
        "q1": "odontoid fracture c-spine",
        "q2": "polo mint sign filling defect",
        "q3": "Dawson fingers periventricular",
    }
    (beir / "queries.jsonl").write_text("\n".join(json.dumps({"_id": k, "text": v}) for k, v in queries.items()))
    (beir / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\tcspine\t2\nq2\tpe\t1\nq3\tms\t2\nq3\tpe\t0\n"
    )
    (beir / "categories.tsv").write_text("q1\tmsk\nq2\tthoracic\nq3\tneuro\n")
    report = tmp_path / "report"
    result = CliRunner().invoke(
        app, ["eval", str(tiny_index), "--dataset", str(beir), "--json", "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads((report / "metrics.json").read_text())
    cfgs = summary["configurations"]
    # the index has the default weights (cross-encoder 0), so the seed card's weights are reported beside them
    assert set(cfgs) == {
        "bm25",
        "biencoder",
        "colbert",
        "colbert+reranker",
        "fused (seed weights)",
        "fused (index weights)",
    }
    # BM25 finds each answer first on these lexical queries: every metric is 1
    assert cfgs["bm25"]["metrics"]["mrr@10"][0] == 1.0 and cfgs["bm25"]["metrics"]["recall@1"][0] == 1.0
    assert set(cfgs["bm25"]["by_category"]) == {"msk", "thoracic", "neuro"}
    assert summary["queries"] == 3 and cfgs["fused (seed weights)"]["p_vs_bm25"] is not None
    assert (report / "run.bm25.trec").read_text().splitlines()[0].startswith("q1 Q0 cspine 1 ")
    assert "| bm25 | 1.000 |" in (report / "report.md").read_text()
    for png in ("ndcg_by_category.png", "latency_by_stage.png", "reranker_reliability.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


def test_eval_refuses_an_index_of_another_corpus(tiny_index):
    result = CliRunner().invoke(app, ["eval", str(tiny_index), "--dataset", "radbench9"])
    assert result.exit_code == 2 and "holds only 0%" in result.output


def test_tune_fits_on_dev_saves_and_refuses_test(tiny_models, tiny_index, tmp_path):
    import shutil

    from radlite.config import FusionConfig
    from radlite.eval import tune as tuning
    from radlite.index import read_manifest

    idx = tmp_path / "idx"
    shutil.copytree(tiny_index, idx)
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": d["id"], "title": d["title"], "text": d["text"]}) for d in TINY_DOCS)
    )
    (beir / "queries.jsonl").write_text(
        "\n".join(
            json.dumps({"_id": f"q{i}", "text": t})
            for i, t in enumerate(
                [
                    "odontoid fracture",
                    "filling defect pulmonary artery",
                    "spiculated mass biopsy",
                    "telescoping bowel child",
                ]
            )
        )
    )
    (beir / "qrels" / "dev.tsv").write_text("q0\tcspine\t1\nq1\tpe\t1\nq2\tbirads\t1\n")
    (beir / "qrels" / "test.tsv").write_text("q3\tintus\t1\n")
    runner = CliRunner()
    refused = runner.invoke(app, ["tune", str(idx), "--dataset", str(beir), "--split", "test"])
    assert refused.exit_code == 2 and "refusing to tune on the test split" in refused.output
    result = runner.invoke(app, ["tune", str(idx), "--dataset", str(beir), "--split", "dev"])
    assert result.exit_code == 0, result.output
    assert "dev: nDCG@10" in result.output and "test: nDCG@10" in result.output
    fusion = read_manifest(idx)["config"]["fusion"]
    assert fusion["weights"] != FusionConfig().weights or fusion["method"] != "weighted" or fusion["temperature"] != 1.5
    # BM25 alone answers every dev query first, so tuning reaches nDCG@10 = 1 on dev
    from radlite.eval.datasets import load_dataset
    from radlite.search.engine import RadLITESearch

    engine = RadLITESearch.load(idx)
    dev = load_dataset(beir, "dev")
    tables = tuning.candidate_tables(engine, dev)
    assert tuning.mean_ndcg(tables, dev.qrels, engine.index.config.fusion) == 1.0
    # the fit says what it was fitted on, and keeps the setting it replaced for --rollback
    assert fusion["fitted"]["split"] == "dev" and fusion["fitted"]["queries"] == 3
    assert fusion["fitted"]["ndcg@10_after"] == 1.0 and fusion["previous"]["weights"] == FusionConfig().weights
    info = runner.invoke(app, ["info", str(idx)])
    assert "fusion fitted on" in info.stdout and "nDCG@10" in info.stdout and "--rollback" in info.stdout
    back = runner.invoke(app, ["tune", str(idx), "--rollback"])
    assert back.exit_code == 0 and "rolled back" in back.output
    restored = read_manifest(idx)["config"]["fusion"]
    assert restored["weights"] == FusionConfig().weights and restored["fitted"] is None and restored["previous"] is None
    again = runner.invoke(app, ["tune", str(idx), "--rollback"])
    assert again.exit_code == 2 and "nothing to roll back to" in again.output
    assert "radlite's default" in runner.invoke(app, ["info", str(idx)]).stdout
    missing = runner.invoke(app, ["tune", str(idx)])
    assert missing.exit_code == 2 and "--dataset" in missing.output


def test_temperature_fit_by_hand():
    import numpy as np

    from radlite.eval import tune as tuning

    # logits +2 are relevant 88% of the time, -2 12%: sigmoid(2 / T) = 0.88 -> T = 2 / logit(0.88) ~ 1.0
    docs = [f"d{i}" for i in range(100)]
    logits = np.array([2.0] * 50 + [-2.0] * 50)
    qrels = {"q": {d: 1 for d in docs[:44]} | {d: 1 for d in docs[50:56]}}
    table = tuning.Table("q", docs, {"crossencoder": logits}, {"crossencoder": np.arange(1, 101.0)})
    t = tuning.fit_temperature([table], qrels)
    assert abs(t - 2 / np.log(0.88 / 0.12)) < 0.03


def test_cross_validation_by_hand_fits_on_other_queries_only():
    """Four queries, two signals, the answer is "a". BM25 scores a, b, c as 3, 2, 0 and ColBERT as 0, 2, 3 on
    q1-q3; on q4 the two swap. Shifted z-scores are then (2.405, 1.604, 0) and (0, 1.604, 2.405): "a" comes
    first only if its signal's weight is over 2/3, so the first grid point that does it is 0.7.
    Held out, q1 (q2, q3) is fitted on two BM25 queries and q4: BM25 0.7 wins 2 of 3, and "a" is first: 1.
    q4 held out is fitted on three BM25 queries: BM25 0.7 puts its "a" last: 1 / log2(4) = 0.5.
    Before, with BM25 0.4 / ColBERT 0.6: q1-q3 rank "a" third (0.5), q4 second (1 / log2(3))."""
    import numpy as np

    from radlite.config import FusionConfig
    from radlite.eval import tune as tuning

    docs = ["a", "b", "c"]

    def table(qid, bm25, colbert):
        raw = {"bm25": np.array(bm25, float), "colbert": np.array(colbert, float)}
        return tuning.Table(qid, docs, raw, {s: tuning.fusion.ranks_of(v) for s, v in raw.items()})

    tables = [table(f"q{i}", [3, 2, 0], [0, 2, 3]) for i in (1, 2, 3)] + [table("q4", [0, 2, 3], [3, 2, 0])]
    qrels = {t.qid: {"a": 1} for t in tables}
    start = FusionConfig(weights={"bm25": 0.4, "colbert": 0.6})
    before, after = tuning.cross_validate(tables, qrels, start, folds=4)
    assert np.allclose(before, [0.5, 0.5, 0.5, 1 / np.log2(3)])
    assert np.allclose(after, [1.0, 1.0, 1.0, 0.5])
    # a table is scored on its own query's judgments only (not averaged with the queries it lacks)
    assert np.isclose(tuning.mean_ndcg(tables[3:], qrels, start), 1 / np.log2(3))


def test_tuning_refits_with_the_negation_penalty_the_search_applies():
    """A table keeps the search's negation penalty, and re-fusing it under weighted fusion subtracts it as the
    search does: BM25 3, 2, 0 gives shifted z-scores 2.405, 1.604, 0; "a" (named by what the query negates) loses
    4 and comes last. RRF fuses ranks and gets no penalty, as in the search."""
    import numpy as np

    from radlite.config import FusionConfig
    from radlite.eval import tune as tuning

    raw = {"bm25": np.array([3.0, 2.0, 0.0])}
    table = tuning.Table(
        "q", ["a", "b", "c"], raw, {"bm25": tuning.fusion.ranks_of(raw["bm25"])}, np.array([4, 0, 0.0])
    )
    fused = tuning.fuse(table, FusionConfig(weights={"bm25": 1.0}))
    assert np.allclose([fused[d] for d in "abc"], [2.405 - 4, 1.604, 0], atol=1e-3)
    rrf = tuning.fuse(table, FusionConfig(weights={"bm25": 1.0}, method="rrf"))
    assert max(rrf, key=rrf.get) == "a"


def test_tuning_refits_with_the_pseudo_relevance_feedback_the_search_applies():
    """Worked by hand: BM25 3, 2, 0 gives shifted z-scores 2.405, 1.604, 0 and "a" is fused first. Its bi-encoder
    similarities to a, b, c are 1, 0, 0.9: shifted z-scores 2.224, 0, 2.001. With prf 1 they are added: a 4.629,
    b 1.604, c 2.001, so "c", like the first, passes "b". prf 0 and RRF leave the order as BM25 gives it."""
    import numpy as np

    from radlite.config import FusionConfig
    from radlite.eval import tune as tuning

    raw = {"bm25": np.array([3.0, 2.0, 0.0])}
    sim = np.array([[1.0, 0.0, 0.9], [0.0, 1.0, 0.1], [0.9, 0.1, 1.0]])
    table = tuning.Table("q", ["a", "b", "c"], raw, {"bm25": tuning.fusion.ranks_of(raw["bm25"])}, None, sim)
    fused = tuning.fuse(table, FusionConfig(weights={"bm25": 1.0}, prf=1.0))
    assert np.allclose([fused[d] for d in "abc"], [4.629, 1.604, 2.001], atol=1e-3)
    plain = tuning.fuse(table, FusionConfig(weights={"bm25": 1.0}, prf=0.0))
    assert sorted(plain, key=plain.get, reverse=True) == ["a", "b", "c"]
    rrf = tuning.fuse(table, FusionConfig(weights={"bm25": 1.0}, method="rrf", prf=1.0))
    assert sorted(rrf, key=rrf.get, reverse=True) == ["a", "b", "c"]
    # the feedback follows whichever candidate is fused first: with "b" first, "c" (0.1 like b) stays below "a"
    table.raw["bm25"] = np.array([2.0, 3.0, 0.0])
    fused = tuning.fuse(table, FusionConfig(weights={"bm25": 1.0}, prf=1.0))
    assert sorted(fused, key=fused.get, reverse=True) == ["b", "a", "c"]
