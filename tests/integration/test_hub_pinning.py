"""A hub model named by an index is read at the commit the index was built with, not at whatever the
hub's main branch points to later (an offline hub cache stands in for the hub)."""

import shutil

import pytest

from radlite.search.engine import RadLITESearch
from tests.conftest import TINY_DOCS

REV1, REV2 = "1" * 40, "2" * 40


def _snapshot(cache, repo, rev, source):
    folder = cache / f"models--{repo.replace('/', '--')}"
    shutil.copytree(source, folder / "snapshots" / rev)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(rev)


def test_an_index_keeps_reading_the_commit_it_was_built_with(tiny_models, tmp_path, monkeypatch):
    hub = pytest.importorskip("huggingface_hub")
    cache = tmp_path / "hub"
    monkeypatch.setattr(hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _snapshot(cache, "radlite-tests/tiny-bi", REV1, tiny_models["biencoder"])
    engine = RadLITESearch(biencoder="radlite-tests/tiny-bi", colbert=tiny_models["colbert"], reranker=None)
    engine.index_corpus(TINY_DOCS).save(tmp_path / "idx")
    assert engine.models["biencoder"].to_json()["revision"] == REV1
    # the hub's main branch moves on to other weights
    _snapshot(cache, "radlite-tests/tiny-bi", REV2, tiny_models["other_biencoder"])
    loaded = RadLITESearch.load(tmp_path / "idx")
    assert loaded.models["biencoder"].path.name == REV1
    assert loaded.search("filling defect pulmonary artery", top_k=1)[0].id == "pe"
    # a new build follows main, and records that commit
    assert (
        RadLITESearch(biencoder="radlite-tests/tiny-bi", colbert=None, reranker=None, signals=["biencoder"])
        .models["biencoder"]
        .revision
        == REV2
    )
