"""Links between AfterImage streams (covariance, correlation), in time bounded per packet.

A *link* between streams a and b keeps, per lambda, a decayed sum of residual products ``CF3``
(weight ``w3``), the time it was last updated and the last residual of each side. In the
reference (Kitsune-py ``incStat.insert``) every insert into a stream updates *every* link of
that stream, and each of those updates decays the stream at the link's other end. A scanning
host is linked with every address it probed, so each of its packets costs work in proportion
to the number of addresses probed so far: quadratic in the capture.

Here a stream with more than ``HEAVY_DEGREE`` links is *heavy*: its inserts are appended to an
insert log (time, and per lambda the residual ``v - mean``) instead of being pushed to its
links, and each link or linked stream replays the log entries it has not seen yet, in order,
just before it is next read or written. The replay performs the same floating-point operations
in the same order as the eager update would have, so the results are bit-equal to it; work
happens only for links and streams that are touched again (a probed address that never
answers costs nothing more). Light streams update their few links eagerly, as the reference.

Log entries are global (one array per database), numbered in processing order; each heavy
stream chains its entries. A cursor holds the last entry applied (-1: none yet, start from the
stream's first entry).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from nidslab.features.afterimage import (
    CF1,
    CF2,
    LAST,
    W,
    _decay,
    _decay_factor,
    _insert,
    _mean,
    _put,
    _register,
    _sq,
    _stats_1d,
    _std,
    _var,
)

HEAVY_DEGREE = 8  # links beyond which a stream's inserts go to the log (speed only, not results)

# fields (last axis) of LinkState.a
CF3, W3, LAST3, RES0, RES1 = range(5)


def _grow(x: np.ndarray, n: int, fill) -> np.ndarray:
    out = np.full((n,) + x.shape[1:], fill, x.dtype)
    out[: x.shape[0]] = x
    return out


class LinkGraph:
    """Per-stream link lists and heavy-stream logs; per-link, per-lambda state ``a``.

    Streams: ``head`` (first slot of its link list), ``first`` (its oldest link), ``deg``
    (list length), ``heavy``, ``tail``/``flog`` (last/first log entry), ``hhead`` (first slot of
    its list of links whose other end is heavy), ``any_heavy`` (one flag: no replay work at all
    until a stream turns heavy, as in the uci layout, whose streams have one or two links). Links: ``ends`` (stream of side 0, side 1),
    ``nxt``/``hnext`` (next slot, slot ``2 * link + side``), ``lcur`` (per side: last entry of
    that side's log applied to the link), ``dcur`` (per side: last entry of the *other* side's
    log applied as a decay to this side's stream). Log: ``log_t`` (s), ``log_r`` (n, n_lambdas),
    ``log_next`` (next entry of the same stream).
    """

    def __init__(self, n_lambdas: int, capacity: int = 1024, heavy_degree: int = HEAVY_DEGREE):
        self.n_lambdas = n_lambdas
        self.heavy_degree = heavy_degree
        self.n_links = 0
        self.n_log = 0
        i64 = np.int64
        self.head = np.full(capacity, -1, i64)
        self.first = np.full(capacity, -1, i64)
        self.deg = np.zeros(capacity, i64)
        self.heavy = np.zeros(capacity, np.bool_)
        self.tail = np.full(capacity, -1, i64)
        self.flog = np.full(capacity, -1, i64)
        self.hhead = np.full(capacity, -1, i64)
        self.any_heavy = np.zeros(1, np.bool_)  # until a stream turns heavy, nothing is replayed
        self.a = np.zeros((capacity, n_lambdas, 5))
        self.ends = np.full((capacity, 2), -1, i64)
        self.nxt = np.full(2 * capacity, -1, i64)
        self.hnext = np.full(2 * capacity, -1, i64)
        self.lcur = np.full((capacity, 2), -1, i64)
        self.dcur = np.full((capacity, 2), -1, i64)
        self.log_t = np.zeros(capacity)
        self.log_r = np.zeros((capacity, n_lambdas))
        self.log_next = np.full(capacity, -1, i64)
        self.log_tp = np.full(capacity, np.nan)
        self.log_f = np.ones((capacity, n_lambdas))

    def ensure(self, n_streams: int, n_links: int, n_new_log: int) -> None:
        """Room for streams 0..n_streams-1, links 0..n_links-1 and ``n_new_log`` more log entries.

        Capacities double, so growth costs O(1) amortised per item.
        """
        def cap(now, need):
            return now if need <= now else max(need, 2 * now)

        c = cap(len(self.head), n_streams)
        if c > len(self.head):
            for name in ("head", "first", "tail", "flog", "hhead"):
                setattr(self, name, _grow(getattr(self, name), c, -1))
            self.deg = _grow(self.deg, c, 0)
            self.heavy = _grow(self.heavy, c, False)
        c = cap(len(self.ends), n_links)
        if c > len(self.ends):
            self.a = _grow(self.a, c, 0.0)
            for name in ("ends", "lcur", "dcur"):
                setattr(self, name, _grow(getattr(self, name), c, -1))
            self.nxt = _grow(self.nxt, 2 * c, -1)
            self.hnext = _grow(self.hnext, 2 * c, -1)
        c = cap(len(self.log_t), self.n_log + n_new_log)
        if c > len(self.log_t):
            self.log_t = _grow(self.log_t, c, 0.0)
            self.log_r = _grow(self.log_r, c, 0.0)
            self.log_next = _grow(self.log_next, c, -1)
            self.log_tp = _grow(self.log_tp, c, np.nan)
            self.log_f = _grow(self.log_f, c, 1.0)

    def arrays(self):
        """The arrays :func:`update_1d2d` takes, in its order."""
        return (
            (self.head, self.first, self.deg, self.heavy, self.tail, self.flog, self.hhead, self.any_heavy),
            (self.a, self.ends, self.nxt, self.hnext, self.lcur, self.dcur),
            (self.log_t, self.log_r, self.log_next, self.log_tp, self.log_f),
        )


@numba.njit(cache=True, inline="always")
def _link_step(L, k, j, lam, side, r, t, two, tp=np.nan, fp=1.0):
    """Side ``side`` of link ``k`` received residual ``r`` at ``t`` (reference ``update_cov``).

    ``fp``: the decay factor from time ``tp`` to ``t``, if known (used when the link was last
    updated at ``tp``: the same number the pow call would return).
    """
    dt = t - L[k, j, LAST3]
    if dt > 0:
        f = fp if L[k, j, LAST3] == tp else _decay_factor(lam, dt, two)
        L[k, j, CF3] *= f
        L[k, j, W3] *= f
        L[k, j, LAST3] = t
        L[k, j, RES0 + side] *= f
    L[k, j, CF3] += r * L[k, j, RES0 + 1 - side]
    L[k, j, W3] += 1.0
    L[k, j, RES0 + side] = r


@numba.njit(cache=True, inline="always")
def _next_entry(cur, h, flog, log_next):
    return flog[h] if cur < 0 else log_next[cur]


@numba.njit(cache=True, inline="always")
def _pull_stream(S, s, lambdas, two, G, K, LG):
    """Decay stream ``s`` at each logged insert of its heavy neighbours it has not seen, in order."""
    hhead, flog = G[6], G[5]
    ends, hnext, dcur = K[1], K[3], K[5]
    log_t, log_next, log_tp, log_f = LG[0], LG[2], LG[3], LG[4]
    if hhead[s] < 0:
        return
    while True:  # merge the neighbours' logs by entry number (= processing order)
        best, bq = -1, -1
        e = hhead[s]
        while e >= 0:
            k, o = e >> 1, e & 1
            q = _next_entry(dcur[k, o], ends[k, 1 - o], flog, log_next)
            if q >= 0 and (bq < 0 or q < bq):
                best, bq = e, q
            e = hnext[e]
        if bq < 0:
            return
        t, tp = log_t[bq], log_tp[bq]
        for j in range(lambdas.shape[0]):
            if S[s, j, LAST] == tp and t > tp:  # last decayed at the heavy stream's previous entry
                f = log_f[bq, j]
                S[s, j, CF1] *= f
                S[s, j, CF2] *= f
                S[s, j, W] *= f
                S[s, j, LAST] = t
            else:
                _decay(S, s, j, lambdas[j], t, two)
        dcur[best >> 1, best & 1] = bq


@numba.njit(cache=True, inline="always")
def _pull_link(k, lambdas, two, G, K, LG):
    """Apply to link ``k`` the logged inserts of its heavy ends it has not seen, in order."""
    heavy, flog = G[3], G[5]
    L, ends, lcur = K[0], K[1], K[4]
    log_t, log_r, log_next, log_tp, log_f = LG
    self_link = ends[k, 0] == ends[k, 1]
    while True:
        bside, bq = -1, -1
        for side in range(1 if self_link else 2):
            h = ends[k, side]
            if heavy[h]:
                q = _next_entry(lcur[k, side], h, flog, log_next)
                if q >= 0 and (bq < 0 or q < bq):
                    bside, bq = side, q
        if bq < 0:
            return
        # a self-link sits twice in its stream's list, so the reference updates it twice
        for _ in range(2 if self_link else 1):
            for j in range(lambdas.shape[0]):
                _link_step(L, k, j, lambdas[j], bside, log_r[bq, j], log_t[bq], two, log_tp[bq], log_f[bq, j])
        lcur[k, bside] = bq


@numba.njit(cache=True)
def _make_heavy(h, G, K):
    """From now on ``h`` logs its inserts; its links and neighbours start reading the log."""
    head, heavy, tail, hhead, any_heavy = G[0], G[3], G[4], G[6], G[7]
    ends, nxt, hnext, lcur, dcur = K[1], K[2], K[3], K[4], K[5]
    heavy[h] = True
    any_heavy[0] = True
    e = head[h]
    while e >= 0:
        k, sh = e >> 1, e & 1
        lcur[k, sh] = tail[h]
        if ends[k, 0] != ends[k, 1] and ends[k, sh] == h:
            o = 1 - sh
            dcur[k, o] = tail[h]
            hnext[2 * k + o] = hhead[ends[k, o]]
            hhead[ends[k, o]] = 2 * k + o
        e = nxt[e]


@numba.njit(cache=True, inline="always")
def _new_link(k, a, b, t, nl, heavy_degree, G, K):
    head, first, deg, heavy, tail, hhead = G[0], G[1], G[2], G[3], G[4], G[6]
    L, ends, nxt, hnext, lcur, dcur = K
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
    deg[a] += 1
    deg[b] += 1
    for side in range(2):  # already-heavy ends: the link and the other end read their logs
        h = ends[k, side]
        if heavy[h]:
            lcur[k, side] = tail[h]
            o = 1 - side
            dcur[k, o] = tail[h]
            if a != b:
                hnext[2 * k + o] = hhead[ends[k, o]]
                hhead[ends[k, o]] = 2 * k + o
    for s in (a, b):
        if not heavy[s] and deg[s] > heavy_degree:
            _make_heavy(s, G, K)


@numba.njit(cache=True, nogil=True)
def update_1d2d(
    S, ready, G, K, LG, n_links, n_log, heavy_degree, src, dst, link, values, ts, lambdas, double_update, two, out, cols
):
    """Per packet: insert into stream ``src[i]``, link it with ``dst[i]`` (link id ``link[i]``).

    Per lambda, writes into ``out[i, cols[j, :]]`` the source stream's weight, mean, variance,
    std, then radius sqrt(var_a^2 + var_b^2), magnitude sqrt(mean_a^2 + mean_b^2), covariance
    and Pearson correlation of the link. ``G``, ``K``, ``LG``: :meth:`LinkGraph.arrays`;
    ``n_links``/``n_log``: links and log entries so far; returns their new counts. The log
    needs room for one entry per packet. ``heavy_degree``: links beyond which a stream's
    inserts are logged (speed only: the results do not depend on it).
    """
    head, first, heavy, tail, flog, any_heavy = G[0], G[1], G[3], G[4], G[5], G[7]
    L, ends, nxt = K[0], K[1], K[2]
    log_t, log_r, log_next, log_tp, log_f = LG
    nl = lambdas.shape[0]
    for i in range(src.shape[0]):
        a = src[i]
        b = dst[i]
        k = link[i]
        t = ts[i]
        v = values[i]
        _register(S, ready, a, t, False)
        if any_heavy[0]:
            _pull_stream(S, a, lambdas, two, G, K, LG)
        for j in range(nl):
            _insert(S, a, j, lambdas[j], v, t, False, two)
        if any_heavy[0] and heavy[a]:  # log the insert; links and neighbours replay it when next touched
            q = n_log
            n_log += 1
            log_t[q] = t
            for j in range(nl):
                log_r[q, j] = v - _mean(S, a, j)
            log_next[q] = -1
            log_tp[q] = np.nan
            if tail[a] >= 0:
                log_next[tail[a]] = q
                tp = log_t[tail[a]]
                if t > tp:
                    log_tp[q] = tp
                    for j in range(nl):
                        log_f[q, j] = _decay_factor(lambdas[j], t - tp, two)
            else:
                flog[a] = q
            tail[a] = q
        else:  # every link of the source sees the insert
            e = head[a]
            while e >= 0:
                kk = e >> 1
                side = 0 if ends[kk, 0] == a else 1
                other = ends[kk, 1 - side]
                if any_heavy[0]:
                    _pull_link(kk, lambdas, two, G, K, LG)
                    _pull_stream(S, other, lambdas, two, G, K, LG)
                for j in range(nl):
                    _decay(S, other, j, lambdas[j], t, two)
                    _link_step(L, kk, j, lambdas[j], side, v - _mean(S, a, j), t, two)
                e = nxt[e]
        for j in range(nl):
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
            _new_link(k, a, b, t, nl, heavy_degree, G, K)
        s0 = ends[k, 0]
        s1 = ends[k, 1]
        if any_heavy[0]:
            _pull_link(k, lambdas, two, G, K, LG)
            _pull_stream(S, s0, lambdas, two, G, K, LG)
            _pull_stream(S, s1, lambdas, two, G, K, LG)
        side = 0 if s0 == a else 1
        for j in range(nl):
            if created or double_update:
                _decay(S, ends[k, 1 - side], j, lambdas[j], t, two)
                _link_step(L, k, j, lambdas[j], side, v - _mean(S, a, j), t, two)
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
    return n_links, n_log
