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

import functools
import math

import numba
import numpy as np

from nidslab.jit import NO_NRT

EPS = 1e-16  # the reference's 0.0000000000000001 in the 0-1 normalisation


@numba.njit(cache=True, inline="always")
def _sigmoid(a):  # pragma: no cover - compiled
    return 1.0 / (1.0 + math.exp(-a))


@numba.njit(cache=True, inline="always")
def _encode(xn, W, w0, hb, h0, nv, nh, y):  # pragma: no cover - compiled
    """Hidden layer y[:nh] = s(xn[:nv] W + hb): the dot product first, then the bias (the reference's rounding)."""
    for h in range(nh):
        y[h] = 0.0
    for i in range(nv):
        xi = xn[i]
        row = w0 + i * nh
        for h in range(nh):
            y[h] += xi * W[row + h]
    for h in range(nh):
        y[h] = _sigmoid(y[h] + hb[h0 + h])


@numba.njit(cache=True, inline="always")
def _ae_train(x, W, w0, hb, h0, vb, nmax, nmin, v0, nv, nh, lr, xn, y, e, g):  # pragma: no cover
    """One SGD step of one autoencoder on x[:nv]; returns its RMSE before the step.

    Its weights are W[w0:w0 + nv*nh] as an (nv, nh) row-major matrix, its hidden biases hb[h0:h0+nh],
    its visible biases and min/max vb/nmax/nmin[v0:v0+nv] (flat indexing: no array views per row).
    xn, e (>= nv) and y, g (>= nh) are scratch.
    """
    for i in range(nv):
        if x[i] > nmax[v0 + i]:
            nmax[v0 + i] = x[i]
        if x[i] < nmin[v0 + i]:
            nmin[v0 + i] = x[i]
        xn[i] = (x[i] - nmin[v0 + i]) / (nmax[v0 + i] - nmin[v0 + i] + EPS)
    _encode(xn, W, w0, hb, h0, nv, nh, y)
    for h in range(nh):
        g[h] = 0.0
    se = 0.0
    for i in range(nv):
        row = w0 + i * nh
        a = 0.0
        for h in range(nh):
            a += y[h] * W[row + h]
        ei = xn[i] - _sigmoid(a + vb[v0 + i])
        e[i] = ei
        se += ei * ei
        for h in range(nh):
            g[h] += ei * W[row + h]
    for h in range(nh):
        g[h] = g[h] * y[h] * (1.0 - y[h])
    for i in range(nv):
        xi = xn[i]
        ei = e[i]
        row = w0 + i * nh
        for h in range(nh):
            W[row + h] += lr * (xi * g[h] + ei * y[h])
    for h in range(nh):
        hb[h0 + h] += lr * g[h]
    for i in range(nv):
        vb[v0 + i] += lr * e[i]
    return math.sqrt(se / nv)


@numba.njit(cache=True, inline="always")
def _ae_execute(x, W, w0, hb, h0, vb, nmax, nmin, v0, nv, nh, xn, y):  # pragma: no cover
    """RMSE of one autoencoder's reconstruction of x[:nv], no update (layout as :func:`_ae_train`)."""
    for i in range(nv):
        xn[i] = (x[i] - nmin[v0 + i]) / (nmax[v0 + i] - nmin[v0 + i] + EPS)
    _encode(xn, W, w0, hb, h0, nv, nh, y)
    se = 0.0
    for i in range(nv):
        row = w0 + i * nh
        a = 0.0
        for h in range(nh):
            a += y[h] * W[row + h]
        ei = xn[i] - _sigmoid(a + vb[v0 + i])
        se += ei * ei
    return math.sqrt(se / nv)


# Without numba's runtime (nidslab.jit): it allocates nothing, its scratch comes from the caller.
@numba.njit(cache=True, **NO_NRT)
def _rows(X, train, out, feat, v_off, h_off, w_off, W, hb, vb, nmax, nmin,
          oW, ohb, ovb, onmax, onmin, lr, xs, xn, e, y, g, s):  # pragma: no cover - compiled
    """Train on (train=True) or execute on each row of X (rows, n) in order; out[r] = output RMSE.

    While training, out[r] is the output layer's RMSE before its step (KitNET-py's ``process``
    returns 0.0 there; the caller decides what to report). oW is (k, n_hidden_out), C-contiguous.
    xs, xn, e (>= the widest layer's inputs), y, g (>= its hidden units) and s (k) are scratch.
    """
    k = v_off.shape[0] - 1
    onv, onh = oW.shape
    oWf = oW.reshape(onv * onh)  # a flat view: updates land in oW
    for r in range(X.shape[0]):
        for j in range(k):
            v0 = v_off[j]
            nv = v_off[j + 1] - v0
            h0 = h_off[j]
            nh = h_off[j + 1] - h0
            for i in range(nv):
                xs[i] = X[r, feat[v0 + i]]
            if train:
                s[j] = _ae_train(xs, W, w_off[j], hb, h0, vb, nmax, nmin, v0, nv, nh, lr, xn, y, e, g)
            else:
                s[j] = _ae_execute(xs, W, w_off[j], hb, h0, vb, nmax, nmin, v0, nv, nh, xn, y)
        if train:
            out[r] = _ae_train(s, oWf, 0, ohb, 0, ovb, onmax, onmin, 0, k, onh, lr, xn, y, e, g)
        else:
            out[r] = _ae_execute(s, oWf, 0, ohb, 0, ovb, onmax, onmin, 0, k, onh, xn, y)


@functools.cache
def _blas():
    """A threadpoolctl controller (threadpoolctl comes with scikit-learn), made once: it scans libraries."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _sigmoid_(a: np.ndarray) -> np.ndarray:
    """In-place logistic sigmoid of a float64 array: 1 / (1 + exp(-a))."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1.0
    return np.reciprocal(a, out=a)


def _sq_err(xn: np.ndarray, W: np.ndarray, hb: np.ndarray, vb: np.ndarray) -> np.ndarray:
    """Squared reconstruction errors (rows, n_visible) of 0-1 normalised rows xn; overwrites xn."""
    h = xn @ W
    h += hb
    z = _sigmoid_(h) @ W.T
    z += vb
    xn -= _sigmoid_(z)
    xn *= xn
    return xn


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
        _rows(X, train, out, *self._arrays(), lr, *self._scratch())
        return out

    def _scratch(self) -> tuple:
        """The kernel's scratch vectors (xs, xn, e, y, g, s), sized for the widest layer, made once."""
        if getattr(self, "_scratch_", None) is None:
            k = len(self.v_off) - 1
            mv = max(int(np.diff(self.v_off).max()), k)
            mh = max(int(np.diff(self.h_off).max()), self.oW.shape[1])
            self._scratch_ = tuple(np.empty(m) for m in (mv, mv, mv, mh, mh, k))
        return self._scratch_

    def _arrays(self) -> tuple:
        """The kernel's array arguments, in order (built once: the arrays are updated in place)."""
        if getattr(self, "_args", None) is None:
            self._args = tuple(getattr(self, a) for a in self.ARRAYS)
        return self._args

    def score(self, X: np.ndarray, *, chunk: int = 1024) -> np.ndarray:
        """Execute on every row of X (rows, n_features) as matrix products; (rows,) float64.

        The ensemble's weights go into one block-diagonal (n_visible, n_hidden) matrix, so each chunk of
        rows takes two GEMMs for the whole ensemble (the zero blocks add exact zeros); per-autoencoder
        means are a product with a (n_visible, k) averaging matrix. Equal to :meth:`run` with
        ``train=False`` to rounding (only the order of the sums differs).
        """
        Wb, avg = self._block_matrices()
        den = self.nmax - self.nmin + EPS
        oden = self.onmax - self.onmin + EPS
        out = np.empty(X.shape[0])
        # exp(-a) overflows to inf for very negative a (sigmoid 0). One BLAS thread: these GEMMs are
        # small, and OpenBLAS's threads made them 5-7x slower on the shared 2-core machine.
        with np.errstate(over="ignore"), _blas().limit(limits=1, user_api="blas"):
            for r in range(0, X.shape[0], chunk):
                xn = X[r:r + chunk].take(self.feat, axis=1).astype(np.float64)
                xn -= self.nmin
                xn /= den
                s = np.sqrt(_sq_err(xn, Wb, self.hb, self.vb) @ avg)
                s -= self.onmin
                s /= oden
                out[r:r + chunk] = np.sqrt(_sq_err(s, self.oW, self.ohb, self.ovb).mean(axis=1))
        return out

    def _block_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """The ensemble's weights as one block-diagonal (n_visible, n_hidden) matrix, and the (n_visible, k)
        matrix that averages each autoencoder's visible units (see :meth:`score`)."""
        k = len(self.v_off) - 1
        Wb = np.zeros((self.v_off[-1], self.h_off[-1]))
        avg = np.zeros((self.v_off[-1], k))
        for j in range(k):
            a, b, c, d = self.v_off[j], self.v_off[j + 1], self.h_off[j], self.h_off[j + 1]
            Wb[a:b, c:d] = self.W[self.w_off[j]:self.w_off[j + 1]].reshape(b - a, d - c)
            avg[a:b, j] = 1.0 / (b - a)
        return Wb, avg

    def errors(self, X: np.ndarray, *, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where each row's score comes from: the squared reconstruction errors of both layers.

        Returns ``(visible, output, rmse)``: ``visible`` (rows, n_visible) float64, the squared error of each
        ensemble input (0-1 normalised units) in the order of ``feat`` (autoencoder j owns columns
        ``v_off[j]:v_off[j+1]``); ``output`` (rows, k), the output autoencoder's squared error on each
        ensemble RMSE; ``rmse`` (rows,), the score, ``sqrt(output.mean(axis=1))`` (equal to :meth:`score`
        to rounding). Same arithmetic as :meth:`score`, keeping the parts it sums.
        """
        k = len(self.v_off) - 1
        Wb, avg = self._block_matrices()
        den = self.nmax - self.nmin + EPS
        oden = self.onmax - self.onmin + EPS
        n = X.shape[0]
        visible, output = np.empty((n, self.v_off[-1])), np.empty((n, k))
        with np.errstate(over="ignore"), _blas().limit(limits=1, user_api="blas"):
            for r in range(0, n, chunk):
                xn = X[r:r + chunk].take(self.feat, axis=1).astype(np.float64)
                xn -= self.nmin
                xn /= den
                e = _sq_err(xn, Wb, self.hb, self.vb)
                visible[r:r + chunk] = e
                s = np.sqrt(e @ avg)
                s -= self.onmin
                s /= oden
                output[r:r + chunk] = _sq_err(s, self.oW, self.ohb, self.ovb)
        return visible, output, np.sqrt(output.mean(axis=1))

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
