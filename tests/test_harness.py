"""`radlite eval` on a tiny BEIR set with tiny models: every configuration, tables, report files."""

import json

from typer.testing import CliRunner

from radlite.cli import app
from tests.conftest import TINY_DOCS


def test_eval_reports_every_configuration(tiny_models, tiny_index, tmp_path):
    beir = tmp_path / "tiny-beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": d["id"], "title": d["title"], "text": d["text"]}) for d in TINY_DOCS))
    queries = {"q1": "odontoid fracture c-spine", "q2": "polo mint sign filling defect", "q3": "Dawson fingers periventricular"}
    (beir / "queries.jsonl").write_text("\n".join(json.dumps({"_id": k, "text": v}) for k, v in queries.items()))
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tcspine\t2\nq2\tpe\t1\nq3\tms\t2\nq3\tpe\t0\n")
    (beir / "categories.tsv").write_text("q1\tmsk\nq2\tthoracic\nq3\tneuro\n")
    report = tmp_path / "report"
    result = CliRunner().invoke(app, ["eval", str(tiny_index), "--dataset", str(beir), "--json", "--report", str(report)])
    assert result.exit_code == 0, result.output
    summary = json.loads((report / "metrics.json").read_text())
    cfgs = summary["configurations"]
    assert set(cfgs) == {"bm25", "biencoder", "colbert", "colbert+reranker", "fused (seed weights)"}
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
