"""The backend contract (radlite.backends.base), run by every backend the registry knows: the
bundled sample built on each returns the local index's top 10 per signal with the same scores and
the same fused results, stays in step through add and delete, survives a save and load, scores
any passage exactly as its ranking did, and keeps to the one top-k rule."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from radlite.backends.base import Backend
from radlite.backends.registry import backend_class, kinds
from radlite.corpus import load_corpus
from radlite.errors import IndexFormatError
from radlite.search.engine import RadLITESearch
from radlite.search.stages import Timer, retrieve, score_passages
from tests.conftest import NEW_DOCS, SAMPLE, assert_same_top10, backend_engine, rewrite_manifest, sample_query_texts

SIGNALS = ("bm25", "biencoder", "colbert")


def settings(kind: str, root: Path) -> dict | None:
    if kind == "local":
        return None
    if kind == "shards":
        return {"kind": "shards", "shards": 3}
    if kind == "qdrant":
        pytest.importorskip("qdrant_client")
        from radlite.backends.registry import qdrant_settings

        return qdrant_settings(None, root / "qdrant-data")
    raise AssertionError(f"the contract test does not know backend {kind!r}: add it here")


@pytest.fixture(scope="module")
def built(tiny_models, tmp_path_factory):
    """The sample built on every backend, saved and loaded back: kind -> (root, engine)."""
    root = tmp_path_factory.mktemp("contract")
    docs = load_corpus(SAMPLE / "radiology_sample.jsonl")
    out = {}
    for kind in kinds():
        backend_engine(tiny_models, settings(kind, root / kind)).index_corpus(docs).save(root / kind / "index")
        out[kind] = (root / kind / "index", RadLITESearch.load(root / kind / "index"))
    return out


def assert_same(local, other, queries):
    assert len(local.index.passages) == len(other.index.passages)
    for query in queries:
        q = local.encode_query(query, list(SIGNALS[1:]), Timer())
        for signal in SIGNALS:
            assert_same_top10(
                *retrieve(local.index, q, signal, 11), *retrieve(other.index, q, signal, 11), (signal, query)
            )
        a = local.search(query, top_k=10, candidates=20)
        b = other.search(query, top_k=10, candidates=20)
        assert [r["id"] for r in a] == [r["id"] for r in b], query
        np.testing.assert_allclose([r["score"] for r in a], [r["score"] for r in b], rtol=1e-4, atol=1e-6)
        # pseudo-relevance feedback reads the same bi-encoder vectors back from every backend
        np.testing.assert_allclose([r["prf"] for r in a], [r["prf"] for r in b], rtol=1e-4, atol=1e-5)
        assert a[0]["prf"] == max(r["prf"] for r in a) > 0, query  # the first result is most like itself
        for s in (*SIGNALS, "crossencoder"):
            np.testing.assert_allclose(
                [r["signals"][s]["raw"] for r in a], [r["signals"][s]["raw"] for r in b], rtol=1e-4, atol=1e-5
            )


@pytest.mark.parametrize("kind", kinds())
def test_every_backend_is_a_backend_named_in_its_manifest(built, kind):
    root, engine = built[kind]
    assert isinstance(engine.index.backend, Backend) and type(engine.index.backend) is backend_class(kind)
    manifest = json.loads((root / (root / "CURRENT").read_text().strip() / "manifest.json").read_text())
    assert manifest["backend"]["kind"] == kind and manifest["signals"] == list(SIGNALS)
    assert manifest["format_version"] == backend_class(kind).format_version
    # ColBERT's tokens are counted where they are kept in the index folder (local, shards), not elsewhere
    assert (manifest["counts"]["colbert_tokens"] is None) == (kind == "qdrant")


@pytest.mark.parametrize("kind", [k for k in kinds() if k != "local"])
def test_every_backend_ranks_and_fuses_as_the_local_index(built, kind):
    assert_same(built["local"][1], built[kind][1], sample_query_texts())


@pytest.mark.parametrize("kind", kinds())
def test_every_backend_reads_back_the_biencoder_vectors_it_was_given(built, kind):
    local, engine = built["local"][1], built[kind][1]
    pids = np.array([5, 0, 3], dtype=np.int64)
    got = engine.index.backend.biencoder_vectors(engine.index, pids)
    assert got.shape == (3, local.index.backend.dense.embeddings.shape[1]) and got.dtype == np.float32
    np.testing.assert_allclose(got, np.asarray(local.index.backend.dense.embeddings)[pids], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", kinds())
def test_retrieve_keeps_the_top_k_rule_and_score_agrees_with_it(built, kind):
    engine = built[kind][1]
    q = engine.encode_query("scaphoid waist fracture", list(SIGNALS[1:]), Timer())
    for signal in SIGNALS:
        pids, scores = retrieve(engine.index, q, signal, 12)
        assert pids.dtype == np.int64 and scores.dtype == np.float32 and 0 < len(pids) <= 12
        # best first, ties by passage id
        assert all((s1 > s2) or (s1 == s2 and p1 < p2) for p1, p2, s1, s2 in zip(pids, pids[1:], scores, scores[1:])), (
            kind,
            signal,
        )
        np.testing.assert_allclose(
            score_passages(engine.index, q, signal, pids[::-1]), scores[::-1], rtol=1e-5, atol=1e-6
        )
    with pytest.raises(ValueError, match="unknown first-stage signal"):
        engine.index.backend.retrieve(engine.index, q, "crossencoder", 5)


@pytest.mark.parametrize("kind", kinds())
def test_a_category_filter_keeps_only_that_category(built, kind):
    engine = built[kind][1]
    results = engine.search("fracture", top_k=5, candidates=10, category="msk")
    assert results and all(r["category"] == "msk" for r in results)


@pytest.mark.parametrize("kind", [k for k in kinds() if k != "local"])
def test_add_delete_save_and_load_keep_every_backend_in_step(tiny_models, tmp_path, kind):
    docs = load_corpus(SAMPLE / "radiology_sample.jsonl")
    local = backend_engine(tiny_models).index_corpus(docs)
    other = backend_engine(tiny_models, settings(kind, tmp_path)).index_corpus(docs)
    before = other.index.backend
    for engine in (local, other):
        engine.index = engine.with_documents(NEW_DOCS)
        engine.delete_documents(["new-2", engine.index.documents[0].id])
    assert other.index.backend is not before and type(other.index.backend) is type(before)  # a new backend each change
    assert [d.id for d in local.index.documents] == [d.id for d in other.index.documents]
    assert_same(local, other, sample_query_texts())
    assert other.search("pleural line deep sulcus", top_k=1, candidates=5, signals=["bm25"])[0]["id"] == "new-1"
    local.save(tmp_path / "local")
    other.save(tmp_path / "other")
    assert_same(
        RadLITESearch.load(tmp_path / "local"), RadLITESearch.load(tmp_path / "other"), sample_query_texts()[:4]
    )


def test_bad_backend_settings_are_refused_when_the_index_opens(built, tmp_path):
    root, _ = built["shards"]
    gen = root / (root / "CURRENT").read_text().strip()
    manifest = json.loads((gen / "manifest.json").read_text())
    for backend, expected in (({"kind": "mongo"}, "'backend'"), ({"kind": "shards", "shards": 0}, "shards")):
        rewrite_manifest(gen, {**manifest, "backend": backend})
        with pytest.raises(IndexFormatError, match=expected):
            RadLITESearch.load(root)
    rewrite_manifest(gen, manifest)
    assert RadLITESearch.load(root).index.backend.kind == "shards"


def test_nothing_outside_backends_imports_a_backends_module():
    package = Path(__file__).resolve().parents[2] / "radlite"
    offenders = []
    for path in package.rglob("*.py"):
        if path.parent.name == "backends":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [
                f"{path.relative_to(package)}: {n}"
                for n in names
                if n.startswith("radlite.backends.") and n not in ("radlite.backends.base", "radlite.backends.registry")
            ]
    assert offenders == []
