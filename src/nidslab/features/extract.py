"""Kitsune features of a capture, one row per packet, in two column layouts.

``uci`` (default): the 115 columns of the released Kitsune / N-BaIoT tables
(:data:`nidslab.schema.FEATURE_NAMES`), built the way those rows show they were built:

- ``MI_dir``: stream of the source MAC + source IP: weight, mean, variance of packet sizes;
- ``H``: the released tables repeat ``MI_dir`` here (their columns 15-29 equal 0-14); so do we;
- ``HH``: the channel source IP -> destination IP: its weight, mean, std, then magnitude
  sqrt(mean_a^2 + mean_b^2), radius sqrt(var_a^2 + var_b^2), covariance and correlation with
  the reverse channel b (destination -> source);
- ``HH_jit``: inter-arrival times on the channel. A new channel's first inter-arrival time is
  measured from time 0 (the epoch), not 0 s: the released rows carry that artefact (their
  ``HH_jit_L0.01`` variances are ~1e10), so models trained on them expect it;
- ``HpHp``: the socket source IP:port -> destination IP:port, as ``HH`` (ARP: MAC addresses).
Packet size is the length on the wire. Links are updated once per packet (the paper's rule).

``kitsune-py``: the 100 columns of the public reference implementation (Kitsune-py HEAD, scapy
parser), equal to its output to rounding, quirks included: keys are string concatenations
without separator; the HH/HpHp 1D statistics are those of the source IP (source socket) alone,
linked with the destination's; a link is updated twice per packet once it exists; the "std"
columns hold the variance; 2D columns are radius, magnitude, covariance, pcc; packet size is
the captured length (what scapy reports), so truncated frames count as their snap length.

Both layouts follow the reference for the frame types: ARP uses sender/target IPs as hosts and
MAC addresses as sockets; ICMP sockets are "icmp"; frames without IP use MACs as hosts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from nidslab import schema
from nidslab.features import afterimage as ai
from nidslab.features import links as lk
from nidslab.features import streams as st
from nidslab.features.pcap import Packets, ReadReport, count_records, iter_packets
from nidslab.progress import Progress

LAMBDAS = np.array(schema.LAMBDAS, np.float64)
DEFAULT_CHUNK = 1 << 18


class CaptureWarning(UserWarning):
    """A capture had problems that were skipped over (malformed packets, a truncated end)."""


@dataclass(frozen=True)
class Layout:
    """How a layout builds its features (see the module docstring)."""

    name: str
    text_keys: bool  # reference's concatenated string keys
    channels: bool  # HH/HpHp 1D streams are directional channels/sockets, linked with the reverse
    wire_size: bool  # packet size is the wire length (else the captured length)
    double_update: bool  # links updated twice per packet once they exist
    jitter_from_epoch: bool  # a new channel's first inter-arrival time is measured from t = 0
    libm_square: bool  # square with pow(x, 2) as the reference (bit-equal output), else x * x
    columns: tuple[str, ...]


LAYOUTS: dict[str, Layout] = {
    "uci": Layout("uci", False, True, True, False, True, False, schema.FEATURE_NAMES),
    "kitsune-py": Layout("kitsune-py", True, False, False, True, False, True, schema.KITSUNE_PY_FEATURE_NAMES),
}


def column_names(layout: str = "uci") -> tuple[str, ...]:
    """Column names of a layout: 115 for ``uci`` (the schema's), 100 for ``kitsune-py``."""
    return _layout(layout).columns


def _layout(name: str) -> Layout:
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ValueError(f"unknown feature layout {name!r}; expected one of {', '.join(LAYOUTS)}") from None


def _column_maps(layout: Layout):
    """Output column of each kernel statistic, per lambda (-1: not written)."""
    cols = {c: i for i, c in enumerate(layout.columns)}
    nl = len(LAMBDAS)
    lam_txt = schema.LAMBDA_LABELS

    def m(names):  # names(lambda label) -> list of column names or None
        out = np.full((nl, len(names("5"))), -1, np.int64)
        for j, lam in enumerate(lam_txt):
            for k, n in enumerate(names(lam)):
                out[j, k] = cols[n] if n else -1
        return out

    if layout.name == "uci":
        one = lambda g: m(lambda L: [f"{g}_L{L}_weight", f"{g}_L{L}_mean", f"{g}_L{L}_variance"])  # noqa: E731
        two = lambda g: m(  # noqa: E731
            lambda L: [f"{g}_L{L}_{s}" if s else None for s in
                       ("weight", "mean", None, "std", "radius", "magnitude", "covariance", "pcc")]
        )
        return one("MI_dir"), two("HH"), one("HH_jit"), two("HpHp")
    one = lambda g: m(lambda L: [f"{g}_{L}_weight", f"{g}_{L}_mean", f"{g}_{L}_std"])  # noqa: E731
    two = lambda g: m(  # noqa: E731
        lambda L: [f"{g}_{L}_{s}" if s else None for s in
                   ("weight_0", "mean_0", "std_0", None, "radius_0_1", "magnitude_0_1", "covariance_0_1", "pcc_0_1")]
    )
    return one("MI_dir"), two("HH"), one("HH_jit"), two("HpHp")


_PARALLEL_MIN = 4096  # packets per call below which a second thread costs more than it saves
_POOL: list = []


def _workers() -> ThreadPoolExecutor | None:
    """One worker thread beside the caller's, if the process may use two cores (else None)."""
    if not _POOL:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        _POOL.append(ThreadPoolExecutor(1, thread_name_prefix="nidslab-features") if cores > 1 else None)
    return _POOL[0]


_MAX_PRESIZE = 1 << 21  # packets' worth of state allocated up front at most (beyond it, state doubles)
_MI_COLUMNS = schema.indices(schema.features_in("MI_dir"))
_H_COLUMNS = schema.indices(schema.features_in("H"))


class _LinkedDB:
    """Streams of one database (hosts or sockets) and the links between them."""

    def __init__(self, nl: int, heavy_degree: int, capacity: int):
        # a packet names at most two new streams and one new link; hash tables (touched at random,
        # so every page of them costs) start at about one slot per packet and double when half full
        self.ids = st.IdTable(2 * capacity)
        self.link_ids = st.IdTable(capacity)
        self.streams = ai.StreamState(nl, 2 * capacity)
        self.graph = lk.LinkGraph(nl, 2 * capacity, heavy_degree=heavy_degree)

    def update(self, h_src, h_dst, values, ts, lambdas, double_update, two, out, cols):
        n = len(ts)
        both = self.ids.ids(np.concatenate([h_src[:, 0], h_dst[:, 0]]), np.concatenate([h_src[:, 1], h_dst[:, 1]]))
        src, dst = both[:n], both[n:]
        link = self.link_ids.ids(*st.pair_hashes(src, dst))
        self.streams.ensure(len(self.ids))
        g = self.graph
        g.ensure(len(self.ids), len(self.link_ids))
        _await_background_compile()
        done = 0
        while done < n:  # the kernel stops when the log needs room; grow it and go on
            done, g.n_links, g.n_log, g.n_seq = lk.update_1d2d(
                self.streams.a, self.streams.ready, *g.arrays(), g.n_links, g.n_log, g.n_seq, g.heavy_degree,
                done, src, dst, link, values, ts, lambdas, double_update, two, out, cols,
            )
            if done < n:
                g.ensure(len(self.ids), len(self.link_ids), lk.LOG_BLOCK_MAX)


class _SimpleDB:
    def __init__(self, nl: int, capacity: int):
        self.ids = st.IdTable(capacity)
        self.streams = ai.StreamState(nl, capacity)

    def update(self, h, values, ts, lambdas, is_diff, from_epoch, two, out, cols):
        ids = self.ids.ids(h[:, 0], h[:, 1])
        self.streams.ensure(len(self.ids))
        ai.update_1d(self.streams.a, self.streams.ready, ids, values, ts, lambdas, is_diff, from_epoch, two, out, cols)


# On a fresh checkout numba compiles the extractor's kernels on first use: 22 s on a 2-core machine, 11 of
# them the link kernel (update_1d2d). compile_link_kernel_in_background() compiles that one into numba's
# cache in another process while this one simulates, decodes and hashes (compiling the rest); the first
# link update here waits for it and loads the kernel from the cache.
_BACKGROUND: list[subprocess.Popen] = []
_BACKGROUND_LOCK = threading.Lock()
BACKGROUND_COMPILE_TIMEOUT_S = 300.0  # then this process compiles the kernel itself


def compile_link_kernel_in_background() -> bool:
    """Start compiling the link kernel in another process if numba's cache holds no compiled copy of it for
    this source (a fresh checkout). Returns True if a process was started. Speed only: the kernel and the
    features are the same either way; any failure leaves the compiling to this process."""
    try:  # numba's own cache index; a numba without these internals just compiles here
        if lk.update_1d2d._cache._cache_file._load_index():
            return False
    except Exception:
        return False
    code = "from nidslab.features.extract import compile_link_kernel; compile_link_kernel()"
    try:
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    except OSError:
        return False
    with _BACKGROUND_LOCK:
        _BACKGROUND.append(proc)
    return True


def compile_link_kernel() -> None:
    """Compile the link kernel (and the id table's ``_assign``, ``pair_hashes``) for the argument types
    :meth:`FeatureExtractor.transform` passes, by one update on 64 made-up packets."""
    n = 64
    keys = np.random.default_rng(0).integers(1, 1 << 62, size=(n, 2, 2), dtype=np.uint64)
    lay = _layout("uci")
    out = np.empty((n, len(lay.columns)), np.float32)
    db = _LinkedDB(len(LAMBDAS), lk.HEAVY_DEGREE, 1024)  # room for every key: no _rehash (compiled by the caller)
    db.update(keys[:, 0], keys[:, 1], np.full(n, 60.0), np.arange(n, dtype=np.float64), LAMBDAS, lay.double_update,
              2.0 if lay.libm_square else 0.0, out, _column_maps(lay)[1])


def _await_background_compile() -> None:
    """Wait for a background compile of the link kernel, if one runs (compiling ``_rehash`` here first)."""
    if not _BACKGROUND:
        return
    with _BACKGROUND_LOCK:
        if not _BACKGROUND:
            return
        st.IdTable(2).ids(np.arange(4, dtype=np.uint64), np.arange(4, dtype=np.uint64))  # compiles _rehash
        proc = _BACKGROUND.pop()
        try:
            proc.wait(timeout=BACKGROUND_COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class FeatureExtractor:
    """Stateful AfterImage extractor: feed it packets in order, chunk by chunk.

    >>> fx = FeatureExtractor("uci")
    >>> for chunk in iter_packets("capture.pcap"):      # doctest: +SKIP
    ...     X = fx.transform(chunk)                      # float32 (len(chunk), 115)

    Statistics carry across calls, so a capture cut into chunks gives the same rows as whole.
    ``heavy_degree``: links beyond which a stream's inserts are logged and replayed lazily
    (:mod:`.links`); it changes speed only, never the rows. ``expected_packets``: packets the
    extractor will see, if known (a capture's record count): the state is allocated for that
    many once (zeroed, so the OS maps only the pages used) instead of doubling as streams appear,
    each doubling a copy and fresh pages to fault in. Speed only; more packets still fit.
    """

    def __init__(self, layout: str = "uci", *, heavy_degree: int = lk.HEAVY_DEGREE,
                 expected_packets: int | None = None):
        self.layout = _layout(layout)
        nl = len(LAMBDAS)
        self._cols = _column_maps(self.layout)
        cap = min(max(int(expected_packets or 0), 1024), _MAX_PRESIZE)
        self._mi = _SimpleDB(nl, cap)
        self._jit = _SimpleDB(nl, cap)
        self._hosts = _LinkedDB(nl, heavy_degree, cap)
        self._sockets = _LinkedDB(nl, heavy_degree, cap)
        self.packets_seen = 0

    @property
    def n_columns(self) -> int:
        return len(self.layout.columns)

    def transform(self, packets: Packets, out: np.ndarray | None = None) -> np.ndarray:
        """Features of ``packets`` (the next packets of the stream): float32 (n, n_columns).

        ``out``: optional float32 array of that shape to write into (returned).
        """
        lay = self.layout
        n = len(packets)
        if out is None:
            out = np.empty((n, self.n_columns), np.float32)
        if n == 0:
            return out
        ts = np.ascontiguousarray(packets.ts, np.float64)
        sizes = (packets.wire_len if lay.wire_size else packets.cap_len).astype(np.float64)
        h = st.packets_key_hashes(packets, text=lay.text_keys, channels=lay.channels)
        c_mi, c_hh, c_jit, c_hp = self._cols
        two = 2.0 if lay.libm_square else 0.0
        dbl = lay.double_update

        def hosts():  # the four databases are independent: two threads (the kernels drop the GIL)
            self._mi.update(h[:, st.K_MI], sizes, ts, LAMBDAS, False, False, two, out, c_mi)
            self._hosts.update(h[:, st.K_HOST_SRC], h[:, st.K_HOST_DST], sizes, ts, LAMBDAS, dbl, two, out, c_hh)

        def sockets():
            self._jit.update(h[:, st.K_JIT], sizes, ts, LAMBDAS, True, lay.jitter_from_epoch, two, out, c_jit)
            self._sockets.update(h[:, st.K_SOCK_SRC], h[:, st.K_SOCK_DST], sizes, ts, LAMBDAS, dbl, two, out, c_hp)

        pool = _workers() if n >= _PARALLEL_MIN else None
        if pool is not None:
            other = pool.submit(sockets)
            hosts()
            other.result()
        else:
            hosts()
            sockets()
        if lay.name == "uci":  # the released tables repeat MI_dir in the H columns
            out[:, _H_COLUMNS] = out[:, _MI_COLUMNS]
        self.packets_seen += n
        return out

    @property
    def n_streams(self) -> dict[str, int]:
        """Streams and links tracked so far, per database."""
        return {
            "mac_ip": len(self._mi.ids),
            "hosts": len(self._hosts.ids),
            "host_links": len(self._hosts.link_ids),
            "jitter": len(self._jit.ids),
            "sockets": len(self._sockets.ids),
            "socket_links": len(self._sockets.link_ids),
        }


def _warn(report: ReadReport) -> None:
    for msg in report.messages():
        warnings.warn(msg, CaptureWarning, stacklevel=3)


def iter_features(
    source: str | os.PathLike | Packets | Iterable[Packets],
    *,
    layout: str = "uci",
    chunk: int = DEFAULT_CHUNK,
    limit: int | None = None,
    report: ReadReport | None = None,
) -> Iterator[np.ndarray]:
    """Yield float32 feature rows chunk by chunk, for captures too big to hold or live traffic.

    ``source``: a capture path, a :class:`Packets` batch, or any iterable of :class:`Packets`
    batches in time order (e.g. from a live sniffer). Each yielded array has one row per
    packet of its chunk (malformed packets are skipped; ``report`` counts them).
    """
    fx = FeatureExtractor(layout)
    if isinstance(source, Packets):
        yield fx.transform(source)
        return
    if isinstance(source, (str, os.PathLike)):
        report = report if report is not None else ReadReport(str(source))
        yield from (fx.transform(p) for p in iter_packets(source, chunk=chunk, limit=limit, report=report))
        _warn(report)
        return
    for packets in source:
        yield fx.transform(packets)


def capture_extractor(capture: str | os.PathLike, layout: str = "uci",
                      limit: int | None = None) -> tuple[FeatureExtractor, int | None]:
    """A :class:`FeatureExtractor` sized for ``capture``, and its packets to read (its record count, at
    most ``limit``; None when the format has no cheap count). Counting raises the capture's errors
    (missing, not a capture) before any work."""
    total = count_records(capture)
    if total is not None and limit is not None:
        total = min(total, limit)
    return FeatureExtractor(layout, expected_packets=total), total


def extract_features(
    capture: str | os.PathLike,
    *,
    layout: str = "uci",
    limit: int | None = None,
    progress: Progress | None = None,
    chunk: int = DEFAULT_CHUNK,
    report: ReadReport | None = None,
) -> np.ndarray:
    """Kitsune features of every packet of a capture: float32 (n_packets, 115 or 100).

    ``layout``: ``"uci"`` (columns :data:`nidslab.schema.FEATURE_NAMES`) or ``"kitsune-py"``
    (the reference's 100 columns); see :func:`column_names`. ``limit``: read at most this many
    packets. ``progress(done, total, message)`` is called after each chunk. Malformed packets
    are skipped (no row; ``report.malformed_index`` or ``read_packets(capture).index`` maps rows
    back to capture positions) and a truncated file is read up to where it breaks: both are
    recorded in ``report`` (a :class:`ReadReport`, if given) and raised as :class:`CaptureWarning`.
    Raises FileNotFoundError, or :class:`nidslab.errors.DataError` for a file that is not a
    capture or whose link type is not Ethernet.
    """
    report = report if report is not None else ReadReport(str(capture))
    fx, total = capture_extractor(capture, layout, limit)
    parts: list[np.ndarray] = []
    out = np.empty((total, fx.n_columns), np.float32) if total is not None else None
    done = 0
    for packets in iter_packets(capture, chunk=chunk, limit=limit, report=report):
        n = len(packets)
        if out is not None:
            fx.transform(packets, out[done : done + n])
        else:
            parts.append(fx.transform(packets))
        done += n
        if progress is not None:
            progress(report.packets, total, f"{done:,} packets")
    _warn(report)
    if out is None:
        return np.concatenate(parts) if parts else np.empty((0, fx.n_columns), np.float32)
    return out[:done] if done < len(out) else out
