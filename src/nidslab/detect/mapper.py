"""KitNET's feature mapper: incremental correlation clustering of the features (KitNET-py ``corClust.py``).

Over the feature-mapping grace period the mapper keeps running sums per feature and a running sum of
residual outer products; it then turns them into a correlation distance matrix, clusters it with
single-linkage hierarchical clustering (scipy, as the reference) and cuts the dendrogram top-down until
every cluster has at most ``max_size`` features. Each cluster becomes one autoencoder's inputs.

The update repeats the reference's arithmetic operation for operation (the mean uses the sum *after*
adding the row, so residuals are taken against a mean that includes the row itself), so the distance
matrix, and therefore the clustering, are the reference's bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _update(X, c, c_r, c_rs, C, N):  # pragma: no cover - compiled
    """Add the rows of X (rows, n) to the running sums in place; returns the new row count N."""
    n = X.shape[1]
    rt = np.empty(n)
    for r in range(X.shape[0]):
        N += 1
        for i in range(n):
            c[i] += X[r, i]
            rt[i] = X[r, i] - c[i] / N
            c_r[i] += rt[i]
            c_rs[i] += rt[i] ** 2
        for i in range(n):
            for j in range(n):
                C[i, j] += rt[i] * rt[j]
    return N


class FeatureMapper:
    """Running correlation statistics of ``n`` features, and their clustering.

    ``update(X)`` takes rows (rows, n) of any float dtype (computed in float64); ``cluster(max_size)``
    returns a list of int64 index arrays, one per autoencoder, in the reference's order.
    """

    def __init__(self, n: int):
        self.n = int(n)
        self.c = np.zeros(n)  # linear sum of each feature
        self.c_r = np.zeros(n)  # sum of residuals
        self.c_rs = np.zeros(n)  # sum of squared residuals
        self.C = np.zeros((n, n))  # sum of residual outer products
        self.N = 0  # rows seen

    def update(self, X: np.ndarray) -> None:
        """Add rows X (rows, n) to the statistics."""
        self.N = int(_update(X, self.c, self.c_r, self.c_rs, self.C, self.N))

    def distance(self) -> np.ndarray:
        """The correlation distance matrix (n, n): 1 - correlation, negatives from rounding set to 0."""
        s = np.sqrt(self.c_rs)
        denom = np.outer(s, s)
        denom[denom == 0] = 1e-100  # a constant feature: its distance to everything becomes 1
        D = 1 - self.C / denom
        D[D < 0] = 0
        return D

    def cluster(self, max_size: int) -> list[np.ndarray]:
        """Single-linkage clusters of at most ``max_size`` features (clipped to 1..n), left to right."""
        from scipy.cluster.hierarchy import linkage, to_tree

        D = self.distance()
        Z = linkage(D[np.triu_indices(self.n, 1)])  # condensed distances, single linkage
        max_size = min(max(int(max_size), 1), self.n)
        out: list[np.ndarray] = []
        stack = [to_tree(Z)]
        while stack:  # depth-first, left before right: the reference's recursion order
            node = stack.pop()
            if node.count <= max_size:
                out.append(np.asarray(node.pre_order(), dtype=np.int64))
            else:
                stack.append(node.get_right())
                stack.append(node.get_left())
        return out

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save (see :meth:`from_state`)."""
        return {"fm_c": self.c, "fm_c_r": self.c_r, "fm_c_rs": self.c_rs, "fm_C": self.C,
                "fm_N": np.array(self.N, dtype=np.int64)}

    @classmethod
    def from_state(cls, d) -> FeatureMapper:
        """Rebuild a mapper from :meth:`state`'s arrays."""
        m = cls(len(d["fm_c"]))
        m.c, m.c_r, m.c_rs = (np.array(d[k], dtype=np.float64) for k in ("fm_c", "fm_c_r", "fm_c_rs"))
        m.C = np.array(d["fm_C"], dtype=np.float64)
        m.N = int(d["fm_N"])
        return m
