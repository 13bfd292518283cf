"""`nidslab features extract`: Kitsune features of a packet capture, written as Parquet, CSV or .npy;
`nidslab features describe`: what every column means."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from nidslab.cli.common import RAY_ADDRESS, progress_bar
from nidslab.errors import DataError

console = Console(stderr=True)
features_app = typer.Typer(help="Kitsune (AfterImage) features from packet captures.", no_args_is_help=True)


@features_app.command("extract")
def extract(
    captures: list[Path] = typer.Argument(..., help="libpcap or pcapng captures (Ethernet)."),
    output: Path = typer.Option(
        ..., "--output", "-o",
        help="Output file: .parquet, .csv or .npy. With several captures: a folder that gets one file per "
             "capture, named after it (format: --format).",
    ),
    layout: str = typer.Option(
        "uci", "--layout", help="uci: the 115 released columns; kitsune-py: the reference's 100."
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="Read at most this many packets (of each capture)."),
    fmt: str = typer.Option("parquet", "--format", help="With several captures: parquet, csv or npy."),
    cluster: str = typer.Option("none", "--cluster", help="none: one capture after another here; ray: one Ray "
                                "task per capture (needs the [cluster] extra)."),
    address: str = RAY_ADDRESS,
) -> None:
    """Compute per-packet Kitsune features of each CAPTURE and write them to OUTPUT."""
    from nidslab.features import LAYOUTS

    if layout not in LAYOUTS:
        raise DataError(f"unknown layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    if len(captures) == 1 and cluster == "none":
        from nidslab.features.output import output_format

        output_format(output)  # a DataError naming the file before any work
        _extract_one(captures[0], output, layout, limit)
        return
    _extract_many(captures, output, layout, limit, fmt, cluster, address)


def _extract_one(capture: Path, output: Path, layout: str, limit: int | None) -> None:
    from nidslab.features import CaptureWarning, ReadReport, column_names
    from nidslab.features.output import extract_to_file

    report = ReadReport(str(capture))
    start = time.perf_counter()
    with progress_bar("features") as update:

        def progress(done: int, total: int | None, message: str = "") -> None:
            rate = done / max(time.perf_counter() - start, 1e-9)
            update(done, total, f"features  {rate:,.0f} packets/s")

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CaptureWarning)  # printed below from the report
            # streamed: rows go to the file chunk by chunk as they are extracted (written when this returns)
            rows = extract_to_file(capture, output, layout=layout, limit=limit, progress=progress, report=report)
    seconds = time.perf_counter() - start
    n_columns = len(column_names(layout))
    for message in report.messages():
        console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)
    console.print(
        f"{rows:,} packets x {n_columns} features ({layout}) -> {escape(str(output))} "
        f"in {seconds:.1f} s ({rows / max(seconds, 1e-9):,.0f} packets/s)",
        highlight=False,
    )


def _extract_many(captures: list[Path], output: Path, layout: str, limit: int | None, fmt: str, cluster: str,
                  address: str | None) -> None:
    """Several captures (or one on a cluster): one task each, one output file each in the folder OUTPUT."""
    from nidslab.cluster import make_executor
    from nidslab.features import column_names
    from nidslab.features.many import extract_many
    from nidslab.features.output import FORMATS, write_features

    suffix = "." + fmt.lower().lstrip(".")
    if suffix not in FORMATS:
        raise DataError(f"--format {fmt!r}: use one of {', '.join(f[1:] for f in FORMATS)}")
    if output.suffix.lower() in FORMATS:
        raise DataError(f"output {output}: with several captures (or --cluster) it is a folder, one file per capture")
    targets = [output / (c.stem + suffix) for c in captures]
    if len(set(targets)) < len(targets):
        raise DataError("two captures have the same name; their outputs would overwrite each other")
    start = time.perf_counter()
    with make_executor(cluster, address) as executor, progress_bar("captures") as bar:
        results = extract_many(captures, layout=layout, limit=limit, executor=executor,
                               progress=lambda d, t, _m="": bar(d, t, f"{d}/{t} captures"))
    seconds = time.perf_counter() - start
    output.mkdir(parents=True, exist_ok=True)
    packets = 0
    for r, target in zip(results, targets):
        write_features(target, r.X, column_names(layout))
        for message in r.messages:
            console.print(f"[yellow]warning:[/] {message}", highlight=False)
        console.print(f"{r.path}: {r.X.shape[0]:,} packets -> {target}", highlight=False)
        packets += r.X.shape[0]
    console.print(
        f"{len(captures)} captures, {packets:,} packets x {len(column_names(layout))} features ({layout}) "
        f"in {seconds:.1f} s ({cluster if cluster != 'none' else 'this process'})",
        highlight=False,
    )


_SHORT_DIRECTION = {"sent by the host (to any destination)": "sent", "both directions": "both ways",
                    "source to destination (the packet's own direction)": "src→dst"}


@features_app.command("describe")
def describe(
    which: str = typer.Argument(None, metavar="NAME|GROUP", help="A column (H_L5_weight), a group (MI_dir, H, "
                                "HH, HH_jit, HpHp), 'lab' (uci: the lab's 92), or several, comma-separated. "
                                "Default: every column."),
    layout: str = typer.Option("uci", "--layout", help="uci: the 115 released columns; kitsune-py: the "
                               "reference implementation's 100."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (a list, one object per column) instead of a "
                                 "table."),
) -> None:
    """What each feature means: group, stream, direction, statistic, decay (lambda, half-life), unit, quirks."""
    import json

    from rich.table import Table
    from rich.text import Text

    from nidslab.features.describe import LAYOUT_NOTES, approx_seconds, describe_features

    descs = describe_features(which, layout=layout)
    if as_json:
        print(json.dumps([d.to_dict() for d in descs], indent=1, ensure_ascii=False))
        return
    out = Console()
    t = Table(title=f"{len(descs)} of the {layout} layout's features", caption=LAYOUT_NOTES[layout],
              caption_justify="left", show_lines=len(descs) <= 20)
    wide = out.width >= 120  # else stream, statistic and unit go on the first line of the meaning
    # fixed widths for the one-line columns: rich then skips measuring every cell (a third of the rendering)
    decay = [f"{d.lam:g}, {approx_seconds(d.half_life_s)}" for d in descs]
    where = [f"{d.stream}, {_SHORT_DIRECTION.get(d.direction, d.direction)}" for d in descs]
    t.add_column("feature", style="bold", no_wrap=True, width=max(7, *(len(d.name) for d in descs)))
    if wide:
        t.add_column("stream, direction", no_wrap=True, width=max(17, *map(len, where)))
        t.add_column("statistic", no_wrap=True, width=10)
    t.add_column("λ (1/s), half-life", justify="right", no_wrap=True, width=18)
    if wide:
        t.add_column("unit", no_wrap=True, width=7)
    t.add_column("meaning", ratio=1, min_width=30)
    for d, dec, wh in zip(descs, decay, where):  # Text cells, not markup: no markup parsing per cell
        meaning = Text(d.meaning)
        for q in d.quirks:
            meaning.append("\nquirk: ", style="yellow").append(q)
        if wide:
            t.add_row(Text(d.name), Text(wh), Text(d.statistic), Text(dec), Text(d.unit or "-"), meaning)
        else:
            t.add_row(Text(d.name), Text(dec), Text(f"{wh} · {d.statistic} · {d.unit or 'no unit'}\n", style="cyan")
                      + meaning)
    out.print(t)


def register(app: typer.Typer) -> None:
    """Add `nidslab features ...` to the root app."""
    app.add_typer(features_app, name="features")
