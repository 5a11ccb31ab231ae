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
        "prf": 0.0,
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


def test_each_relevance_fit_belongs_to_the_models_it_was_fitted_with():
    from radlite.config import DEFAULT_MODEL_SHA256, MINILM_SHA256
    from radlite.search.relevance import DEFAULT, MINILM, fitted_for

    colbert = DEFAULT_MODEL_SHA256["colbert"]
    assert fitted_for(DEFAULT_MODEL_SHA256["biencoder"], colbert) is DEFAULT
    assert fitted_for(MINILM_SHA256, colbert) is MINILM  # an index still built with all-MiniLM-L6-v2
    assert fitted_for("0" * 64, colbert) is None and fitted_for(DEFAULT_MODEL_SHA256["biencoder"], None) is None


def test_the_default_fusions_measured_quality_is_shown_only_for_the_models_it_was_measured_with():
    from dataclasses import asdict

    from radlite.cli.index import fitted_text
    from radlite.config import DEFAULT_FUSION_MEASURED, DEFAULT_MODEL_SHA256, MINILM_SHA256, FusionConfig

    default = asdict(FusionConfig())
    radbench9 = f"radbench9 test {DEFAULT_FUSION_MEASURED['ndcg@10']['radbench9 test']:.3f}"
    assert radbench9 in fitted_text(default, DEFAULT_MODEL_SHA256["biencoder"])
    assert radbench9 in fitted_text(default)  # nothing known of the models: the default's numbers
    older = fitted_text(default, MINILM_SHA256)
    assert radbench9 not in older and "not measured with other models than radlite's defaults" in older
    assert fitted_text({**default, "weights": {"bm25": 1.0}}, MINILM_SHA256).startswith("nothing recorded")
