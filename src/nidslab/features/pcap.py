"""Read packet captures (libpcap and pcapng) into columnar arrays with numba parsers.

A libpcap file is memory-mapped and walked record by record in compiled code, a chunk at a
time, so memory stays flat whatever the capture's size. Each frame is decoded once into the
fields AfterImage needs (time, sizes, MACs, IPs, ports, protocol); nothing per packet is a
Python object. pcapng files are walked block by block the same way (Ethernet interfaces,
any timestamp resolution).

Decoding follows what the Kitsune reference sees through scapy: Ethernet with up to two
802.1Q/802.1ad tags, IPv4 (transport header only in the first fragment), IPv6 (hop-by-hop,
routing, destination-options and fragment headers skipped), ARP (IPv4 over Ethernet),
TCP, UDP and ICMP. ICMPv6 and other protocols carry no ports.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numba
import numpy as np

from nidslab.errors import DataError

LINKTYPE_ETHERNET = 1
# libpcap magic numbers as read little-endian: (big-endian file?, nanosecond timestamps?)
_PCAP_MAGICS = {
    0xA1B2C3D4: (False, False),
    0xD4C3B2A1: (True, False),
    0xA1B23C4D: (False, True),
    0x4D3CB2A1: (True, True),
}
_PCAPNG_MAGIC = 0x0A0D0D0A
_MAX_RECORD = 1 << 18  # larger captured lengths mean a corrupt record header

# layer codes
L3_OTHER, L3_IPV4, L3_IPV6, L3_ARP = 0, 1, 2, 3
L4_NONE, L4_TCP, L4_UDP, L4_ICMP = 0, 1, 2, 3

# _scan_records status
_OK, _TRUNC_HEADER, _TRUNC_DATA, _CORRUPT = 0, 1, 2, 3


@dataclass
class Packets:
    """Decoded packets as columns (n = number of packets).

    ts: float64 seconds since the epoch; wire_len / cap_len: int32 bytes on the wire / captured;
    eth_src, eth_dst: uint64 MAC addresses (48 bits, big-endian value);
    l3: uint8 (0 other, 1 IPv4, 2 IPv6, 3 ARP); ip_src, ip_dst: (n, 16) uint8 addresses
    (IPv4 and ARP sender/target IPv4 in the first 4 bytes); l4: uint8 (0 none, 1 TCP, 2 UDP,
    3 ICMP); sport, dport: uint16 ports (0 without TCP/UDP); tcp_flags: uint8 TCP flag bits (FIN 1,
    SYN 2, RST 4, PSH 8, ACK 16, URG 32, ECE 64, CWR 128; 0 without TCP); index: int64 position of each
    packet in the capture (malformed packets are left out, so it can skip numbers).
    """

    ts: np.ndarray
    wire_len: np.ndarray
    cap_len: np.ndarray
    eth_src: np.ndarray
    eth_dst: np.ndarray
    l3: np.ndarray
    ip_src: np.ndarray
    ip_dst: np.ndarray
    l4: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    tcp_flags: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, rows) -> Packets:
        """The packets at ``rows`` (a slice, boolean mask or index array)."""
        return Packets(**{k: getattr(self, k)[rows] for k in COLUMNS})

    @staticmethod
    def empty(n: int = 0) -> Packets:
        return Packets(
            ts=np.zeros(n, np.float64),
            wire_len=np.zeros(n, np.int32),
            cap_len=np.zeros(n, np.int32),
            eth_src=np.zeros(n, np.uint64),
            eth_dst=np.zeros(n, np.uint64),
            l3=np.zeros(n, np.uint8),
            ip_src=np.zeros((n, 16), np.uint8),
            ip_dst=np.zeros((n, 16), np.uint8),
            l4=np.zeros(n, np.uint8),
            sport=np.zeros(n, np.uint16),
            dport=np.zeros(n, np.uint16),
            tcp_flags=np.zeros(n, np.uint8),
            index=np.zeros(n, np.int64),
        )

    @staticmethod
    def concat(parts: list[Packets]) -> Packets:
        if not parts:
            return Packets.empty()
        columns: dict[str, Any] = {k: np.concatenate([getattr(p, k) for p in parts]) for k in COLUMNS}
        return Packets(**columns)


#: the per-packet columns of :class:`Packets`
COLUMNS = tuple(f.name for f in fields(Packets))


@dataclass
class ReadReport:
    """What reading a capture found besides packets: counts, and problems as messages."""

    path: str
    packets: int = 0  # records read (malformed ones included)
    malformed: int = 0  # records skipped because a header was cut short or invalid
    malformed_index: list[int] = field(default_factory=list)  # their positions (first 1000)
    truncated: str | None = None  # the file ended or broke inside a record
    warnings: list[str] = field(default_factory=list)

    def messages(self) -> list[str]:
        """Human-readable lines describing every problem found (empty when there was none)."""
        out = list(self.warnings)
        if self.malformed:
            shown = ", ".join(str(i) for i in self.malformed_index[:10])
            more = " ..." if self.malformed > 10 else ""
            out.append(
                f"{self.path}: skipped {self.malformed} malformed packet(s) (headers cut short "
                f"or invalid) at packet index {shown}{more}"
            )
        if self.truncated:
            out.append(self.truncated)
        return out


# ----------------------------------------------------------------------------- compiled parsing


@numba.njit(cache=True, inline="always")
def _u16be(b, o):
    return (np.uint32(b[o]) << 8) | np.uint32(b[o + 1])


@numba.njit(cache=True, inline="always")
def _u32(b, o, big):
    if big:
        return (
            (np.uint32(b[o]) << 24) | (np.uint32(b[o + 1]) << 16) | (np.uint32(b[o + 2]) << 8) | np.uint32(b[o + 3])
        )
    return (np.uint32(b[o + 3]) << 24) | (np.uint32(b[o + 2]) << 16) | (np.uint32(b[o + 1]) << 8) | np.uint32(b[o])


@numba.njit(cache=True, inline="always")
def _u16(b, o, big):
    if big:
        return (np.int64(b[o]) << 8) | np.int64(b[o + 1])
    return (np.int64(b[o + 1]) << 8) | np.int64(b[o])


@numba.njit(cache=True)
def _scan_records(buf, pos, max_n, big, nano):
    """Walk libpcap record headers from byte ``pos``: up to ``max_n`` records.

    Returns (n, data offsets, captured lengths, wire lengths, timestamps, next pos, status).
    """
    end = buf.shape[0]
    offs = np.empty(max_n, np.int64)
    cap = np.empty(max_n, np.int32)
    wire = np.empty(max_n, np.int32)
    ts = np.empty(max_n, np.float64)
    div = 1e9 if nano else 1e6
    n = 0
    status = _OK
    while n < max_n:
        if pos >= end:
            break
        if pos + 16 > end:
            status = _TRUNC_HEADER
            break
        sec = _u32(buf, pos, big)
        frac = _u32(buf, pos + 4, big)
        incl = _u32(buf, pos + 8, big)
        orig = _u32(buf, pos + 12, big)
        if incl > _MAX_RECORD:
            status = _CORRUPT
            break
        if pos + 16 + incl > end:
            status = _TRUNC_DATA
            break
        # Same arithmetic as the reference's float(sec + frac / 10**k).
        ts[n] = np.float64(sec) + np.float64(frac) / div
        offs[n] = pos + 16
        cap[n] = incl
        wire[n] = max(orig, incl)
        n += 1
        pos += 16 + incl
    return n, offs[:n], cap[:n], wire[:n], ts[:n], pos, status


@numba.njit(cache=True)
def _parse_frames(buf, offs, caplens, eth_src, eth_dst, l3, ip_src, ip_dst, l4, sport, dport, tcp_flags):
    """Decode Ethernet frames at ``offs`` into the output columns; return a malformed flag per frame."""
    n = offs.shape[0]
    bad = np.zeros(n, np.bool_)
    for i in range(n):
        o = offs[i]
        end = o + caplens[i]
        l3[i] = L3_OTHER
        l4[i] = L4_NONE
        sport[i] = 0
        dport[i] = 0
        tcp_flags[i] = 0
        if end - o < 14:
            bad[i] = True
            continue
        d = np.uint64(0)
        s = np.uint64(0)
        for k in range(6):
            d = (d << np.uint64(8)) | np.uint64(buf[o + k])
            s = (s << np.uint64(8)) | np.uint64(buf[o + 6 + k])
        eth_dst[i] = d
        eth_src[i] = s
        etype = _u16be(buf, o + 12)
        p = o + 14
        tags = 0
        while (etype == 0x8100 or etype == 0x88A8 or etype == 0x9100) and tags < 2 and p + 4 <= end:
            etype = _u16be(buf, p + 2)
            p += 4
            tags += 1
        proto = -1
        if etype == 0x0800:
            if p + 20 > end or (buf[p] >> 4) != 4 or (buf[p] & 15) < 5:
                bad[i] = True
                continue
            l3[i] = L3_IPV4
            for k in range(4):
                ip_src[i, k] = buf[p + 12 + k]
                ip_dst[i, k] = buf[p + 16 + k]
            if (_u16be(buf, p + 6) & 0x1FFF) == 0:  # transport header only in the first fragment
                proto = buf[p + 9]
            p += (buf[p] & 15) * 4
        elif etype == 0x86DD:
            if p + 40 > end or (buf[p] >> 4) != 6:
                bad[i] = True
                continue
            l3[i] = L3_IPV6
            for k in range(16):
                ip_src[i, k] = buf[p + 8 + k]
                ip_dst[i, k] = buf[p + 24 + k]
            proto = buf[p + 6]
            p += 40
            while proto == 0 or proto == 43 or proto == 60 or proto == 44:
                if p + 8 > end:
                    proto = -1
                    break
                if proto == 44:
                    if (_u16be(buf, p + 2) >> 3) != 0:
                        proto = -1
                        break
                    proto = buf[p]
                    p += 8
                else:
                    nxt = buf[p]
                    p += (buf[p + 1] + 1) * 8
                    proto = nxt
        elif etype == 0x0806:
            if p + 8 > end:
                bad[i] = True
                continue
            if _u16be(buf, p) == 1 and _u16be(buf, p + 2) == 0x0800 and buf[p + 4] == 6 and buf[p + 5] == 4:
                if p + 28 > end:
                    bad[i] = True
                    continue
                l3[i] = L3_ARP
                for k in range(4):
                    ip_src[i, k] = buf[p + 14 + k]
                    ip_dst[i, k] = buf[p + 24 + k]
            continue
        else:
            continue
        if proto == 6 or proto == 17:
            need = 20 if proto == 6 else 8
            if p + need > end:
                bad[i] = True
                continue
            l4[i] = L4_TCP if proto == 6 else L4_UDP
            sport[i] = _u16be(buf, p)
            dport[i] = _u16be(buf, p + 2)
            if proto == 6:
                tcp_flags[i] = buf[p + 13]
        elif proto == 1 and l3[i] == L3_IPV4:
            l4[i] = L4_ICMP
    return bad


@numba.njit(cache=True)
def _scan_pcapng(buf, pos, max_n, order, if_link, if_div, n_if):
    """Walk pcapng blocks from byte ``pos``: up to ``max_n`` packets (enhanced, simple, obsolete).

    ``order[0]`` (1 = big-endian), ``if_link``/``if_div`` (link type and timestamp units per
    second of each interface) and ``n_if[0]`` carry across calls. Returns (n, data offsets,
    captured lengths, wire lengths, timestamps, next pos, status, bad link type).
    """
    end = buf.shape[0]
    offs = np.empty(max_n, np.int64)
    cap = np.empty(max_n, np.int32)
    wire = np.empty(max_n, np.int32)
    ts = np.empty(max_n, np.float64)
    n = 0
    status = _OK
    bad_link = -1
    last_ts = 0.0
    while n < max_n:
        if pos >= end:
            break
        if pos + 12 > end:
            status = _TRUNC_HEADER
            break
        btype = _u32(buf, pos, False)
        if btype == 0x0A0D0D0A:  # section header: its byte-order magic sets the order
            order[0] = 1 if buf[pos + 8] == 0x1A else 0
        big = order[0] == 1
        blen = _u32(buf, pos + 4, big)
        btype = _u32(buf, pos, big)
        if blen < 12 or blen % 4 != 0 or blen > _MAX_RECORD + 64:
            status = _CORRUPT
            break
        if pos + blen > end:
            status = _TRUNC_DATA
            break
        body = pos + 8
        if btype == 1:  # interface description
            if n_if[0] < if_link.shape[0]:
                k = n_if[0]
                if_link[k] = _u16(buf, body, big)
                if_div[k] = 1e6
                o = body + 8
                while o + 4 <= pos + blen - 4:
                    code = _u16(buf, o, big)
                    ln = _u16(buf, o + 2, big)
                    if code == 0:
                        break
                    if code == 9 and ln >= 1:  # if_tsresol
                        r = buf[o + 4]
                        if r & 0x80:
                            if_div[k] = 2.0 ** (r & 0x7F)
                        else:
                            if_div[k] = 10.0 ** r
                    o += 4 + (ln + 3) // 4 * 4
                n_if[0] = k + 1
        elif btype == 6 or btype == 2 or btype == 3:
            if btype == 3:  # simple packet block: no interface id, no timestamp
                iface = np.int64(0)
                orig = _u32(buf, body, big)
                incl = min(orig, blen - np.uint32(16))
                data = body + 4
                t = last_ts
            else:
                if btype == 6:
                    iface = np.int64(_u32(buf, body, big))
                else:
                    iface = _u16(buf, body, big)
                hi = np.uint64(_u32(buf, body + 4, big))
                lo = np.uint64(_u32(buf, body + 8, big))
                incl = _u32(buf, body + 12, big)
                orig = _u32(buf, body + 16, big)
                data = body + 20
                div = if_div[iface] if iface < n_if[0] else 1e6
                t = np.float64((hi << np.uint64(32)) | lo) / div
            if iface >= n_if[0] or if_link[iface] != LINKTYPE_ETHERNET or data + incl > pos + blen:
                if iface < n_if[0] and if_link[iface] != LINKTYPE_ETHERNET:
                    bad_link = if_link[iface]
                else:
                    status = _CORRUPT
                break
            offs[n] = data
            cap[n] = incl
            wire[n] = max(orig, incl)
            ts[n] = t
            last_ts = t
            n += 1
        pos += blen
    return n, offs[:n], cap[:n], wire[:n], ts[:n], pos, status, bad_link


# ----------------------------------------------------------------------------- opening files


def _open_buffer(path: Path) -> np.ndarray:
    """The file's bytes (uint8), memory-mapped read-only."""
    size = path.stat().st_size
    if size == 0:
        return np.zeros(0, np.uint8)
    with open(path, "rb") as fh:
        return np.frombuffer(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ), np.uint8)


def _release(buf: np.ndarray, upto: int) -> None:
    """Unmap the pages of ``buf`` wholly before byte ``upto`` (read already): a capture read once no longer
    adds its size to the process's memory (137 MB for a 764,137-packet one). The file's pages stay in the
    page cache, so touching them again only maps them back."""
    view = buf.base
    end = upto - upto % mmap.PAGESIZE
    if isinstance(view, memoryview) and isinstance(view.obj, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED") and end:
        view.obj.madvise(mmap.MADV_DONTNEED, 0, end)


def capture_format(path: str | os.PathLike) -> str:
    """``"pcap"`` or ``"pcapng"``, from the file's magic number; DataError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"capture {path} does not exist")
    with open(path, "rb") as fh:
        head = fh.read(24)
    if len(head) >= 4:
        magic = int.from_bytes(head[:4], "little")
        if magic in _PCAP_MAGICS:
            if len(head) < 24:
                raise DataError(f"{path}: libpcap file ends inside its 24-byte global header")
            return "pcap"
        if magic == _PCAPNG_MAGIC:
            return "pcapng"
    raise DataError(
        f"{path} is not a packet capture: expected a libpcap (magic a1b2c3d4 / a1b23c4d) or "
        f"pcapng file, found first bytes {head[:4].hex() or '(empty file)'}"
    )


def _unsupported_link(path, linktype) -> DataError:
    return DataError(
        f"{path}: unsupported link type {linktype}; nidslab reads Ethernet captures "
        f"(LINKTYPE_ETHERNET = 1)"
    )


def _decode(buf, offs, caps, wire, ts, first_index, report: ReadReport) -> Packets:
    n = len(offs)
    pk = Packets.empty(n)
    pk.ts[:] = ts
    pk.wire_len[:] = wire
    pk.cap_len[:] = caps
    pk.index[:] = np.arange(first_index, first_index + n)
    bad = _parse_frames(
        buf, offs, caps, pk.eth_src, pk.eth_dst, pk.l3, pk.ip_src, pk.ip_dst, pk.l4, pk.sport, pk.dport,
        pk.tcp_flags,
    )
    if bad.any():
        where = np.flatnonzero(bad)
        report.malformed += len(where)
        room = 1000 - len(report.malformed_index)
        report.malformed_index.extend((where[:room] + first_index).tolist())
        pk = pk.take(~bad)
    return pk


def _iter_pcap(path: Path, chunk: int, limit: int | None, report: ReadReport):
    buf = _open_buffer(path)
    big, nano = _PCAP_MAGICS[int.from_bytes(bytes(buf[:4]), "little")]
    order: Literal["big", "little"] = "big" if big else "little"
    linktype = int.from_bytes(bytes(buf[20:24]), order) & 0x0FFFFFFF
    if linktype != LINKTYPE_ETHERNET:
        raise _unsupported_link(path, linktype)
    pos, done = 24, 0
    while limit is None or done < limit:
        want = chunk if limit is None else min(chunk, limit - done)
        n, offs, caps, wire, ts, pos_next, status = _scan_records(buf, pos, want, big, nano)
        if n:
            packets = _decode(buf, offs, caps, wire, ts, done, report)
            _release(buf, pos_next)
            done += n
            report.packets = done
            yield packets
        if status == _CORRUPT:
            incl = int.from_bytes(bytes(buf[pos_next + 8:pos_next + 12]), order)
            snaplen = int.from_bytes(bytes(buf[16:20]), order)
            _corrupt(path, pos_next, done, len(buf), f"captured length {incl:,} bytes, more than the "
                     f"{_MAX_RECORD:,}-byte limit; the file's snap length is {snaplen:,}")
        if status != _OK:
            _truncated(report, path, status, pos_next, done, len(buf))
            return
        if n < want:
            return
        pos = pos_next


def _iter_pcapng(path: Path, chunk: int, limit: int | None, report: ReadReport):
    buf = _open_buffer(path)
    order = np.zeros(1, np.int64)
    if_link = np.full(256, -1, np.int64)
    if_div = np.full(256, 1e6)
    n_if = np.zeros(1, np.int64)
    pos, done = 0, 0
    while limit is None or done < limit:
        want = chunk if limit is None else min(chunk, limit - done)
        n, offs, caps, wire, ts, pos_next, status, bad_link = _scan_pcapng(
            buf, pos, want, order, if_link, if_div, n_if
        )
        if bad_link >= 0:
            raise _unsupported_link(path, bad_link)
        if n:
            packets = _decode(buf, offs, caps, wire, ts, done, report)
            _release(buf, pos_next)
            done += n
            report.packets = done
            yield packets
        if status == _CORRUPT:
            _corrupt(path, pos_next, done, len(buf), "an impossible block length or interface")
        if status != _OK:
            _truncated(report, path, status, pos_next, done, len(buf))
            return
        if n < want:
            return
        pos = pos_next


def _corrupt(path, pos, done, size, what) -> None:
    """A corrupt record is an error, not a warning: features of the packets before it would pass for the whole
    capture (a file cut short at its end stays a warning: see _truncated)."""
    raise DataError(f"{path}: corrupt record at byte {pos:,} ({what}) after {done:,} good packet(s); "
                    f"{size - pos:,} bytes of the capture are unreadable past it. Repair the capture (e.g. "
                    f"`pcapfix`) or keep the packets before it (`editcap -r {Path(path).name} out.pcap 1-{done}`)")


def _truncated(report, path, status, pos, done, size) -> None:
    what = {
        _TRUNC_HEADER: "inside a record header",
        _TRUNC_DATA: "inside the data of a packet",
        _CORRUPT: "at a corrupt record (impossible length or interface)",
    }[status]
    report.truncated = (
        f"{path}: capture is truncated: it breaks {what} at byte {pos} after {done} complete "
        f"packet(s); the rest of the file ({size - pos} bytes) was not read"
    )


def iter_packets(capture: str | os.PathLike, *, chunk: int = 1 << 20, limit: int | None = None, report=None):
    """Yield :class:`Packets` chunks of up to ``chunk`` packets from a libpcap or pcapng file.

    ``report`` (a :class:`ReadReport`) collects malformed packets and truncation as it goes.
    Raises FileNotFoundError, or DataError for a file that is not a capture or not Ethernet.
    """
    path = Path(capture)
    fmt = capture_format(path)
    report = report if report is not None else ReadReport(str(path))
    if fmt == "pcap":
        yield from _iter_pcap(path, chunk, limit, report)
    else:
        yield from _iter_pcapng(path, chunk, limit, report)


@dataclass
class ReadPackets(Packets):
    """:class:`Packets` as :func:`read_packets` returns them, with ``report``: how the reading went."""

    report: ReadReport = field(repr=False, compare=False)


def read_packets(capture: str | os.PathLike, *, limit: int | None = None) -> ReadPackets:
    """Read a whole capture into :class:`Packets` columns; ``.report`` holds a :class:`ReadReport`."""
    report = ReadReport(str(capture))
    packets = Packets.concat(list(iter_packets(capture, limit=limit, report=report)))
    return ReadPackets(**{k: getattr(packets, k) for k in COLUMNS}, report=report)


def count_records(capture: str | os.PathLike) -> int | None:
    """Number of records in a libpcap file (a fast walk of the record headers); None for pcapng."""
    path = Path(capture)
    if capture_format(path) != "pcap":
        return None
    buf = _open_buffer(path)
    big, nano = _PCAP_MAGICS[int.from_bytes(bytes(buf[:4]), "little")]
    total, pos = 0, 24
    while True:
        n, *_, pos, status = _scan_records(buf, pos, 1 << 20, big, nano)
        total += n
        if n < (1 << 20) or status != _OK:
            return total


def write_pcap(
    path: str | os.PathLike,
    timestamps,
    frames: list[bytes],
    *,
    wire_lengths=None,
    nanoseconds: bool = False,
    big_endian: bool = False,
    linktype: int = LINKTYPE_ETHERNET,
) -> None:
    """Write frames as a libpcap file (atomically): for tests, examples and benchmarks.

    ``timestamps``: seconds (float); ``wire_lengths``: original lengths (default: the frames').
    """
    import struct

    from nidslab.paths import atomic_write

    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    scale = 10**9 if nanoseconds else 10**6
    wire = [len(f) for f in frames] if wire_lengths is None else wire_lengths
    parts = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    for t, frame, orig in zip(timestamps, frames, wire):
        sec = int(t)
        frac = int(round((t - sec) * scale))
        if frac >= scale:
            sec, frac = sec + 1, frac - scale
        parts.append(struct.pack(e + "IIII", sec, frac, len(frame), orig))
        parts.append(frame)
    with atomic_write(path) as fh:
        fh.write(b"".join(parts))
