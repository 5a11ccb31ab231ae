"""Hostile or careless input gets one sentence, never a traceback, a 500 or invalid output: lone
surrogates, NaN in metadata, ids that are not strings or integers, bytes that are not UTF-8, and
terminal escape sequences in what the CLI prints."""

import json
import math
import shutil

import pytest
from typer.testing import CliRunner

from radlite.cli import app
from radlite.cli._common import json_text, safe
from radlite.corpus import documents_from_records, load_corpus
from radlite.errors import CorpusError, QueryError
from radlite.search.engine import RadLITESearch
from tests.conftest import model_flags

runner = CliRunner()


@pytest.mark.parametrize(
    "record, message",
    [
        ({"id": [1, 2], "text": "x"}, "'id' must be a string or an integer"),
        ({"id": True, "text": "x"}, "'id' must be a string or an integer"),
        ({"id": "a", "text": "lone \ud800 surrogate"}, "field 'text' holds invalid text"),
        ({"id": "a", "text": "ok", "title": "bad \udfff"}, "field 'title' holds invalid text"),
        ({"id": "a", "text": "ok", "metadata": {"x": math.nan}}, "NaN or Infinity"),
        ({"id": "a", "text": "ok", "size": math.inf}, "NaN or Infinity"),
    ],
)
def test_bad_records_are_refused_with_a_sentence(record, message):
    with pytest.raises(CorpusError, match=message):
        documents_from_records([record])


def test_integer_ids_are_kept_as_their_digits_and_bad_bytes_name_their_line(tmp_path):
    assert [d.id for d in documents_from_records([{"id": 7, "text": "x"}])] == ["7"]
    f = tmp_path / "c.jsonl"
    f.write_bytes(b'{"id": "a", "text": "fine"}\n{"id": "b", "text": "caf\xe9"}\n')
    with pytest.raises(CorpusError, match="line 2 is not UTF-8"):
        load_corpus(f)
    f.write_text('{"id": "a", "text": "x", "n": NaN}\n')
    with pytest.raises(CorpusError, match="line 1: metadata holds NaN"):
        load_corpus(f)


def test_a_lone_surrogate_in_a_query_is_a_query_error(tiny_index):
    engine = RadLITESearch.load(tiny_index)
    with pytest.raises(QueryError, match="the query holds invalid text"):
        engine.search("target \ud800 sign")


def test_the_server_answers_a_lone_surrogate_with_a_4xx(tiny_index, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from radlite.serve.app import ServeConfig, create_app

    root = tmp_path / "idx"
    shutil.copytree(tiny_index, root)
    with TestClient(create_app(ServeConfig(index_dir=str(root)))) as client:
        body = '{"query": "target \\ud800 sign"}'  # valid JSON text for an invalid string
        for path in ("/search", "/explain"):
            res = client.post(path, content=body, headers={"content-type": "application/json"})
            assert 400 <= res.status_code < 500, (path, res.status_code, res.text)


def test_terminal_output_drops_control_characters_and_json_stays_strict(tiny_models, tmp_path):
    assert safe("ok\x1b[2J\x1b]8;;http://evil\x07link\u202e") == "ok[2J]8;;http://evillink"
    assert json.loads(json_text({"a": math.nan, "b": [math.inf, 1.0]})) == {"a": None, "b": [None, 1.0]}
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "x\x1b[31m", "title": "Croup\x1b[2J", "text": "Steeple sign in croup."}) + "\n")
    assert (
        runner.invoke(app, ["index", str(corpus), "-o", str(tmp_path / "i"), *model_flags(tiny_models)]).exit_code == 0
    )
    res = runner.invoke(app, ["search", str(tmp_path / "i"), "steeple sign", "--signals", "bm25"])
    assert res.exit_code == 0 and "\x1b" not in res.output and "Croup" in res.output
