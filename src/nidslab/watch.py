"""Live scoring: read a capture as it is written (a growing file, a pipe), score every packet.

The loop works in chunks of whatever has arrived (up to :data:`~nidslab.features.follow.CHUNK`
packets): read the new bytes, parse the complete records in bulk, extend the AfterImage
statistics (one :class:`~nidslab.features.FeatureExtractor` for the whole stream, never
re-reading), score the rows, yield them. A :class:`~nidslab.scorers.Scorer` turns features into
(n,) scores (:mod:`nidslab.scorers`: a saved DNN, a saved KitNET).

>>> scorer = DNNScorer(load_model("models/m1"))                     # doctest: +SKIP
>>> w = Watcher("capture.pcap", scorer, threshold=0.5, follow=True)  # doctest: +SKIP
>>> for chunk in w:                                                  # doctest: +SKIP
...     out.write(jsonl(chunk))
>>> w.stats.packets, w.stats.latency_percentiles()                   # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from nidslab.errors import ConfigError
from nidslab.features.extract import FeatureExtractor
from nidslab.features.follow import CHUNK, READ_SIZE, StreamParser, iter_reads
from nidslab.operating_points import DEFAULT_TARGET_FPR
from nidslab.progress import Progress
from nidslab.scorers import Scorer



@dataclass
class ScoredChunk:
    """The packets scored in one step (n of them).

    index: int64 (n,) record position in the capture (from 0); time: float64 (n,) capture
    timestamp, seconds since the epoch; score: (n,) float; alert: bool (n,) score >= threshold
    (score > threshold for a scorer with ``strict`` set, as KitNET's);
    arrived: clock time (``time.perf_counter()``) of the read that brought the chunk's first byte.
    With a watcher made with ``hosts=True``: host: int32 (n,) source host ids (:attr:`Watcher.hosts`),
    packets: the decoded :class:`~nidslab.features.Packets`; with ``keep_features=True``: features,
    the (n, columns) rows scored. scored_from: rows before it were taken for calibration
    (``calibrate_s``), not scored (score NaN, no alert). With hosts: peer, accepts, outside: the contact
    rule's inputs (:func:`nidslab.contacts.packet_contacts`).
    """

    index: np.ndarray
    time: np.ndarray
    score: np.ndarray
    alert: np.ndarray
    arrived: float
    host: np.ndarray | None = None
    packets: object | None = None
    features: np.ndarray | None = None
    scored_from: int = 0
    peer: np.ndarray | None = None
    accepts: np.ndarray | None = None
    outside: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.index)


@dataclass
class WatchStats:
    """Running totals of a watch; ``latencies``: seconds from a chunk's first byte being read to
    its scores being handed on and the consumer coming back for more (one per chunk);
    ``seconds_in``: time spent parsing records, extracting features and scoring."""

    started: float = field(default_factory=time.perf_counter)
    packets: int = 0
    alerts: int = 0
    bytes: int = 0
    chunks: int = 0
    last_alert: tuple[int, float, float] | None = None  # (index, capture time, score)
    latencies: list[float] = field(default_factory=list)
    ended: str | None = None  # why the watch stopped: "end of input", "idle timeout", "stopped"
    truncated: str | None = None  # the input ended inside a record (message), or None
    finished: float | None = None
    seconds_in: dict[str, float] = field(default_factory=lambda: {"parse": 0.0, "features": 0.0, "score": 0.0})

    @property
    def elapsed(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    @property
    def rate(self) -> float:
        """Packets per second since the start (wall clock)."""
        return self.packets / self.elapsed if self.elapsed > 0 else 0.0

    def latency_percentiles(self, qs=(50, 90, 99, 100)) -> dict[str, float]:
        """Per-chunk latency percentiles in seconds, keyed ``p50``, ``p90``, ... (``p100`` = max)."""
        if not self.latencies:
            return {}
        vals = np.percentile(np.asarray(self.latencies), qs)
        return {f"p{q}": float(v) for q, v in zip(qs, vals)}

    def to_dict(self) -> dict:
        return {"packets": self.packets, "alerts": self.alerts, "bytes": self.bytes, "chunks": self.chunks,
                "seconds": self.elapsed, "packets_per_s": self.rate, "last_alert": self.last_alert,
                "latency_s": self.latency_percentiles(), "seconds_in": dict(self.seconds_in), "ended": self.ended,
                "truncated": self.truncated}


class Watcher:
    """Iterate over :class:`ScoredChunk` of a capture as it grows; totals in :attr:`stats`.

    ``source``: a capture path, or a file descriptor of a pipe (``sys.stdin.fileno()``).
    ``threshold``: alert when score >= it (> it if ``scorer.strict``). ``follow``: for a file, wait for more at its end
    (ends on ``stop()`` or ``idle_timeout`` seconds without new bytes). ``chunk``: most packets
    per step. ``stop()``: asked after each chunk and between reads; true ends the watch cleanly
    after the chunk in hand (bytes read but not scored yet are dropped). ``progress(done, None, message)``: after each chunk and every ``poll`` s while idle.
    Iterating raises :class:`DataError` for input that is not an Ethernet capture.
    ``hosts``: tag each packet with its source host (:class:`~nidslab.incidents.HostTable` in
    :attr:`hosts`) and hand the packets on, for incidents. ``keep_features``: hand the feature rows on
    (for reasons). ``calibrate_s``: take the packets of the first that many seconds (capture time) as
    the site's benign baseline, without alerting; then re-fit the scorer on them (its ``calibrated``
    method, :mod:`nidslab.calibrate`) and alert at its threshold for ``calibrate_fpr``;
    :attr:`calibration` holds what was fitted (None before).
    """

    def __init__(self, source: str | os.PathLike | int, scorer: Scorer, *, threshold: float, follow: bool = False,
                 idle_timeout: float | None = None, poll: float = 0.05, chunk: int = CHUNK,
                 read_size: int = READ_SIZE, stop: Callable[[], bool] | None = None,
                 progress: Progress | None = None, hosts: bool = False, keep_features: bool = False,
                 calibrate_s: float | None = None, calibrate_fpr: float = DEFAULT_TARGET_FPR):
        self.source = source
        self.name = f"fd {source}" if isinstance(source, int) else str(source)
        if isinstance(source, int) and source == 0:
            self.name = "stdin"
        self.scorer = scorer
        self.threshold = float(threshold)
        self._strict = bool(getattr(scorer, "strict", False))
        self.follow = follow
        self.idle_timeout = idle_timeout
        self.poll = poll
        self.read_size = read_size
        self._stop = stop or (lambda: False)
        self.progress = progress
        self.parser = StreamParser(self.name, chunk=chunk)
        self.extractor = FeatureExtractor(getattr(scorer, "layout", "uci"))
        self.stats = WatchStats()
        self.hosts = None
        if hosts:
            from nidslab.incidents import HostTable

            self.hosts = HostTable()
        self.keep_features = keep_features
        if calibrate_s is not None and not calibrate_s > 0:
            raise ValueError(f"calibrate_s must be > 0 seconds, got {calibrate_s}")
        self.calibrate_s = calibrate_s
        self.calibrate_fpr = calibrate_fpr
        self.calibration = None
        self.calibration_baseline: np.ndarray | None = None  # mean (columns,) float64 of the calibration rows
        self._sample = None
        self._calibrate_until: float | None = None
        if calibrate_s is not None:
            from nidslab.calibrate import CalibrationSample

            self._sample = CalibrationSample()

    def warm_up(self) -> None:
        """Load the compiled kernels (parser, features, scorer) on a throwaway packet, so the first
        packets of the stream do not wait for them; the watch's own state is left untouched."""
        frame = bytes(12) + b"\x08\x00" + bytes([0x45]) + bytes(8) + bytes([17]) + bytes(10) + bytes(8)
        head = (0xA1B2C3D4).to_bytes(4, "little") + bytes(16) + (1).to_bytes(4, "little")
        rec = bytes(8) + len(frame).to_bytes(4, "little") * 2 + frame
        parser = StreamParser("warm-up")
        parser.feed(head + rec)
        packets = parser.packets()
        assert packets is not None, "the warm-up record decodes to one packet"
        X = FeatureExtractor(self.extractor.layout.name).transform(packets)
        warm = getattr(self.scorer, "warm_up", None)
        if warm is not None:
            warm(X)

    def __iter__(self) -> Iterator[ScoredChunk]:
        self.warm_up()
        st = self.stats
        st.started = time.perf_counter()
        reads = iter_reads(self.source, follow=self.follow, idle_timeout=self.idle_timeout, poll=self.poll,
                           stop=self._stop, read_size=self.read_size)
        try:
            for read in reads:
                if read.ended:
                    st.ended = read.ended
                    break
                self.parser.feed(read.data, read.arrived)
                st.bytes += len(read.data)
                while True:
                    t0 = time.perf_counter()
                    packets = self.parser.packets()
                    st.seconds_in["parse"] += time.perf_counter() - t0
                    if packets is None:
                        break
                    if len(packets) == 0:  # every record of the step was malformed
                        continue
                    chunk = self._score(packets)
                    yield chunk
                    st.latencies.append(time.perf_counter() - chunk.arrived)
                    self._report()
                    if self._stop():  # leave the rest of a backlog unscored
                        break
                if not read.data:
                    self._report()
        finally:
            st.finished = time.perf_counter()
        if st.ended != "stopped":
            st.truncated = self.parser.close_message()

    @property
    def calibrating(self) -> bool:
        """True while the watch is still taking in its calibration baseline."""
        return self._sample is not None and self.calibration is None

    def _calibrate(self, X, packets, host) -> int:
        """Take the chunk's rows inside the calibration window; calibrate when it is over. Returns the
        first row to score."""
        ts = packets.ts
        sample = self._sample
        assert sample is not None and self.calibrate_s is not None, "called only while calibrating"
        if self._calibrate_until is None:
            self._calibrate_until = float(ts[0]) + float(self.calibrate_s)
        after = np.flatnonzero(ts >= self._calibrate_until)
        k = int(after[0]) if after.size else len(ts)
        names = np.asarray(self.hosts.names, dtype=object)[host[:k]] if host is not None and self.hosts else None
        sample.add(X[:k], ts[:k], names)
        if k < len(ts):
            self._finish_calibration()
        return k

    def _finish_calibration(self) -> None:
        fit = getattr(self.scorer, "calibrated", None)
        if fit is None:
            raise ConfigError(f"{self.scorer.name} cannot be calibrated to the site")
        sample = self._sample
        assert sample is not None, "called once, at the end of the calibration window"
        seen = sample.describe()
        self.scorer, self.threshold, self.calibration = fit(sample.rows(), self.calibrate_fpr,
                                                            source=f"the first {self.calibrate_s:g} s of {self.name}")
        record = getattr(self.calibration, "record", self.calibration)
        if isinstance(record, dict):
            record.update(seen)
        self._strict = bool(getattr(self.scorer, "strict", False))
        rows = sample.rows()
        self.calibration_baseline = rows.mean(axis=0, dtype=np.float64) if len(rows) else None  # for reasons
        self._sample = None  # free the rows

    def _score(self, packets) -> ScoredChunk:
        st = self.stats
        host = None
        contacts: tuple = (None, None, ())
        if self.hosts is not None:
            from nidslab.contacts import packet_contacts

            t0 = time.perf_counter()
            host = self.hosts.ids(packets)
            contacts = packet_contacts(packets, self.hosts)
            st.seconds_in["hosts"] = st.seconds_in.get("hosts", 0.0) + time.perf_counter() - t0
        t0 = time.perf_counter()
        X = self.extractor.transform(packets)
        t1 = time.perf_counter()
        start = self._calibrate(X, packets, host) if self.calibrating else 0
        if start:
            scores = np.full(len(packets), np.nan, np.float32)
            if start < len(packets):
                scores[start:] = self.scorer.score(X[start:])
        else:
            scores = np.asarray(self.scorer.score(X))
        st.seconds_in["features"] += t1 - t0
        st.seconds_in["score"] += time.perf_counter() - t1
        alert = scores > self.threshold if self._strict else scores >= self.threshold
        st.packets += len(packets)
        st.chunks += 1
        n_alerts = int(np.count_nonzero(alert))
        if n_alerts:
            st.alerts += n_alerts
            i = int(np.flatnonzero(alert)[-1])
            st.last_alert = (int(packets.index[i]), float(packets.ts[i]), float(scores[i]))
        arrived = self.parser.oldest_arrival
        assert arrived is not None, "a chunk's packets came from a read"
        return ScoredChunk(packets.index, packets.ts, scores, alert, arrived, host=host,
                           packets=packets if host is not None else None,
                           features=X if self.keep_features else None, scored_from=start, peer=contacts[0],
                           accepts=contacts[1], outside=contacts[2])

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.stats.packets, None, f"{self.stats.packets:,} packets, {self.stats.alerts:,} alerts")


def jsonl(chunk: ScoredChunk) -> bytes:
    """The chunk as JSON lines, one per packet: ``{"time": t, "index": i, "score": s, "alert": b}``.

    Formatted column-wise by PyArrow (shortest round-trip floats; a NaN score becomes null).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(chunk)
    if n == 0:
        return b""

    def text(values, finite: bool = True) -> pa.Array:
        arr = pa.array(values)
        s = pc.cast(arr, pa.string())
        return s if finite else pc.if_else(pc.is_finite(arr), s, pa.scalar("null"))

    alert = pc.if_else(pa.array(chunk.alert), pa.scalar("true"), pa.scalar("false"))
    lines = pc.binary_join_element_wise(
        '{"time": ', text(chunk.time), ', "index": ', text(chunk.index), ', "score": ', text(chunk.score, bool(np.isfinite(chunk.score).all())),
        ', "alert": ', alert, "}\n", "")
    offsets = np.frombuffer(lines.buffers()[1], np.int32, n + 1, lines.offset * 4)
    data = lines.buffers()[2]
    return data.to_pybytes()[offsets[0]:offsets[-1]]


class UnflaggedMean:
    """The running mean of the rows a watch did not flag so far, at a bounded cost per chunk.

    A chunk of up to ``rows_per_chunk`` rows adds every unflagged row. A larger one (a backlog read at once) adds
    the unflagged rows among every s-th row (s = ceil(n / ``rows_per_chunk``), evenly spaced in time), each
    counted s times: a systematic sample, the same mean in expectation, for the cost of ``rows_per_chunk``
    rows. Memory: two (columns,) float64 vectors, and small chunks waiting to be summed (fewer than
    ``rows_per_chunk`` rows, held by reference); deterministic; rows are summed in their own precision
    (float32 rows: to ~1e-6 relative). It replaced a seeded 8,192-row reservoir
    sample whose upkeep (~60 us per small chunk, a random number per row) cost as much as the explaining in a
    paced watch (benchmarks/README.md, watch section); the reservoir's rows were only ever used for their mean.
    """

    def __init__(self, rows_per_chunk: int = 1_024):
        if rows_per_chunk < 1:
            raise ValueError(f"rows_per_chunk must be at least 1, got {rows_per_chunk}")
        self.rows_per_chunk = int(rows_per_chunk)
        self._seen = 0  # unflagged rows offered
        self._summed = 0  # of them, the rows added to the sum
        self._sum: np.ndarray | None = None
        self._weight = 0
        self._mean: np.ndarray | None = None  # read-only, the same array until the next rows come in
        self._waiting: list[tuple[np.ndarray, np.ndarray]] = []  # small chunks not summed yet
        self._waiting_rows = 0

    def add(self, X: np.ndarray, keep: np.ndarray) -> None:
        """Offer the rows of ``X`` (n, columns) where ``keep`` (n,) bool is true.

        A chunk of up to ``rows_per_chunk`` rows waits (by reference: do not change the arrays after) and is
        summed with the others waiting when the mean is next asked for or ``rows_per_chunk`` rows wait: a
        paced watch's small chunks then cost one append each and one product per explain call, not one each.
        """
        if len(X) > self.rows_per_chunk:
            self._sum_rows(X, keep)
            return
        self._waiting.append((X, keep))
        self._waiting_rows += len(X)
        if self._waiting_rows >= self.rows_per_chunk:
            self._sum_waiting()

    def _sum_waiting(self) -> None:
        if not self._waiting:
            return
        if len(self._waiting) == 1:
            X, keep = self._waiting[0]
        else:
            X = np.concatenate([x for x, _ in self._waiting])
            keep = np.concatenate([k for _, k in self._waiting])
        self._waiting, self._waiting_rows = [], 0
        self._sum_rows(X, keep, step=1)  # small chunks: every row

    def _sum_rows(self, X: np.ndarray, keep: np.ndarray, step: int | None = None) -> None:
        self._seen += int(np.count_nonzero(keep))
        step = -(-len(X) // self.rows_per_chunk) if step is None else step
        if step > 1:
            X, keep = X[::step], keep[::step]
        k = int(np.count_nonzero(keep))
        if k == 0:
            return
        # one BLAS product (4 us for a paced chunk, against 15 us for selecting the rows and summing them);
        # the rows' sum in their precision (float32: ~1e-6 relative), the running sum in float64
        total = keep.astype(X.dtype) @ X
        if self._sum is None:
            self._sum = np.zeros(X.shape[1], np.float64)
        self._sum += total * step
        self._weight += k * step
        self._summed += k
        self._mean = None

    @property
    def seen(self) -> int:
        """Unflagged rows offered so far."""
        self._sum_waiting()
        return self._seen

    @property
    def summed(self) -> int:
        """Of them, the rows in the sum (all of them, but for the evenly spaced ones of large chunks)."""
        self._sum_waiting()
        return self._summed

    def __len__(self) -> int:
        return self.summed

    def mean(self) -> np.ndarray | None:
        """Mean (columns,) float64 of the unflagged rows so far (read-only; the same array until rows are added);
        None before the first."""
        self._sum_waiting()
        if self._sum is None:
            return None
        if self._mean is None:
            self._mean = self._sum / self._weight
            self._mean.flags.writeable = False
        return self._mean


class LiveReasons:
    """Reasons for a watch's incident events: ``reasons(X_rows) -> list[list[dict]]`` (the
    :class:`~nidslab.incidents.IncidentTracker`'s ``explain``), with :func:`nidslab.explain.explainer_for`.

    Reads ``watcher.scorer`` at each call (``calibrate_s`` replaces it mid-watch) and compares with:

    - ``baseline`` rows (m, columns) of the site's benign traffic when given (``watch --baseline FILE``);
    - ``"calibration"`` (the default for a watcher that calibrates): the mean of its calibration rows
      (:attr:`Watcher.calibration_baseline`);
    - ``"unflagged"`` (the default otherwise): the running mean of the rows the watch did not flag so far
      (:class:`UnflaggedMean`), fed by :meth:`observe` for every chunk (before the tracker sees it).

    A KitNET still in its grace periods gives no reasons (``[]`` per row): it explains only once trained.
    Time spent here adds up in ``watcher.stats.seconds_in["reasons"]``; :attr:`rows` counts the rows explained.
    """

    def __init__(self, watcher: Watcher, *, baseline: np.ndarray | str | None = None, top: int = 3,
                 steps: int | None = None, rows_per_chunk: int = 1_024):
        from nidslab.explain import DEFAULT_STEPS

        self.watcher = watcher
        self.top = top
        self.steps = DEFAULT_STEPS if steps is None else steps
        if baseline is None:
            baseline = "calibration" if watcher.calibrate_s is not None else "unflagged"
        mode = baseline if isinstance(baseline, str) else "rows"
        if mode not in ("unflagged", "calibration", "rows"):
            raise ConfigError(f"baseline must be benign rows, 'unflagged' or 'calibration'; got {baseline!r}")
        if mode == "calibration" and watcher.calibrate_s is None:
            raise ConfigError("the calibration baseline needs a watcher that calibrates (calibrate_s)")
        self.fixed = np.asarray(baseline) if mode == "rows" else None
        self.unflagged = UnflaggedMean(rows_per_chunk) if mode == "unflagged" else None
        self.rows = 0
        self.calls = 0
        self.baseline_s = 0.0  # of seconds_in["reasons"], the running baseline's upkeep (the rest: explaining)
        self._cache: tuple | None = None  # (scorer, its explain_rows, no KitNET training to wait for)

    @property
    def kind(self) -> str:
        """Which baseline is in use: ``"file"``, ``"calibration"`` or ``"unflagged"``."""
        return "file" if self.fixed is not None else "unflagged" if self.unflagged is not None else "calibration"

    def observe(self, chunk: ScoredChunk) -> None:
        """Take the chunk's scored, unflagged rows into the running mean (a no-op for other baselines)."""
        if self.unflagged is None or chunk.features is None:
            return
        t0 = time.perf_counter()
        keep = ~chunk.alert
        if chunk.scored_from:
            keep[:chunk.scored_from] = False
        self.unflagged.add(chunk.features, keep)
        spent = time.perf_counter() - t0
        self.baseline_s += spent
        self._add_time(spent)

    def _add_time(self, seconds: float) -> None:
        busy = self.watcher.stats.seconds_in
        busy["reasons"] = busy.get("reasons", 0.0) + seconds

    def _baseline(self) -> np.ndarray | None:
        if self.fixed is not None:
            return self.fixed
        if self.unflagged is not None:
            return self.unflagged.mean()
        return self.watcher.calibration_baseline

    def _explainer(self):
        scorer = self.watcher.scorer
        cache = self._cache
        if cache is not None and cache[0] is scorer and cache[2]:  # a network's: nothing to check per call
            return cache[1]
        from nidslab.explain import explainer_for

        kit = getattr(scorer, "kitnet", None)
        if kit is not None and not kit.trained:
            return None
        if self._cache is None or self._cache[0] is not scorer:  # one per scorer; the baseline is asked per call
            base = self.fixed if self.fixed is not None else self._baseline
            self._cache = (scorer, explainer_for(scorer, base, top=self.top, steps=self.steps), kit is None)
        return self._cache[1]

    def __call__(self, X_rows: np.ndarray) -> list[list[dict]]:
        t0 = time.perf_counter()
        try:
            explain = self._explainer()
            if explain is None:
                return [[] for _ in range(len(X_rows))]
            self.calls += 1
            self.rows += len(X_rows)
            if not getattr(explain, "uses_torch", False):  # KitNET, or a network explained in NumPy
                return explain(X_rows)
            from nidslab.threads import torch_threads

            # a few rows: on the scorer's threads (1), as a pool's hand-offs cost more than the matmuls
            with torch_threads(getattr(self.watcher.scorer, "threads", 1)):
                return explain(X_rows)
        finally:
            self._add_time(time.perf_counter() - t0)

    def warm_up(self) -> None:
        """Import the attribution code (Captum: about a second) and explain one throwaway row, so the first
        incident does not wait for it; nothing is counted, the baseline is untouched."""
        scorer = self.watcher.scorer
        kit = getattr(scorer, "kitnet", None)
        if kit is not None and not kit.trained:
            return
        from nidslab.explain import explainer_for

        width = 100 if self.watcher.extractor.layout.name == "kitsune-py" else 115
        row = np.zeros((1, width), np.float32) if self.fixed is None else np.asarray(self.fixed[:1])
        explainer_for(scorer, row, top=self.top, steps=self.steps)(row)
        self._explainer()  # the watch's own explainer (the model's columns, standardiser, layers) made now

    def describe(self) -> str:
        """The baseline in words, for the summary."""
        if self.fixed is not None:
            return f"{len(self.fixed):,} benign rows given"
        if self.unflagged is not None:
            u = self.unflagged
            return (f"the running mean of the {u.seen:,} packets not flagged so far"
                    + (f" ({u.summed:,} of them summed: evenly spaced ones of large chunks)" if u.summed < u.seen else ""))
        return "the calibration rows"


__all__ = ["LiveReasons", "ScoredChunk", "UnflaggedMean", "WatchStats", "Watcher", "jsonl"]
