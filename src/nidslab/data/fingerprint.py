"""A cheap fingerprint of a dataset's contents, to tell "the same data" from "other data under the same name".

The study's result cache keys on it, and a model folder records it so that ``nidslab evaluate`` can refuse a
dataset that was re-imported or rebuilt since the model was trained.
"""

from __future__ import annotations

import hashlib

import numpy as np


def fingerprint(X: np.ndarray, y: np.ndarray, sample_rows: int = 4096) -> str:
    """16 hex digits hashing the shape and dtype, all labels, and an evenly spaced sample of rows.

    ``X``: (rows, columns), possibly memory-mapped; ``y``: (rows,). Reads ``sample_rows`` rows of ``X``, not the
    whole table (milliseconds for the full Mirai table), so a change confined to unsampled rows goes unseen.
    """
    h = hashlib.sha256()
    h.update(repr((X.shape, str(X.dtype), y.shape)).encode())
    h.update(np.ascontiguousarray(y).tobytes())
    rows = np.unique(np.linspace(0, len(X) - 1, num=min(sample_rows, len(X)), dtype=np.int64)) if len(X) else np.empty(0, np.int64)
    h.update(np.ascontiguousarray(X[rows]).tobytes())
    return h.hexdigest()[:16]
