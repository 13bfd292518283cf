"""Incidents per source host: the unit an operator handles, instead of single alerting packets.

An incident opens on an alert (a packet whose score crosses the threshold) and gathers the
following alerts *of the same source host* while each comes within ``gap_s`` seconds of the
previous one; the first alert after a longer quiet gap opens the next incident. An incident carries
its host, start and end (times of its first and last alert), alerts (flagged packets), packets (all
of the host's packets from its first to its last alert), peak score and the packet that reached it,
and, when packet truth is given, the host's malicious packets inside it and the attack phases they
belong to.

Two forms, equal on the same packets (tests check it):

- :func:`group_incidents`: a whole capture at once, vectorised (one stable sort by host, gaps to
  incident ids, ``reduceat`` per incident; no loop over packets);
- :class:`IncidentTracker`: the same grouping chunk by chunk for ``nidslab watch`` (the open
  incident of each host carried across chunks), emitting ``open`` / ``update`` / ``close`` events.

The source host of a packet (:class:`HostTable`) is its source IP address (IPv4 or IPv6), or its
source MAC address for frames without IP (ARP, EAPOL, ...); the capture reader already decodes
both (:class:`nidslab.features.Packets`).

:func:`incident_measures` scores incidents against packet truth: false incidents per day of
benign-only traffic, incidents on hosts that are not infected during an outbreak, the share of
infected hosts detected and the time from a host's first malicious packet to its first alert.

Reasons: both forms take an optional ``explain(X_rows) -> list[list[dict]]`` (one list of reasons
per row, e.g. :mod:`nidslab.explain`); it is called only for incidents' peak packets, all of a step's in
one call, and a closed incident's ``reasons`` are those of its peak packet (``reasons_index`` names the
packet). The tracker explains an incident's peak when it opens, a higher peak when ``reexplain_s`` of
capture time have passed since the packet its reasons explain, and the final peak when it closes (if not
explained already): an operator reads reasons per event, and a new peak a few packets later seldom changes
them. Without ``explain``, ``reasons`` is ``[]``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

#: seconds without an alert from a host after which its incident closes (the default of every form)
DEFAULT_GAP_S = 60.0
#: capture seconds after the packet an open incident's reasons explain before a higher peak is explained again
#: (:class:`IncidentTracker`; its open and its close are always explained)
DEFAULT_REEXPLAIN_S = 60.0
SECONDS_PER_DAY = 86_400.0

Explain = Callable[[np.ndarray], list]

_KIND_IPV4, _KIND_MAC, _KIND_IPV6 = np.uint64(1 << 56), np.uint64(2 << 56), np.uint64(3 << 56)
_PROTO = {1: "TCP", 2: "UDP", 3: "ICMP"}
_KIND_RANK = {"open": 0, "update": 1, "close": 2}


# ------------------------------------------------------------------------------------------- hosts


class HostTable:
    """Source host ids for packets, stable across chunks: ``ids(packets)`` -> int32 (n,), ``names[id]``.

    The host is the source IPv4/IPv6 address of IP packets and the source MAC address of the others
    (``"192.168.2.108"``, ``"fe80::1"``, ``"00:1a:2b:3c:4d:5e"``). Ids are handed out in order of
    first appearance. Cost: a few whole-array ops and ``np.unique`` per chunk, plus a dict look-up
    per distinct host in the chunk.
    """

    def __init__(self) -> None:
        self.names: list[str] = []
        self._ids: dict[int, int] = {}  # host code -> id
        self._v6: dict[bytes, int] = {}  # IPv6 address -> host code

    def __len__(self) -> int:
        return len(self.names)

    def ids(self, packets, *, destination: bool = False) -> np.ndarray:
        """Host id (int32, into :attr:`names`) of each of ``packets`` (:class:`nidslab.features.Packets`):
        its sender, or with ``destination`` its receiver (the same ids: a host is one id either way)."""
        n = len(packets)
        if n == 0:
            return np.zeros(0, np.int32)
        l3 = packets.l3
        mac, ip = (packets.eth_dst, packets.ip_dst) if destination else (packets.eth_src, packets.ip_src)
        codes = _KIND_MAC | mac.astype(np.uint64)
        v4 = l3 == 1
        if v4.any():
            b = ip[v4, :4].astype(np.uint64)
            codes[v4] = _KIND_IPV4 | (b[:, 0] << 24) | (b[:, 1] << 16) | (b[:, 2] << 8) | b[:, 3]
        v6 = np.flatnonzero(l3 == 2)
        if v6.size:
            addrs = np.ascontiguousarray(ip[v6]).view("V16").ravel()
            uniq, inv = np.unique(addrs, return_inverse=True)
            got = np.empty(len(uniq), np.uint64)
            for k, a in enumerate(uniq.tolist()):
                code = self._v6.get(a)
                if code is None:
                    code = self._v6[a] = int(_KIND_IPV6) | len(self._v6)
                got[k] = code
            codes[v6] = got[inv.ravel()]
        uniq, first, inv = np.unique(codes, return_index=True, return_inverse=True)
        table = np.empty(len(uniq), np.int32)
        values = uniq.tolist()
        for k in np.argsort(first, kind="stable").tolist():  # new hosts get ids in order of appearance
            c = values[k]
            i = self._ids.get(c)
            if i is None:
                i = self._ids[c] = len(self.names)
                self.names.append(self._name(c, ip, codes))
            table[k] = i
        return table[inv.ravel()]

    def _name(self, code: int, ip, codes) -> str:
        kind, value = code >> 56, code & ((1 << 56) - 1)
        if kind == 1:
            return str(ipaddress.IPv4Address(value))
        if kind == 2:
            return ":".join(f"{b:02x}" for b in value.to_bytes(6, "big"))
        row = int(np.flatnonzero(codes == np.uint64(code))[0])
        return str(ipaddress.IPv6Address(bytes(ip[row])))

    def outside(self, ids) -> tuple[int, ...]:
        """Those of ``ids`` that are global (Internet) IP addresses: the contact rule's ``outside``
        (:func:`nidslab.contacts.contact_alerts`)."""
        out = []
        for i in {int(x) for x in np.asarray(ids).ravel() if 0 <= int(x) < len(self.names)}:
            try:
                if ipaddress.ip_address(self.names[i]).is_global:
                    out.append(i)
            except ValueError:  # a MAC address
                pass
        return tuple(sorted(out))


def _ip_text(l3: int, addr: np.ndarray) -> str | None:
    if l3 in (1, 3):
        return str(ipaddress.IPv4Address(bytes(addr[:4])))
    if l3 == 2:
        return str(ipaddress.IPv6Address(bytes(addr)))
    return None


def flow_fields(packets, rows: Sequence[int] | np.ndarray) -> list[dict]:
    """The flow of each packet at ``rows`` of ``packets``: ``src_ip``, ``src_port``, ``dest_ip``,
    ``dest_port`` (None where the packet has no such field), ``proto`` ("TCP", "UDP", "ICMP", "IPv6-ICMP",
    "ARP" or the EtherType family), ``src_mac``, ``dest_mac``."""
    out = []
    for r in rows:
        l3, l4 = int(packets.l3[r]), int(packets.l4[r])
        proto = _PROTO.get(l4) or {3: "ARP", 2: "IPv6", 1: "IPv4"}.get(l3, "Ethernet")
        ported = l4 in (1, 2)
        out.append({
            "src_ip": _ip_text(l3, packets.ip_src[r]), "src_port": int(packets.sport[r]) if ported else None,
            "dest_ip": _ip_text(l3, packets.ip_dst[r]), "dest_port": int(packets.dport[r]) if ported else None,
            "proto": proto,
            "src_mac": ":".join(f"{b:02x}" for b in int(packets.eth_src[r]).to_bytes(6, "big")),
            "dest_mac": ":".join(f"{b:02x}" for b in int(packets.eth_dst[r]).to_bytes(6, "big")),
        })
    return out


# --------------------------------------------------------------------------------------- incidents


@dataclass
class Incident:
    """One incident on one source host (times in seconds since the epoch, as the capture's).

    ``id``: capture index of the alert that opened it (unique, the same in every form);
    ``start`` / ``end``: times of its first / last alert; ``first_index`` / ``last_index``: their capture
    indices; ``alerts``: flagged packets of the host in it; ``packets``: all of the host's packets from
    its first to its last alert; ``peak_score`` / ``peak_index``: its highest score and the (first)
    packet that reached it; ``malicious``: the host's packets in it that packet truth marks malicious
    (None without truth); ``phases``: the attack phases those packets belong to (sorted names);
    ``reasons``: reasons for the peak packet (from ``explain``; [] without); ``reasons_index``: capture index of
    the packet they explain (the peak's; in a watch's update, an earlier peak's while re-explaining waits, see
    :class:`IncidentTracker`; None when not explained); ``flow``: the peak packet's
    flow (:func:`flow_fields`; None when the packets were not given); ``contact``: the first login the host
    accepted in it from a host inside an incident or from the Internet, where the contact rule added alerts
    (:mod:`nidslab.contacts`): ``{"from": host, "time": t, "index": i}``, None otherwise; ``closed``: no alert
    can join it any more (False only for an incident still open in a watch).
    """

    id: int
    host: str
    start: float
    end: float
    first_index: int
    last_index: int
    alerts: int
    packets: int
    peak_score: float
    peak_index: int
    malicious: int | None = None
    phases: list[str] = field(default_factory=list)
    reasons: list = field(default_factory=list)
    reasons_index: int | None = None
    flow: dict | None = None
    contact: dict | None = None
    closed: bool = True

    @property
    def duration(self) -> float:
        """Seconds from its first to its last alert."""
        return self.end - self.start

    def to_dict(self) -> dict:
        """The fields as a dict (lists and the flow dict copied one level: JSON-ready)."""
        d = {name: getattr(self, name) for name in _INCIDENT_FIELDS}
        d["phases"], d["reasons"] = list(self.phases), list(self.reasons)
        if self.flow is not None:
            d["flow"] = dict(self.flow)
        if self.contact is not None:
            d["contact"] = dict(self.contact)  # a copy, as the flow's
        return d


_INCIDENT_FIELDS = tuple(f.name for f in fields(Incident))


def _segments(ts, host, score, alert, index, gap_s, truth, phase_codes, n_phases):
    """The batch kernel over one set of packets (capture order): incident segments as arrays.

    Returns a dict of (m,) arrays, one entry per segment, sorted by host then time, plus per-host
    ``lead`` (host packets before its first alert) and ``tail`` (after its last alert) and ``count``.
    """
    n = len(ts)
    order = np.argsort(host, kind="stable")  # grouped by host, capture order inside
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    a = order[alert[order]]
    ha, ta = host[a], ts[a]
    new = np.ones(a.size, bool)
    if a.size > 1:
        new[1:] = (ha[1:] != ha[:-1]) | (ta[1:] - ta[:-1] > gap_s)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], a.size)[:starts.size] - 1
    first, last = a[starts], a[ends]
    seg: dict = {"host": ha[starts], "first": first, "last": last, "alerts": ends - starts + 1,
                 "packets": rank[last] - rank[first] + 1}
    if a.size:
        sa = score[a]
        peak = np.maximum.reduceat(sa, starts)
        seg_of = np.cumsum(new) - 1
        at_peak = np.flatnonzero(sa == peak[seg_of])
        _, firsts = np.unique(seg_of[at_peak], return_index=True)
        seg["peak"] = peak
        seg["peak_row"] = a[at_peak[firsts]]
    else:
        seg["peak"] = np.zeros(0, score.dtype)
        seg["peak_row"] = np.zeros(0, np.int64)
    if truth is not None:
        cm = np.concatenate([[0], np.cumsum(truth[order], dtype=np.int64)])
        seg["malicious"] = cm[rank[last] + 1] - cm[rank[first]]
        seg["_cm"] = cm
        if phase_codes is not None:
            pc = np.zeros((n + 1, n_phases), np.int32)
            hit = truth[order] & (phase_codes[order] >= 0)
            rows = np.flatnonzero(hit)
            pc[rows + 1, phase_codes[order][rows]] = 1
            np.cumsum(pc, axis=0, out=pc)
            seg["phase_counts"] = pc[rank[last] + 1] - pc[rank[first]]
            seg["_pc"] = pc
    return seg, order, rank


def _phase_codes(phase, truth, n, phase_names=None):
    """Per-packet phase labels (or integer codes into ``phase_names``) -> (int codes, -1 for none; names)."""
    if phase is None:
        return None, []
    phase = np.asarray(phase)
    if phase.shape != (n,):
        raise ValueError(f"phase has shape {phase.shape}; expected ({n},), one label per packet")
    if phase_names is not None:
        names = [str(x) for x in phase_names]
        codes = phase.astype(np.int64)
        if n and (codes.min() < 0 or codes.max() >= len(names)):
            raise ValueError(f"phase codes must index phase_names (0..{len(names) - 1})")
        none = np.array([x in ("", "benign", "None") for x in names], bool)
        codes = np.where(none[codes], -1, codes) if n else codes
        return codes, names
    uniques, codes = np.unique(phase, return_inverse=True)
    names = [str(x) for x in uniques.tolist()]
    codes = codes.astype(np.int64).ravel()
    for skip in ("", "benign", "None"):
        if skip in names:
            codes[codes == names.index(skip)] = -1
    return codes, names


def _host_name(names, h: int) -> str:
    return names[h] if names is not None and h >= 0 else str(h)


def _inputs(ts, host, score, alert, index, truth):
    ts = np.asarray(ts, np.float64).ravel()
    n = ts.size
    host = np.asarray(host).ravel()
    score = np.asarray(score).ravel()
    alert = np.asarray(alert, bool).ravel()
    for name, arr in (("host", host), ("score", score), ("alert", alert)):
        if arr.size != n:
            raise ValueError(f"{name} has {arr.size} packets, ts {n}")
    index = np.arange(n, dtype=np.int64) if index is None else np.asarray(index, np.int64).ravel()
    if index.size != n:
        raise ValueError(f"index has {index.size} packets, ts {n}")
    if truth is not None:
        truth = np.asarray(truth).astype(bool).ravel()
        if truth.size != n:
            raise ValueError(f"truth has {truth.size} packets, ts {n}")
    return ts, host, score, alert, index, truth


def attach_contacts(incidents: Sequence[Incident], ts, host, peer, contact, index, host_names=None) -> None:
    """Set each incident's ``contact`` to the first contact alert of its host inside it (in place).

    ``ts``, ``host``, ``peer``, ``index``: (n,) per packet; ``contact``: (n,) bool, the alerts the contact rule
    added (:func:`nidslab.contacts.contact_alerts`). A few rows: a loop over them."""
    rows = np.flatnonzero(np.asarray(contact, bool))
    if rows.size == 0:
        return
    by_host: dict[str, list[Incident]] = {}
    for inc in incidents:
        by_host.setdefault(inc.host, []).append(inc)
    for i in rows[np.argsort(np.asarray(ts)[rows], kind="stable")].tolist():
        t = float(ts[i])
        for inc in by_host.get(_host_name(host_names, int(host[i])), []):
            if inc.contact is None and inc.start <= t <= inc.end:
                inc.contact = {"from": _host_name(host_names, int(peer[i])), "time": t, "index": int(index[i])}
                break


def group_incidents(ts, host, score, alert, *, gap_s: float = DEFAULT_GAP_S, index=None, host_names=None,
                    truth=None, phase=None, phase_names: Sequence[str] | None = None,
                    phases: Sequence[tuple] | None = None, packets=None,
                    features=None, explain: Explain | None = None, peer=None, accepts=None,
                    outside: Sequence[int] = ()) -> list[Incident]:
    """Group the alerts of a whole capture into incidents per source host.

    Args:
        ts: (n,) float64 packet times, seconds (capture order).
        host: (n,) int source host id per packet (:meth:`HostTable.ids`, or a simulator's own; a negative
            id, e.g. "no known host", is named by its number).
        score: (n,) float scores; alert: (n,) bool, the packets that cross the threshold.
        gap_s: an incident closes after this many seconds without an alert from its host.
        index: (n,) int64 capture positions (default 0..n-1).
        host_names: names of the host ids (default the ids as text).
        truth: (n,) 0/1 packet truth (1 = malicious); sets ``malicious`` and ``phases``.
        phase: (n,) per-packet attack phase labels ("" / "benign" for none); an incident's ``phases``
            are those of the host's malicious packets inside it (without ``truth``, a packet with a
            phase counts as malicious). ``phase_names``: when ``phase`` holds integer codes, their
            names (e.g. ``nidslab.simulate.networks.PHASES``; a code named "benign" is none).
        phases: instead of ``phase``, the simulator's windows ``(name, start_s, end_s, ...)``: an incident
            holding a malicious packet overlaps the windows its span meets (``benign`` skipped).
        packets: the :class:`nidslab.features.Packets` behind the rows, for each incident's ``flow``.
        features, explain: (n, k) features and the reasons callable (see the module docstring).
        peer, accepts, outside: the contact rule (:func:`nidslab.contacts.contact_alerts`): (n,) receiving host
            ids (same ids as ``host``), (n,) bool login accepts, and the ids that stand for the Internet; its
            alerts join the others and each incident's ``contact`` names the first.
    Returns:
        the incidents, sorted by start time (ties by id).
    """
    ts, host, score, alert, index, truth = _inputs(ts, host, score, alert, index, truth)
    contact = None
    if peer is not None and accepts is not None:
        from nidslab.contacts import contact_alerts

        alert, contact = contact_alerts(ts, host, peer, accepts, alert, gap_s=float(gap_s), outside=tuple(outside))
    codes, names = _phase_codes(phase, truth, ts.size, phase_names)
    if truth is None and codes is not None:  # phase labels alone: a packet with a phase is malicious
        truth = codes >= 0
    seg, _, _ = _segments(ts, host, score, alert, index, float(gap_s), truth, codes, len(names))
    out = _incidents_from(seg, ts, index, host_names, names, phases, packets)
    if contact is not None:
        attach_contacts(out, ts, host, peer, contact, index, host_names)
    if explain is not None and features is not None and out:
        reasons = explain(np.asarray(features)[seg["peak_row"]])
        for inc, r in zip(out, reasons):
            inc.reasons, inc.reasons_index = list(r), inc.peak_index
    out_sorted = sorted(out, key=lambda i: (i.start, i.id))
    return out_sorted


def _incidents_from(seg, ts, index, host_names, names, phases, packets) -> list[Incident]:
    m = len(seg["first"])
    if m == 0:
        return []
    first, last, peak_row = seg["first"], seg["last"], seg["peak_row"]
    cols = {
        "id": index[first].tolist(), "host_id": seg["host"].tolist(), "start": ts[first].tolist(),
        "end": ts[last].tolist(), "first_index": index[first].tolist(), "last_index": index[last].tolist(),
        "alerts": seg["alerts"].tolist(), "packets": seg["packets"].tolist(),
        "peak_score": seg["peak"].astype(np.float64).tolist(), "peak_index": index[peak_row].tolist(),
    }
    mal = seg["malicious"].tolist() if "malicious" in seg else [None] * m
    if "phase_counts" in seg:
        pc = seg["phase_counts"] > 0
        ph = [[names[j] for j in np.flatnonzero(row)] for row in pc]
    elif phases is not None and "malicious" in seg:
        ph = [[] for _ in range(m)]
        s, e, has = ts[first], ts[last], seg["malicious"] > 0
        for name, a, b, *_ in phases:
            if name == "benign":
                continue
            for k in np.flatnonzero(has & (s <= b) & (e >= a)):
                ph[k].append(str(name))
        ph = [sorted(set(p)) for p in ph]
    else:
        ph = [[] for _ in range(m)]
    flows = flow_fields(packets, peak_row) if packets is not None else [None] * m
    out = []
    for i in range(m):
        h = cols["host_id"][i]
        out.append(Incident(
            id=cols["id"][i], host=_host_name(host_names, h), start=cols["start"][i],
            end=cols["end"][i], first_index=cols["first_index"][i], last_index=cols["last_index"][i],
            alerts=cols["alerts"][i], packets=cols["packets"][i], peak_score=cols["peak_score"][i],
            peak_index=cols["peak_index"][i], malicious=mal[i], phases=ph[i], flow=flows[i]))
    return out


# ---------------------------------------------------------------------------------------- online


@dataclass
class IncidentEvent:
    """What happened to an incident in a chunk: ``kind`` "open" (new), "update" (new alerts joined it)
    or "close" (its gap ran out, or the input ended); ``time``: seconds since the epoch when it happened
    (open: its first alert; update: its last alert; close: its last alert + gap, or the end of the input);
    ``incident``: its state after the chunk."""

    kind: str
    time: float
    incident: Incident

    def to_dict(self) -> dict:
        return {"event": self.kind, "time": self.time, **self.incident.to_dict()}


class IncidentTracker:
    """:func:`group_incidents` chunk by chunk: feed each chunk's packets in capture order with
    :meth:`update`, get the :class:`IncidentEvent` they cause; :meth:`finish` closes what is open.

    The closed incidents (:attr:`closed`, in closing order) equal those of :func:`group_incidents` on
    all the packets at once, whatever the chunking (as long as timestamps do not run backwards by more
    than ``gap_s``). ``host_names``: the list the host ids index (a :class:`HostTable`'s ``names``, which
    may grow between chunks). ``explain``: see the module docstring; called once per chunk at most (and
    once in :meth:`finish`), on the peak packets that are due: an incident's first peak (its ``open`` event
    carries its reasons), a higher peak ``reexplain_s`` capture seconds or more after the packet its
    reasons explain (0: every higher peak, each ``update`` then carrying its peak's reasons), and, when it
    closes, its peak if its reasons explain an earlier packet; so a closed incident's reasons are its peak's,
    as :func:`group_incidents` gives them. ``reasons_index`` says which packet an event's reasons explain.
    The features row of each open incident's peak is kept for that (one row per open incident).
    ``keep_closed``: keep the closed incidents in :attr:`closed` (a long watch may set False).
    """

    def __init__(self, *, gap_s: float = DEFAULT_GAP_S, host_names: Sequence[str] | None = None,
                 explain: Explain | None = None, keep_closed: bool = True,
                 reexplain_s: float = DEFAULT_REEXPLAIN_S):
        if not gap_s >= 0:
            raise ValueError(f"gap_s must be >= 0 seconds, got {gap_s}")
        if not reexplain_s >= 0:
            raise ValueError(f"reexplain_s must be >= 0 seconds, got {reexplain_s}")
        self.reexplain_s = float(reexplain_s)
        self._peak: dict[int, tuple[np.ndarray, float]] = {}  # open incident id -> (its peak's features, time)
        self._explained_t: dict[int, float] = {}  # open incident id -> time of the packet its reasons explain
        self.gap_s = float(gap_s)
        self.host_names = host_names
        self.explain = explain
        self.keep_closed = keep_closed
        self.open: dict[int, Incident] = {}  # host id -> its open incident
        self._pending: dict[int, int] = {}  # host id -> its packets since its open incident's last alert
        self._pending_mal: dict[int, int] = {}  # ... of them malicious
        self._pending_phases: dict[int, set] = {}  # ... and their phases
        self.closed: list[Incident] = []
        self.watermark = -np.inf  # latest packet time seen
        self.opened = 0

    def _name(self, h: int) -> str:
        return _host_name(self.host_names, h)

    def update(self, ts, host, score, alert, *, index=None, truth=None, phase=None, phase_names=None,
               packets=None, features=None, peer=None, accepts=None, outside: Sequence[int] = ()) -> list[IncidentEvent]:
        """Feed the next packets (same arrays as :func:`group_incidents`, ``index`` their capture
        positions); returns the events it causes, by time (ties: open, update, close).

        ``truth`` / ``phase``: this chunk's per-packet truth and phase labels (as :func:`group_incidents`);
        ``packets``: its :class:`~nidslab.features.Packets` (for the flow of new peaks); ``features``: its
        (n, k) rows (for ``explain``); ``peer``, ``accepts``, ``outside``: the contact rule, as in
        :func:`group_incidents` (a host's open incident counts for this chunk's logins)."""
        ts, host, score, alert, index, truth = _inputs(ts, host, score, alert, index, truth)
        if ts.size == 0:
            return []
        contact = None
        if peer is not None and accepts is not None:
            from nidslab.contacts import contact_alerts

            alert, contact = contact_alerts(ts, host, peer, accepts, alert, gap_s=self.gap_s, outside=tuple(outside),
                                            last_alert={h: inc.end for h, inc in self.open.items()})
        codes, names = _phase_codes(phase, truth, ts.size, phase_names)
        if truth is None and codes is not None:
            truth = codes >= 0
        seg, order, rank = _segments(ts, host, score, alert, index, self.gap_s, truth, codes, len(names))
        # per host in the chunk: packets, and positions (in its group) of its first and last alert
        hs = host[order]
        bounds = np.flatnonzero(np.diff(hs)) + 1
        g_start = np.concatenate([[0], bounds])
        g_hosts = hs[g_start].tolist()
        g_count = np.diff(np.append(g_start, hs.size)).tolist()
        g_start_of = dict(zip(g_hosts, g_start.tolist()))
        g_count_of = dict(zip(g_hosts, g_count))
        # hosts without alerts here: their open incident only gains pending packets
        seg_hosts = seg["host"].tolist()
        with_alerts = set(seg_hosts)
        cm, pc = seg.get("_cm"), seg.get("_pc")

        def between(h: int, lo: int, hi: int) -> None:  # host-sorted rows [lo, hi) join h's pending packets
            self._pending[h] += hi - lo
            if cm is not None:
                self._pending_mal[h] += int(cm[hi] - cm[lo])
            if pc is not None:
                self._pending_phases[h] |= {names[j] for j in np.flatnonzero(pc[hi] - pc[lo])}

        for h, g0, c in zip(g_hosts, g_start.tolist(), g_count):
            if h not in with_alerts and h in self.open:
                between(h, g0, g0 + c)
        touched: list[tuple[str, Incident]] = []  # (open | update, incident) in segment order
        closes: list[tuple[float, Incident]] = []
        new_peak_rows: list[int] = []
        new_peak_of: list[Incident] = []
        m = len(seg_hosts)
        if m:
            first, last = seg["first"], seg["last"]
            cols = dict(alerts=seg["alerts"].tolist(), packets=seg["packets"].tolist(),
                        peak=seg["peak"].astype(np.float64).tolist(), peak_row=seg["peak_row"].tolist(),
                        t_first=ts[first].tolist(), t_last=ts[last].tolist(), i_first=index[first].tolist(),
                        i_last=index[last].tolist(), i_peak=index[seg["peak_row"]].tolist(),
                        r_first=rank[first].tolist(), r_last=rank[last].tolist())
            mal = seg["malicious"].tolist() if "malicious" in seg else None
            pcs = seg["phase_counts"] > 0 if "phase_counts" in seg else None
            for i in range(m):
                h = seg_hosts[i]
                host_first_seg = i == 0 or seg_hosts[i - 1] != h
                seg_phases = {names[j] for j in np.flatnonzero(pcs[i])} if pcs is not None else set()
                inc = self.open.get(h)
                if host_first_seg and inc is not None and cols["t_first"][i] - inc.end <= self.gap_s:
                    # the chunk's first alerts of h continue its open incident
                    between(h, g_start_of[h], cols["r_first"][i])
                    inc.packets += self._pending[h] + cols["packets"][i]
                    inc.alerts += cols["alerts"][i]
                    inc.end, inc.last_index = cols["t_last"][i], cols["i_last"][i]
                    if mal is not None:
                        inc.malicious = (inc.malicious or 0) + self._pending_mal[h] + mal[i]
                        inc.phases = sorted(set(inc.phases) | self._pending_phases[h] | seg_phases)
                    if cols["peak"][i] > inc.peak_score:
                        inc.peak_score, inc.peak_index = cols["peak"][i], cols["i_peak"][i]
                        new_peak_rows.append(cols["peak_row"][i])
                        new_peak_of.append(inc)
                    touched.append(("update", inc))
                else:
                    if inc is not None:  # its quiet gap ran out before this alert
                        closes.append((inc.end + self.gap_s, self._close(h)))
                    inc = Incident(
                        id=cols["i_first"][i], host=self._name(h), start=cols["t_first"][i], end=cols["t_last"][i],
                        first_index=cols["i_first"][i], last_index=cols["i_last"][i], alerts=cols["alerts"][i],
                        packets=cols["packets"][i], peak_score=cols["peak"][i], peak_index=cols["i_peak"][i],
                        malicious=mal[i] if mal is not None else None, phases=sorted(seg_phases), closed=False)
                    self.open[h] = inc
                    self.opened += 1
                    new_peak_rows.append(cols["peak_row"][i])
                    new_peak_of.append(inc)
                    touched.append(("open", inc))
                # the host's packets after this segment's last alert, in this chunk
                self._pending[h], self._pending_mal[h], self._pending_phases[h] = 0, 0, set()
                between(h, cols["r_last"][i] + 1, g_start_of[h] + g_count_of[h])
        if contact is not None:
            attach_contacts([inc for _, inc in touched] + [inc for _, inc in closes], ts, host, peer, contact, index,
                            self.host_names)
        if packets is not None and new_peak_rows:
            for inc, f in zip(new_peak_of, flow_fields(packets, new_peak_rows)):
                inc.flow = f
        due: list[Incident] = []
        if self.explain is not None and features is not None and new_peak_rows:
            rows = np.asarray(features)[new_peak_rows]
            for inc, row, t in zip(new_peak_of, rows, ts[new_peak_rows].tolist()):
                self._peak[inc.id] = (row, t)
                if inc.reasons_index is None or t - self._explained_t[inc.id] >= self.reexplain_s:
                    due.append(inc)
        # the chunk's time closes the incidents whose gap has run out
        self.watermark = max(self.watermark, float(ts.max()))
        for h in [h for h, inc in self.open.items() if self.watermark - inc.end > self.gap_s]:
            inc = self.open[h]
            closes.append((inc.end + self.gap_s, self._close(h)))
        self._explain_due(due, [inc for _, inc in closes])
        events = [IncidentEvent(kind, inc.start if kind == "open" else inc.end, replace(inc, closed=False))
                  for kind, inc in touched]
        events += [IncidentEvent("close", when, replace(inc)) for when, inc in closes]
        events.sort(key=lambda e: (e.time, _KIND_RANK[e.kind], e.incident.id))
        return events

    def _explain_due(self, due: list[Incident], closing: list[Incident]) -> None:
        """One ``explain`` call for the peaks that are due and the closing incidents whose reasons explain an
        earlier packet than their peak; then forget the closed incidents' peak rows."""
        seen = {inc.id for inc in due}
        due = due + [inc for inc in closing if inc.id in self._peak and inc.reasons_index != inc.peak_index
                     and inc.id not in seen]
        if due and self.explain is not None:
            for inc, r in zip(due, self.explain(np.stack([self._peak[inc.id][0] for inc in due]))):
                inc.reasons, inc.reasons_index = list(r), inc.peak_index
                self._explained_t[inc.id] = self._peak[inc.id][1]
        for inc in closing:
            self._peak.pop(inc.id, None)
            self._explained_t.pop(inc.id, None)

    def _close(self, h: int) -> Incident:
        inc = self.open.pop(h)
        self._pending.pop(h, None)
        self._pending_mal.pop(h, None)
        self._pending_phases.pop(h, None)
        inc.closed = True
        if self.keep_closed:
            self.closed.append(inc)
        return inc

    def finish(self) -> list[IncidentEvent]:
        """The input ended: close every open incident (event time: the last packet's time)."""
        when = float(self.watermark) if np.isfinite(self.watermark) else 0.0
        hosts = sorted(self.open, key=lambda h: (self.open[h].start, self.open[h].id))
        closing = [self._close(h) for h in hosts]
        self._explain_due([], closing)
        return [IncidentEvent("close", when, replace(inc)) for inc in closing]

    def incidents(self) -> list[Incident]:
        """Closed then open incidents, sorted by start time (ties by id)."""
        return sorted([*self.closed, *self.open.values()], key=lambda i: (i.start, i.id))


# -------------------------------------------------------------------------------------- measures


def incident_measures(incidents: Sequence[Incident], *, ts, host, alert, truth, host_names=None,
                      onset_s: float | None = None, infected: Sequence[str] | None = None) -> dict:
    """How incidents serve an operator, against packet truth (arrays as :func:`group_incidents`).

    The outbreak starts at ``onset_s`` (default: the first malicious packet; none: the whole capture
    is benign-only traffic). An incident is true when it holds a malicious packet of its host. The
    infected hosts are the sources of malicious packets, or the names in ``infected`` when given (packet
    truth may mark a victim's replies, or a scanned device's, as malicious; a simulator that knows which
    hosts it infected says so); each one's outbreak starts at its first malicious packet.

    Returns a dict:
        ``benign_days``: days of benign-only traffic (first packet to the onset);
        ``false_incidents_benign`` / ``false_incidents_per_day``: incidents opened in that time (all
        of them are false) and their rate per day (None for no time);
        ``incidents_on_uninfected_hosts``: incidents opened during the outbreak on hosts that send no
        malicious packet (reported apart: the outbreak may disturb their traffic);
        ``false_incidents_infected_hosts``: incidents during the outbreak on infected hosts without a
        malicious packet in them; ``true_incidents``;
        ``infected_hosts``: hosts that send a malicious packet; ``detected_hosts`` and ``detected_share``:
        those with an alert at or after their first malicious packet;
        ``time_to_detect_s``: per infected host (name -> seconds from its first malicious packet to its
        first alert at or after it, None if never), ``median_time_to_detect_s``, ``worst_time_to_detect_s``
        (over the detected hosts; None if none).
    """
    ts = np.asarray(ts, np.float64).ravel()
    host = np.asarray(host).ravel()
    alert = np.asarray(alert, bool).ravel()
    truth = np.zeros(ts.size, bool) if truth is None else np.asarray(truth).astype(bool).ravel()
    if not (host.size == alert.size == truth.size == ts.size):
        raise ValueError(f"ts, host, alert and truth must have one entry per packet: {ts.size}, {host.size}, "
                         f"{alert.size}, {truth.size}")

    def name(h: int) -> str:
        return _host_name(host_names, h)

    mal = np.flatnonzero(truth)
    if onset_s is None and mal.size:
        onset_s = float(ts[mal[0]])
    t0 = float(ts[0]) if ts.size else 0.0
    t_end = float(ts[-1]) if ts.size else 0.0
    benign_s = max(0.0, (onset_s if onset_s is not None else t_end) - t0)
    # infected hosts and the position of their first malicious packet
    inf_hosts, first_pos = np.unique(host[mal], return_index=True)
    first_pos = mal[first_pos]
    infected_set: set[str]
    if infected is not None:
        infected_set = set(infected)
        keep = np.array([name(int(h)) in infected_set for h in inf_hosts], bool)
        inf_hosts, first_pos = inf_hosts[keep], first_pos[keep]
    else:
        infected_set = {name(int(h)) for h in inf_hosts}
    uniq, compact = np.unique(host, return_inverse=True)  # ids may be negative or sparse
    first_mal = np.full(uniq.size, np.iinfo(np.int64).max, np.int64)
    first_mal[np.searchsorted(uniq, inf_hosts)] = first_pos
    pos = np.arange(ts.size)
    hit = np.flatnonzero(alert & (pos >= first_mal[compact.ravel()])) if host.size else np.zeros(0, np.int64)
    det_hosts, det_first = np.unique(host[hit], return_index=True)
    det_time = dict(zip(det_hosts.tolist(), ts[hit[det_first]].tolist()))
    delays: dict[str, float | None] = {}
    for h, p in zip(inf_hosts.tolist(), first_pos.tolist()):
        delays[name(h)] = det_time[h] - float(ts[p]) if h in det_time else None
    for h in sorted(infected_set - set(delays)):  # named infected, but no malicious packet of its own
        delays[h] = None
    got = [d for d in delays.values() if d is not None]
    before = [i for i in incidents if onset_s is None or i.start < onset_s]
    during = [i for i in incidents if onset_s is not None and i.start >= onset_s]
    return {
        "incidents": len(incidents),
        "onset_s": onset_s,
        "benign_days": benign_s / SECONDS_PER_DAY,
        "false_incidents_benign": len(before),
        "false_incidents_per_day": len(before) / (benign_s / SECONDS_PER_DAY) if benign_s > 0 else None,
        "incidents_on_uninfected_hosts": sum(i.host not in infected_set for i in during),
        "false_incidents_infected_hosts": sum(i.host in infected_set and not i.malicious for i in during),
        "true_incidents": sum(bool(i.malicious) for i in incidents),
        "infected_hosts": len(infected_set),
        "detected_hosts": len(got),
        "detected_share": len(got) / len(infected_set) if infected_set else None,
        "time_to_detect_s": delays,
        "median_time_to_detect_s": float(np.median(got)) if got else None,
        "worst_time_to_detect_s": float(max(got)) if got else None,
    }


__all__ = ["DEFAULT_GAP_S", "DEFAULT_REEXPLAIN_S", "HostTable", "Incident", "IncidentEvent", "IncidentTracker", "flow_fields",
           "group_incidents", "incident_measures"]
