"""`nidslab calibrate`: re-fit a model to a site's own benign traffic before it alerts there."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from nidslab.cli.common import console, progress_bar
from nidslab.errors import DataError


def calibrate_cmd(
    model_dir: Path = typer.Argument(..., help="Model folder written by `nidslab train`."),
    benign: Path = typer.Argument(..., help="The site's benign traffic: a capture (.pcap, .pcapng) or features "
                                            "(.csv, .parquet, .npy; 115 columns)."),
    out: Path = typer.Option(..., "--out", "-o", help="The calibrated model folder to write (a new folder; the "
                                                      "trained weights are copied, not changed)."),
    keep_standardizer: bool = typer.Option(False, "--keep-standardizer", help="Keep the trained standardiser; "
                                           "re-fit the thresholds only."),
    kitnet: bool = typer.Option(False, "--kitnet", help="Also train a KitNET on the same traffic as a second "
                                                        "opinion (saved as kitnet.npz in the folder)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT even if it is not a model folder."),
) -> None:
    """Re-fit what depends on the site (the standardiser, the thresholds for each false-alarm budget;
    optionally a KitNET) on BENIGN traffic of the site, and record what it saw (packets, time span,
    hosts) in OUT/calibration.json. Use OUT wherever MODEL was used (predict, watch)."""
    import numpy as np

    from nidslab.calibrate import calibrate, save_calibrated
    from nidslab.predict import CAPTURE_SUFFIXES
    from nidslab.saved_model import check_destination, load_model

    if out.resolve() == model_dir.resolve():
        raise DataError(f"{out}: is the model being calibrated; write the calibrated model to a new folder")
    if out.resolve() == benign.resolve():
        raise DataError(f"{out}: is the benign traffic being read; choose another output folder")
    check_destination(out, overwrite=overwrite)
    saved = load_model(model_dir)
    times = hosts = None
    if benign.suffix.lower() in CAPTURE_SUFFIXES:
        from nidslab.predict import capture_rows

        with progress_bar(f"reading {benign.name}") as update:
            rows = capture_rows(benign, progress=update)
        X, times = rows.features, rows.times
        hosts = np.asarray(rows.host_names, dtype=object)[rows.host]
    else:
        from nidslab.data import read_features

        X = read_features(benign)
    cal = calibrate(saved, X, times=times, hosts=hosts, standardize=not keep_standardizer, kitnet=kitnet,
                    source=str(benign))
    path = save_calibrated(cal, out, overwrite=overwrite)
    console.print(_summary(cal, path))


def _summary(cal, path: Path) -> Table:
    r = cal.record
    t = Table(title=f"calibrated to {r['source']}: {path}", title_justify="left")
    for col in ("false-positive budget", "threshold before (logit)", "threshold after (logit)",
                "share of the site's packets flagged"):
        t.add_column(col, justify="right")
    before = {p["target_fpr"]: p["threshold"] for p in (r.get("thresholds_before") or [])}
    for p in r["thresholds_after"]:
        b = before.get(p["target_fpr"])
        t.add_row(f"{p['target_fpr']:g}", "-" if b is None else f"{b:.4g}", f"{p['threshold']:.4g}",
                  f"{p['calibration_fpr']:.3%}" + ("" if p["resolvable"] else " (too few packets to resolve)"))
    seen = f"{r['packets']:,} packets"
    if "duration_s" in r:
        seen += f" over {r['duration_s']:,.1f} s"
    if "hosts" in r:
        seen += f" from {r['hosts']:,} hosts"
    t.caption = f"saw {seen}; re-fitted: {', '.join(r['refitted'])}" + (
        f"; site KitNET threshold {r['kitnet']['threshold']:.4g}" if "kitnet" in r else "")
    return t


def register(app: typer.Typer) -> None:
    """Add `calibrate` to the root app."""
    app.command("calibrate")(calibrate_cmd)


__all__ = ["register"]
