"""AfterImage damped incremental statistics (Kitsune, Mirsky et al. 2018) as numba kernels.

A *stream* keeps, per decay factor lambda (1/s), a decayed count ``w``, linear sum ``CF1`` and
sum of squares ``CF2``. Decay is lazy: a stream is scaled by ``2**(-lambda * dt)`` only when it
is touched, ``dt`` being the time since it was last touched. A *link* between two streams keeps
a decayed sum of residual products ``CF3`` (weight ``w3``) from which covariance and Pearson
correlation follow.

The kernels reproduce the reference implementation (Kitsune-py ``AfterImage.py``) operation for
operation, so their results agree to rounding: a new stream starts with ``w = 1e-20`` at the
time it is first seen; a stream's insert updates every link it takes part in (and decays the
linked stream); mean/variance/std are cached after each insert as the reference caches them;
with ``double_update`` a link is updated a second time by the packet that names it (the
reference's behaviour once two streams are linked).

State lives in plain arrays indexed by integer stream/link ids (see :mod:`.streams`), so it
carries across chunks of a capture and grows as new streams appear.
"""

from __future__ import annotations

import math

import numba
import numpy as np

NAN = np.nan


class StreamState:
    """Per-stream, per-lambda state: ``a`` has shape (capacity, n_lambdas, fields)."""

    FIELDS = ("cf1", "cf2", "w", "last", "mean", "var", "std")

    def __init__(self, n_lambdas: int, capacity: int = 1024):
        self.n_lambdas = n_lambdas
        self.a = np.zeros((capacity, n_lambdas, len(self.FIELDS)))  # one stream's fields together
        self.ready = np.zeros(capacity, np.bool_)
        # links this stream takes part in: head of a singly linked list of link slots
        self.head = np.full(capacity, -1, np.int64)
        self.first = np.full(capacity, -1, np.int64)  # its oldest link

    def ensure(self, n: int) -> None:
        cap = self.ready.shape[0]
        if n <= cap:
            return
        new = max(n, 2 * cap)
        a = np.zeros((new, self.n_lambdas, len(self.FIELDS)))
        a[:cap] = self.a
        self.a = a
        self.ready = np.concatenate([self.ready, np.zeros(new - cap, np.bool_)])
        self.head = np.concatenate([self.head, np.full(new - cap, -1, np.int64)])
        self.first = np.concatenate([self.first, np.full(new - cap, -1, np.int64)])


class LinkState:
    """Per-link, per-lambda state: CF3, w3, last time, last residual of each side."""

    def __init__(self, n_lambdas: int, capacity: int = 1024):
        self.n_lambdas = n_lambdas
        self.a = np.zeros((capacity, n_lambdas, 5))
        self.ends = np.full((capacity, 2), -1, np.int64)  # stream id of side 0 and side 1
        self.next = np.full(2 * capacity, -1, np.int64)  # next slot in each side's list

    def ensure(self, n: int) -> None:
        cap = self.ends.shape[0]
        if n <= cap:
            return
        new = max(n, 2 * cap)
        a = np.zeros((new, self.n_lambdas, 5))
        a[:cap] = self.a
        self.a = a
        self.ends = np.concatenate([self.ends, np.full((new - cap, 2), -1, np.int64)])
        self.next = np.concatenate([self.next, np.full(2 * (new - cap), -1, np.int64)])


# fields (last axis) of StreamState.a
CF1, CF2, W, LAST, MEAN, VAR, STD = range(7)
# fields (last axis) of LinkState.a
CF3, W3, LAST3, RES0, RES1 = range(5)


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


@numba.njit(cache=True, inline="always")
def _update_link(S, L, ends, k, s, j, lam, v, t, two):
    """Stream ``s`` (a side of link ``k``) received ``v`` at ``t``: update the residual products."""
    side = 0 if ends[k, 0] == s else 1
    _decay(S, ends[k, 1 - side], j, lam, t, two)
    dt = t - L[k, j, LAST3]
    if dt > 0:
        f = _decay_factor(lam, dt, two)
        L[k, j, CF3] *= f
        L[k, j, W3] *= f
        L[k, j, LAST3] = t
        L[k, j, RES0 + side] *= f
    r = v - _mean(S, s, j)
    L[k, j, CF3] += r * L[k, j, RES0 + 1 - side]
    L[k, j, W3] += 1.0
    L[k, j, RES0 + side] = r


@numba.njit(cache=True)
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


@numba.njit(cache=True)
def update_1d2d(
    S, ready, head, first, L, ends, nxt, n_links, src, dst, link, values, ts, lambdas, double_update, two, out, cols
):
    """Per packet: insert into stream ``src[i]``, link it with ``dst[i]`` (link id ``link[i]``).

    Per lambda, writes into ``out[i, cols[j, :]]`` the source stream's weight, mean, variance,
    std, then radius sqrt(var_a^2 + var_b^2), magnitude sqrt(mean_a^2 + mean_b^2), covariance
    and Pearson correlation of the link. ``first``: each stream's oldest link (-1: none).
    ``n_links``: links created so far; returns the new count.
    """
    nl = lambdas.shape[0]
    for i in range(src.shape[0]):
        a = src[i]
        b = dst[i]
        k = link[i]
        t = ts[i]
        v = values[i]
        _register(S, ready, a, t, False)
        for j in range(nl):
            lam = lambdas[j]
            _insert(S, a, j, lam, v, t, False, two)
            e = head[a]
            while e >= 0:  # every link of the source stream sees the insert
                _update_link(S, L, ends, e >> 1, a, j, lam, v, t, two)
                e = nxt[e]
            w, m, var = _stats_1d(S, a, j, two)
            _put(out, i, cols[j, 0], w)
            _put(out, i, cols[j, 1], m)
            _put(out, i, cols[j, 2], var)
        _register(S, ready, b, t, False)
        created = False
        if a == b and first[a] >= 0:
            # The reference looks for an existing link of the source that names the
            # destination on either side; when source == destination any link does, so the
            # stream's oldest link is used and no self-link is made.
            k = first[a]
        elif ends[k, 0] < 0:
            created = True
            n_links += 1
            if first[a] < 0:
                first[a] = k
            if first[b] < 0:
                first[b] = k
            ends[k, 0] = a
            ends[k, 1] = b
            for j in range(nl):
                L[k, j, CF3] = 0.0
                L[k, j, W3] = 1e-20
                L[k, j, LAST3] = t
                L[k, j, RES0] = 0.0
                L[k, j, RES1] = 0.0
            nxt[2 * k] = head[a]
            head[a] = 2 * k
            nxt[2 * k + 1] = head[b]
            head[b] = 2 * k + 1
        for j in range(nl):
            if created or double_update:
                _update_link(S, L, ends, k, a, j, lambdas[j], v, t, two)
            s0 = ends[k, 0]
            s1 = ends[k, 1]
            v0 = _var(S, s0, j, two)
            v1 = _var(S, s1, j, two)
            m0 = _mean(S, s0, j)
            m1 = _mean(S, s1, j)
            cov = L[k, j, CF3] / L[k, j, W3]
            ss = _std(S, s0, j, two) * _std(S, s1, j, two)
            _put(out, i, cols[j, 3], _std(S, a, j, two))
            _put(out, i, cols[j, 4], math.sqrt(_sq(v0, two) + _sq(v1, two)))
            _put(out, i, cols[j, 5], math.sqrt(_sq(m0, two) + _sq(m1, two)))
            _put(out, i, cols[j, 6], cov)
            _put(out, i, cols[j, 7], cov / ss if ss != 0 else 0.0)
    return n_links
