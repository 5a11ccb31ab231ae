"""Metric code against values worked out by hand."""

import math

import pytest

from radlite.eval import metrics

QRELS = {"q1": {"a": 2, "b": 1, "c": 0}, "q2": {"x": 1}, "q3": {"z": 0}}
RUN = {"q1": {"c": 3.0, "b": 2.0, "a": 1.0}, "q2": {"y": 1.0, "x": 0.5}}


def test_metrics_by_hand():
    pq = metrics.per_query(RUN, QRELS)
    assert set(pq["ndcg@10"]) == {"q1", "q2"}  # q3 has no relevant document
    # q1 ranks c (0), b (1), a (2): DCG = 1/log2(3) + 2/log2(4); ideal = 2 + 1/log2(3)
    dcg, ideal = 1 / math.log2(3) + 2 / 2, 2 + 1 / math.log2(3)
    assert pq["ndcg@10"]["q1"] == pytest.approx(dcg / ideal)
    assert pq["ndcg@10"]["q2"] == pytest.approx((1 / math.log2(3)) / 1)
    assert pq["mrr@10"] == {"q1": 0.5, "q2": 0.5}  # first relevant (grade >= 1) at rank 2
    assert pq["recall@1"] == {"q1": 0.0, "q2": 0.0}
    assert pq["recall@5"] == {"q1": 1.0, "q2": 1.0}


def test_missing_run_counts_as_zero_and_found_rate():
    pq = metrics.per_query({"q1": RUN["q1"]}, QRELS, ["recall@5"])
    assert pq["recall@5"] == {"q1": 1.0, "q2": 0.0}
    assert metrics.found_rate(RUN, QRELS, ["q1", "q2"], k=1) == 0.0
    assert metrics.found_rate(RUN, QRELS, ["q1", "q2"], k=2) == 1.0
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.per_query(RUN, QRELS, ["p@3"])


def test_bootstrap_and_permutation_test():
    mean, lo, hi = metrics.bootstrap_ci([1.0, 0.0, 1.0, 0.0])
    assert mean == 0.5 and 0.0 <= lo < 0.5 < hi <= 1.0
    assert metrics.bootstrap_ci([0.7] * 5) == (0.7, 0.7, 0.7)
    a = {f"q{i}": 1.0 for i in range(12)}
    b = {f"q{i}": 0.0 for i in range(12)}
    # every one of the 2^12 sign patterns but the two extremes has a smaller |mean|: p ~ 2 / 4096
    assert metrics.paired_permutation_test(a, b) < 0.01
    assert metrics.paired_permutation_test(a, a) == 1.0
    groups = metrics.grouped({"q1": 1.0, "q2": 0.0, "q3": 1.0}, {"q1": "neuro", "q2": "neuro", "q3": None})
    assert groups["neuro"][0] == 0.5 and groups["neuro"][3] == 2 and list(groups) == ["neuro"]
