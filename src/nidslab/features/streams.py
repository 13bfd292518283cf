"""Stream keys: from decoded packets to the integer stream ids the AfterImage kernels index by.

Each packet names a few streams (its source MAC+IP, its channel, its socket...). A key is
built as a short byte string in compiled code, hashed to 128 bits, and looked up in an
open-addressing table that assigns ids in order of first appearance. The table lives across
chunks, so ids (and the statistics behind them) carry over a whole capture. Two keys share an
id only if their 128-bit hashes collide (odds about n^2 / 2^129 for n keys).

Two key styles:
- ``text``: the Kitsune-py reference's keys, reproduced byte for byte: string concatenations
  without separator (MAC "aa:bb:..." + IP "192.168.2.1", IP + port "192.168.2.1" + "80").
  Different pairs can share a key ("192.168.2.1" + "10" == "192.168.2.11" + "0"), as there.
- ``binary``: the same fields as fixed-width tagged bytes, which never run together.
"""

from __future__ import annotations

import numba
import numpy as np

from nidslab.features.pcap import L3_ARP, L3_IPV4, L3_IPV6, L4_ICMP, L4_TCP, L4_UDP, Packets

_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)

# endpoint kinds after the reference's rules (what stands in for the "IP" of a packet)
ADDR_IP4, ADDR_IP6, ADDR_MAC = 1, 2, 3
# "protocol" part of a socket: a port, or one of these words
PORT_NONE, PORT_ARP, PORT_ICMP = -1, -2, -3


@numba.njit(cache=True, inline="always")
def _mix(x):
    # splitmix64 finaliser
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@numba.njit(cache=True)
def _hash128(buf, n):
    h1 = np.uint64(0xCBF29CE484222325)
    h2 = np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(n)
    for k in range(n):
        c = np.uint64(buf[k])
        h1 = (h1 ^ c) * np.uint64(0x100000001B3)
        h2 = (h2 + c + np.uint64(1)) * np.uint64(0xD6E8FEB86659FD93)
    return _mix(h1), _mix(h2 ^ (h2 >> np.uint64(32)))


@numba.njit(cache=True)
def _put_dec(buf, n, x):
    x = np.int64(x)
    digits = 1
    y = x
    while y >= 10:
        y //= 10
        digits += 1
    for k in range(digits - 1, -1, -1):
        buf[n + k] = 48 + x % 10
        x //= 10
    return n + digits


@numba.njit(cache=True)
def _put_mac(buf, n, mac):
    for k in range(6):
        byte = (mac >> np.uint64(8 * (5 - k))) & np.uint64(255)
        if k:
            buf[n] = 58  # ':'
            n += 1
        buf[n] = _HEX[byte >> np.uint64(4)]
        buf[n + 1] = _HEX[byte & np.uint64(15)]
        n += 2
    return n


@numba.njit(cache=True)
def _put_ip4(buf, n, a):
    for k in range(4):
        if k:
            buf[n] = 46  # '.'
            n += 1
        n = _put_dec(buf, n, a[k])
    return n


@numba.njit(cache=True)
def _put_hex16(buf, n, x):
    started = False
    for shift in (12, 8, 4, 0):
        d = (x >> shift) & 15
        if d or started or shift == 0:
            buf[n] = _HEX[d]
            n += 1
            started = True
    return n


@numba.njit(cache=True)
def _put_ip6(buf, n, a):
    """RFC 5952 text as glibc's inet_ntop writes it (what Python and scapy print)."""
    g = np.empty(8, np.int64)
    for k in range(8):
        g[k] = (np.int64(a[2 * k]) << 8) | np.int64(a[2 * k + 1])
    best, best_len, cur, cur_len = -1, 0, -1, 0
    for k in range(8):
        if g[k] == 0:
            if cur < 0:
                cur, cur_len = k, 1
            else:
                cur_len += 1
        else:
            if cur >= 0 and cur_len > best_len:
                best, best_len = cur, cur_len
            cur = -1
    if cur >= 0 and cur_len > best_len:
        best, best_len = cur, cur_len
    if best_len < 2:
        best = -1
    k = 0
    while k < 8:
        if best >= 0 and best <= k < best + best_len:
            if k == best:
                buf[n] = 58
                n += 1
            k += 1
            continue
        if k:
            buf[n] = 58
            n += 1
        # embedded IPv4 (::a.b.c.d and ::ffff:a.b.c.d)
        if k == 6 and best == 0 and (best_len == 6 or (best_len == 5 and g[5] == 0xFFFF)):
            n = _put_ip4(buf, n, a[12:16])
            return n
        n = _put_hex16(buf, n, g[k])
        k += 1
    if best >= 0 and best + best_len == 8:
        buf[n] = 58
        n += 1
    return n


@numba.njit(cache=True)
def _put_addr_text(buf, n, kind, addr, mac):
    if kind == ADDR_IP4:
        return _put_ip4(buf, n, addr)
    if kind == ADDR_IP6:
        return _put_ip6(buf, n, addr)
    return _put_mac(buf, n, mac)


@numba.njit(cache=True)
def _put_port_text(buf, n, port):
    if port >= 0:
        return _put_dec(buf, n, port)
    if port == PORT_ARP:
        for c in (97, 114, 112):  # "arp"
            buf[n] = c
            n += 1
    elif port == PORT_ICMP:
        for c in (105, 99, 109, 112):  # "icmp"
            buf[n] = c
            n += 1
    return n


@numba.njit(cache=True)
def _put_addr_bin(buf, n, kind, addr, mac):
    buf[n] = kind
    n += 1
    if kind == ADDR_MAC:
        for k in range(6):
            buf[n + k] = (mac >> np.uint64(8 * (5 - k))) & np.uint64(255)
        return n + 6
    m = 4 if kind == ADDR_IP4 else 16
    for k in range(m):
        buf[n + k] = addr[k]
    return n + m


@numba.njit(cache=True)
def _put_port_bin(buf, n, port):
    p = port + 8  # -3..65535 -> 5..65543, three bytes
    buf[n] = p & 255
    buf[n + 1] = (p >> 8) & 255
    buf[n + 2] = p >> 16
    return n + 3


@numba.njit(cache=True)
def _endpoints(l3, l4, sport, dport):
    """The reference's per-frame rules: address kind and 'protocol' of source and destination.

    TCP/UDP: ports; ARP: the word "arp" (sender/target IPs as addresses); ICMP: "icmp";
    IP without those: no protocol; no IP at all: MAC addresses stand in for IPs.
    """
    if l3 == L3_IPV4 or l3 == L3_ARP:
        kind = ADDR_IP4
    elif l3 == L3_IPV6:
        kind = ADDR_IP6
    else:
        kind = ADDR_MAC
    if l4 == L4_TCP or l4 == L4_UDP:
        ps, pd = np.int64(sport), np.int64(dport)
    elif l3 == L3_ARP:
        ps, pd = np.int64(PORT_ARP), np.int64(PORT_ARP)
    elif l4 == L4_ICMP:
        ps, pd = np.int64(PORT_ICMP), np.int64(PORT_ICMP)
    else:
        ps, pd = np.int64(PORT_NONE), np.int64(PORT_NONE)
    return kind, ps, pd


# key slots, one column each in the hash array
K_MI, K_HOST_SRC, K_HOST_DST, K_JIT, K_SOCK_SRC, K_SOCK_DST = range(6)
N_KEYS = 6


@numba.njit(cache=True, nogil=True)
def packet_key_hashes(l3, l4, sport, dport, eth_src, eth_dst, ip_src, ip_dst, text, channels):
    """128-bit hashes (n, 6, 2) of each packet's stream keys.

    Columns: MI (source MAC + source IP), host source / destination, jitter, socket source /
    destination. ``text``: the reference's concatenated strings, else tagged binary fields.
    ``channels`` (binary keys only): host and socket streams are directional (source,
    destination) pairs (the released tables' 1D statistics), not the source alone.
    """
    n = l3.shape[0]
    out = np.empty((n, N_KEYS, 2), np.uint64)
    buf = np.empty(160, np.uint8)
    for i in range(n):
        kind, ps, pd = _endpoints(l3[i], l4[i], sport[i], dport[i])
        sa, da, sm, dm = ip_src[i], ip_dst[i], eth_src[i], eth_dst[i]
        arp = ps == PORT_ARP
        for slot in range(N_KEYS):
            m = 0
            if text:  # the reference's strings; its host and socket streams are the source's alone
                if slot == K_MI:
                    m = _put_mac(buf, m, sm)
                    m = _put_addr_text(buf, m, kind, sa, sm)
                elif slot == K_HOST_SRC or slot == K_JIT:
                    m = _put_addr_text(buf, m, kind, sa, sm)
                    if slot == K_JIT:
                        m = _put_addr_text(buf, m, kind, da, dm)
                elif slot == K_HOST_DST:
                    m = _put_addr_text(buf, m, kind, da, dm)
                else:
                    mine = slot == K_SOCK_SRC
                    if arp:  # ARP sockets are MAC addresses
                        m = _put_mac(buf, m, sm if mine else dm)
                    else:
                        m = _put_addr_text(buf, m, kind, sa if mine else da, sm if mine else dm)
                        m = _put_port_text(buf, m, ps if mine else pd)
            else:
                # each table holds one kind of key, so no tag is needed to keep kinds apart
                if slot == K_MI:
                    m = _put_addr_bin(buf, m, ADDR_MAC, sa, sm)
                    m = _put_addr_bin(buf, m, kind, sa, sm)
                elif slot == K_HOST_SRC or slot == K_HOST_DST or slot == K_JIT:
                    fwd = slot != K_HOST_DST
                    m = _put_addr_bin(buf, m, kind, sa if fwd else da, sm if fwd else dm)
                    if slot == K_JIT or channels:
                        m = _put_addr_bin(buf, m, kind, da if fwd else sa, dm if fwd else sm)
                else:
                    fwd = slot == K_SOCK_SRC
                    for half in range(2 if channels else 1):
                        mine = fwd if half == 0 else not fwd
                        if arp:
                            m = _put_addr_bin(buf, m, ADDR_MAC, sa, sm if mine else dm)
                        else:
                            m = _put_addr_bin(buf, m, kind, sa if mine else da, sm if mine else dm)
                            m = _put_port_bin(buf, m, ps if mine else pd)
            h1, h2 = _hash128(buf, m)
            out[i, slot, 0] = h1
            out[i, slot, 1] = h2
    return out


@numba.njit(cache=True, nogil=True)
def _assign(table, n_used, h1, h2):
    # a slot is (h1, h2, id + 1), one cache line per probe; id + 1 = 0 marks an empty slot, so a
    # table is allocated zeroed, lazily by the OS
    mask = table.shape[0] - 1
    out = np.empty(h1.shape[0], np.int64)
    for i in range(h1.shape[0]):
        a, b = h1[i], h2[i]
        p = np.int64(a & np.uint64(mask))
        while True:
            if table[p, 2] == 0:
                table[p, 0] = a
                table[p, 1] = b
                table[p, 2] = n_used + 1
                out[i] = n_used
                n_used += 1
                break
            if table[p, 0] == a and table[p, 1] == b:
                out[i] = np.int64(table[p, 2]) - 1
                break
            p = (p + 1) & mask
    return out, n_used


@numba.njit(cache=True, nogil=True)
def _rehash(table, new_cap):
    nt = np.zeros((new_cap, 3), np.uint64)
    mask = new_cap - 1
    for p in range(table.shape[0]):
        if table[p, 2] != 0:
            q = np.int64(table[p, 0] & np.uint64(mask))
            while nt[q, 2] != 0:
                q = (q + 1) & mask
            nt[q] = table[p]
    return nt


class IdTable:
    """128-bit key -> dense int id, in order of first appearance; persists across chunks.

    ``capacity``: slots to start with (rounded up to a power of 2); the table doubles when half full.
    """

    def __init__(self, capacity: int = 1 << 12):
        capacity = 1 << max(int(capacity) - 1, 1).bit_length()
        self.table = np.zeros((capacity, 3), np.uint64)
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def ids(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        """Ids of keys (h1[i], h2[i]), new keys numbered from ``len(self)`` on."""
        need = 2 * (self.n + len(h1))  # load factor stays under 1/2
        if need > len(self.table):
            cap = len(self.table)
            while cap < need:
                cap *= 2
            self.table = _rehash(self.table, cap)
        out, self.n = _assign(self.table, self.n, np.ascontiguousarray(h1), np.ascontiguousarray(h2))
        return out


@numba.njit(cache=True, nogil=True)
def pair_hashes(a, b):
    """Keys of unordered pairs of ids (a link between a and b is the link between b and a)."""
    n = a.shape[0]
    h1 = np.empty(n, np.uint64)
    h2 = np.empty(n, np.uint64)
    for i in range(n):
        lo, hi = min(a[i], b[i]), max(a[i], b[i])
        h1[i] = _mix(np.uint64(lo) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(hi))
        h2[i] = (np.uint64(lo) << np.uint64(32)) ^ np.uint64(hi)
    return h1, h2


def packets_key_hashes(p: Packets, *, text: bool, channels: bool) -> np.ndarray:
    """:func:`packet_key_hashes` for a :class:`Packets` chunk."""
    if text and channels:
        raise ValueError("text keys are the reference's, which has no channel streams")
    return packet_key_hashes(
        p.l3, p.l4, p.sport, p.dport, p.eth_src, p.eth_dst, p.ip_src, p.ip_dst, text, channels
    )
