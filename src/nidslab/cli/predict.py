"""`nidslab predict`: score a features table or every packet of a capture with a saved model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from nidslab.cli.common import console, progress_bar, write_table
from nidslab.errors import DataError


def predict_cmd(
    model_dir: Path = typer.Argument(..., help="Model folder written by `nidslab train`."),
    source: Path = typer.Argument(..., help="Features (.csv, .parquet, .npy; 115 columns) or a capture (.pcap, .pcapng)."),
    out: Path = typer.Option(..., "--out", "-o", help="Scores and labels to write: .csv or .parquet."),
    threshold: float = typer.Option(0.5, "--threshold", help="Probability at or above which a row is malicious."),
    target_fpr: float = typer.Option(None, "--target-fpr", help="Flag rows with the model's stored threshold for "
                                     "this false-positive rate (1e-3, 1e-2 or 1e-4) instead of --threshold."),
    window: float = typer.Option(1.0, "--window", help="For captures: seconds per line of the summary."),
) -> None:
    """Score rows of features or the packets of a capture; write score and label per row."""
    from nidslab.evaluate import scores_of
    from nidslab.predict import CAPTURE_SUFFIXES, capture_features
    from nidslab.saved_model import load_model

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise DataError(f"{out}: output must be .csv or .parquet")
    if out.is_dir():
        raise DataError(f"{out}: is a folder; expected the path of a .csv or .parquet file to write")
    if not 0 <= threshold <= 1:
        raise DataError(f"--threshold must be a probability in [0, 1], got {threshold}")
    if not 1e-6 <= window < float("inf"):  # before any work: the summary is made after the scores are written
        raise DataError(f"--window must be finite seconds, at least 1e-6 (a capture's time resolution), got {window}")
    from nidslab.paths import refuse_output_is_input

    refuse_output_is_input(out, source)
    saved = load_model(model_dir)
    t_logit = saved.threshold_for(target_fpr) if target_fpr is not None else None
    times = None
    if source.suffix.lower() in CAPTURE_SUFFIXES:
        with progress_bar(f"reading {source.name}") as update:
            X, times = capture_features(source, progress=update)
    else:
        from nidslab.data import read_features

        X = read_features(source)
    logits = saved.predict_raw(X, source=str(source))
    scores = scores_of(logits, saved.spec.head)
    if t_logit is None:
        labels = (scores >= threshold).astype(np.uint8)
    else:  # on the logit scale: probabilities saturate at 1.0 in float32 and would tie the rows it must split
        labels = (logits >= t_logit).astype(np.uint8)
        threshold = f"the threshold for FPR {target_fpr:g} (logit {t_logit:.4g})"
    write_table(out, {"score": scores, "label": labels} if times is None else
                {"time": times, "score": scores, "label": labels})
    flagged = int(labels.sum())
    console.print(f"{len(labels):,} rows scored; {flagged:,} ({flagged / max(1, len(labels)):.1%}) at or above "
                  f"{threshold} flagged malicious; written to {out}")
    if times is not None and len(times):
        console.print(_window_table(times, labels, window))


def _window_table(times: np.ndarray, labels: np.ndarray, window: float) -> Table:
    from nidslab.predict import flagged_per_window

    starts, packets, flagged = flagged_per_window(times, labels, window)
    t = Table(title=f"share flagged per {window:g} s window")
    for col in ("window start (s)", "packets", "flagged"):
        t.add_column(col, justify="right")
    rows = np.arange(len(starts))
    if len(rows) > 40:  # keep the terminal readable: first and last 20 windows
        rows = np.concatenate([rows[:20], rows[-20:]])
    for i in rows:
        t.add_row(f"{starts[i]:g}", f"{packets[i]:,}", f"{flagged[i] / packets[i]:.1%}")
    return t


def register(app: typer.Typer) -> None:
    """Add `predict` to the root app."""
    app.command("predict")(predict_cmd)


__all__ = ["register"]
