"""KitNET's autoencoders as numba kernels (KitNET-py ``dA.py`` with corruption level 0, and ``KitNET.py``).

Each autoencoder is a tied-weight sigmoid autoencoder: hidden ``y = s(x W + b_h)``, reconstruction
``z = s(y W^T + b_v)`` on inputs 0-1 normalised by running min/max (updated before normalising while
training, frozen while executing), trained by one plain SGD step per row on the squared error; its
score is the RMSE ``sqrt(mean((x - z)^2))``. The ensemble layer has one autoencoder per feature
cluster; the output autoencoder reads the ensemble's RMSEs, and its RMSE is KitNET's score. While
training, the output layer learns from the ensemble's RMSEs measured *before* their own update.

All autoencoders live in flat float64 arrays (:class:`Ensemble`): autoencoder j reads features
``feat[v_off[j]:v_off[j+1]]``; its weights are ``W[w_off[j]:w_off[j+1]]`` as an (n_visible, n_hidden)
row-major matrix, its hidden biases ``hb[h_off[j]:h_off[j+1]]``, its visible biases and min/max
``vb/nmax/nmin[v_off[j]:v_off[j+1]]``. The output layer has its own arrays ``o*``. The kernels loop
over rows in numba (training is sequential: each row's step changes the weights the next row sees).
"""

from __future__ import annotations

import math

import numba
import numpy as np

EPS = 1e-16  # the reference's 0.0000000000000001 in the 0-1 normalisation


@numba.njit(cache=True, inline="always")
def _sigmoid(a):  # pragma: no cover - compiled
    return 1.0 / (1.0 + math.exp(-a))


@numba.njit(cache=True)
def _ae_train(x, W, hb, vb, nmax, nmin, lr, xn, y, e, g):  # pragma: no cover - compiled
    """One SGD step of one autoencoder on x (n_vis,); returns its RMSE before the step.

    W is (n_vis, n_hid); xn, e (n_vis,) and y, g (n_hid,) are scratch.
    """
    nv, nh = W.shape
    for i in range(nv):
        if x[i] > nmax[i]:
            nmax[i] = x[i]
        if x[i] < nmin[i]:
            nmin[i] = x[i]
        xn[i] = (x[i] - nmin[i]) / (nmax[i] - nmin[i] + EPS)
    for h in range(nh):
        y[h] = 0.0
    for i in range(nv):
        xi = xn[i]
        for h in range(nh):
            y[h] += xi * W[i, h]
    for h in range(nh):
        y[h] = _sigmoid(y[h] + hb[h])  # dot first, then the bias: the reference's rounding
        g[h] = 0.0
    se = 0.0
    for i in range(nv):
        a = 0.0
        for h in range(nh):
            a += y[h] * W[i, h]
        ei = xn[i] - _sigmoid(a + vb[i])
        e[i] = ei
        se += ei * ei
        for h in range(nh):
            g[h] += ei * W[i, h]
    for h in range(nh):
        g[h] = g[h] * y[h] * (1.0 - y[h])
    for i in range(nv):
        xi = xn[i]
        ei = e[i]
        for h in range(nh):
            W[i, h] += lr * (xi * g[h] + ei * y[h])
    for h in range(nh):
        hb[h] += lr * g[h]
    for i in range(nv):
        vb[i] += lr * e[i]
    return math.sqrt(se / nv)


@numba.njit(cache=True)
def _ae_execute(x, W, hb, vb, nmax, nmin, xn, y):  # pragma: no cover - compiled
    """RMSE of one autoencoder's reconstruction of x (n_vis,), no update; xn, y are scratch."""
    nv, nh = W.shape
    for i in range(nv):
        xn[i] = (x[i] - nmin[i]) / (nmax[i] - nmin[i] + EPS)
    for h in range(nh):
        y[h] = 0.0
    for i in range(nv):
        xi = xn[i]
        for h in range(nh):
            y[h] += xi * W[i, h]
    for h in range(nh):
        y[h] = _sigmoid(y[h] + hb[h])
    se = 0.0
    for i in range(nv):
        a = 0.0
        for h in range(nh):
            a += y[h] * W[i, h]
        ei = xn[i] - _sigmoid(a + vb[i])
        se += ei * ei
    return math.sqrt(se / nv)


@numba.njit(cache=True)
def _rows(X, train, out, feat, v_off, h_off, w_off, W, hb, vb, nmax, nmin,
          oW, ohb, ovb, onmax, onmin, lr):  # pragma: no cover - compiled
    """Train on (train=True) or execute on each row of X (rows, n) in order; out[r] = output RMSE.

    While training, out[r] is the output layer's RMSE before its step (KitNET-py's ``process``
    returns 0.0 there; the caller decides what to report).
    """
    k = v_off.shape[0] - 1
    mv = 0
    mh = 0
    for j in range(k):
        mv = max(mv, v_off[j + 1] - v_off[j])
        mh = max(mh, h_off[j + 1] - h_off[j])
    onv, onh = oW.shape
    mv = max(mv, onv)
    mh = max(mh, onh)
    xs = np.empty(mv)
    xn = np.empty(mv)
    e = np.empty(mv)
    y = np.empty(mh)
    g = np.empty(mh)
    s = np.empty(k)
    for r in range(X.shape[0]):
        for j in range(k):
            v0 = v_off[j]
            nv = v_off[j + 1] - v0
            h0 = h_off[j]
            nh = h_off[j + 1] - h0
            for i in range(nv):
                xs[i] = X[r, feat[v0 + i]]
            Wj = W[w_off[j]:w_off[j + 1]].reshape((nv, nh))
            if train:
                s[j] = _ae_train(xs[:nv], Wj, hb[h0:h0 + nh], vb[v0:v0 + nv], nmax[v0:v0 + nv],
                                 nmin[v0:v0 + nv], lr, xn, y, e, g)
            else:
                s[j] = _ae_execute(xs[:nv], Wj, hb[h0:h0 + nh], vb[v0:v0 + nv], nmax[v0:v0 + nv],
                                   nmin[v0:v0 + nv], xn, y)
        if train:
            out[r] = _ae_train(s, oW, ohb, ovb, onmax, onmin, lr, xn, y, e, g)
        else:
            out[r] = _ae_execute(s, oW, ohb, ovb, onmax, onmin, xn, y)


def _init_weights(n_visible: int, hidden_ratio: float, seed: int) -> np.ndarray:
    """One autoencoder's (n_visible, n_hidden) weights, drawn as KitNET-py's ``dA`` draws them.

    Every ``dA`` there makes its own ``numpy.random.RandomState(1234)`` and draws W uniform in
    +-1/n_visible, so autoencoders of the same size start equal; ``seed`` replaces 1234.
    """
    n_hidden = int(np.ceil(n_visible * hidden_ratio))
    a = 1.0 / n_visible
    return np.array(np.random.RandomState(seed).uniform(low=-a, high=a, size=(n_visible, n_hidden)))


class Ensemble:
    """The ensemble layer and the output layer of one KitNET, in flat arrays (see the module doc)."""

    ARRAYS = ("feat", "v_off", "h_off", "w_off", "W", "hb", "vb", "nmax", "nmin",
              "oW", "ohb", "ovb", "onmax", "onmin")

    def __init__(self, clusters: list[np.ndarray], hidden_ratio: float, seed: int):
        sizes = [len(c) for c in clusters]
        Ws = [_init_weights(n, hidden_ratio, seed) for n in sizes]
        self.feat = np.concatenate([np.asarray(c, dtype=np.int64) for c in clusters])
        self.v_off = np.cumsum([0] + sizes).astype(np.int64)
        self.h_off = np.cumsum([0] + [w.shape[1] for w in Ws]).astype(np.int64)
        self.w_off = np.cumsum([0] + [w.size for w in Ws]).astype(np.int64)
        self.W = np.concatenate([w.ravel() for w in Ws])
        self.hb = np.zeros(self.h_off[-1])
        self.vb = np.zeros(self.v_off[-1])
        self.nmax = np.full(self.v_off[-1], -np.inf)
        self.nmin = np.full(self.v_off[-1], np.inf)
        k = len(sizes)
        self.oW = _init_weights(k, hidden_ratio, seed)
        self.ohb = np.zeros(self.oW.shape[1])
        self.ovb = np.zeros(k)
        self.onmax = np.full(k, -np.inf)
        self.onmin = np.full(k, np.inf)

    @property
    def clusters(self) -> list[np.ndarray]:
        """The feature indices of each ensemble autoencoder."""
        return [self.feat[a:b] for a, b in zip(self.v_off[:-1], self.v_off[1:])]

    def run(self, X: np.ndarray, *, train: bool, lr: float) -> np.ndarray:
        """Train on or execute every row of X (rows, n_features) in order; returns (rows,) float64."""
        out = np.empty(X.shape[0])
        _rows(X, train, out, *(getattr(self, a) for a in self.ARRAYS), lr)
        return out

    def state(self) -> dict[str, np.ndarray]:
        """Arrays to save (see :meth:`from_state`)."""
        return {f"ae_{a}": getattr(self, a) for a in self.ARRAYS}

    @classmethod
    def from_state(cls, d) -> Ensemble:
        """Rebuild an ensemble from :meth:`state`'s arrays."""
        ens = cls.__new__(cls)
        for a in cls.ARRAYS:
            arr = np.array(d[f"ae_{a}"])
            setattr(ens, a, arr.astype(np.int64 if a in ("feat", "v_off", "h_off", "w_off") else np.float64))
        ens.oW = np.ascontiguousarray(ens.oW.reshape(len(ens.ovb), -1))
        return ens
