"""The result JSON is pinned: the keys, their order and their types, for every signal, as the CLI,
the server and the page emit them (SearchResult.to_dict), and the Python API returns typed results."""

import json
import math

import pytest

from radlite.search.results import SearchResult, SignalScore
from tests.conftest import RESULT_ORDER as TOP  # noqa: E402


def test_a_hand_made_result_gives_the_pinned_json():
    r = SearchResult(
        rank=1,
        id="d1",
        corpus_index=4,
        title="Croup",
        category="pediatric",
        document="Steeple sign.",
        passage="Steeple sign.",
        passage_index=0,
        passage_span=(0, 13),
        metadata={"k": 1},
        score=0.9,
        signals={
            "bm25": SignalScore(raw=3.5, normalized=1.0, rank=1),
            "crossencoder": SignalScore(raw=2.0, calibrated=0.8, rank=2, untrained=True),
        },
    )
    assert r.to_dict() == {
        "rank": 1,
        "id": "d1",
        "corpus_index": 4,
        "title": "Croup",
        "category": "pediatric",
        "document": "Steeple sign.",
        "passage": "Steeple sign.",
        "passage_index": 0,
        "passage_span": [0, 13],
        "metadata": {"k": 1},
        "score": 0.9,
        "relevance": None,
        "biencoder_score": None,
        "bm25_score": 3.5,
        "colbert_score": None,
        "crossencoder_score": 0.8,
        "signals": {
            "bm25": {"raw": 3.5, "normalized": 1.0, "rank": 1},
            "crossencoder": {"raw": 2.0, "calibrated": 0.8, "rank": 2, "untrained": True},
        },
        "expansions": [],
        "negation_penalty": 0.0,
    }
    assert list(r.to_dict()) == TOP and r["bm25_score"] == 3.5 and r.signal_score("colbert") is None


@pytest.mark.parametrize("method", ["weighted", "rrf"])
def test_search_returns_typed_results_whose_json_has_the_pinned_schema(tiny_index, method):
    from radlite.search.engine import RadLITESearch

    results = RadLITESearch.load(tiny_index).search("steeple sign croup", top_k=3, method=method)
    assert results and all(isinstance(r, SearchResult) for r in results)
    for r in results:
        d = json.loads(json.dumps(r.to_dict()))
        assert list(d) == TOP
        assert isinstance(d["rank"], int) and isinstance(d["id"], str) and isinstance(d["score"], float)
        assert isinstance(d["passage_span"], list) and len(d["passage_span"]) == 2
        assert d["passage"] == d["document"][d["passage_span"][0] : d["passage_span"][1]]
        assert list(d["signals"]) == ["bm25", "biencoder", "colbert", "crossencoder"]
        for s in ("bm25", "biencoder", "colbert"):
            assert list(d["signals"][s])[:3] == ["raw", "normalized", "rank"]
            assert d[f"{s}_score"] == d["signals"][s]["raw"]
            assert (d["signals"][s]["normalized"] is None) == (method == "rrf")
        assert list(d["signals"]["crossencoder"])[:3] == ["raw", "calibrated", "rank"]
        assert d["crossencoder_score"] == d["signals"]["crossencoder"]["calibrated"]
        assert 0.0 < d["crossencoder_score"] < 1.0


def test_the_relevance_estimate_by_hand():
    from radlite.search.relevance import RelevanceModel

    m = RelevanceModel(biencoder=2.0, colbert_per_token=3.0, bias=-1.0, threshold=0.5)
    # z = 2 * 0.5 + 3 * (6 / 3) - 1 = 6
    assert m.probability(0.5, 6.0, 3) == pytest.approx(1 / (1 + math.exp(-6)))
    assert m.probability(0.0, 0.0, 0) == pytest.approx(1 / (1 + math.exp(1)))  # no tokens: no division by zero
