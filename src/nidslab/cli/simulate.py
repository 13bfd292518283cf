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
from nidslab.schema import MIRAI_PACKETS

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


def labels_path(capture: Path) -> Path:
    """Where ``nidslab simulate`` writes a capture's per-packet labels: beside it, ``NAME.labels.csv``."""
    return capture.with_name(capture.stem + ".labels.csv")


def _write_labels(capture: Path, columns: dict) -> None:
    """One row per packet of ``capture``, in capture order (``nidslab predict --truth`` reads it)."""
    from nidslab.cli.common import write_table

    path = labels_path(capture)
    write_table(path, columns)
    console.print(f"per-packet labels ({', '.join(columns)}) -> {escape(str(path))}", highlight=False)


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
    packets: int = typer.Option(MIRAI_PACKETS, "--packets", "-n", min=1,
                                help="Exact number of packets (the default: the released Mirai capture's)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed writes the same bytes."),
    compare: Path = typer.Option(
        None, "--compare", help="A real capture: compare the simulation's benign phase with it and print the table."
    ),
    window: float = typer.Option(
        None, "--window", help="With --compare: seconds of the benign phase to compare (default: the real capture's "
        "duration; 'inf' for all of it)."
    ),
    json_out: Path = typer.Option(None, "--json", help="With --compare: also write the full comparison as JSON."),
    network: int = typer.Option(0, "--network", min=0, help="Network of the population: 0 is the Kitsune-"
                                "calibrated camera LAN (sized by --packets); N >= 1 a network drawn from seed N "
                                "(sized by --benign-s and --attack-scale)."),
    benign_s: float = typer.Option(600.0, "--benign-s", min=0, help="Drawn networks: seconds of benign traffic "
                                   "before the outbreak (7200 for the held-out networks' 2 hours)."),
    attack_scale: float = typer.Option(0.25, "--attack-scale", min=0.001, help="Drawn networks: multiply the "
                                       "outbreak's drawn infection and flood times (1: as drawn, ~10 min)."),
    show: bool = typer.Option(False, "--show", help="Drawn networks: print the drawn devices and outbreak "
                              "and write nothing (no --output needed)."),
) -> None:
    """Simulate an IoT network with a Mirai outbreak and write it as a libpcap capture.

    Network 0 (the default): the Kitsune camera LAN; the first round(packets x 121,621 / 764,137)
    packets are benign; then come the telnet scan, brute force, loader, propagation and flood, with
    benign traffic going on. Labels: per-packet truth and the Kitsune time cut, written beside the
    capture as NAME.labels.csv (columns truth, kitsune; drawn networks also phase), one row per packet
    (`nidslab predict MODEL NAME.pcap --incidents I.jsonl --truth NAME.labels.csv` scores incidents with
    them). --network N >= 1: a network of the population (devices, protocols, uplink and outbreak drawn from N).
    """
    from nidslab.simulate import simulate_capture

    if network > 0:
        _simulate_drawn(network, output, benign_s, attack_scale, show, seed)
        return
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
        if output is not None:
            _write_labels(output, {"truth": sim.labels_truth, "kitsune": sim.labels_kitsune})
        if compare is not None:
            from nidslab.simulate.compare import compare_with_capture

            with console.status("extracting features and comparing"):
                result = compare_with_capture(compare, sim, sim_window_s=window)
            _print_compare(result)
            if json_out is not None:
                from nidslab.paths import atomic_write

                with atomic_write(json_out, "w") as fh:
                    json.dump(result, fh, indent=1)


def _simulate_drawn(network: int, output: Path | None, benign_s: float, attack_scale: float, show: bool,
                    seed: int) -> None:
    from nidslab.simulate.population import draw_network

    spec = draw_network(network)
    o = spec.outbreak
    tab = Table(title=f"network {network}: {spec.subnet}/24, uplink {'reachable' if spec.uplink_reachable else 'unreachable'}",
                title_justify="left")
    for col in ("device", "kind", "ip", "wifi", "vulnerable", "protocols"):
        tab.add_column(col)
    for d in spec.devices:
        tab.add_row(d.name, d.kind, f".{d.last}", "yes" if d.wifi else "", "yes" if d.vulnerable else "",
                    ", ".join(d.protocols))
    Console().print(tab)
    Console().print(f"outbreak: variant {o.variant} (ports {', '.join(map(str, o.ports))}), {o.scan_pps} SYN/s per "
                    f"scanner, victims {', '.join(o.victims)}, CNC {'on the LAN' if o.cnc_inside else 'on the Internet'}, "
                    f"attacks {' then '.join(o.vectors)} ({o.flood_pps:.0f} packets/s per bot)", highlight=False)
    if show:
        return
    if output is None:
        raise DataError("nidslab simulate --network N: give --output/-o FILE (or --show to only print the network)")
    from nidslab.cli.common import progress_bar
    from nidslab.simulate.networks import simulate_network

    start = time.perf_counter()
    with progress_bar("simulating") as progress:
        sim = simulate_network(output, network, benign_s=benign_s, attack_scale=attack_scale,
                               seed=seed or None, progress=progress)
    n, truth = sim.n_packets, int(sim.truth.sum())
    console.print(f"{n:,} packets -> {escape(str(output))} in {time.perf_counter() - start:.1f} s; onset at packet "
                  f"{sim.onset_index:,} after {sim.onset_time - sim.start_time:,.0f} s of benign traffic; "
                  f"{truth:,} malicious ({truth / max(n, 1):.3f})", highlight=False)
    ph = Table(title="phases", title_justify="left")
    for col in ("phase", "start (s)", "end (s)", "packets"):
        ph.add_column(col, justify="left" if col == "phase" else "right")
    counts = sim.to_dict()["phase_packets"]
    for name, a, b in sim.phases:
        ph.add_row(name, f"{a - sim.time[0]:,.1f}", f"{b - sim.time[0]:,.1f}", f"{counts.get(name, 0):,}")
    console.print(ph)
    import numpy as np

    from nidslab.simulate.networks import PHASES

    _write_labels(output, {"truth": sim.truth, "kitsune": sim.kitsune, "phase": np.asarray(PHASES)[sim.phase]})


def register(app: typer.Typer) -> None:
    """Add `nidslab simulate` to the root app."""
    app.command("simulate")(simulate)
