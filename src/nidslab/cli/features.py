"""`nidslab features extract`: Kitsune features of a packet capture, written as Parquet, CSV or .npy."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nidslab.errors import DataError

console = Console(stderr=True)
features_app = typer.Typer(help="Kitsune (AfterImage) features from packet captures.", no_args_is_help=True)

_FORMATS = (".parquet", ".csv", ".npy")


def write_features(path: Path, X, columns) -> None:
    """Write a feature matrix to ``path`` (.parquet, .csv or .npy), atomically."""
    import numpy as np

    from nidslab.paths import atomic_write

    suffix = path.suffix.lower()
    if suffix == ".npy":
        with atomic_write(path) as fh:
            np.save(fh, X)
        return
    from nidslab.cli.common import write_table

    write_table(path, {name: X[:, i] for i, name in enumerate(columns)})


@features_app.command("extract")
def extract(
    capture: Path = typer.Argument(..., help="libpcap or pcapng capture (Ethernet)."),
    output: Path = typer.Option(..., "--output", "-o", help="Output file: .parquet, .csv or .npy."),
    layout: str = typer.Option(
        "uci", "--layout", help="uci: the 115 released columns; kitsune-py: the reference's 100."
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="Read at most this many packets."),
) -> None:
    """Compute per-packet Kitsune features of CAPTURE and write them to OUTPUT."""
    from nidslab.features import LAYOUTS, CaptureWarning, ReadReport, column_names, extract_features

    if output.suffix.lower() not in _FORMATS:
        raise DataError(f"output {output}: unknown format {output.suffix!r}; use one of {', '.join(_FORMATS)}")
    if layout not in LAYOUTS:
        raise DataError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    report = ReadReport(str(capture))
    columns = [
        TextColumn("[bold]features[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    ]
    start = time.perf_counter()
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("extract", total=None, rate="")

        def progress(done, total, message=""):
            rate = done / max(time.perf_counter() - start, 1e-9)
            bar.update(task, completed=done, total=total, rate=f"{rate:,.0f} packets/s")

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CaptureWarning)  # printed below from the report
            X = extract_features(capture, layout=layout, limit=limit, progress=progress, report=report)
    seconds = time.perf_counter() - start
    write_features(output, X, column_names(layout))
    for message in report.messages():
        console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)
    console.print(
        f"{X.shape[0]:,} packets x {X.shape[1]} features ({layout}) -> {escape(str(output))} "
        f"in {seconds:.1f} s ({X.shape[0] / max(seconds, 1e-9):,.0f} packets/s)",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add `nidslab features ...` to the root app."""
    app.add_typer(features_app, name="features")
