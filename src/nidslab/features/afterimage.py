"""AfterImage damped incremental statistics (Kitsune, Mirsky et al. 2018) as numba kernels.

A *stream* keeps, per decay factor lambda (1/s), a decayed count ``w``, linear sum ``CF1`` and
sum of squares ``CF2``. Decay is lazy: a stream is scaled by ``2**(-lambda * dt)`` only when it
is touched, ``dt`` being the time since it was last touched. Links between streams (covariance,
correlation) are in :mod:`.links`.

The kernels reproduce the reference implementation (Kitsune-py ``AfterImage.py``) operation for
operation, so their results agree to rounding: a new stream starts with ``w = 1e-20`` at the
time it is first seen; mean/variance/std are cached after each insert as the reference caches
them (a decay leaves the cache alone, as there).

State lives in plain arrays indexed by integer stream ids (see :mod:`.streams`), so it carries
across chunks of a capture and grows as new streams appear.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from nidslab.jit import NO_NRT

NAN = np.nan


class StreamState:
    """Per-stream, per-lambda state: ``a`` has shape (capacity, n_lambdas, fields)."""

    FIELDS = ("cf1", "cf2", "w", "last", "mean", "var", "std")

    def __init__(self, n_lambdas: int, capacity: int = 1024):
        self.n_lambdas = n_lambdas
        self.a = np.zeros((capacity, n_lambdas, len(self.FIELDS)))  # one stream's fields together
        self.ready = np.zeros(capacity, np.bool_)

    def ensure(self, n: int) -> None:
        """Room for streams 0..n-1 (capacity doubles, so growth costs O(1) per stream)."""
        cap = self.ready.shape[0]
        if n <= cap:
            return
        new = max(n, 2 * cap)
        a = np.zeros((new, self.n_lambdas, len(self.FIELDS)))
        a[:cap] = self.a
        self.a = a
        self.ready = np.concatenate([self.ready, np.zeros(new - cap, np.bool_)])


# fields (last axis) of StreamState.a
CF1, CF2, W, LAST, MEAN, VAR, STD = range(7)


@numba.njit(cache=True, inline="always")
def _sq(x, two):
    # The reference squares with libm pow(), which is not always x * x to the last bit; the
    # exponent comes in at run time (two = 2.0) so the compiler cannot turn pow into a multiply.
    if two > 0:
        return math.pow(x, two)
    return x * x


@numba.njit(cache=True, inline="always")
def _decay_factor(lam, dt, two):
    # pow(2, x) as the reference computes it; the compiler would otherwise use exp2(x),
    # which can differ in the last bit.
    if two > 0:
        return math.pow(two, -lam * dt)
    return math.pow(2.0, -lam * dt)


@numba.njit(cache=True, inline="always")
def _register(S, ready, s, t, init_time_zero):
    if not ready[s]:
        ready[s] = True
        for j in range(S.shape[1]):
            S[s, j, CF1] = 0.0
            S[s, j, CF2] = 0.0
            S[s, j, W] = 1e-20
            S[s, j, LAST] = 0.0 if init_time_zero else t
            S[s, j, MEAN] = NAN
            S[s, j, VAR] = NAN
            S[s, j, STD] = NAN


@numba.njit(cache=True, inline="always")
def _decay(S, s, j, lam, t, two):
    dt = t - S[s, j, LAST]
    if dt > 0:
        f = _decay_factor(lam, dt, two)
        S[s, j, CF1] *= f
        S[s, j, CF2] *= f
        S[s, j, W] *= f
        S[s, j, LAST] = t


@numba.njit(cache=True, inline="always")
def _mean(S, s, j):
    if math.isnan(S[s, j, MEAN]):
        S[s, j, MEAN] = S[s, j, CF1] / S[s, j, W]
    return S[s, j, MEAN]


@numba.njit(cache=True, inline="always")
def _var(S, s, j, two):
    if math.isnan(S[s, j, VAR]):
        m = _mean(S, s, j)
        S[s, j, VAR] = abs(S[s, j, CF2] / S[s, j, W] - _sq(m, two))
    return S[s, j, VAR]


@numba.njit(cache=True, inline="always")
def _std(S, s, j, two):
    if math.isnan(S[s, j, STD]):
        S[s, j, STD] = math.sqrt(_var(S, s, j, two))
    return S[s, j, STD]


@numba.njit(cache=True, inline="always")
def _insert(S, s, j, lam, v, t, is_diff, two):
    """Decay stream ``s`` to ``t`` and add value ``v``; returns the value added."""
    if is_diff:  # the value is the time since the stream was last touched
        dif = t - S[s, j, LAST]
        v = dif if dif > 0 else 0.0
    _decay(S, s, j, lam, t, two)
    S[s, j, CF1] += v
    S[s, j, CF2] += _sq(v, two)
    S[s, j, W] += 1.0
    S[s, j, MEAN] = NAN
    S[s, j, VAR] = NAN
    S[s, j, STD] = NAN
    return v


@numba.njit(cache=True, inline="always")
def _stats_1d(S, s, j, two):
    """(weight, mean, variance) of a stream, refreshing its mean/variance cache."""
    w = S[s, j, W]
    m = S[s, j, CF1] / w
    v = abs(S[s, j, CF2] / w - _sq(m, two))
    S[s, j, MEAN] = m
    S[s, j, VAR] = v
    return w, m, v


@numba.njit(cache=True, nogil=True, **NO_NRT)  # allocates nothing: no runtime (nidslab.jit)
def update_1d(S, ready, ids, values, ts, lambdas, is_diff, init_time_zero, two, out, cols):
    """Insert ``values[i]`` into stream ``ids[i]`` for each packet, in order, for every lambda.

    Writes (weight, mean, variance) of the stream after the insert into ``out[i, cols[j, :]]``
    (a column of -1 is not written). ``is_diff``: the value is the inter-arrival time instead.
    ``init_time_zero``: new streams start at time 0 instead of the packet's time.
    ``two``: 2.0 to square and decay with libm ``pow`` as the reference does (bit-equal
    results), 0.0 to let the compiler use multiply and exp2.
    """
    nl = lambdas.shape[0]
    for i in range(ids.shape[0]):
        s = ids[i]
        t = ts[i]
        _register(S, ready, s, t, init_time_zero)
        for j in range(nl):
            _insert(S, s, j, lambdas[j], values[i], t, is_diff, two)
            w, m, v = _stats_1d(S, s, j, two)
            _put(out, i, cols[j, 0], w)
            _put(out, i, cols[j, 1], m)
            _put(out, i, cols[j, 2], v)


@numba.njit(cache=True, inline="always")
def _put(out, i, c, x):
    if c >= 0:
        out[i, c] = x
