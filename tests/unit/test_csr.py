"""The CSR helpers every index part uses, on values worked out by hand."""

import numpy as np

from radlite.retrievers import csr
from radlite.retrievers.topk import merge, top_k


def test_ranges_entries_and_rows_by_hand():
    assert csr.ranges([2, 7, 0], [5, 7, 1]).tolist() == [2, 3, 4, 0]  # an empty middle range
    assert csr.ranges([], []).dtype == np.int64
    offsets = np.array([0, 3, 3, 5])  # row 0: entries 0-2, row 1: none, row 2: entries 3-4
    assert csr.entries(offsets, [2, 0, 1]).tolist() == [3, 4, 0, 1, 2]
    assert csr.row_of_entries(offsets).tolist() == [0, 0, 0, 2, 2]


def test_top_k_orders_by_score_then_id_and_merge_keeps_the_rule():
    ids, scores = top_k(np.array([9, 4, 7, 1]), np.array([0.5, 0.75, 0.5, 0.25], dtype=np.float32), 3)
    assert ids.tolist() == [4, 7, 9] and scores.tolist() == [0.75, 0.5, 0.5]  # the tie: lower id first
    assert top_k(np.array([1]), np.array([1.0]), 0)[0].tolist() == []
    ids, _ = merge([(np.array([3, 8]), np.array([0.7, 0.2])), (np.array([5]), np.array([0.7]))], 2)
    assert ids.tolist() == [3, 5]
