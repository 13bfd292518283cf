"""`nidslab simulate`: write the simulated camera LAN with its Mirai outbreak, or measure its realism."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nidslab.errors import DataError

console = Console(stderr=True)


def _summary(sim, seconds: float) -> None:
    n = sim.n_packets
    truth = int(sim.labels_truth.sum())
    kits = int(sim.labels_kitsune.sum())
    console.print(
        f"{n:,} packets -> {escape(str(sim.path))} in {seconds:.1f} s; onset at packet {sim.onset_index:,} "
        f"({sim.end_time - sim.start_time:,.0f} s of traffic)",
        highlight=False,
    )
    tab = Table(title="phases", title_justify="left")
    for col in ("phase", "start (s)", "end (s)", "first packet"):
        tab.add_column(col, justify="left" if col == "phase" else "right")
    for name, a, b, i in sim.phases:
        tab.add_row(name, f"{a - sim.start_time:,.1f}", f"{b - sim.start_time:,.1f}", f"{i:,}")
    console.print(tab)
    labels = Table(title="labels", title_justify="left")
    for col in ("layout", "benign", "malicious", "malicious share"):
        labels.add_column(col, justify="left" if col == "layout" else "right")
    labels.add_row("truth (per packet)", f"{n - truth:,}", f"{truth:,}", f"{truth / n:.3f}")
    labels.add_row("kitsune (time cut)", f"{n - kits:,}", f"{kits:,}", f"{kits / n:.3f}")
    console.print(labels)


def _print_compare(result: dict) -> None:
    from nidslab.simulate.compare import table_rows

    tab = Table(title=f"simulated benign phase (first {result['window_s']:.0f} s) vs {escape(str(result['real_path']))}",
                title_justify="left")
    for col in ("measure", "real", "simulated", "distance"):
        tab.add_column(col, justify="left" if col == "measure" else "right")
    for row in table_rows(result):
        tab.add_row(*row)
    Console().print(tab)


def simulate(
    output: Path = typer.Option(None, "--output", "-o", help="Capture to write (.pcap)."),
    packets: int = typer.Option(764_137, "--packets", "-n", min=1, help="Exact number of packets."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed writes the same bytes."),
    compare: Path = typer.Option(
        None, "--compare", help="A real capture: compare the simulation's benign phase with it and print the table."
    ),
    window: float = typer.Option(
        None, "--window", help="With --compare: seconds of the benign phase to compare (default: the real capture's "
        "duration; 'inf' for all of it)."
    ),
    json_out: Path = typer.Option(None, "--json", help="With --compare: also write the full comparison as JSON."),
) -> None:
    """Simulate an IoT camera LAN with a Mirai outbreak and write it as a libpcap capture.

    The first round(packets x 121,621 / 764,137) packets are benign; then come the telnet scan,
    brute force, loader, propagation and flood, with benign traffic going on. Labels: per-packet
    truth and the Kitsune time cut.
    """
    from nidslab.simulate import simulate_capture

    if output is None and compare is None:
        raise DataError("nidslab simulate: give --output/-o FILE to write a capture, or --compare REAL.pcap")
    if compare is not None and not compare.is_file():
        raise DataError(f"--compare {compare}: no such capture")
    with tempfile.TemporaryDirectory(prefix="nidslab-sim-") as tmp:
        path = output if output is not None else Path(tmp) / "simulated.pcap"
        from nidslab.cli.common import progress_bar

        start = time.perf_counter()
        with progress_bar("simulating") as progress:
            sim = simulate_capture(path, packets=packets, seed=seed, progress=progress)
        _summary(sim, time.perf_counter() - start)
        if compare is not None:
            from nidslab.simulate.compare import compare_with_capture

            with console.status("extracting features and comparing"):
                result = compare_with_capture(compare, sim, sim_window_s=window)
            _print_compare(result)
            if json_out is not None:
                from nidslab.paths import atomic_write

                with atomic_write(json_out, "w") as fh:
                    json.dump(result, fh, indent=1)


def register(app: typer.Typer) -> None:
    """Add `nidslab simulate` to the root app."""
    app.command("simulate")(simulate)
