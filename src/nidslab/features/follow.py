"""Incremental capture parsing: packets from bytes as they arrive (a growing file, a pipe).

:class:`StreamParser` is fed whatever bytes a read returned and hands back the complete records
parsed so far as :class:`~nidslab.features.pcap.Packets`, in bulk with the same numba kernels as
the file reader (``_scan_records`` / ``_scan_pcapng`` / ``_decode``). A record cut by the end of
the bytes so far stays in the buffer until the rest arrives; it is never parsed half. libpcap
(either byte order, micro- or nanosecond timestamps) and pcapng (Ethernet interfaces) are read.

:func:`iter_reads` turns a file that is still being written, or a pipe, into timed byte reads
(like ``tail -f``), with a stop callback and an idle timeout.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from nidslab.errors import DataError
from nidslab.features.pcap import (
    _CORRUPT,
    _PCAP_MAGICS,
    _PCAPNG_MAGIC,
    LINKTYPE_ETHERNET,
    Packets,
    ReadReport,
    _decode,
    _scan_pcapng,
    _scan_records,
)

READ_SIZE = 1 << 22  # bytes per read: ~4 MiB, tens of thousands of packets
CHUNK = 1 << 16  # packets per parsed chunk at most
GATHER = 0.005  # seconds a pipe read waits for more bytes after the first
PIPE_SIZE = 1 << 20  # asked of a pipe's buffer (Linux allows up to 1 MiB without privileges)
_F_SETPIPE_SZ = 1031


class StreamParser:
    """Parse a capture that arrives in pieces: ``feed(bytes)``, then ``packets()`` until None.

    >>> p = StreamParser("capture.pcap")
    >>> p.feed(first_bytes)                      # doctest: +SKIP
    >>> while (pk := p.packets()) is not None:   # doctest: +SKIP
    ...     use(pk)                              # complete records only

    ``chunk``: most packets per :meth:`packets` call. ``report`` (a :class:`ReadReport`) counts
    records and malformed frames. Packet ``index`` counts records from 0 across all calls.
    """

    def __init__(self, name: str = "<stream>", *, chunk: int = CHUNK, report: ReadReport | None = None):
        self.name = name
        self.chunk = int(chunk)
        self.report = report if report is not None else ReadReport(name)
        self._buf = np.empty(1 << 16, np.uint8)
        self._start = 0  # first unparsed byte
        self._end = 0  # end of the bytes held
        self._offset = 0  # stream offset of _buf[0]
        self._arrivals: list[tuple[int, float]] = []  # (stream offset where a read ended, its clock time)
        self._format: str | None = None
        self._big = self._nano = False
        self._ng = (np.zeros(1, np.int64), np.full(256, -1, np.int64), np.full(256, 1e6), np.zeros(1, np.int64))
        self.records = 0
        self.oldest_arrival: float | None = None  # clock time of the read holding the last chunk's first byte

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed (a partial record, or records past ``chunk``)."""
        return self._end - self._start

    @property
    def bytes_seen(self) -> int:
        return self._offset + self._end

    def feed(self, data: bytes, arrived: float | None = None) -> None:
        """Append bytes received at clock time ``arrived`` (``time.perf_counter()``; default now)."""
        if not data:
            return
        n = len(data)
        if self._end + n > len(self._buf):
            keep = self._end - self._start
            if keep + n <= len(self._buf):
                self._buf[:keep] = self._buf[self._start:self._end]  # drop parsed bytes (memmove)
            else:
                grown = np.empty(max(2 * len(self._buf), keep + n), np.uint8)
                grown[:keep] = self._buf[self._start:self._end]
                self._buf = grown
            self._offset += self._start
            self._start, self._end = 0, keep
        self._buf[self._end:self._end + n] = np.frombuffer(data, np.uint8)
        self._end += n
        self._arrivals.append((self._offset + self._end, time.perf_counter() if arrived is None else arrived))

    def packets(self) -> Packets | None:
        """The next complete records (up to ``chunk``), decoded; None when none is complete yet.

        Raises :class:`DataError` for bytes that are not a capture, a link type other than
        Ethernet, or a corrupt record (an impossible length: the stream cannot be resynchronised).
        """
        if self._format is None and not self._read_header():
            return None
        buf = self._buf[:self._end]
        if self._format == "pcap":
            n, offs, caps, wire, ts, pos, status = _scan_records(buf, self._start, self.chunk, self._big, self._nano)
        else:
            order, if_link, if_div, n_if = self._ng
            n, offs, caps, wire, ts, pos, status, bad_link = _scan_pcapng(
                buf, self._start, self.chunk, order, if_link, if_div, n_if)
            if bad_link >= 0:
                raise DataError(f"{self.name}: unsupported link type {bad_link}; nidslab reads Ethernet captures "
                                f"(LINKTYPE_ETHERNET = 1)")
        if status == _CORRUPT:
            raise DataError(f"{self.name}: corrupt record at byte {self._offset + pos} after {self.records} "
                            f"packet(s) (impossible length or interface); the stream cannot be read past it")
        first = self._offset + self._start
        consumed = pos > self._start
        self._start = pos
        if n == 0:
            if consumed:  # pcapng blocks without packets (interfaces, statistics): keep going
                return self.packets()
            return None
        self.oldest_arrival = self._arrival_of(first)
        packets = _decode(buf, offs, caps, wire, ts, self.records, self.report)
        self.records += n
        self.report.packets = self.records
        return packets

    def close_message(self) -> str | None:
        """At the end of the stream: a message if it stopped inside a record, else None."""
        left = self.buffered
        if self._format is None and left == 0:
            return f"{self.name}: the stream ended before any capture header arrived"
        if left == 0:
            return None
        where = "its header" if self._format is None else "a record"
        return (f"{self.name}: the stream ended inside {where} after {self.records:,} complete packet(s); "
                f"the last {left:,} byte(s) were not scored")

    def _read_header(self) -> bool:
        have = self._end - self._start
        if have < 4:
            return False
        head = bytes(self._buf[self._start:self._start + min(have, 24)])
        magic = int.from_bytes(head[:4], "little")
        if magic == _PCAPNG_MAGIC:
            self._format = "pcapng"
            return True
        if magic not in _PCAP_MAGICS:
            raise DataError(f"{self.name} is not a packet capture: expected a libpcap (magic a1b2c3d4 / a1b23c4d) "
                            f"or pcapng stream, found first bytes {head[:4].hex()}")
        if have < 24:
            return False
        self._big, self._nano = _PCAP_MAGICS[magic]
        link = int.from_bytes(head[20:24], "big" if self._big else "little") & 0x0FFFFFFF
        if link != LINKTYPE_ETHERNET:
            raise DataError(f"{self.name}: unsupported link type {link}; nidslab reads Ethernet captures "
                            f"(LINKTYPE_ETHERNET = 1)")
        self._format = "pcap"
        self._start += 24
        return True

    def _arrival_of(self, offset: int) -> float:
        """Clock time of the read that delivered the byte at stream ``offset``; forget older reads."""
        arr = self._arrivals
        i = 0
        while i < len(arr) - 1 and arr[i][0] <= offset:
            i += 1
        del arr[:i]
        return arr[0][1]


@dataclass
class Read:
    """One read: the bytes (empty on an idle poll) and the clock time they arrived. The last
    read of a source has ``ended`` set: "end of input", "idle timeout" or "stopped"."""

    data: bytes
    arrived: float
    ended: str | None = None


def iter_reads(
    source: str | os.PathLike | int,
    *,
    follow: bool = True,
    idle_timeout: float | None = None,
    poll: float = 0.05,
    stop: Callable[[], bool] | None = None,
    read_size: int = READ_SIZE,
    gather: float = GATHER,
) -> Iterator[Read]:
    """Read a growing file or a pipe as it is written; yield each :class:`Read`.

    ``source``: a file path, or an open file descriptor (a pipe: ``sys.stdin.fileno()``); a pipe
    ends when its writer closes it. A file ends at its end unless ``follow``, which waits for more
    (``tail -f``), polling every ``poll`` seconds. ``idle_timeout``: stop after this many seconds
    without new bytes (None: never). ``stop()`` is asked between reads (and at least every
    ``poll`` seconds while waiting) and ends the reads when true. While waiting, empty reads are
    yielded every ``poll`` seconds so a caller can refresh a display. A pipe read waits up to
    ``gather`` seconds for more bytes after the first (batching, at that cost in latency); a file
    is read whole up to ``read_size`` bytes, then every ``poll`` seconds at its end.
    Raises FileNotFoundError for a missing file and :class:`DataError` if a followed file shrinks.
    """
    stop = stop or (lambda: False)
    if isinstance(source, int):
        ended = yield from _read_pipe(source, idle_timeout, poll, stop, read_size, gather)
    else:
        ended = yield from _read_file(source, follow, idle_timeout, poll, stop, read_size)
    yield Read(b"", time.perf_counter(), ended)


def _read_file(path, follow, idle_timeout, poll, stop, read_size):
    with open(path, "rb", buffering=0) as fh:
        fd = fh.fileno()
        last = time.perf_counter()
        seen = 0
        while not stop():
            data = os.read(fd, read_size)
            now = time.perf_counter()
            if data:
                seen += len(data)
                last = now
                yield Read(data, now)
                continue
            if not follow:
                return "end of input"
            if os.fstat(fd).st_size < seen:
                raise DataError(f"{path}: the file shrank from {seen:,} to {os.fstat(fd).st_size:,} bytes while "
                                f"being followed (rotated or rewritten?); start again on the new file")
            if idle_timeout is not None and now - last >= idle_timeout:
                return "idle timeout"
            yield Read(b"", now)
            time.sleep(poll)
    return "stopped"


def _read_pipe(fd: int, idle_timeout, poll, stop, read_size, gather):
    with contextlib.suppress(OSError):  # a larger pipe buffer (Linux): fewer, larger reads
        fcntl.fcntl(fd, _F_SETPIPE_SZ, PIPE_SIZE)
    last = time.perf_counter()
    while not stop():
        ready, _, _ = select.select([fd], [], [], poll)
        now = time.perf_counter()
        if not ready:
            if idle_timeout is not None and now - last >= idle_timeout:
                return "idle timeout"
            yield Read(b"", now)
            continue
        data = os.read(fd, read_size)
        now = time.perf_counter()
        if not data:  # the writer closed the pipe
            return "end of input"
        # A pipe hands over at most its buffer per read, and a writer may trickle: take what else
        # arrives within ``gather`` seconds, so the stream is parsed and scored in large chunks.
        parts, size, closed = [data], len(data), False
        deadline = now + gather
        while size < read_size and select.select([fd], [], [], max(0.0, deadline - time.perf_counter()))[0]:
            more = os.read(fd, read_size - size)
            if not more:
                closed = True
                break
            parts.append(more)
            size += len(more)
        last = now
        yield Read(b"".join(parts) if len(parts) > 1 else data, now)
        if closed:
            return "end of input"
    return "stopped"


__all__ = ["CHUNK", "GATHER", "READ_SIZE", "Read", "StreamParser", "iter_reads"]
