"""`nidslab watch`: score the packets of a growing capture or a pcap stream on stdin, live."""

from __future__ import annotations

import collections
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import BinaryIO

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

import numpy as np

from nidslab.cli.common import CONTACTS, INCIDENT_GAP
from nidslab.contacts import rule_inputs
from nidslab.errors import ConfigError, DataError
from nidslab.operating_points import DEFAULT_TARGET_FPR, PROBABILITY_THRESHOLD

err = Console(stderr=True)


def watch_cmd(
    model_dir: Path = typer.Argument(..., help="Model folder written by `nidslab train` (with --kitnet: a "
                                               "saved KitNET, its folder or .npz)."),
    source: str = typer.Argument(..., help="A pcap/pcapng file (followed as it grows), or - for a stream on "
                                           "stdin (`tcpdump -w - | nidslab watch MODEL -`)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write the JSON lines here (default: stdout)."),
    kitnet: bool = typer.Option(False, "--kitnet", help="MODEL is a saved KitNET (nidslab.detect); scores are "
                                                        "its RMSEs."),
    threshold: float = typer.Option(None, "--threshold", help="Alert threshold (DNN: a probability, "
                                                              f"alert at or above it, default {PROBABILITY_THRESHOLD:g}; "
                                                              "KitNET: an RMSE, alert above it, default the one it "
                                                              "stores)."),
    target_fpr: float = typer.Option(None, "--target-fpr", help="Alert at the threshold the model folder stores "
                                                                "for this false-positive rate."),
    follow: bool = typer.Option(True, "--follow/--no-follow", help="For a file: keep waiting at its end "
                                                                   "(tail -f), or stop there."),
    idle_timeout: float = typer.Option(None, "--idle-timeout", min=0, help="Stop after this many seconds "
                                                                           "without new bytes."),
    chunk: int = typer.Option(65_536, "--chunk", min=1, help="Most packets scored per step."),
    live: bool = typer.Option(True, "--live/--quiet", help="Live summary on stderr, or the final one only."),
    emit: str = typer.Option("incidents", "--emit", help="What to write: incidents (open / update / close "
                             "events per source host), packets (one line per packet; with --format eve, one "
                             "event per alerting packet) or both."),
    fmt: str = typer.Option("json", "--format", help="json (nidslab's JSON lines) or eve (Suricata EVE JSON "
                            "alert events, for Filebeat's suricata module, Wazuh, Splunk; see docs/incidents.md)."),
    gap: float = INCIDENT_GAP,
    contacts: bool = CONTACTS,
    calibrate_for: str = typer.Option(None, "--calibrate", help="Learn the site's baseline from the first "
                                      "DURATION of traffic (capture time: 90s, 10m, 1h) before alerting: re-fit "
                                      f"the standardiser and the threshold for --target-fpr (default {DEFAULT_TARGET_FPR:g})."),
    save_calibrated: Path = typer.Option(None, "--save-calibrated", help="With --calibrate and a DNN: also write "
                                         "the calibrated model folder here (reuse it with `nidslab watch`)."),
    reasons: bool = typer.Option(True, "--reasons/--no-reasons", help="Give each incident event the features that "
                                 "pushed its peak packet's score most, in words (one explained packet per open, "
                                 "close and, every --reexplain seconds, new peak; see docs/incidents.md)."),
    baseline: str = typer.Option(None, "--baseline", help="The site's normal traffic that reasons compare against: "
                                 "'unflagged' (default: the running mean of the packets not flagged so far), "
                                 "'calibration' (default with --calibrate: its rows), or a benign features file or "
                                 "capture (as `nidslab predict --baseline`)."),
    explain_top: int = typer.Option(3, "--explain-top", min=1, help="Reasons per incident event."),
    reexplain: float = typer.Option(None, "--reexplain", min=0, help="Capture seconds after the packet an open "
                                    "incident's reasons explain before a higher peak is explained again (its open "
                                    "and its close are always explained; 0: every higher peak; default: "
                                    "nidslab.incidents.DEFAULT_REEXPLAIN_S, 60)."),
) -> None:
    """Score every packet of SOURCE as it arrives; write incident events per source host (or one
    JSON line per packet with --emit packets) and keep a live summary on stderr. Ctrl-C stops cleanly.

    Exit code 0 when the input ended, went idle or was stopped; 1 when it ended inside a record
    (the scores before it are kept); 2 for bad input or options.
    """
    from nidslab.watch import Watcher

    if emit not in EMITS:
        raise ConfigError(f"--emit must be one of {', '.join(EMITS)}, got {emit!r}")
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    calibrate_s = parse_duration(calibrate_for) if calibrate_for is not None else None
    if save_calibrated is not None and (calibrate_s is None or kitnet):
        raise ConfigError("--save-calibrated needs --calibrate and a DNN model folder")
    scorer = _scorer(model_dir, kitnet)
    if calibrate_s is not None:
        if threshold is not None:
            raise ConfigError("--calibrate picks the threshold from the site's traffic: give --target-fpr, not "
                              "--threshold")
        target_fpr = DEFAULT_TARGET_FPR if target_fpr is None else target_fpr
        if not 0 < target_fpr < 1:
            raise ConfigError(f"--target-fpr must be a rate in (0, 1), got {target_fpr}")
        thr = float("inf")  # nothing alerts until the baseline is learnt
    else:
        thr = _threshold(scorer, threshold, target_fpr)
    if source == "-":
        src: int | Path = sys.stdin.fileno()
    else:
        src = Path(source)
        if not src.exists():
            raise DataError(f"{src}: no such capture (start the writer first, or read a stream with -)")
    if out is not None:
        from nidslab.paths import refuse_output_is_input

        refuse_output_is_input(out, None if source == "-" else src)
    stopping = {"flag": False}
    incidents = emit in ("incidents", "both")
    watcher = Watcher(src, scorer, threshold=thr, follow=follow, idle_timeout=idle_timeout, chunk=chunk,
                      stop=lambda: stopping["flag"], hosts=incidents or fmt == "eve",
                      calibrate_s=calibrate_s, calibrate_fpr=target_fpr if target_fpr is not None else DEFAULT_TARGET_FPR)
    tracker = None
    if incidents:
        from nidslab.incidents import DEFAULT_GAP_S, DEFAULT_REEXPLAIN_S, IncidentTracker

        tracker = IncidentTracker(gap_s=DEFAULT_GAP_S if gap is None else gap, host_names=watcher.hosts.names,
                                  reexplain_s=DEFAULT_REEXPLAIN_S if reexplain is None else reexplain,
                                  keep_closed=False,
                                  explain=_explainer(watcher, baseline, explain_top) if reasons else None)
        watcher.keep_features = tracker.explain is not None
        if tracker.explain is not None:
            tracker.explain.warm_up()
    elif baseline is not None:
        raise ConfigError("--baseline is for the reasons of incident events: it needs --emit incidents or both")
    # the output is opened at the first scores, so input that is not a capture leaves an existing file as it was
    sink = _OpenOnWrite(out) if out is not None else sys.stdout.buffer
    rates = _RecentRate()

    def on_sigint(signum, frame):
        stopping["flag"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C interrupts at once

    old = signal.signal(signal.SIGINT, on_sigint)
    display = Live(get_renderable=lambda: _live_table(watcher, watcher.threshold, rates, tracker), console=err,
                   refresh_per_second=4, transient=True) if live and err.is_terminal else contextlib.nullcontext()
    writer = EventWriter(emit, fmt, detector=scorer.name)
    try:
        with display:
            _run(watcher, sink, rates, tracker, writer, contacts=contacts)
        if out is not None:
            sink.write(b"")  # the input was a capture, though perhaps without packets: the file exists
    finally:
        signal.signal(signal.SIGINT, old)
        if out is not None:
            sink.close()
        else:
            with contextlib.suppress(BrokenPipeError):
                sink.flush()
    err.print(_final_table(watcher, watcher.threshold, out, tracker))
    if calibrate_s is not None and watcher.calibration is None:
        err.print(f"[yellow]warning:[/] the input ended inside the {calibrate_s:g} s calibration window "
                  f"({watcher.stats.packets:,} packets): nothing was scored", highlight=False)
    elif save_calibrated is not None and watcher.calibration is not None:
        from nidslab.calibrate import save_calibrated as save

        err.print(f"calibrated model written to {save(watcher.calibration, save_calibrated)}")
    if watcher.stats.truncated:
        err.print(f"[yellow]warning:[/] {watcher.stats.truncated}", highlight=False)
        raise typer.Exit(1)


class _OpenOnWrite:
    """A file opened for writing ("wb") at the first write, not before."""

    def __init__(self, path: Path):
        self.path = path
        self.fh: BinaryIO | None = None

    def write(self, data: bytes) -> int:
        if self.fh is None:
            self.fh = open(self.path, "wb")  # noqa: SIM115 - closed by close()
        return self.fh.write(data)

    def flush(self) -> None:
        if self.fh is not None:
            self.fh.flush()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def _explainer(watcher, baseline: str | None, top: int):
    """The reasons callable of incident events (:class:`nidslab.watch.LiveReasons`: reads ``watcher.scorer``
    at each call, as ``--calibrate`` replaces it mid-watch), against ``baseline`` ('unflagged', 'calibration',
    a benign features file or capture; None: calibration rows with --calibrate, else unflagged)."""
    from nidslab.watch import LiveReasons

    if baseline is None or baseline in ("unflagged", "calibration"):
        if baseline == "calibration" and watcher.calibrate_s is None:
            raise ConfigError("--baseline calibration needs --calibrate DURATION")
        return LiveReasons(watcher, baseline=baseline, top=top)
    from nidslab.explain import baseline_rows

    path = Path(baseline)
    if not path.exists():
        raise DataError(f"--baseline {baseline!r}: no such file, and not 'unflagged' or 'calibration' (for the "
                        "site's first minutes, use --calibrate DURATION)")
    rows = baseline_rows(str(path), np.zeros((0, 0)), source=str(path), layout=watcher.extractor.layout.name)
    scorer = watcher.scorer
    kit = getattr(scorer, "kitnet", None)
    if kit is None or kit.trained:  # check the columns now, not at the first incident
        from nidslab.explain import explainer_for

        explainer_for(scorer, rows)
    return LiveReasons(watcher, baseline=rows, top=top)


EMITS = ("incidents", "packets", "both")
FORMATS = ("json", "eve")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """Seconds of a duration written ``600``, ``90s``, ``10m``, ``1.5h`` or ``1d``; ConfigError otherwise."""
    t = text.strip().lower()
    unit = _UNITS.get(t[-1:], None)
    number = t[:-1] if unit is not None else t
    try:
        value = float(number) * (unit or 1.0)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"--calibrate takes a duration such as 90s, 10m or 1h; got {text!r}")
    return value


class EventWriter:
    """The bytes to write for a chunk: packet lines and/or incident events, as nidslab JSON or EVE."""

    def __init__(self, emit: str, fmt: str, *, detector: str):
        self.packets = emit in ("packets", "both")
        self.fmt = fmt
        self.detector = detector

    def chunk(self, chunk, threshold: float) -> bytes:
        if not self.packets:
            return b""
        from nidslab.watch import ScoredChunk, jsonl

        start = chunk.scored_from
        if self.fmt == "json":
            if start:
                chunk = ScoredChunk(chunk.index[start:], chunk.time[start:], chunk.score[start:],
                                    chunk.alert[start:], chunk.arrived)
            return jsonl(chunk)
        from nidslab.eve import dumps, packet_event
        from nidslab.incidents import flow_fields

        rows = np.flatnonzero(chunk.alert)
        flows = flow_fields(chunk.packets, rows)
        return "".join(dumps(packet_event(float(chunk.time[r]), int(chunk.index[r]), float(chunk.score[r]), f,
                                          detector=self.detector, threshold=threshold)) + "\n"
                       for r, f in zip(rows.tolist(), flows)).encode()

    def events(self, events, threshold: float) -> bytes:
        if not events:
            return b""
        if self.fmt == "eve":
            from nidslab.eve import dumps, incident_event

            return "".join(dumps(incident_event(e, detector=self.detector, threshold=threshold)) + "\n"
                           for e in events).encode()
        return "".join(json.dumps(e.to_dict(), allow_nan=False) + "\n" for e in events).encode()


def _run(watcher, sink, rates, tracker=None, writer: EventWriter | None = None, *, contacts: bool = True) -> None:
    from nidslab.watch import jsonl

    def put(data: bytes) -> bool:
        try:
            if data:
                sink.write(data)
                sink.flush()  # a line is only reported once it is out
        except BrokenPipeError:  # the reader went away (`| head`): stop as if interrupted
            watcher.stats.ended = "output closed"
            return False
        return True

    for chunk in watcher:
        if writer is None:
            data = jsonl(chunk)
        else:
            data = writer.chunk(chunk, watcher.threshold)
            if tracker is not None and not watcher.calibrating:
                observe = getattr(tracker.explain, "observe", None)
                if observe is not None:  # the running baseline takes this chunk's unflagged packets first
                    observe(chunk)
                data += writer.events(tracker.update(chunk.time, chunk.host, chunk.score, chunk.alert,
                                                     index=chunk.index, packets=chunk.packets,
                                                     features=chunk.features, **rule_inputs(chunk, contacts)),
                                      watcher.threshold)
        if not put(data):
            return
        rates.add(watcher.stats.packets)
    if tracker is not None:
        assert writer is not None, "incidents are written by an EventWriter"
        put(writer.events(tracker.finish(), watcher.threshold))


class _RecentRate:
    """Packets per second over the last ~2 seconds, for the live display."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self.samples: collections.deque = collections.deque([(time.perf_counter(), 0)])

    def add(self, packets: int) -> None:
        now = time.perf_counter()
        self.samples.append((now, packets))
        while len(self.samples) > 2 and now - self.samples[1][0] > self.window:
            self.samples.popleft()

    def rate(self) -> float:
        (t0, p0), (t1, p1) = self.samples[0], self.samples[-1]
        now = time.perf_counter()
        span = max(now - t0, 1e-9)
        return (p1 - p0) / span if now - t1 < self.window else 0.0


def _scorer(model_dir: Path, kitnet: bool):
    from nidslab.scorers import DNNScorer, KitNETScorer

    if kitnet:
        try:
            return KitNETScorer.load(model_dir)
        except FileNotFoundError as exc:
            raise DataError(f"{exc} (save one with KitNET.save; see docs/detect.md)") from None
    from nidslab.saved_model import load_model

    if not model_dir.is_dir():
        raise DataError(f"{model_dir} is not a model folder (train one with `nidslab train`; a saved KitNET "
                        f"needs --kitnet)")
    return DNNScorer(load_model(model_dir))


def _threshold(scorer, threshold: float | None, target_fpr: float | None) -> float:
    if threshold is not None and target_fpr is not None:
        raise ConfigError("give --threshold or --target-fpr, not both")
    if target_fpr is not None:
        if not 0 < target_fpr < 1:
            raise ConfigError(f"--target-fpr must be a rate in (0, 1), got {target_fpr}")
        return scorer.threshold_for_fpr(target_fpr)
    if threshold is None:
        return scorer.default_threshold()
    if scorer.probability and not 0 <= threshold <= 1:
        raise ConfigError(f"--threshold must be a probability in [0, 1], got {threshold}")
    return threshold


def _rule(watcher) -> str:
    return ">" if getattr(watcher.scorer, "strict", False) else ">="


def _alert_text(stats) -> str:
    if stats.last_alert is None:
        return "none"
    index, ts, score = stats.last_alert
    when = time.strftime("%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1000):03d} UTC"
    return f"packet {index:,} at {when}, score {score:.4f}"


def _open_incidents(tracker, most: int = 8) -> Table:
    t = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for col in ("host", "since", "alerts", "packets", "peak", "last alert", "top reason"):
        t.add_column(col, justify="right" if col in ("alerts", "packets", "peak") else "left",
                     max_width=48 if col == "top reason" else None, no_wrap=True, overflow="ellipsis")
    shown = sorted(tracker.open.values(), key=lambda i: -i.end)[:most]
    for inc in shown:
        top = inc.reasons[0].get("text", "") if inc.reasons and isinstance(inc.reasons[0], dict) else ""
        t.add_row(inc.host, _clock(inc.start), f"{inc.alerts:,}", f"{inc.packets:,}", f"{inc.peak_score:.4g}",
                  _clock(inc.end), Text(top))
    return t


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1000):03d}"


def _live_table(watcher, thr: float, rates: _RecentRate, tracker=None) -> Table:
    st = watcher.stats
    t = Table.grid(padding=(0, 2))
    rule = "learning the site's baseline" if watcher.calibrating else f"alert at score {_rule(watcher)} {thr:g}"
    t.add_row("[bold]watching[/]", f"{watcher.name} with {watcher.scorer.name} ({rule})")
    t.add_row("packets", f"{st.packets:,}  ({rates.rate():,.0f}/s now, {st.rate:,.0f}/s overall)")
    t.add_row("alerts", f"[{'red' if st.alerts else 'green'}]{st.alerts:,}[/]")
    if tracker is None:
        t.add_row("last alert", _alert_text(st))
    else:
        n_open = len(tracker.open)
        t.add_row("incidents", f"[{'red' if n_open else 'green'}]{n_open:,} open[/], {tracker.opened:,} opened so far")
        if n_open:
            t.add_row("open (UTC)", _open_incidents(tracker))
    lat = st.latency_percentiles((50, 99))
    if lat:
        t.add_row("latency", f"p50 {lat['p50'] * 1e3:.1f} ms, p99 {lat['p99'] * 1e3:.1f} ms (read to written)")
    return t


def _final_table(watcher, thr: float, out: Path | None, tracker=None) -> Table:
    st = watcher.stats
    t = Table(title=f"nidslab watch: {watcher.name}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("ended", st.ended or "?")
    t.add_row("packets", f"{st.packets:,} in {st.elapsed:.2f} s ({st.rate:,.0f} packets/s)")
    share = st.alerts / st.packets if st.packets else 0.0
    t.add_row("alerts", f"{st.alerts:,} ({share:.2%}) at score {_rule(watcher)} {thr:g}")
    t.add_row("last alert", _alert_text(st))
    if tracker is not None:
        t.add_row("incidents", f"{tracker.opened:,} on source hosts (closed after {tracker.gap_s:g} s without an alert)")
        why = tracker.explain
        if why is not None and hasattr(why, "describe"):
            t.add_row("reasons", f"{why.rows:,} peak packets explained in {st.seconds_in.get('reasons', 0.0):.2f} s, "
                                 f"against {why.describe()}")
    cal = watcher.calibration
    if cal is not None:
        rec = getattr(cal, "record", cal)
        t.add_row("calibrated on", f"{rec.get('packets', 0):,} packets, {rec.get('hosts', 0):,} hosts, "
                                   f"{rec.get('duration_s', 0):,.0f} s of traffic")
    lat = st.latency_percentiles()
    if lat:
        t.add_row("latency per chunk", ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in lat.items())
                  + f" over {st.chunks:,} chunks")
    busy = st.seconds_in
    t.add_row("time in", ", ".join(f"{k} {v:.2f} s" for k, v in busy.items())
              + f", reading/writing/waiting {max(0.0, st.elapsed - sum(busy.values())):.2f} s")
    t.add_row("written to", str(out) if out is not None else "stdout")
    return t


def register(app: typer.Typer) -> None:
    app.command("watch")(watch_cmd)
