"""Distributed encoding on a local Ray instance: the index equals the one encoded in this process,
for the local backend and streamed into Qdrant, and `radlite index --ray` works from the CLI."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from radlite.cli import app, with_optional_values
from radlite.config import IndexConfig
from radlite.corpus import load_corpus
from radlite.encoding import RayEncoding
from radlite.search.engine import RadLITESearch
from tests.conftest import NEW_DOCS, SAMPLE, model_flags

pytest.importorskip("ray")


def _engine(models, **kwargs):
    config = IndexConfig()
    config.colbert.nprobe = 0
    return RadLITESearch(
        biencoder=models["biencoder"], colbert=models["colbert"], reranker=None, config=config, **kwargs
    )


def _searching(models, index):
    engine = _engine(models)
    engine.index = index
    return engine


def test_ray_encoding_builds_the_same_index(tiny_models):
    docs = load_corpus(SAMPLE / "radiology_sample.jsonl")
    here = _engine(tiny_models).index_corpus(docs).index
    engine = _engine(tiny_models, ray="local", ray_actors=2)
    # small tasks, so both actors get work (batches may then come back in any order)
    encoding = engine._passage_encoders(engine.config.signals)
    assert isinstance(encoding, RayEncoding)
    encoding.rows_per_task = 16
    from radlite.index import SearchIndex

    on_ray = SearchIndex.build(docs, engine.config, encoding, engine._models_json())
    assert encoding.used_actors == 2
    assert np.array_equal(here.passages, on_ray.passages)
    # the same model on other batches: equal to float rounding (padding differs between batches)
    np.testing.assert_allclose(
        np.asarray(here.backend.dense.embeddings), np.asarray(on_ray.backend.dense.embeddings), atol=1e-5
    )
    np.testing.assert_array_equal(here.backend.colbert.offsets, on_ray.backend.colbert.offsets)
    rows = np.arange(here.backend.colbert.n_tokens)
    np.testing.assert_allclose(
        here.backend.colbert.token_vectors(rows), on_ray.backend.colbert.token_vectors(rows), atol=2e-3
    )
    for query in ("linguine sign silicone implant MRI", "Dawson fingers periventricular lesions"):
        a, b = (_searching(tiny_models, idx).search(query, top_k=10, candidates=20) for idx in (here, on_ray))
        assert [r["id"] for r in a] == [r["id"] for r in b]
        np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in b], atol=1e-4)


def test_cli_index_with_ray_streams_into_qdrant(tiny_models, tmp_path):
    pytest.importorskip("qdrant_client")
    runner = CliRunner()
    models = model_flags(tiny_models)
    corpus = str(SAMPLE / "radiology_sample.jsonl")
    # a bare --ray, as the `radlite` command line reads it
    built = runner.invoke(
        app,
        with_optional_values(
            [
                "index",
                corpus,
                "-o",
                str(tmp_path / "ray"),
                "--ray",
                "--backend",
                "qdrant",
                "--qdrant-path",
                str(tmp_path / "qd"),
                *models,
            ]
        ),
    )
    assert built.exit_code == 0, built.output
    assert "encoding on Ray (local)" in built.output
    assert runner.invoke(app, ["index", corpus, "-o", str(tmp_path / "here"), *models]).exit_code == 0

    def top(index):
        res = runner.invoke(
            app,
            [
                "search",
                str(index),
                "Dawson fingers periventricular",
                "--json",
                "-k",
                "5",
                "--signals",
                "bm25,biencoder",
            ],
        )
        assert res.exit_code == 0, res.output
        return [r["id"] for r in json.loads(res.stdout)]

    assert top(tmp_path / "ray") == top(tmp_path / "here")
    (tmp_path / "more.jsonl").write_text("\n".join(json.dumps(d) for d in NEW_DOCS))
    added = runner.invoke(
        app, with_optional_values(["add", str(tmp_path / "ray"), str(tmp_path / "more.jsonl"), "--ray"])
    )
    assert added.exit_code == 0 and "added 3 documents" in added.output, added.output
    res = runner.invoke(
        app,
        [
            "search",
            str(tmp_path / "ray"),
            "thickened pylorus infant",
            "--json",
            "-k",
            "1",
            "--signals",
            "biencoder,bm25",
        ],
    )
    assert json.loads(res.stdout)[0]["id"] == "new-3"
    assert with_optional_values(["index", "c", "--ray"]) == ["index", "c", "--ray", "local"]
    unreachable = runner.invoke(app, ["index", corpus, "-o", str(tmp_path / "x"), "--ray", "127.0.0.1:1", *models])
    assert unreachable.exit_code == 2 and "cannot start or join the Ray cluster at 127.0.0.1:1" in unreachable.output
