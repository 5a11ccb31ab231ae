"""Compressed sparse rows, the layout of every variable-length table in an index (ColBERT tokens
per passage, inverted lists per centroid, BM25 terms per passage, passages per document): row r
holds entries offsets[r] .. offsets[r + 1] - 1."""

from __future__ import annotations

import numpy as np


def ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of arange(starts[i], ends[i]) for every i, as int64, without a Python loop."""
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(ends, dtype=np.int64) - starts
    if len(lengths) == 0:
        return np.zeros(0, dtype=np.int64)
    shift = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) + shift


def entries(offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The entry numbers of the given rows, row after row (int64)."""
    rows = np.asarray(rows, dtype=np.int64)
    return ranges(np.asarray(offsets)[rows], np.asarray(offsets)[rows + 1])


def row_of_entries(offsets: np.ndarray) -> np.ndarray:
    """The row of every entry (int64, length offsets[-1])."""
    return np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(np.asarray(offsets, dtype=np.int64)))
