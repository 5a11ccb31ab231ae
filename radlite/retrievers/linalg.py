"""Matrix products of the search path, all in torch.

Query-time products (bi-encoder scores, ColBERT centroid scores and MaxSim) run in one library's
thread pool: with some in numpy (OpenBLAS) and some in torch, each library's worker threads spun
while the other's ran, and ColBERT search took about twice as long (benchmarks/speed_limits.md).
torch also widens the stored fp16 ColBERT vectors with F16C, several times faster than numpy's
astype. Results equal numpy's to
float32 rounding.
"""

from __future__ import annotations

import warnings

import numpy as np


def matmul_t(a: np.ndarray, b) -> np.ndarray:
    """a @ b.T as a float32 numpy array. `b`: an array (fp16 or fp32, memory-mapped or not) or a
    float32 torch tensor; `a`: a float32 array (1-d or 2-d)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency; numpy gives the same values
        return np.asarray(a, dtype=np.float32) @ np.asarray(b, dtype=np.float32).T
    with torch.inference_mode(), warnings.catch_warnings():
        # memory-mapped indexes are read-only; the product never writes to them
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        bt = b if isinstance(b, torch.Tensor) else torch.from_numpy(np.asarray(b))
        if bt.dtype != torch.float32:
            bt = bt.float()
        at = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
        return (at @ bt.T).numpy()


def as_tensor(a: np.ndarray):
    """A contiguous float32 torch tensor copy of `a` to reuse across queries (the array itself
    without torch)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return a
    return torch.from_numpy(a.copy())
