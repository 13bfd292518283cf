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

Each heavy stream's log entries sit in blocks of adjacent slots (4, 8, ... up to 256 entries,
chained by ``log_next``), so a replay reads memory in order; with one global array in
processing order a replay chased entries interleaved with every other heavy stream's and was
bound by memory latency (~80 ns an entry on the simulated outbreak). Slot numbers are therefore
not processing order: ``log_seq`` holds each entry's place in it, and replays that merge logs
compare those. A cursor holds the last entry applied (-1: none yet, start from the stream's first).

Memory: a packet to a new address touches that stream, its link and their bookkeeping at random
places, so each stream's bookkeeping is one row (``node``) and each link's one row (``meta``)
rather than a field per array (one cache miss instead of ten). Rows are initialised by the
kernel when first used, so the arrays can be allocated zeroed, which the OS does lazily: a
capacity set from the capture's packet count costs only the pages actually used.

A stream that has never had an insert (a probed address that never answered) is decayed by its
heavy neighbours' inserts, yet nothing of it is read again before its own first insert: its
mean, variance and std were cached when it was first seen (``w = 1e-20``, sums 0) and a decay
leaves that cache alone; its sums stay 0; its first insert makes ``w = w * f + 1`` exactly 1 for
any ``w <= 1e-20``. Only the time of its latest decay carries over (it decides whether the next
one happens), so its replay keeps just the latest entry time: the same output without the work.
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
LOG_BLOCK_MIN, LOG_BLOCK_MAX = 4, 256  # a heavy stream's log blocks double between these sizes

# fields (last axis) of LinkGraph.a: per link and lambda
CF3, W3, LAST3, RES0, RES1 = range(5)
# fields of LinkGraph.node: per stream
HEAD, FIRST, DEG, HEAVY, FED, TAIL, FLOG, HHEAD, BEND, BSIZE, DESC = range(11)
N_NODE = 11
# fields of LinkGraph.meta: per link (side 0, side 1 of each)
END, NXT, HNX, LCUR, DCUR = 0, 2, 4, 6, 8
N_META = 10


def _grow(x: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n,) + x.shape[1:], x.dtype)  # zeroed lazily by the OS: untouched rows cost nothing
    out[: x.shape[0]] = x
    return out


class LinkGraph:
    """Per-stream link lists and heavy-stream logs; per-link, per-lambda state ``a``.

    ``node`` (streams x 11, int64): ``HEAD`` (first slot of its link list), ``FIRST`` (its
    oldest link), ``DEG`` (list length), ``HEAVY``, ``FED`` (has had an insert), ``TAIL``/``FLOG``
    (last/first log entry), ``HHEAD`` (first slot of its list of links whose other end is
    heavy), ``BEND``/``BSIZE`` (end and size of its current log block), ``DESC`` (``log_seq`` of
    its latest entry timed before the entry it follows, -1: none: the log's times rise from
    there on, so the latest time of a stretch after it is its last entry's). ``meta`` (links x 10,
    int64), two of each, for side 0 and side 1: ``END`` (stream), ``NXT``/``HNX`` (next slot in
    the side's stream's list / heavy-neighbour list; slot ``2 * link + side``), ``LCUR`` (last
    entry of that side's log applied to the link), ``DCUR`` (last entry of the *other* side's
    log applied as a decay to this side's stream); ``made`` (links: set up yet). ``any_heavy``:
    one flag, no replay work at all until a stream turns heavy (the uci layout's streams have one
    or two links). Log: ``log_t`` (s), ``log_r`` (n, n_lambdas), ``log_next`` (next entry of
    the same stream), ``log_seq`` (order of logging), ``log_tp`` (time of the same stream's
    previous entry) and ``log_f`` (n, n_lambdas: the decay factor from ``log_tp`` to ``log_t``).
    """

    def __init__(self, n_lambdas: int, capacity: int = 1024, heavy_degree: int = HEAVY_DEGREE):
        self.n_lambdas = n_lambdas
        self.heavy_degree = heavy_degree
        self.n_links = 0
        self.n_log = 0
        self.n_seq = 0  # entries logged so far (log_seq of the next one)
        self.node = np.zeros((capacity, N_NODE), np.int64)
        self.any_heavy = np.zeros(1, np.bool_)
        self.a = np.zeros((capacity, n_lambdas, 5))
        self.meta = np.zeros((capacity, N_META), np.int64)
        self.made = np.zeros(capacity, np.bool_)
        self.log_t = np.zeros(capacity)
        self.log_r = np.zeros((capacity, n_lambdas))
        self.log_next = np.zeros(capacity, np.int64)
        self.log_seq = np.zeros(capacity, np.int64)
        self.log_tp = np.zeros(capacity)
        self.log_f = np.zeros((capacity, n_lambdas))

    @property
    def heavy(self) -> np.ndarray:
        """Which streams log their inserts (bool per stream)."""
        return self.node[:, HEAVY].astype(bool)

    def ensure(self, n_streams: int, n_links: int, n_new_log: int = 0) -> None:
        """Room for streams 0..n_streams-1, links 0..n_links-1 and ``n_new_log`` more log slots.

        Capacities double, so growth costs O(1) amortised per item.
        """
        def cap(now, need):
            return now if need <= now else max(need, 2 * now)

        c = cap(len(self.node), n_streams)
        if c > len(self.node):
            self.node = _grow(self.node, c)
        c = cap(len(self.meta), n_links)
        if c > len(self.meta):
            for name in ("a", "meta", "made"):
                setattr(self, name, _grow(getattr(self, name), c))
        c = cap(len(self.log_t), self.n_log + n_new_log)
        if c > len(self.log_t):
            for name in ("log_t", "log_r", "log_next", "log_seq", "log_tp", "log_f"):
                setattr(self, name, _grow(getattr(self, name), c))

    def arrays(self):
        """The arrays :func:`update_1d2d` takes, in its order."""
        return (
            (self.node, self.any_heavy),
            (self.a, self.meta, self.made),
            (self.log_t, self.log_r, self.log_next, self.log_tp, self.log_f, self.log_seq),
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
def _next_entry(cur, h, node, log_next):
    return node[h, FLOG] if cur < 0 else log_next[cur]


@numba.njit(cache=True, inline="always")
def _pull_stream(S, s, lambdas, two, G, K, LG):
    """Decay stream ``s`` at each logged insert of its heavy neighbours it has not seen, in order."""
    node = G[0]
    M = K[1]
    log_t, log_next, log_tp, log_f, log_seq = LG[0], LG[2], LG[3], LG[4], LG[5]
    if node[s, HHEAD] < 0:
        return
    if not node[s, FED]:  # never had an insert: only the latest decay time matters (module docstring)
        last = S[s, 0, LAST]
        e = node[s, HHEAD]
        while e >= 0:
            k, o = e >> 1, e & 1
            h = M[k, END + 1 - o]
            q = _next_entry(M[k, DCUR + o], h, node, log_next)
            if q >= 0 and node[h, DESC] <= log_seq[q]:  # times rise from q on: the latest is the last
                if log_t[node[h, TAIL]] > last:
                    last = log_t[node[h, TAIL]]
                M[k, DCUR + o] = node[h, TAIL]
                q = -1
            while q >= 0:
                if log_t[q] > last:
                    last = log_t[q]
                M[k, DCUR + o] = q
                q = log_next[q]
            e = M[k, HNX + o]
        for j in range(lambdas.shape[0]):
            S[s, j, LAST] = last
        return
    while True:  # merge the neighbours' logs in the order they were written
        best, bq = -1, -1
        e = node[s, HHEAD]
        while e >= 0:
            k, o = e >> 1, e & 1
            q = _next_entry(M[k, DCUR + o], M[k, END + 1 - o], node, log_next)
            if q >= 0 and (bq < 0 or log_seq[q] < log_seq[bq]):
                best, bq = e, q
            e = M[k, HNX + o]
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
        M[best >> 1, DCUR + (best & 1)] = bq


@numba.njit(cache=True, inline="always")
def _pull_link(k, lambdas, two, G, K, LG):
    """Apply to link ``k`` the logged inserts of its heavy ends it has not seen, in order."""
    node = G[0]
    L, M = K[0], K[1]
    log_t, log_r, log_next, log_tp, log_f, log_seq = LG
    a, b = M[k, END], M[k, END + 1]
    ha, hb = node[a, HEAVY], node[b, HEAVY]
    if not ha and not hb:
        return
    if a != b and ha != hb:  # one heavy end (a scanner and a target): its entries in a row
        side = 0 if ha else 1
        q = _next_entry(M[k, LCUR + side], M[k, END + side], node, log_next)
        if q < 0:
            return
        res, other = RES0 + side, RES0 + 1 - side
        nl = lambdas.shape[0]
        zero = True  # no covariance yet and a silent other side: every product is 0 * r
        for j in range(nl):
            if L[k, j, CF3] != 0.0 or math.copysign(1.0, L[k, j, CF3]) < 0 or L[k, j, other] != 0.0:
                zero = False  # (-0.0 + 0.0 would turn the sign: leave that to the general step)
        while zero and q >= 0:  # then a step only decays W3 and adds 1 (and the other side stays silent)
            t = log_t[q]
            last = L[k, 0, LAST3]
            if t > last:
                fast = last == log_tp[q]
                for j in range(nl):
                    f = log_f[q, j] if fast else _decay_factor(lambdas[j], t - last, two)
                    L[k, j, W3] = L[k, j, W3] * f + 1.0
                    L[k, j, LAST3] = t
                    L[k, j, res] = log_r[q, j]
            else:
                for j in range(nl):
                    L[k, j, W3] += 1.0
                    L[k, j, res] = log_r[q, j]
            M[k, LCUR + side] = q
            q = log_next[q]
        while q >= 0:  # _link_step for every lambda, its time test done once (all lambdas share LAST3)
            t = log_t[q]
            dt = t - L[k, 0, LAST3]
            if dt > 0:
                fast = L[k, 0, LAST3] == log_tp[q]
                for j in range(lambdas.shape[0]):
                    f = log_f[q, j] if fast else _decay_factor(lambdas[j], dt, two)
                    L[k, j, CF3] *= f
                    L[k, j, W3] *= f
                    L[k, j, LAST3] = t
                    L[k, j, res] *= f
            for j in range(lambdas.shape[0]):
                r = log_r[q, j]
                L[k, j, CF3] += r * L[k, j, other]
                L[k, j, W3] += 1.0
                L[k, j, res] = r
            M[k, LCUR + side] = q
            q = log_next[q]
        return
    self_link = a == b
    while True:
        bside, bq = -1, -1
        for side in range(1 if self_link else 2):
            h = M[k, END + side]
            if node[h, HEAVY]:
                q = _next_entry(M[k, LCUR + side], h, node, log_next)
                if q >= 0 and (bq < 0 or log_seq[q] < log_seq[bq]):
                    bside, bq = side, q
        if bq < 0:
            return
        # a self-link sits twice in its stream's list, so the reference updates it twice
        for _ in range(2 if self_link else 1):
            for j in range(lambdas.shape[0]):
                _link_step(L, k, j, lambdas[j], bside, log_r[bq, j], log_t[bq], two, log_tp[bq], log_f[bq, j])
        M[k, LCUR + bside] = bq


@numba.njit(cache=True)
def _make_heavy(h, G, K):
    """From now on ``h`` logs its inserts; its links and neighbours start reading the log."""
    node, any_heavy = G[0], G[1]
    M = K[1]
    node[h, HEAVY] = 1
    any_heavy[0] = True
    e = node[h, HEAD]
    while e >= 0:
        k, sh = e >> 1, e & 1
        M[k, LCUR + sh] = node[h, TAIL]
        if M[k, END] != M[k, END + 1] and M[k, END + sh] == h:
            o = 1 - sh
            M[k, DCUR + o] = node[h, TAIL]
            other = M[k, END + o]
            M[k, HNX + o] = node[other, HHEAD]
            node[other, HHEAD] = 2 * k + o
        e = M[k, NXT + sh]


@numba.njit(cache=True, inline="always")
def _new_node(S, ready, s, t, node):
    """Register stream ``s`` (first seen at ``t``) and its bookkeeping row, once."""
    if not ready[s]:
        for f in (HEAD, FIRST, TAIL, FLOG, HHEAD, BEND, DESC):
            node[s, f] = -1
        for f in (DEG, HEAVY, FED, BSIZE):
            node[s, f] = 0
        _register(S, ready, s, t, False)


@numba.njit(cache=True, inline="always")
def _new_link(k, a, b, t, nl, heavy_degree, G, K):
    node = G[0]
    L, M, made = K
    made[k] = True
    if node[a, FIRST] < 0:
        node[a, FIRST] = k
    if node[b, FIRST] < 0:
        node[b, FIRST] = k
    M[k, END] = a
    M[k, END + 1] = b
    for f in (HNX, HNX + 1, LCUR, LCUR + 1, DCUR, DCUR + 1):
        M[k, f] = -1
    for j in range(nl):
        L[k, j, CF3] = 0.0
        L[k, j, W3] = 1e-20
        L[k, j, LAST3] = t
        L[k, j, RES0] = 0.0
        L[k, j, RES1] = 0.0
    M[k, NXT] = node[a, HEAD]
    node[a, HEAD] = 2 * k
    M[k, NXT + 1] = node[b, HEAD]
    node[b, HEAD] = 2 * k + 1
    node[a, DEG] += 1
    node[b, DEG] += 1
    for side in range(2):  # already-heavy ends: the link and the other end read their logs
        h = M[k, END + side]
        if node[h, HEAVY]:
            M[k, LCUR + side] = node[h, TAIL]
            o = 1 - side
            M[k, DCUR + o] = node[h, TAIL]
            if a != b:
                other = M[k, END + o]
                M[k, HNX + o] = node[other, HHEAD]
                node[other, HHEAD] = 2 * k + o
    for s in (a, b):
        if not node[s, HEAVY] and node[s, DEG] > heavy_degree:
            _make_heavy(s, G, K)


@numba.njit(cache=True, nogil=True)
def update_1d2d(
    S, ready, G, K, LG, n_links, n_log, n_seq, heavy_degree, start,
    src, dst, link, values, ts, lambdas, double_update, two, out, cols,
):
    """Per packet from ``start`` on: insert into stream ``src[i]``, link it with ``dst[i]`` (link id ``link[i]``).

    Per lambda, writes into ``out[i, cols[j, :]]`` the source stream's weight, mean, variance,
    std, then radius sqrt(var_a^2 + var_b^2), magnitude sqrt(mean_a^2 + mean_b^2), covariance
    and Pearson correlation of the link. ``G``, ``K``, ``LG``: :meth:`LinkGraph.arrays`;
    ``n_links``/``n_log``/``n_seq``: links, log slots used and entries logged so far.
    ``heavy_degree``: links beyond which a stream's inserts are logged (speed only: the results
    do not depend on it). Returns (packets done, n_links, n_log, n_seq): it stops before a
    packet when the log has no room for one more block; grow the log and call again from there.
    """
    node, any_heavy = G
    L, M, made = K
    log_t, log_r, log_next, log_tp, log_f, log_seq = LG
    nl = lambdas.shape[0]
    for i in range(start, src.shape[0]):
        if n_log + LOG_BLOCK_MAX > log_t.shape[0]:
            return i, n_links, n_log, n_seq
        a = src[i]
        b = dst[i]
        k = link[i]
        t = ts[i]
        v = values[i]
        _new_node(S, ready, a, t, node)
        if any_heavy[0]:
            _pull_stream(S, a, lambdas, two, G, K, LG)
        for j in range(nl):
            _insert(S, a, j, lambdas[j], v, t, False, two)
        node[a, FED] = 1
        if any_heavy[0] and node[a, HEAVY]:  # log the insert; links and neighbours replay it when next touched
            tail = node[a, TAIL]
            if tail >= 0 and tail + 1 < node[a, BEND]:
                q = tail + 1
            else:  # a new block, twice the last one's size
                node[a, BSIZE] = min(max(2 * node[a, BSIZE], LOG_BLOCK_MIN), LOG_BLOCK_MAX)
                q = n_log
                n_log += node[a, BSIZE]
                node[a, BEND] = n_log
            log_seq[q] = n_seq
            n_seq += 1
            log_t[q] = t
            for j in range(nl):
                log_r[q, j] = v - _mean(S, a, j)
            log_next[q] = -1
            log_tp[q] = np.nan
            if tail >= 0:
                log_next[tail] = q
                tp = log_t[tail]
                if t < tp:
                    node[a, DESC] = log_seq[q]
                if t > tp:
                    log_tp[q] = tp
                    for j in range(nl):
                        log_f[q, j] = _decay_factor(lambdas[j], t - tp, two)
            else:
                node[a, FLOG] = q
            node[a, TAIL] = q
        else:  # every link of the source sees the insert
            e = node[a, HEAD]
            while e >= 0:
                kk = e >> 1
                side = 0 if M[kk, END] == a else 1
                other = M[kk, END + 1 - side]
                if any_heavy[0]:
                    _pull_link(kk, lambdas, two, G, K, LG)
                    _pull_stream(S, other, lambdas, two, G, K, LG)
                for j in range(nl):
                    _decay(S, other, j, lambdas[j], t, two)
                    _link_step(L, kk, j, lambdas[j], side, v - _mean(S, a, j), t, two)
                e = M[kk, NXT + (e & 1)]
        for j in range(nl):
            w, m, var = _stats_1d(S, a, j, two)
            _put(out, i, cols[j, 0], w)
            _put(out, i, cols[j, 1], m)
            _put(out, i, cols[j, 2], var)
        _new_node(S, ready, b, t, node)
        created = False
        if a == b and node[a, FIRST] >= 0:
            # The reference looks for an existing link of the source that names the
            # destination on either side; when source == destination any link does, so the
            # stream's oldest link is used and no self-link is made.
            k = node[a, FIRST]
        elif not made[k]:
            created = True
            n_links += 1
            _new_link(k, a, b, t, nl, heavy_degree, G, K)
        s0 = M[k, END]
        s1 = M[k, END + 1]
        if any_heavy[0]:
            _pull_link(k, lambdas, two, G, K, LG)
            _pull_stream(S, s0, lambdas, two, G, K, LG)
            _pull_stream(S, s1, lambdas, two, G, K, LG)
        side = 0 if s0 == a else 1
        for j in range(nl):
            if created or double_update:
                _decay(S, M[k, END + 1 - side], j, lambdas[j], t, two)
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
    return src.shape[0], n_links, n_log, n_seq
