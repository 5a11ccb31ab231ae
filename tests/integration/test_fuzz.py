"""Fuzzing with Hypothesis, on a fixed budget and a fixed seed (derandomize): whatever the corpus
reader, the query path and the HTTP API are given, they answer with documents, results or a
radlite error / a 4xx, never another exception and never a 500."""

import json
import math
import shutil

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from radlite.corpus import documents_from_records  # noqa: E402
from radlite.errors import RadliteError  # noqa: E402
from radlite.search.engine import RadLITESearch  # noqa: E402

BUDGET = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40)  # surrogates included
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), text)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=6
)
records = st.one_of(
    text,
    values,
    st.fixed_dictionaries(
        {"id": values, "text": values},
        optional={"title": values, "category": values, "metadata": values, "extra": values},
    ),
)


@BUDGET
@given(st.lists(records, max_size=4))
def test_the_corpus_reader_returns_documents_or_a_corpus_error(batch):
    try:
        docs = documents_from_records(batch)
    except RadliteError:
        return
    for d in docs:  # what it accepts is storable: valid text, strict JSON
        assert isinstance(d.id, str) and isinstance(d.text, str)
        json.dumps(d.to_json(), allow_nan=False, ensure_ascii=False).encode("utf-8")


@pytest.fixture(scope="module")
def engine(tiny_index):
    return RadLITESearch.load(tiny_index)


@BUDGET
@given(query=text, top_k=st.integers(-2, 1200), candidates=st.integers(-2, 1200))
def test_the_query_path_returns_results_or_a_query_error(engine, query, top_k, candidates):
    try:
        results = engine.search(query, top_k=top_k, candidates=candidates)
    except RadliteError:
        return
    assert len(results) <= top_k and all(math.isfinite(r.score) for r in results)


@pytest.fixture(scope="module")
def client(tiny_index, tmp_path_factory):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from radlite.serve.app import ServeConfig, create_app

    root = tmp_path_factory.mktemp("fuzz") / "idx"
    shutil.copytree(tiny_index, root)
    with TestClient(create_app(ServeConfig(index_dir=str(root), allow_writes=True))) as c:
        yield c


bodies = st.one_of(
    values,
    st.fixed_dictionaries(
        {"query": values},
        optional={
            "top_k": values,
            "candidates": values,
            "signals": values,
            "weights": values,
            "method": values,
            "category": values,
            "id": values,
            "documents": values,
        },
    ),
)


@BUDGET
@given(path=st.sampled_from(["/search", "/explain", "/documents"]), body=bodies)
def test_the_http_api_answers_every_body_without_a_500(client, path, body):
    raw = json.dumps(body, allow_nan=True)  # NaN and Infinity as a careless client sends them
    res = client.post(path, content=raw, headers={"content-type": "application/json"})
    assert res.status_code < 500, (path, raw, res.status_code, res.text[:300])
