"""`nidslab watch`: score the packets of a growing capture or a pcap stream on stdin, live."""

from __future__ import annotations

import collections
import contextlib
import signal
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from nidslab.errors import ConfigError, DataError

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
                                                              "alert at or above it, default 0.5; KitNET: an "
                                                              "RMSE, alert above it, default the one it stores)."),
    target_fpr: float = typer.Option(None, "--target-fpr", help="Alert at the threshold the model folder stores "
                                                                "for this false-positive rate."),
    follow: bool = typer.Option(True, "--follow/--no-follow", help="For a file: keep waiting at its end "
                                                                   "(tail -f), or stop there."),
    idle_timeout: float = typer.Option(None, "--idle-timeout", min=0, help="Stop after this many seconds "
                                                                           "without new bytes."),
    chunk: int = typer.Option(65_536, "--chunk", min=1, help="Most packets scored per step."),
    live: bool = typer.Option(True, "--live/--quiet", help="Live summary on stderr, or the final one only."),
) -> None:
    """Score every packet of SOURCE as it arrives; write one JSON line per packet
    (time, index, score, alert) and keep a live summary on stderr. Ctrl-C stops cleanly.

    Exit code 0 when the input ended, went idle or was stopped; 1 when it ended inside a record
    (the scores before it are kept); 2 for bad input or options.
    """
    from nidslab.watch import Watcher

    scorer = _scorer(model_dir, kitnet)
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
    watcher = Watcher(src, scorer, threshold=thr, follow=follow, idle_timeout=idle_timeout, chunk=chunk,
                      stop=lambda: stopping["flag"])
    # the output is opened at the first scores, so input that is not a capture leaves an existing file as it was
    sink = _OpenOnWrite(out) if out is not None else sys.stdout.buffer
    rates = _RecentRate()

    def on_sigint(signum, frame):
        stopping["flag"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C interrupts at once

    old = signal.signal(signal.SIGINT, on_sigint)
    display = Live(get_renderable=lambda: _live_table(watcher, thr, rates), console=err,
                   refresh_per_second=4, transient=True) if live and err.is_terminal else contextlib.nullcontext()
    try:
        with display:
            _run(watcher, sink, rates)
        if out is not None:
            sink.write(b"")  # the input was a capture, though perhaps without packets: the file exists
    finally:
        signal.signal(signal.SIGINT, old)
        if out is not None:
            sink.close()
        else:
            with contextlib.suppress(BrokenPipeError):
                sink.flush()
    err.print(_final_table(watcher, thr, out))
    if watcher.stats.truncated:
        err.print(f"[yellow]warning:[/] {watcher.stats.truncated}", highlight=False)
        raise typer.Exit(1)


class _OpenOnWrite:
    """A file opened for writing ("wb") at the first write, not before."""

    def __init__(self, path: Path):
        self.path, self.fh = path, None

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


def _run(watcher, sink, rates) -> None:
    from nidslab.watch import jsonl

    for chunk in watcher:
        try:
            sink.write(jsonl(chunk))
            sink.flush()  # a line is only reported once it is out
        except BrokenPipeError:  # the reader went away (`| head`): stop as if interrupted
            watcher.stats.ended = "output closed"
            return
        rates.add(watcher.stats.packets)


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


def _live_table(watcher, thr: float, rates: _RecentRate) -> Table:
    st = watcher.stats
    t = Table.grid(padding=(0, 2))
    t.add_row("[bold]watching[/]", f"{watcher.name} with {watcher.scorer.name} (alert at score {_rule(watcher)} {thr:g})")
    t.add_row("packets", f"{st.packets:,}  ({rates.rate():,.0f}/s now, {st.rate:,.0f}/s overall)")
    t.add_row("alerts", f"[{'red' if st.alerts else 'green'}]{st.alerts:,}[/]")
    t.add_row("last alert", _alert_text(st))
    lat = st.latency_percentiles((50, 99))
    if lat:
        t.add_row("latency", f"p50 {lat['p50'] * 1e3:.1f} ms, p99 {lat['p99'] * 1e3:.1f} ms (read to written)")
    return t


def _final_table(watcher, thr: float, out: Path | None) -> Table:
    st = watcher.stats
    t = Table(title=f"nidslab watch: {watcher.name}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    t.add_row("ended", st.ended or "?")
    t.add_row("packets", f"{st.packets:,} in {st.elapsed:.2f} s ({st.rate:,.0f} packets/s)")
    share = st.alerts / st.packets if st.packets else 0.0
    t.add_row("alerts", f"{st.alerts:,} ({share:.2%}) at score {_rule(watcher)} {thr:g}")
    t.add_row("last alert", _alert_text(st))
    lat = st.latency_percentiles()
    if lat:
        t.add_row("latency per chunk", ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in lat.items())
                  + f" over {st.chunks:,} chunks")
    busy = st.seconds_in
    t.add_row("time in", ", ".join(f"{k} {v:.2f} s" for k, v in busy.items())
              + f", reading/writing/waiting {max(0.0, st.elapsed - sum(busy.values())):.2f} s")
    t.add_row("scores", str(out) if out is not None else "stdout")
    return t


def register(app: typer.Typer) -> None:
    app.command("watch")(watch_cmd)
