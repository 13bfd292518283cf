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
in the same order as the eager update would have, so every row written is bit-equal to it (the
state differs only where nothing reads it, below); work happens only for links and streams that
are touched again. Light streams update their few links eagerly, as the reference. The log is
kept whole (about 170 bytes a heavy stream's packet): a silent link may need any part of it.

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
Such a stream does not even use its row of statistics: its mean, variance and std read as 0, its
time is ``t0`` in the bookkeeping, and the row is set up at its first insert as it would stand
then (sums 0, ``w`` tiny, time ``t0``). A scan's hundreds of thousands of probed addresses cost
a bookkeeping row each, not 280 bytes of statistics in fresh memory.

A link is *silent* while it has no covariance (``CF3`` is +0) and its light side's residual is
0 (a probed address that never answered, or answered once: a first insert's residual is 0).
Every step of the heavy side then adds ``r * 0``: only ``W3`` moves, and ``W3`` is read only
as ``CF3 / W3`` = 0. So when a scanner probes the same address again (the kitsune-py layout
updates the link directly on each of its packets), the link is not replayed: the direct step is
owed (the packet's log entry names the link in ``log_owe``) and replayed with the rest, in
order, when the link is next needed exactly (its light side speaks, or an end turns heavy). An
address that never answers (a scanner probing the absent hosts of its LAN again and again)
costs nothing more after its first probe.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from nidslab.features.afterimage import (
    CF1,
    CF2,
    LAST,
    MEAN,
    STD,
    VAR,
    W,
    _decay,
    _decay_factor,
    _insert,
    _mean,
    _put,
    _sq,
    _stats_1d,
    _std,
    _var,
)
from nidslab.jit import NO_NRT

HEAVY_DEGREE = 8  # links beyond which a stream's inserts go to the log (speed only, not results)
LOG_BLOCK_MIN, LOG_BLOCK_MAX = 4, 256  # a heavy stream's log blocks double between these sizes

# fields (last axis) of LinkGraph.a: per link and lambda
CF3, W3, LAST3, RES0, RES1 = range(5)
# fields of LinkGraph.node: per stream
HEAD, FIRST, DEG, HEAVY, FED, TAIL, FLOG, HHEAD, BEND, BSIZE, DESC = range(11)
N_NODE = 11
# fields of LinkGraph.meta: per link (side 0, side 1 of each)
END, NXT, HNX, LCUR, DCUR = 0, 2, 4, 6, 8
NOWED = 10  # direct steps a silent link owes (module docstring)
N_META = 11


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
    there on, so the latest time of a stretch after it is its last entry's). ``meta`` (links x 11,
    int64), two of each, for side 0 and side 1: ``END`` (stream), ``NXT``/``HNX`` (next slot in
    the side's stream's list / heavy-neighbour list; slot ``2 * link + side``), ``LCUR`` (last
    entry of that side's log applied to the link), ``DCUR`` (last entry of the *other* side's
    log applied as a decay to this side's stream), ``NOWED`` (direct steps owed: entries whose
    ``log_owe`` names the link); ``made`` (links: set up yet). ``flags``: any
    stream heavy yet (no replay work at all until then: the uci layout's streams have one or two
    links), and the slot of the latest log entry. Log: ``log_t`` (s), ``log_r`` (n, n_lambdas),
    ``log_next`` (next entry of the same stream), ``log_seq`` (order of logging), ``log_tp``
    (time of the same stream's previous entry), ``log_f`` (n, n_lambdas: the decay factor from
    ``log_tp`` to ``log_t``), ``log_owe`` (the link whose direct step at this entry is owed,
    -1: none), ``log_gt`` (time of the entry logged just before, by any stream)
    and ``log_gf`` (the factor from ``log_gt`` to ``log_t``, computed when first needed: a
    stream linked with every heavy stream, as a LAN host with all the scanners, replays the log
    in exactly that order, and would otherwise call pow for each entry).
    """

    def __init__(self, n_lambdas: int, capacity: int = 1024, heavy_degree: int = HEAVY_DEGREE):
        self.n_lambdas = n_lambdas
        self.heavy_degree = heavy_degree
        self.n_links = 0
        self.n_log = 0
        self.n_seq = 0  # entries logged so far (log_seq of the next one)
        self.node = np.zeros((capacity, N_NODE), np.int64)
        self.t0 = np.zeros(capacity)  # time of a never-fed stream's latest decay (its statistics row unused)
        self.flags = np.array([0, -1], np.int64)  # any stream heavy yet; slot of the latest log entry
        self.scratch = np.zeros((64, 3), np.int64)  # cursors of a merge of up to 64 heavy neighbours' logs
        self.a = np.zeros((capacity, n_lambdas, 5))
        self.meta = np.zeros((capacity, N_META), np.int64)
        self.made = np.zeros(capacity, np.bool_)
        self.log_t = np.zeros(capacity)
        self.log_r = np.zeros((capacity, n_lambdas))
        self.log_next = np.zeros(capacity, np.int64)
        self.log_seq = np.zeros(capacity, np.int64)
        self.log_tp = np.zeros(capacity)
        self.log_f = np.zeros((capacity, n_lambdas))
        self.log_owe = np.zeros(capacity, np.int64)
        self.log_gt = np.zeros(capacity)
        self.log_gf = np.zeros((capacity, n_lambdas))

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
            self.t0 = _grow(self.t0, c)
        c = cap(len(self.meta), n_links)
        if c > len(self.meta):
            for name in ("a", "meta", "made"):
                setattr(self, name, _grow(getattr(self, name), c))
        c = cap(len(self.log_t), self.n_log + n_new_log)
        if c > len(self.log_t):
            for name in ("log_t", "log_r", "log_next", "log_seq", "log_tp", "log_f", "log_gt", "log_gf", "log_owe"):
                setattr(self, name, _grow(getattr(self, name), c))

    def arrays(self):
        """The arrays :func:`update_1d2d` takes, in its order."""
        return (
            (self.node, self.flags, self.t0, self.scratch),
            (self.a, self.meta, self.made),
            (self.log_t, self.log_r, self.log_next, self.log_tp, self.log_f, self.log_seq, self.log_gt, self.log_gf,
             self.log_owe),
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


@numba.njit(cache=True, **NO_NRT)  # a call, not inlined: inlined at each use, compiling took minutes
def _pull_stream(S, s, lambdas, two, G, K, LG):
    """Decay stream ``s`` at each logged insert of its heavy neighbours it has not seen, in order."""
    node = G[0]
    M = K[1]
    log_t, log_next, log_seq = LG[0], LG[2], LG[5]
    if node[s, HHEAD] < 0:
        return
    if not node[s, FED]:  # never had an insert: only the latest decay time matters (module docstring)
        t0 = G[2]
        last = t0[s]
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
        t0[s] = last
        return
    d, only = 0, -1  # neighbours with entries to replay
    e = node[s, HHEAD]
    while e >= 0:
        k, o = e >> 1, e & 1
        if _next_entry(M[k, DCUR + o], M[k, END + 1 - o], node, log_next) >= 0:
            d += 1
            only = e
        e = M[k, HNX + o]
    if d == 0:
        return
    if d == 1:  # one log: its entries in a row
        k, o = only >> 1, only & 1
        q = _next_entry(M[k, DCUR + o], M[k, END + 1 - o], node, log_next)
        while q >= 0:
            _decay_at_entry(S, s, q, lambdas, two, LG)
            M[k, DCUR + o] = q
            q = log_next[q]
        return
    scratch = G[3]
    if d > scratch.shape[0]:  # more heavy neighbours than scratch rows: find the next entry by walking
        while True:
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
            _decay_at_entry(S, s, bq, lambdas, two, LG)
            M[best >> 1, DCUR + (best & 1)] = bq
    # several: merge them in the order they were written (d is small: a heap would not pay). The
    # cursors sit in the database's scratch rows (slot, next entry, its log_seq): this kernel runs
    # without numba's runtime, so it cannot allocate (nidslab.jit).
    slot, nq, nseq = scratch[:, 0], scratch[:, 1], scratch[:, 2]
    i = 0
    e = node[s, HHEAD]
    while e >= 0:
        k, o = e >> 1, e & 1
        q = _next_entry(M[k, DCUR + o], M[k, END + 1 - o], node, log_next)
        if q >= 0:
            slot[i], nq[i], nseq[i] = e, q, log_seq[q]
            i += 1
        e = M[k, HNX + o]
    while True:
        b = -1
        for i in range(d):
            if nq[i] >= 0 and (b < 0 or nseq[i] < nseq[b]):
                b = i
        if b < 0:
            return
        q = nq[b]
        _decay_at_entry(S, s, q, lambdas, two, LG)
        M[slot[b] >> 1, DCUR + (slot[b] & 1)] = q
        q = log_next[q]
        nq[b] = q
        if q >= 0:
            nseq[b] = log_seq[q]


@numba.njit(cache=True, inline="always")
def _decay_at_entry(S, s, q, lambdas, two, LG):
    """Decay stream ``s`` to the time of log entry ``q`` (as ``_decay``, with the entry's cached factors)."""
    log_t, log_tp, log_f, log_gt, log_gf = LG[0], LG[3], LG[4], LG[6], LG[7]
    t = log_t[q]
    last = S[s, 0, LAST]  # the same for every lambda
    if not t > last:
        return
    own = last == log_tp[q]  # last decayed at this stream's previous entry: its factor
    if not own and last != log_gt[q]:  # nor at the entry logged just before this one: pow
        for j in range(lambdas.shape[0]):
            _decay(S, s, j, lambdas[j], t, two)
        return
    for j in range(lambdas.shape[0]):
        if own:
            f = log_f[q, j]
        else:  # the factor from the entry logged just before, computed once for every stream
            if math.isnan(log_gf[q, j]):
                log_gf[q, j] = _decay_factor(lambdas[j], t - last, two)
            f = log_gf[q, j]
        S[s, j, CF1] *= f
        S[s, j, CF2] *= f
        S[s, j, W] *= f
        S[s, j, LAST] = t


@numba.njit(cache=True, inline="always")
def _silent_run(L, k, q, side, lambdas, two, M, LG):
    """Entries ``q``, ... of side ``side``'s log on link ``k`` whose other side is silent (its
    residual 0, no covariance): each decays W3 and adds 1, an owed direct step after its entry
    adds 1 more; the last residual stays.

    The lambdas' weights are chained in registers when there are five (a scanner's link can owe
    thousands of entries; this is the extractor's hottest loop)."""
    log_t, log_r, log_next, log_tp, log_f, log_owe = LG[0], LG[1], LG[2], LG[3], LG[4], LG[8]
    res = RES0 + side
    last = L[k, 0, LAST3]
    p = q
    if lambdas.shape[0] == 5:
        w0, w1, w2, w3, w4 = L[k, 0, W3], L[k, 1, W3], L[k, 2, W3], L[k, 3, W3], L[k, 4, W3]
        while q >= 0:
            t = log_t[q]
            if t > last:
                if last == log_tp[q]:
                    f0, f1, f2, f3, f4 = log_f[q, 0], log_f[q, 1], log_f[q, 2], log_f[q, 3], log_f[q, 4]
                else:
                    dt = t - last
                    f0 = _decay_factor(lambdas[0], dt, two)
                    f1 = _decay_factor(lambdas[1], dt, two)
                    f2 = _decay_factor(lambdas[2], dt, two)
                    f3 = _decay_factor(lambdas[3], dt, two)
                    f4 = _decay_factor(lambdas[4], dt, two)
                w0 = w0 * f0 + 1.0
                w1 = w1 * f1 + 1.0
                w2 = w2 * f2 + 1.0
                w3 = w3 * f3 + 1.0
                w4 = w4 * f4 + 1.0
                last = t
            else:
                w0 += 1.0
                w1 += 1.0
                w2 += 1.0
                w3 += 1.0
                w4 += 1.0
            if log_owe[q] == k:  # the owed direct step: at this entry's time, so no decay
                w0 += 1.0
                w1 += 1.0
                w2 += 1.0
                w3 += 1.0
                w4 += 1.0
            p = q
            q = log_next[q]
        L[k, 0, W3], L[k, 1, W3], L[k, 2, W3], L[k, 3, W3], L[k, 4, W3] = w0, w1, w2, w3, w4
    else:
        while q >= 0:
            t = log_t[q]
            if t > last:
                fast = last == log_tp[q]
                for j in range(lambdas.shape[0]):
                    f = log_f[q, j] if fast else _decay_factor(lambdas[j], t - last, two)
                    L[k, j, W3] = L[k, j, W3] * f + 1.0
                last = t
            else:
                for j in range(lambdas.shape[0]):
                    L[k, j, W3] += 1.0
            if log_owe[q] == k:
                for j in range(lambdas.shape[0]):
                    L[k, j, W3] += 1.0
            p = q
            q = log_next[q]
    for j in range(lambdas.shape[0]):
        L[k, j, LAST3] = last
        L[k, j, res] = log_r[p, j]
    M[k, LCUR + side] = p
    M[k, NOWED] = 0


@numba.njit(cache=True, inline="always")
def _silent(L, k, other):
    """No covariance (+0: -0.0 + 0.0 would turn its sign) and residual 0 on side ``other``."""
    for j in range(L.shape[1]):
        if L[k, j, CF3] != 0.0 or math.copysign(1.0, L[k, j, CF3]) < 0 or L[k, j, RES0 + other] != 0.0:
            return False
    return True


@numba.njit(cache=True, **NO_NRT)
def _pull_link(k, lambdas, two, G, K, LG):
    """Apply to link ``k`` the logged inserts of its heavy ends it has not seen, in order."""
    node = G[0]
    L, M = K[0], K[1]
    log_t, log_r, log_next, log_tp, log_f, log_seq = LG[0], LG[1], LG[2], LG[3], LG[4], LG[5]
    a, b = M[k, END], M[k, END + 1]
    ha, hb = node[a, HEAVY], node[b, HEAVY]
    if not ha and not hb:
        return
    if a != b and ha != hb:  # one heavy end (a scanner and a target) and a silent other side
        side = 0 if ha else 1
        q = _next_entry(M[k, LCUR + side], M[k, END + side], node, log_next)
        if q >= 0 and _silent(L, k, 1 - side):  # then a step only decays W3 and adds 1 (module docstring)
            _silent_run(L, k, q, side, lambdas, two, M, LG)
            return
    # Steps are owed only while a link is silent, and it stays silent until it is pulled: none here.
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


@numba.njit(cache=True, **NO_NRT)
def _make_heavy(h, lambdas, two, G, K, LG):
    """From now on ``h`` logs its inserts; its links and neighbours start reading the log."""
    node, flags = G[0], G[1]
    M = K[1]
    e = node[h, HEAD]
    while e >= 0:  # owed steps are replayed on one-heavy-end links only: settle them now
        if M[e >> 1, NOWED] > 0:
            _pull_link(e >> 1, lambdas, two, G, K, LG)
        e = M[e >> 1, NXT + (e & 1)]
    node[h, HEAVY] = 1
    flags[0] = 1
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
def _new_node(ready, s, t, node, t0):
    """Register stream ``s`` (first seen at ``t``): its bookkeeping row, once."""
    if not ready[s]:
        ready[s] = True
        for f in (HEAD, FIRST, TAIL, FLOG, HHEAD, BEND, DESC):
            node[s, f] = -1
        for f in (DEG, HEAVY, FED, BSIZE):
            node[s, f] = 0
        t0[s] = t


@numba.njit(cache=True, inline="always")
def _feed(S, s, node, t0):
    """Before stream ``s``'s first insert: its statistics row as the reference's would stand
    (never inserted into: sums 0, a weight that the insert's + 1 absorbs, last touched at t0)."""
    if not node[s, FED]:
        node[s, FED] = 1
        for j in range(S.shape[1]):
            S[s, j, CF1] = 0.0
            S[s, j, CF2] = 0.0
            S[s, j, W] = 1e-20
            S[s, j, LAST] = t0[s]
            S[s, j, MEAN] = np.nan
            S[s, j, VAR] = np.nan
            S[s, j, STD] = np.nan


@numba.njit(cache=True, inline="always")
def _decay_any(S, s, j, lam, t, two, node, t0):
    """``_decay``; a never-fed stream keeps only the time."""
    if node[s, FED]:
        _decay(S, s, j, lam, t, two)
    elif t - t0[s] > 0:
        t0[s] = t


@numba.njit(cache=True, inline="always")
def _new_link(k, a, b, t, lambdas, two, heavy_degree, G, K, LG):
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
    M[k, NOWED] = 0
    for j in range(lambdas.shape[0]):
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
            _make_heavy(s, lambdas, two, G, K, LG)


@numba.njit(cache=True, nogil=True, **NO_NRT)  # allocates nothing: no runtime (nidslab.jit)
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
    node, flags, t0 = G[0], G[1], G[2]
    L, M, made = K
    log_t, log_r, log_next, log_tp, log_f, log_seq, log_gt, log_gf, log_owe = LG
    nl = lambdas.shape[0]
    for i in range(start, src.shape[0]):
        if n_log + LOG_BLOCK_MAX > log_t.shape[0]:
            return i, n_links, n_log, n_seq
        a = src[i]
        b = dst[i]
        k = link[i]
        t = ts[i]
        v = values[i]
        _new_node(ready, a, t, node, t0)
        if flags[0]:
            _pull_stream(S, a, lambdas, two, G, K, LG)
        _feed(S, a, node, t0)
        for j in range(nl):
            _insert(S, a, j, lambdas[j], v, t, False, two)
        if flags[0] and node[a, HEAVY]:  # log the insert; links and neighbours replay it when next touched
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
            log_owe[q] = -1
            log_tp[q] = np.nan
            log_gt[q] = log_t[flags[1]] if flags[1] >= 0 else np.nan
            for j in range(nl):
                log_gf[q, j] = np.nan
            flags[1] = q
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
                if flags[0]:
                    _pull_link(kk, lambdas, two, G, K, LG)
                    _pull_stream(S, other, lambdas, two, G, K, LG)
                for j in range(nl):
                    _decay_any(S, other, j, lambdas[j], t, two, node, t0)
                    _link_step(L, kk, j, lambdas[j], side, v - _mean(S, a, j), t, two)
                e = M[kk, NXT + (e & 1)]
        for j in range(nl):
            w, m, var = _stats_1d(S, a, j, two)
            _put(out, i, cols[j, 0], w)
            _put(out, i, cols[j, 1], m)
            _put(out, i, cols[j, 2], var)
        _new_node(ready, b, t, node, t0)
        created = False
        if a == b and node[a, FIRST] >= 0:
            # The reference looks for an existing link of the source that names the
            # destination on either side; when source == destination any link does, so the
            # stream's oldest link is used and no self-link is made.
            k = node[a, FIRST]
        elif not made[k]:
            created = True
            n_links += 1
            _new_link(k, a, b, t, lambdas, two, heavy_degree, G, K, LG)
        s0 = M[k, END]
        s1 = M[k, END + 1]
        side = 0 if s0 == a else 1
        owe = False
        if flags[0]:
            # a heavy source's direct step on a silent link is owed, not made (module docstring)
            owe = (double_update and not created and node[a, HEAVY] and s0 != s1
                   and not node[M[k, END + 1 - side], HEAVY] and _silent(L, k, 1 - side))
            if owe:
                log_owe[node[a, TAIL]] = k
                M[k, NOWED] += 1
            else:
                _pull_link(k, lambdas, two, G, K, LG)
            _pull_stream(S, s0, lambdas, two, G, K, LG)
            _pull_stream(S, s1, lambdas, two, G, K, LG)
        fed0, fed1 = node[s0, FED], node[s1, FED]  # a never-fed end reads 0 (module docstring)
        for j in range(nl):
            if created or double_update:
                _decay_any(S, M[k, END + 1 - side], j, lambdas[j], t, two, node, t0)
                if not owe:
                    _link_step(L, k, j, lambdas[j], side, v - _mean(S, a, j), t, two)
            v0 = _var(S, s0, j, two) if fed0 else 0.0
            v1 = _var(S, s1, j, two) if fed1 else 0.0
            m0 = _mean(S, s0, j) if fed0 else 0.0
            m1 = _mean(S, s1, j) if fed1 else 0.0
            cov = L[k, j, CF3] / L[k, j, W3]
            ss = (_std(S, s0, j, two) if fed0 else 0.0) * (_std(S, s1, j, two) if fed1 else 0.0)
            _put(out, i, cols[j, 3], _std(S, a, j, two))
            _put(out, i, cols[j, 4], math.sqrt(_sq(v0, two) + _sq(v1, two)))
            _put(out, i, cols[j, 5], math.sqrt(_sq(m0, two) + _sq(m1, two)))
            _put(out, i, cols[j, 6], cov)
            _put(out, i, cols[j, 7], cov / ss if ss != 0 else 0.0)
    return src.shape[0], n_links, n_log, n_seq
