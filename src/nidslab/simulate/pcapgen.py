"""Packets as columns, and their assembly into a libpcap file in bulk.

A packet table is a dict of equal-length NumPy columns (see :data:`COLUMNS`). Generators
build tables with whole-array operations; :func:`assemble` turns a sorted table into the
bytes of a libpcap file: per frame kind, a uint8 header matrix is filled column by column
and scattered into one flat buffer at the frames' offsets. Payload bytes are zeros (except
ICMP errors, which quote the offending datagram, and rows naming a payload template of
:data:`BANK`: DNS queries, telnet text, HTTP, SSDP, NTP, Mirai's CNC messages), so checksums
are computed from headers plus the templates' precomputed word sums.
Nothing here loops over packets.
"""

from __future__ import annotations

import numpy as np

# frame kinds
TCP, UDP, ICMP, ARP, STP, ICMPV6, LOOP = 0, 1, 2, 3, 4, 5, 6
# kinds added for the population of networks (:mod:`.population`); the first seven write what they always did
IGMP, EAPOL, ND6, GRE = 7, 8, 9, 10
KINDS = (TCP, UDP, ICMP, ARP, STP, ICMPV6, LOOP, IGMP, EAPOL, ND6, GRE)

COLUMNS: dict[str, type] = {
    "t": np.float64,  # seconds since the epoch
    "kind": np.uint8,  # TCP, UDP, ICMP, ARP, STP, ICMPV6, LOOP, IGMP, EAPOL, ND6, GRE
    "smac": np.uint64,
    "dmac": np.uint64,
    "sip": np.uint32,
    "dip": np.uint32,
    "sport": np.uint16,
    "dport": np.uint16,
    "flags": np.uint8,  # TCP flags
    "seq": np.uint32,
    "ack": np.uint32,
    "thl": np.uint8,  # TCP header length: 20, 24 (MSS), 32 (NOP NOP TS) or 40 (MSS SACK TS WS)
    "plen": np.uint32,  # bytes after the L4 header (TCP/UDP payload, ICMP data)
    "itype": np.uint8,  # ICMP type / ARP opcode / IGMP type / ICMPv6 type (ND6) / EAPOL packet type
    "icode": np.uint8,  # ICMP code; GRE: 0 carries IPv4 (Mirai greip), 1 Ethernet (greeth)
    "ttl": np.uint8,
    "ipid": np.uint16,
    "win": np.uint16,
    "df": np.uint8,  # IPv4 don't-fragment bit (kernel sockets set it; raw packets built by Mirai do not)
    "pay": np.int32,  # payload template in BANK (-1: zeros)
    "pword": np.uint16,  # if not 0: written over the payload's first two bytes (a DNS id)
    "label": np.uint8,  # 1: part of the malicious activity
    "quote": np.int64,  # ICMP error: row of the quoted packet (before sorting), else -1
}

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
BROADCAST = 0xFFFFFFFFFFFF
ETH_MIN = 60  # frames shorter than this are padded on the wire (captures show 60)
ICMP_QUOTE_MAX = 548  # RFC 1812: an ICMP error stays within 576 bytes of IP


def table(n: int, **cols) -> dict[str, np.ndarray]:
    """A table of ``n`` rows; columns not given take defaults (0, ttl 64, df 1, quote -1)."""
    out: dict[str, np.ndarray] = {}
    for name, dt in COLUMNS.items():
        if name in cols:
            v = np.asarray(cols[name])
            out[name] = np.broadcast_to(v, (n,)).astype(dt, copy=True) if v.shape != (n,) else v.astype(dt)
        elif name in ("ttl", "df"):
            out[name] = np.full(n, 64 if name == "ttl" else 1, dt)
        elif name in ("quote", "pay"):
            out[name] = np.full(n, -1, dt)
        else:
            out[name] = np.zeros(n, dt)
    return out


class PayloadBank:
    """Payload templates (bytes) by id: rows name one in their ``pay`` column.

    Ids are handed out in order of first use; the bytes written never depend on the ids.
    """

    def __init__(self):
        self._ids: dict[bytes, int] = {}
        self._blobs: list[bytes] = []
        self._cache = None

    def id(self, data: bytes) -> int:
        """The id of ``data`` (registered on first use)."""
        data = bytes(data)
        if data not in self._ids:
            self._ids[data] = len(self._blobs)
            self._blobs.append(data)
            self._cache = None
        return self._ids[data]

    def arrays(self):
        """(flat uint8 bytes, offsets, lengths, 16-bit word sums, first words) of every template."""
        if self._cache is None:
            lens = np.array([len(b) for b in self._blobs] + [0], np.int64)
            flat = np.frombuffer(b"".join(self._blobs) + b"\0", np.uint8)
            offs = np.concatenate([[0], np.cumsum(lens)[:-1]])
            sums = np.array([_words(np.frombuffer(b + b"\0" * (len(b) % 2), np.uint8)[None, :])[0] if b else 0
                             for b in self._blobs] + [0], np.int64)
            first = np.array([(b + b"\0\0")[0] * 256 + (b + b"\0\0")[1] for b in self._blobs] + [0], np.int64)
            self._cache = (flat, offs, lens, sums, first)
        return self._cache


BANK = PayloadBank()


def payload(pay: np.ndarray, pword: np.ndarray) -> np.ndarray:
    """Checksum contribution (sum of 16-bit words) of rows' payloads: template ids ``pay``
    (-1: zeros) and first-word overrides ``pword``; int64 per row."""
    _, _, _, sums, first = BANK.arrays()
    pay = np.asarray(pay, np.int64)
    has = pay >= 0
    pw = np.asarray(pword, np.int64)
    s = np.where(has, sums[pay], 0)
    return s + np.where(has & (pw != 0), pw - first[pay], 0)


def concat(tables: list[dict]) -> dict[str, np.ndarray]:
    """Rows of all tables, in order (quote columns are re-based onto the result's rows)."""
    tables = [t for t in tables if len(t["t"])]
    if not tables:
        return table(0)
    out = {}
    base = np.cumsum([0] + [len(t["t"]) for t in tables[:-1]])
    for name in COLUMNS:
        if name == "quote":
            out[name] = np.concatenate(
                [np.where(t["quote"] >= 0, t["quote"] + b, -1) for t, b in zip(tables, base)]
            )
        else:
            out[name] = np.concatenate([t[name] for t in tables])
    return out


def take(tab: dict, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Rows ``rows`` (index array) of a table; quotes are re-mapped (-1 when the quoted row is dropped)."""
    rows = np.asarray(rows)
    n = len(tab["t"])
    new_pos = np.full(n, -1, np.int64)
    new_pos[rows] = np.arange(len(rows))
    out = {k: v[rows] for k, v in tab.items()}
    q = out["quote"]
    out["quote"] = np.where(q >= 0, new_pos[np.maximum(q, 0)], -1)
    return out


def ragged_arange(lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(l)`` for each l in ``lengths`` (int64)."""
    lengths = np.asarray(lengths, np.int64)
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - starts


GRE_INNER = 4 + 20 + 8  # GRE header, inner IPv4 header, inner UDP header (Mirai's attack_gre.c)


def ip_len(tab: dict) -> np.ndarray:
    """IPv4 total length of each row (0 for non-IPv4 kinds), int64."""
    k = tab["kind"]
    plen = tab["plen"].astype(np.int64)
    l4 = np.where(k == TCP, tab["thl"].astype(np.int64), 8)
    n = np.where((k == TCP) | (k == UDP) | (k == ICMP) | (k == IGMP), 20 + l4 + plen, 0)
    gre = 20 + GRE_INNER + np.where(tab["icode"] == 1, 14, 0) + plen
    return np.where(k == GRE, gre, n)


def frame_len(tab: dict) -> np.ndarray:
    """Frame length on the wire (after padding to 60), int64."""
    k = tab["kind"]
    ipv4 = (k <= ICMP) | (k == IGMP) | (k == GRE)
    n = np.where(ipv4, 14 + ip_len(tab), 60)
    n = np.where((k == ICMPV6) | (k == ND6), 14 + 40 + 8 + tab["plen"].astype(np.int64), n)
    n = np.where(k == EAPOL, 14 + 4 + tab["plen"].astype(np.int64), n)
    return np.maximum(n, ETH_MIN)


def _put(mat: np.ndarray, col: int, value, nbytes: int) -> None:
    """Write ``value`` big-endian into ``mat[:, col:col+nbytes]``."""
    v = np.asarray(value).astype(np.uint64)
    for j in range(nbytes):
        mat[:, col + j] = ((v >> np.uint64(8 * (nbytes - 1 - j))) & np.uint64(0xFF)).astype(np.uint8)


def _fold(s: np.ndarray) -> np.ndarray:
    s = s.astype(np.int64)
    for _ in range(3):
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def _words(mat: np.ndarray) -> np.ndarray:
    """Sum of the big-endian 16-bit words of each row of an even-width uint8 matrix."""
    m = mat.astype(np.int64)
    return (m[:, 0::2] * 256 + m[:, 1::2]).sum(axis=1)


_TCP_OPTS = {
    20: np.zeros(0, np.uint8),
    24: np.array([2, 4, 5, 0xB4], np.uint8),  # MSS 1460
    32: np.array([1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0], np.uint8),  # NOP NOP timestamps (data segments)
    40: np.array([2, 4, 5, 0xB4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3, 7], np.uint8),  # MSS SACK TS WS
}


def _ip_header(tab: dict, rows: np.ndarray, proto: int) -> np.ndarray:
    n = len(rows)
    h = np.zeros((n, 20), np.uint8)
    total = ip_len(tab)[rows]
    h[:, 0] = 0x45
    _put(h, 2, total, 2)
    _put(h, 4, tab["ipid"][rows], 2)
    _put(h, 6, tab["df"][rows].astype(np.int64) << 14, 2)
    h[:, 8] = tab["ttl"][rows]
    h[:, 9] = proto
    _put(h, 12, tab["sip"][rows], 4)
    _put(h, 16, tab["dip"][rows], 4)
    _put(h, 10, _fold(_words(h)), 2)
    return h


def _pseudo(tab: dict, rows: np.ndarray, proto: int, l4len: np.ndarray) -> np.ndarray:
    s = tab["sip"][rows].astype(np.int64)
    d = tab["dip"][rows].astype(np.int64)
    return (s >> 16) + (s & 0xFFFF) + (d >> 16) + (d & 0xFFFF) + proto + l4len


def _eth(tab: dict, rows: np.ndarray, ethertype) -> np.ndarray:
    h = np.zeros((len(rows), 14), np.uint8)
    _put(h, 0, tab["dmac"][rows], 6)
    _put(h, 6, tab["smac"][rows], 6)
    _put(h, 12, ethertype, 2)
    return h


def _headers(tab: dict, kind: int, rows: np.ndarray) -> list[np.ndarray]:
    """Header matrices (each (len(rows), width)) of one frame kind; the same width for all rows."""
    eth = _eth(tab, rows, {ARP: 0x0806, ICMPV6: 0x86DD, ND6: 0x86DD, LOOP: 0x9000, EAPOL: 0x888E}.get(kind, 0x0800))
    if kind == STP:  # 802.3 length field + LLC + a configuration BPDU
        _put(eth, 12, np.full(len(rows), 38), 2)
        b = np.zeros((len(rows), 38), np.uint8)
        b[:, 0:3] = (0x42, 0x42, 0x03)
        b[:, 8] = 0x80
        b[:, 13:19] = eth[:, 6:12]
        b[:, 20] = 0x80
        b[:, 21:27] = eth[:, 6:12]
        b[:, 27:29] = (0x80, 0x01)
        b[:, 31:33] = (0x14, 0x00)  # max age 20 s
        b[:, 33:35] = (0x02, 0x00)  # hello 2 s
        b[:, 35:37] = (0x0F, 0x00)  # forward delay 15 s
        return [eth, b]
    if kind == LOOP:
        b = np.zeros((len(rows), 4), np.uint8)
        b[:, 2] = 1  # loopback "reply" function
        return [eth, b]
    if kind == ARP:
        a = np.zeros((len(rows), 28), np.uint8)
        a[:, 0:6] = (0, 1, 8, 0, 6, 4)
        _put(a, 6, tab["itype"][rows], 2)
        _put(a, 8, tab["smac"][rows], 6)
        _put(a, 14, tab["sip"][rows], 4)
        tha = np.where(tab["itype"][rows] == 1, 0, tab["dmac"][rows])
        _put(a, 18, tha, 6)
        _put(a, 24, tab["dip"][rows], 4)
        return [eth, a]
    if kind == ICMPV6:  # router advertisement from the gateway's link-local address
        v6 = np.zeros((len(rows), 48), np.uint8)
        v6[:, 0] = 0x60
        _put(v6, 4, 8 + tab["plen"][rows].astype(np.int64), 2)
        v6[:, 6], v6[:, 7] = 58, 255
        v6[:, 8:10] = (0xFE, 0x80)
        mac = tab["smac"][rows]
        _put(v6, 16, (mac >> np.uint64(24)) ^ np.uint64(0x020000), 3)
        v6[:, 19:21] = (0xFF, 0xFE)
        _put(v6, 21, mac & np.uint64(0xFFFFFF), 3)
        v6[:, 24:26] = (0xFF, 0x02)
        v6[:, 39] = 1
        v6[:, 40] = 134
        v6[:, 44] = 64
        return [eth, v6]
    if kind == UDP:
        ip = _ip_header(tab, rows, 17)
        u = np.zeros((len(rows), 8), np.uint8)
        length = 8 + tab["plen"][rows].astype(np.int64)
        _put(u, 0, tab["sport"][rows], 2)
        _put(u, 2, tab["dport"][rows], 2)
        _put(u, 4, length, 2)
        c = _fold(_pseudo(tab, rows, 17, length) + _words(u) + payload(tab["pay"][rows], tab["pword"][rows]))
        _put(u, 6, np.where(c == 0, 0xFFFF, c), 2)
        return [eth, ip, u]
    if kind == TCP:
        ip = _ip_header(tab, rows, 6)
        thl = tab["thl"][rows]
        width = int(thl[0])
        t = np.zeros((len(rows), width), np.uint8)
        _put(t, 0, tab["sport"][rows], 2)
        _put(t, 2, tab["dport"][rows], 2)
        _put(t, 4, tab["seq"][rows], 4)
        _put(t, 8, tab["ack"][rows], 4)
        t[:, 12] = (width // 4) << 4
        t[:, 13] = tab["flags"][rows]
        _put(t, 14, tab["win"][rows], 2)
        opts = _TCP_OPTS[width]
        if len(opts):
            t[:, 20:] = opts
            ts_at = {32: 24, 40: 28}.get(width)
            if ts_at is not None:  # TSval in ms, as Linux
                _put(t, ts_at, (tab["t"][rows] * 1000).astype(np.int64) & 0xFFFFFFFF, 4)
        l4len = width + tab["plen"][rows].astype(np.int64)
        pay = payload(tab["pay"][rows], tab["pword"][rows])
        _put(t, 16, _fold(_pseudo(tab, rows, 6, l4len) + _words(t) + pay), 2)
        return [eth, ip, t]
    if kind in (IGMP, EAPOL, ND6, GRE):
        return _headers_more(tab, kind, rows, eth)
    if kind == ICMP:
        ip = _ip_header(tab, rows, 1)
        c = np.zeros((len(rows), 8), np.uint8)
        c[:, 0] = tab["itype"][rows]
        c[:, 1] = tab["icode"][rows]
        echo = tab["itype"][rows] != 3
        _put(c, 4, np.where(echo, tab["ipid"][rows], 0), 2)  # identifier
        _put(c, 6, np.where(echo, tab["seq"][rows] & 0xFFFF, 0), 2)  # sequence
        return [eth, ip, c]  # checksum after the quote is copied (see assemble)
    raise ValueError(f"unknown frame kind {kind}")


def _link_local(mac: np.ndarray) -> np.ndarray:
    """(n, 16) uint8 IPv6 link-local addresses (EUI-64) of MACs."""
    a = np.zeros((len(mac), 16), np.uint8)
    a[:, 0:2] = (0xFE, 0x80)
    _put(a, 8, (mac >> np.uint64(24)) ^ np.uint64(0x020000), 3)
    a[:, 11:13] = (0xFF, 0xFE)
    _put(a, 13, mac & np.uint64(0xFFFFFF), 3)
    return a


def _headers_more(tab: dict, kind: int, rows: np.ndarray, eth: np.ndarray) -> list[np.ndarray]:
    """Headers of the kinds the population's devices and attack vectors add (payload bytes are zeros)."""
    n = len(rows)
    if kind == IGMP:  # IGMPv2 (RFC 2236): type (0x16 report, 0x17 leave, 0x11 query), group = dip
        ip = _ip_header(tab, rows, 2)
        g = np.zeros((n, 8), np.uint8)
        g[:, 0] = tab["itype"][rows]
        g[:, 1] = np.where(tab["itype"][rows] == 0x11, 100, 0)  # max response time 10 s
        _put(g, 4, np.where(tab["itype"][rows] == 0x11, 0, tab["dip"][rows]), 4)
        _put(g, 2, _fold(_words(g)), 2)
        return [eth, ip, g]
    if kind == EAPOL:  # 802.1X: version 2, packet type (3 = EAPOL-Key), body length
        e = np.zeros((n, 4), np.uint8)
        e[:, 0] = 2
        e[:, 1] = tab["itype"][rows]
        _put(e, 2, tab["plen"][rows], 2)
        return [eth, e]
    if kind == ND6:  # ICMPv6 (RS 133, NS 135, NA 136, MLDv2 report 143) from the link-local address
        v6 = np.zeros((n, 48), np.uint8)
        v6[:, 0] = 0x60
        length = 8 + tab["plen"][rows].astype(np.int64)
        _put(v6, 4, length, 2)
        v6[:, 6], v6[:, 7] = 58, 255
        v6[:, 8:24] = _link_local(tab["smac"][rows])
        it = tab["itype"][rows]
        dst = np.zeros((n, 16), np.uint8)
        dst[:, 0:2] = (0xFF, 0x02)
        dst[:, 15] = np.where(it == 133, 2, np.where(it == 143, 0x16, 1))  # all-routers, MLDv2 routers, all-nodes
        ns = it == 135  # solicited-node multicast of the target ff02::1:ffXX:XXXX
        dst[ns, 11:13] = (0x01, 0xFF)
        if ns.any():
            sub = dst[ns]
            _put(sub, 13, tab["dip"][rows][ns] & np.uint32(0xFFFFFF), 3)
            dst[ns] = sub
        v6[:, 24:40] = dst
        v6[:, 40] = it
        pseudo = _words(v6[:, 8:40]) + length + 58 + _words(v6[:, 40:48])
        _put(v6, 42, _fold(pseudo), 2)
        return [eth, v6]
    # GRE (RFC 2784) carrying IPv4 or Ethernet, as Mirai's greip / greeth floods build it
    ip = _ip_header(tab, rows, 47)
    eth_in = tab["icode"][rows] == 1
    g = np.zeros((n, 4), np.uint8)
    _put(g, 2, np.where(eth_in, 0x6558, 0x0800), 2)
    inner = {k: v[rows] for k, v in tab.items()}
    inner["plen"] = tab["plen"][rows]
    inner["kind"] = np.full(n, UDP, np.uint8)
    iip = _ip_header(inner, np.arange(n), 17)
    u = np.zeros((n, 8), np.uint8)
    _put(u, 0, tab["sport"][rows], 2)
    _put(u, 2, tab["dport"][rows], 2)
    _put(u, 4, 8 + tab["plen"][rows].astype(np.int64), 2)
    if eth_in.all():  # one layout per call (the caller groups GRE rows by icode)
        ie = _eth(tab, rows, 0x0800)
        return [eth, ip, g, ie, iip, u]
    return [eth, ip, g, iip, u]


def _scatter(buf: np.ndarray, starts: np.ndarray, mat: np.ndarray) -> None:
    buf[starts[:, None] + np.arange(mat.shape[1])] = mat


def file_header(snaplen: int = 65535) -> np.ndarray:
    """The 24-byte libpcap file header (version 2.4, microsecond timestamps, Ethernet), uint8."""
    return np.frombuffer(np.array([0xA1B2C3D4, 0x00040002, 0, 0, snaplen, 1], "<u4").tobytes(), np.uint8)


def assemble(tab: dict, *, snaplen: int = 65535) -> np.ndarray:
    """The bytes of a libpcap file (Ethernet, microsecond timestamps) holding ``tab``'s rows in order,
    as one uint8 array (24-byte header, then 16-byte record header + frame per row).

    ``tab`` must be sorted by time; ICMP error rows quote (copy) the IP datagram of their
    ``quote`` row, which must come earlier in the table.
    """
    n = len(tab["t"])
    flen = frame_len(tab)
    rec = 24 + np.concatenate([[0], np.cumsum(16 + flen)[:-1]]).astype(np.int64)
    total = 24 + int((16 + flen).sum())
    buf = np.zeros(total, np.uint8)
    buf[:24] = file_header(snaplen)
    usec = np.round(tab["t"] * 1e6).astype(np.int64)
    hdr = np.empty((n, 4), "<u4")
    hdr[:, 0] = usec // 1_000_000
    hdr[:, 1] = usec % 1_000_000
    hdr[:, 2] = flen
    hdr[:, 3] = flen
    _scatter(buf, rec, hdr.view(np.uint8).reshape(n, 16))
    frame = rec + 16
    kinds = tab["kind"]
    for kind in KINDS:
        sel = np.flatnonzero(kinds == kind)
        if not len(sel):
            continue
        groups = [sel]
        if kind == TCP:  # one header width per group
            groups = [sel[tab["thl"][sel] == w] for w in (20, 24, 32, 40)]
        elif kind == GRE:  # one inner layout per group
            groups = [sel[tab["icode"][sel] == c] for c in (0, 1)]
        for rows in groups:
            if not len(rows):
                continue
            off = 0
            for mat in _headers(tab, kind, rows):
                _scatter(buf, frame[rows] + off, mat)
                off += mat.shape[1]
    withpay = np.flatnonzero(tab["pay"] >= 0)
    if len(withpay):  # payload templates, then per-row first words
        flat, offs, lens, _, _ = BANK.arrays()
        pay = tab["pay"][withpay].astype(np.int64)
        if np.any(tab["plen"][withpay] < lens[pay]) or np.any((kinds[withpay] != TCP) & (kinds[withpay] != UDP)):
            raise ValueError("payload template longer than its packet's payload, or not TCP/UDP")
        start = frame[withpay] + np.where(kinds[withpay] == TCP, 34 + tab["thl"][withpay].astype(np.int64), 42)
        inner = ragged_arange(lens[pay])
        buf[np.repeat(start, lens[pay]) + inner] = flat[np.repeat(offs[pay], lens[pay]) + inner]
        pw = tab["pword"][withpay]
        w = pw != 0
        buf[start[w]] = (pw[w] >> 8).astype(np.uint8)
        buf[start[w] + 1] = (pw[w] & 0xFF).astype(np.uint8)
    icmp = np.flatnonzero((kinds == ICMP) & (tab["quote"] >= 0))
    if len(icmp):
        q = tab["quote"][icmp]
        qlen = np.minimum(ip_len(tab)[q], tab["plen"][icmp].astype(np.int64))
        inner = ragged_arange(qlen)
        dst = np.repeat(frame[icmp] + 42, qlen) + inner
        src = np.repeat(frame[q] + 14, qlen) + inner
        buf[dst] = buf[src]
    allicmp = np.flatnonzero(kinds == ICMP)
    if len(allicmp):  # checksum over the ICMP header and data
        L = 8 + tab["plen"][allicmp].astype(np.int64)
        inner = ragged_arange(L)
        pos = np.repeat(frame[allicmp] + 34, L) + inner
        weight = np.where(inner % 2 == 0, 256, 1)
        vals = buf[pos].astype(np.int64) * weight
        starts = np.concatenate([[0], np.cumsum(L)[:-1]])
        sums = np.add.reduceat(vals, starts)
        c = _fold(sums)
        buf[frame[allicmp] + 36] = (c >> 8).astype(np.uint8)
        buf[frame[allicmp] + 37] = (c & 0xFF).astype(np.uint8)
    return buf


FILE_HEADER = 24  # bytes of the libpcap file header, before the first record


def assemble_chunks(tab: dict, *, rows: int = 1 << 16, snaplen: int = 65535):
    """The bytes of :func:`assemble`'s file in pieces: the 24-byte file header, then the records of
    ``rows`` table rows at a time (uint8 arrays). Joined, the pieces equal ``assemble(tab)`` byte for byte;
    memory beyond ``tab`` is bounded by ``rows``, not by the table's length.

    An ICMP error quotes an earlier row that may lie in an earlier piece: that row (and, transitively, any
    row it quotes) is assembled again in front of the piece and its bytes dropped.
    """
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    n = len(tab["t"])
    yield file_header(snaplen)
    quote = tab["quote"]
    for lo in range(0, n, rows):
        hi = min(n, lo + rows)
        extra = np.zeros(0, np.int64)
        q = quote[lo:hi]
        need = np.unique(q[(q >= 0) & (q < lo)])
        while len(need):  # earlier rows the piece copies bytes from, and the rows those quote
            extra = np.union1d(extra, need)
            q = quote[need]
            need = np.setdiff1d(q[q >= 0], extra)
        idx = np.concatenate([extra, np.arange(lo, hi, dtype=np.int64)])
        sub = {k: v[idx] for k, v in tab.items() if k in COLUMNS}
        sq = sub["quote"]
        pos = np.minimum(np.searchsorted(idx, np.maximum(sq, 0)), len(idx) - 1)
        sub["quote"] = np.where((sq >= 0) & (idx[pos] == sq), pos, -1)  # quotes into the piece's own rows
        buf = assemble(sub, snaplen=snaplen)
        skip = FILE_HEADER + int((16 + frame_len({k: v[: len(extra)] for k, v in sub.items()})).sum())
        yield buf[skip:]

