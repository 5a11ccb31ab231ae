"""The fast paths (ONNX Runtime, int8) agree with the exact PyTorch ones on a small input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_DOCS

pytest.importorskip("onnxruntime")

QUERIES = [
    "filling defect in the pulmonary artery",
    "target sign in a child",
    "Dawson fingers on MRI",
    "spiculated breast mass",
    "odontoid fracture after trauma",
]


def pairs():
    return [(q, d["title"] + ". " + d["text"]) for q in QUERIES for d in TINY_DOCS]


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_onnx_export_of_the_cross_encoder_reproduces_its_logits(tiny_models, tmp_path, monkeypatch):
    from radlite.models.encoders import CrossEncoderReranker
    from radlite.models.onnx import OnnxCrossEncoder
    from radlite.models.resolve import weights_sha256

    monkeypatch.setenv("RADLITE_HOME", str(tmp_path))
    path = Path(tiny_models["reranker"])
    exact = CrossEncoderReranker(path).predict(pairs())
    fp32 = OnnxCrossEncoder(path, weights_sha256(path), quantize=False, batch_size=3).predict(pairs())
    # same tokenisation, truncation and padding-free batching as CrossEncoder.predict: same numbers
    assert np.allclose(fp32, exact, atol=1e-4)
    int8 = CrossEncoderReranker(path, fast=True, sha256=weights_sha256(path))
    assert int8.backend == "onnx-int8" and len(list((tmp_path / "onnx").glob("*int8*/model.onnx"))) == 1
    assert np.abs(int8.predict(pairs()) - exact).max() < 0.01  # a random tiny model: logits all near 0


def test_a_damaged_onnx_cache_is_rebuilt_not_used(tiny_models, tmp_path, monkeypatch, caplog):
    from radlite.models.onnx import OnnxCrossEncoder
    from radlite.models.resolve import weights_sha256

    monkeypatch.setenv("RADLITE_HOME", str(tmp_path))
    path = Path(tiny_models["reranker"])
    first = OnnxCrossEncoder(path, weights_sha256(path), quantize=False).predict(pairs())
    (onnx,) = (tmp_path / "onnx").glob("*/model.onnx")
    data = bytearray(onnx.read_bytes())
    for i in range(len(data) - 4096, len(data) - 4080):  # inside the weights: the model still loads
        data[i] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with caplog.at_level("WARNING"):
        again = OnnxCrossEncoder(path, weights_sha256(path), quantize=False).predict(pairs())
    assert any("is damaged" in r.getMessage() for r in caplog.records)
    assert np.array_equal(again, first)


@pytest.mark.slow
def test_fast_reranker_ranks_like_the_exact_one(tmp_path, monkeypatch):
    from radlite.models.encoders import CrossEncoderReranker
    from radlite.models.resolve import resolve_model

    monkeypatch.setenv("RADLITE_HOME", str(tmp_path))
    model = resolve_model("crossencoder", "default")
    exact = CrossEncoderReranker(model.path).predict(pairs())
    fast = CrossEncoderReranker(model.path, fast=True, sha256=model.sha256)
    assert fast.backend == "onnx-int8"
    got = fast.predict(pairs())
    assert spearman(got, exact) >= 0.95
    same = 0
    for i in range(len(QUERIES)):  # each query's best document stays at the top, or second behind a near-tie
        block = slice(i * len(TINY_DOCS), (i + 1) * len(TINY_DOCS))
        same += int(np.argmax(got[block]) == np.argmax(exact[block]))
        assert np.argmax(exact[block]) in np.argsort(-got[block])[:2]
    assert same >= len(QUERIES) - 1


def test_a_marker_can_keep_the_fast_reranker_exact(tmp_path, monkeypatch):
    import json
    import shutil

    from radlite.models.encoders import CrossEncoderReranker
    from radlite.models.resolve import resolve_model, weights_sha256

    monkeypatch.setenv("RADLITE_HOME", str(tmp_path))
    folder = tmp_path / "ce"
    shutil.copytree(resolve_model("crossencoder", "default").path, folder)
    marker = folder / "radlite_model.json"
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "fast_precision": "fp32"}))
    exact = CrossEncoderReranker(folder).predict(pairs())
    fast = CrossEncoderReranker(folder, fast=True, sha256=weights_sha256(folder))
    assert fast.backend == "onnx-fp32" and np.allclose(fast.predict(pairs()), exact, atol=1e-4)


def test_engine_uses_the_fast_reranker_by_default_and_exact_on_request(tiny_models, tiny_index, tmp_path, monkeypatch):
    from radlite.search.engine import RadLITESearch

    monkeypatch.setenv("RADLITE_HOME", str(tmp_path))
    fast, exact = RadLITESearch.load(tiny_index), RadLITESearch.load(tiny_index, exact=True)
    a, b = (
        fast.search("filling defect pulmonary artery", top_k=5),
        exact.search("filling defect pulmonary artery", top_k=5),
    )
    assert fast.encoder("crossencoder").backend == "onnx-int8" and exact.encoder("crossencoder").backend == "torch"
    lb = {r["id"]: r["signals"]["crossencoder"]["raw"] for r in b}
    assert [r["id"] for r in a][:1] == [r["id"] for r in b][:1] == ["pe"]
    assert np.allclose([r["signals"]["crossencoder"]["raw"] for r in a], [lb[r["id"]] for r in a], atol=0.01)


@pytest.mark.parametrize("kind", ["biencoder", "colbert"])
def test_fast_query_encoders_give_the_exact_vectors(kind, tiny_models, tmp_path, monkeypatch):
    from radlite.models.encoders import BiEncoder, ColbertEncoder
    from radlite.models.resolve import weights_sha256

    monkeypatch.setenv("RADLITE_HOME", str(tmp_path))
    monkeypatch.setattr("radlite.models.encoders.QUERY_INT8", {kind: False})
    cls = BiEncoder if kind == "biencoder" else ColbertEncoder
    path = Path(tiny_models[kind])
    exact, fast = cls(path), cls(path, fast=True, sha256=weights_sha256(path))
    for q in QUERIES:
        a, b = exact.encode_query(q), fast.encode_query(q)
        assert a.shape == b.shape and np.allclose(a, b, atol=1e-5)
    assert exact._fast.get() is None and fast._fast.get() is not None


def test_pair_encoding_runs_the_two_encoders_at_the_same_time():
    """parallel=True overlaps the two forward passes: each encoder waits at a barrier that only opens when
    the other has reached it too, so a sequential run breaks the barrier (and the test)."""
    import threading

    from radlite.models.encoders import encode_query_pair

    barrier, threads = threading.Barrier(2, timeout=10), {}

    class Meeting:
        def __init__(self, name):
            self.name = name

        def encode_query(self, text):
            threads[self.name] = threading.current_thread().name
            barrier.wait()
            return np.full(3, len(text), dtype=np.float32) if self.name == "bi" else np.ones((2, 3), np.float32)

    bi, col = encode_query_pair(Meeting("bi"), Meeting("col"), "abcd", parallel=True)
    assert threads["bi"] != threads["col"] and bi.tolist() == [4, 4, 4] and col.shape == (2, 3)
    barrier.reset()
    with pytest.raises(threading.BrokenBarrierError):  # the same encoders one after the other cannot meet
        barrier._timeout = 0.2
        encode_query_pair(Meeting("bi"), Meeting("col"), "abcd", parallel=False)


def test_int8_colbert_queries_stay_close_and_the_pair_matches_the_sequential_path(tiny_models, tmp_path, monkeypatch):
    from radlite.models.encoders import QUERY_INT8, BiEncoder, ColbertEncoder, encode_query_pair
    from radlite.models.resolve import weights_sha256

    assert QUERY_INT8 == {"biencoder": False, "colbert": True}  # the defaults the benchmark measured
    monkeypatch.setenv("RADLITE_HOME", str(tmp_path))
    bp, cp = Path(tiny_models["biencoder"]), Path(tiny_models["colbert"])
    bi_exact, col_exact = BiEncoder(bp), ColbertEncoder(cp)
    bi_fast, col_fast = (
        BiEncoder(bp, fast=True, sha256=weights_sha256(bp)),
        ColbertEncoder(cp, fast=True, sha256=weights_sha256(cp)),
    )
    for q in QUERIES:
        b_seq, c_seq = encode_query_pair(bi_exact, col_exact, q, parallel=False)
        b_par, c_par = encode_query_pair(bi_fast, col_fast, q, parallel=True)
        assert np.allclose(b_seq, b_par, atol=1e-5)  # fp32 bi-encoder: the exact vector
        cos = (c_seq * c_par).sum(axis=1)  # int8 ColBERT: unit token vectors, each close to the exact one
        assert c_par.shape == c_seq.shape and cos.min() > 0.95 and cos.mean() > 0.98, cos
        assert np.allclose(np.linalg.norm(c_par, axis=1), 1.0, atol=1e-5)
    # both fast encoders were exported at once on the first parallel query; neither fell back
    assert bi_fast._fast.get() is not None and col_fast._fast.get() is not None


def test_colbert_reads_long_queries_whole_on_both_paths(tiny_models, tmp_path, monkeypatch):
    """A board vignette longer than the trained 32 query tokens is encoded at its own length (its findings
    come last); a short query keeps the trained, [MASK]-expanded length. Exact and fast paths agree."""
    from radlite.models.encoders import ColbertEncoder
    from radlite.models.resolve import weights_sha256

    monkeypatch.setenv("RADLITE_HOME", str(tmp_path))
    monkeypatch.setattr("radlite.models.encoders.QUERY_INT8", {"colbert": False})
    path = Path(tiny_models["colbert"])
    exact, fast = ColbertEncoder(path), ColbertEncoder(path, fast=True, sha256=weights_sha256(path))
    vignette = (
        "A 45-year-old woman presents with two weeks of progressive shortness of breath and pleuritic "
        "chest pain after a long flight. Examination shows tachycardia and a swollen left calf. CT "
        "pulmonary angiography shows a filling defect in the right main pulmonary artery."
    )
    pieces = len(exact.model.tokenizer(vignette, add_special_tokens=False)["input_ids"])
    assert pieces + 3 > 32
    for q, n in ((vignette, pieces + 3), ("target sign in a child", exact.trained_query_length)):
        a, b = exact.encode_query(q), fast.encode_query(q)
        assert a.shape == b.shape == (n, a.shape[1]) and np.allclose(a, b, atol=1e-5)
    assert exact.trained_query_length == 32 and exact.query_length("word " * 1000) == exact.max_query_tokens
