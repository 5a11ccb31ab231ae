import math

import numpy as np
import pytest

from radlite.search import fusion


def test_minmax_by_hand():
    assert np.allclose(fusion.minmax(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    out = fusion.minmax(np.array([1.0, np.nan, 3.0]))
    assert out[0] == 0 and np.isnan(out[1]) and out[2] == 1
    assert np.allclose(fusion.minmax(np.array([5.0, 5.0])), [0.0, 0.0])  # a constant signal cannot rank


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
