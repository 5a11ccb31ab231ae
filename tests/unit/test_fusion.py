import math

import numpy as np
import pytest

from radlite.search import fusion


def test_minmax_by_hand():
    assert np.allclose(fusion.minmax(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    out = fusion.minmax(np.array([1.0, np.nan, 3.0]))
    assert out[0] == 0 and np.isnan(out[1]) and out[2] == 1
    assert np.allclose(fusion.minmax(np.array([5.0, 5.0])), [0.0, 0.0])  # a constant signal cannot rank


def test_zscore_by_hand_orders_as_summed_z_scores_do():
    # [1, 2, 3]: mean 2, population std sqrt(2/3); shifted so the lowest is 0
    sd = math.sqrt(2 / 3)
    assert np.allclose(fusion.zscore(np.array([1.0, 2.0, 3.0])), [0.0, 1 / sd, 2 / sd])
    out = fusion.zscore(np.array([4.0, np.nan, 2.0]))
    assert out[0] == pytest.approx(2.0) and np.isnan(out[1]) and out[2] == 0  # std of [4, 2] is 1
    assert np.allclose(fusion.zscore(np.array([5.0, 5.0])), [0.0, 0.0])
    # a signal that separates one candidate sharply outweighs one that spreads evenly, unlike min-max
    # (20 candidates: signal a singles out the last one, b ranks them evenly, first best)
    sharp, even = np.r_[0.05, np.zeros(18), 1.0], np.arange(19.0, -1.0, -1.0)
    both = {"a": sharp, "b": even}
    by_z = fusion.weighted({k: fusion.normalise(v, "zscore") for k, v in both.items()}, {"a": 1, "b": 1})
    by_minmax = fusion.weighted({k: fusion.normalise(v, "minmax") for k, v in both.items()}, {"a": 1, "b": 1})
    assert np.argmax(by_z) == 19 and np.argmax(by_minmax) == 0
    with pytest.raises(ValueError, match="unknown normalization"):
        fusion.normalise(sharp, "rank")


def test_an_index_written_before_zscore_keeps_min_max():
    from radlite.config import IndexConfig

    old = IndexConfig.from_json({"fusion": {"method": "weighted", "weights": {"bm25": 1.0}}})
    assert old.fusion.normalization == "minmax"
    assert IndexConfig().fusion.normalization == "zscore"
    assert IndexConfig.from_json(IndexConfig().to_json()).fusion.normalization == "zscore"


def test_an_index_written_before_feedback_keeps_none_and_bad_weights_are_refused():
    from radlite.config import DEFAULT_PRF, IndexConfig
    from radlite.errors import QueryError
    from radlite.search.checks import check_prf

    assert IndexConfig.from_json({"fusion": {"method": "weighted"}}).fusion.prf == 0.0
    assert IndexConfig().fusion.prf == DEFAULT_PRF > 0
    assert IndexConfig.from_json(IndexConfig().to_json()).fusion.prf == DEFAULT_PRF
    assert check_prf(1) == 1.0
    for bad in (-0.1, float("nan"), float("inf"), True, "0.5", None):
        with pytest.raises(QueryError, match="prf"):
            check_prf(bad)


def test_calibration_is_sigmoid_of_logit_over_temperature():
    assert fusion.calibrate(np.array([0.0]), 1.5)[0] == 0.5
    assert math.isclose(fusion.calibrate(np.array([3.0]), 1.5)[0], 1 / (1 + math.exp(-2.0)))
    with pytest.raises(ValueError):
        fusion.calibrate(np.array([1.0]), 0)


def test_weighted_sum_by_hand_and_missing_scores():
    norm = {"biencoder": np.array([1.0, 0.0]), "bm25": np.array([0.0, 1.0]), "crossencoder": np.array([0.9, np.nan])}
    w = {"biencoder": 0.5, "bm25": 0.3, "crossencoder": 0.2}
    assert np.allclose(fusion.weighted(norm, w), [0.5 + 0.18, 0.3])


def test_active_weights_fall_back_to_equal():
    assert fusion.active_weights({"colbert": 0.0, "bm25": 0.3}, ["colbert"]) == {"colbert": 1.0}
    assert fusion.active_weights({"colbert": 0.0, "bm25": 0.3}, ["colbert", "bm25"]) == {"colbert": 0.0, "bm25": 0.3}


def test_rrf_by_hand():
    ranks = {"a": np.array([1.0, 2.0, np.nan]), "b": np.array([2.0, np.nan, 1.0])}
    got = fusion.rrf(ranks, {"a": 1.0, "b": 1.0}, k=60)
    assert np.allclose(got, [1 / 61 + 1 / 62, 1 / 62, 1 / 61])


def test_ranks_of():
    r = fusion.ranks_of(np.array([0.1, np.nan, 0.9, 0.5]))
    assert r[0] == 3 and np.isnan(r[1]) and r[2] == 1 and r[3] == 2
