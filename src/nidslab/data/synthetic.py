"""A fast statistical stand-in for the Kitsune Mirai table, for tests and quick experiments.

It is not traffic: the default dataset (``mirai-sim``) is made from a simulated capture instead. This one only
copies the table's shape and coarse structure, so code can be exercised in a second: 115 positive,
heavy-tailed (log-normal) columns driven by a few shared latent factors, the ``H_`` columns equal to the
``MI_dir_`` ones (as in the released table), and the real class layout: the first 121,621 / 764,137 of the rows
benign (a time cut), the rest malicious, with the classes overlapping so that a model must learn.
"""

from __future__ import annotations

import numpy as np

from nidslab import schema

#: the real capture's benign share: 121,621 of 764,137 packets precede the infection
BENIGN_SHARE = 121_621 / 764_137
_FACTORS = 6
_CHUNK = 1 << 16


def make_synthetic(rows: int = 764_137, *, seed: int = 0, separation: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Features float32 (rows, 115) in :data:`nidslab.schema.FEATURE_NAMES` order, labels uint8 (rows,).

    ``separation`` scales how far the malicious rows' latent factors move (0: indistinguishable classes).
    Deterministic for a seed; generated in chunks so the float64 temporaries stay small.
    """
    if rows < 2:
        raise ValueError(f"rows must be at least 2, got {rows}")
    rng = np.random.default_rng(seed)
    n_feat = schema.N_FEATURES
    loadings = rng.normal(0, 1, (_FACTORS, n_feat)) / np.sqrt(_FACTORS)
    log_scale = rng.uniform(-1, 6, n_feat)  # columns span many orders of magnitude, as the real ones do
    spread = rng.uniform(0.3, 1.2, n_feat)
    shift = rng.normal(0, separation, _FACTORS)
    n_benign = int(round(rows * BENIGN_SHARE))
    y = np.ones(rows, dtype=np.uint8)
    y[:n_benign] = 0
    X = np.empty((rows, n_feat), dtype=np.float32)
    for start in range(0, rows, _CHUNK):
        stop = min(start + _CHUNK, rows)
        z = rng.normal(0, 1, (stop - start, _FACTORS)) + np.outer(y[start:stop], shift)
        noise = rng.normal(0, 0.5, (stop - start, n_feat))
        X[start:stop] = np.exp(log_scale + spread * (z @ loadings + noise))
    mi = schema.indices(schema.features_in("MI_dir"))
    h = schema.indices(schema.features_in("H"))
    X[:, h] = X[:, mi]
    return X, y
