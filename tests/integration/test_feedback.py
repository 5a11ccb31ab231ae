"""Feedback from users: marks recorded through the CLI, listed, exported and erased; the fusion tuned on
them (cross-validated, saved only when it helps on held-out marks, rolled back)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from radlite.cli import app
from radlite.errors import QueryError
from radlite.index.feedback import FeedbackLog
from tests.conftest import MISFIT_WEIGHTS, set_fusion

runner = CliRunner()


def reciprocal_ranks(index, queries) -> np.ndarray:
    from radlite.search.engine import RadLITESearch

    engine = RadLITESearch.load(index)
    out = []
    for q in queries:
        ids = [r.id for r in engine.search(q["text"], top_k=50, candidates=50)]
        out.append(1 / (ids.index(q["relevant"][0]) + 1) if q["relevant"][0] in ids else 0.0)
    return np.array(out)


def test_tune_from_feedback_improves_the_marked_queries_and_rolls_back(sample_tiny_index, sample_queries, tmp_path):
    import shutil

    index = tmp_path / "idx"
    shutil.copytree(sample_tiny_index, index)
    # weights that suit another collection: here the (random) bi-encoder and cross-encoder lead
    set_fusion(index, weights=dict(MISFIT_WEIGHTS))
    # too few marks: refused, saying how many are needed
    for q in sample_queries[:3]:
        assert (
            runner.invoke(
                app, ["feedback", str(index), "--query", q["text"], "--id", q["relevant"][0], "--relevant"]
            ).exit_code
            == 0
        )
    result = runner.invoke(app, ["tune", str(index), "--feedback"])
    assert result.exit_code == 2 and "at least 10 queries" in result.output and "has 3" in result.output
    log = FeedbackLog(index)
    for q in sample_queries[3:]:
        log.add(q["text"], q["relevant"][0], True)
    before = reciprocal_ranks(index, sample_queries)
    result = runner.invoke(app, ["tune", str(index), "--feedback", "--min-queries", "10", "--folds", "4"])
    assert result.exit_code == 0, result.output
    assert "saved:" in result.output, result.output
    after = reciprocal_ranks(index, sample_queries)
    assert after.mean() > before.mean() + 0.05, (before, after)
    info = json.loads(runner.invoke(app, ["info", str(index), "--json"]).stdout)
    fitted = info["config"]["fusion"]["fitted"]
    assert fitted["by"] == "radlite tune --feedback" and fitted["queries"] == len(sample_queries)
    assert fitted["ndcg@10_after"] > fitted["ndcg@10_before"]
    shown = runner.invoke(app, ["info", str(index)]).stdout
    assert "user feedback 4-fold cross-validation (12 queries, radlite tune --feedback" in " ".join(shown.split())
    assert runner.invoke(app, ["tune", str(index), "--rollback"]).exit_code == 0
    assert np.allclose(reciprocal_ranks(index, sample_queries), before)


def test_feedback_command_records_lists_exports_and_clears(sample_tiny_index, tmp_path):
    import shutil

    index = tmp_path / "idx"
    shutil.copytree(sample_tiny_index, index)

    def run(*args):
        return runner.invoke(app, ["feedback", str(index), *args])

    shown = " ".join(runner.invoke(app, ["info", str(index)]).stdout.split())
    # radlite's default fusion, but the tiny test models: the default's numbers were not measured with them
    assert "nothing: radlite's default; not measured with other models than radlite's defaults" in shown

    assert run("--query", "linguine sign", "--id", "brst-005", "--relevant").exit_code == 0
    assert run("--query", "linguine sign", "--id", "gi-002", "--not-relevant").exit_code == 0
    missing = run("--query", "linguine sign", "--id", "nope", "--relevant")
    assert missing.exit_code == 2 and "no document with id 'nope'" in missing.output
    both = run("--list", "--clear")
    assert both.exit_code == 2 and "choose one of" in both.output
    listed = run("--list")
    assert listed.exit_code == 0 and "2 judgments" in listed.stdout and "not relevant" in listed.stdout
    lines = [json.loads(x) for x in run("--list", "--json").stdout.splitlines()]
    assert [(r["id"], r["relevant"], r["by"]) for r in lines] == [("brst-005", True, "cli"), ("gi-002", False, "cli")]
    assert run("--export", str(tmp_path / "qrels")).exit_code == 0
    assert (tmp_path / "qrels" / "qrels.trec").read_text().count(" 0 ") == 2
    assert run("--clear").exit_code == 1  # asks first; no answer is no
    assert len(FeedbackLog(index).records()) == 2
    cleared = run("--clear", "--yes")
    assert cleared.exit_code == 0 and "erased 2" in cleared.stdout
    assert FeedbackLog(index).records() == []
    # the marks live beside the index: a new generation (an update) keeps them
    FeedbackLog(index).add("q", "brst-005", True)
    set_fusion(index, weights={"bm25": 1.0})
    assert "nothing recorded: set by hand" in runner.invoke(app, ["info", str(index)]).stdout
    assert FeedbackLog(index).judgments() == {"q": {"brst-005": 1}}
    assert runner.invoke(app, ["verify", str(index)]).exit_code == 0


def test_too_few_marks_and_dropped_documents_are_reported(sample_tiny_index, tmp_path):
    import shutil

    from radlite.eval.tune import feedback_dataset, tune_feedback_index

    index = tmp_path / "idx"
    shutil.copytree(sample_tiny_index, index)
    log = FeedbackLog(index)
    log.add("a query", "gone-doc", True)
    log.add("another", "brst-005", False)
    log.add("third", "brst-005", True)
    data, dropped = feedback_dataset(index, {"brst-005"})
    assert [q.text for q in data.queries] == ["third"]
    assert dropped == {"marks_of_missing_documents": 1, "queries_without_a_relevant_mark": 2}
    with pytest.raises(QueryError, match="at least 10 queries .* has 1"):
        tune_feedback_index(index)
