"""Pieces the CLI modules share: progress bars behind :class:`nidslab.progress.Progress`, the network
options, settings built from options, a dataset opened for training, and metrics as a table."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, ProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn)
from rich.progress import Progress as RichProgress  # a display; nidslab.progress.Progress is the callback type
from rich.table import Table

from nidslab import progress
from nidslab.errors import ConfigError
from nidslab.incidents import DEFAULT_GAP_S
from nidslab.operating_points import TARGET_FPRS

console = Console()
err = Console(stderr=True)

# Network and training defaults live in nidslab.settings (ModelSpec, FitConfig); these are the data ones.
DATA_DEFAULTS: dict[str, Any] = {"dataset": "default", "features": "lab", "fraction": 1.0, "target": None,
                                 "split": "random"}
from nidslab.settings import ACTIVATIONS, HEADS, OPTIMIZERS, SPLITS, STEPS, FitConfig, ModelSpec  # noqa: E402


def default_of(settings: type, name: str) -> str:
    """The default of field ``name`` of a settings dataclass as --help shows it (``show_default``).

    Options default to None so that a --config file's values are not overridden by flags the user did not
    give; the settings class fills them in, and --help reads the shown default from the same place.
    """
    value = {f.name: f.default for f in dataclasses.fields(settings)}[name]
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ModelSpec's options (None: the spec's default).
N_LAYERS = typer.Option(None, "--n-layers", help="Hidden Dense layers.", show_default=default_of(ModelSpec, "n_layers"))
N_NODES = typer.Option(None, "--n-nodes", help="Nodes per hidden layer.", show_default=default_of(ModelSpec, "n_nodes"))
ACTIVATION = typer.Option(None, "--activation", help=" | ".join(ACTIVATIONS) + " (linear: the layers stay linear).",
                          show_default=default_of(ModelSpec, "activation"))
BATCH_NORM = typer.Option(None, "--batch-norm/--no-batch-norm", help="BatchNormalization after each activation.",
                          show_default=default_of(ModelSpec, "batch_norm"))
DROPOUT = typer.Option(None, "--dropout", help="Dropout rate after each hidden layer (0: none).",
                       show_default=default_of(ModelSpec, "dropout"))
MC_DROPOUT = typer.Option(None, "--mc-dropout/--no-mc-dropout", help="Keep dropout on at inference (myDropout).",
                          show_default=default_of(ModelSpec, "mc_dropout"))
HEAD = typer.Option(None, "--head", help=" | ".join(HEADS) + " (regression needs --target).",
                    show_default=default_of(ModelSpec, "head"))
# FitConfig's options (None: the config's default).
OPTIMIZER = typer.Option(None, "--optimizer", help=" | ".join(OPTIMIZERS) + ".",
                         show_default=default_of(FitConfig, "optimizer"))
DEVICE = typer.Option(None, "--device", help="auto | cpu | cuda.", show_default=default_of(FitConfig, "device"))
STEP = typer.Option(None, "--step", help="Gradients: " + " | ".join(STEPS) + " (fused: hand-derived, CPU).",
                    show_default=default_of(FitConfig, "step"))
INCIDENT_GAP = typer.Option(None, "--gap", min=0, help="Seconds without an alert from a host that close its "
                            "incident.", show_default=f"{DEFAULT_GAP_S:g}")
CONTACTS = typer.Option(True, "--contacts/--no-contacts", help="Incidents also open on contact: a host that accepts "
                        "a telnet login (SYN-ACK from port 23 or 2323) from a host inside an open incident, or from "
                        "an Internet address, is alerted on that login (Mirai spreads by telnet logins; docs/incidents.md).")
#: the false-positive rates a model folder stores a threshold for, as help text lists them
TARGET_FPR_CHOICES = ", ".join(f"{f:.0e}".replace("e-0", "e-") for f in TARGET_FPRS)
RAY_ADDRESS = typer.Option(None, "--address", help="With --cluster ray: the head node's HOST:PORT (default: "
                           "$RAY_ADDRESS); 'local' starts Ray on this machine.")


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave (those not None), so the settings classes supply the rest."""
    return {k: v for k, v in options.items() if v is not None}


def make_spec(fields: dict[str, Any]):
    """A :class:`nidslab.settings.ModelSpec` from option values; a bad one is a ConfigError."""
    from nidslab.settings import ModelSpec

    try:
        return ModelSpec.from_dict(fields)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model settings: {exc}") from None


def make_fit(fields: dict[str, Any]):
    """A :class:`nidslab.settings.FitConfig` from option values; a bad one is a ConfigError."""
    from nidslab.settings import FitConfig

    try:
        return FitConfig.from_dict(fields)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"fit settings: {exc}") from None


def rich_bar(*, counter: tuple[ProgressColumn, ...] | None = None, extra: tuple[ProgressColumn, ...] = (),
             description: str = "{task.description}", remaining: bool = False, on: Console = err,
             transient: bool = True) -> RichProgress:
    """The one place the CLI builds a rich progress display (add tasks to it, use it as a context manager).

    Columns: ``description`` (a format of the task), the bar, ``counter`` (default: done/total), ``extra``,
    the time elapsed and, with ``remaining``, the time left. On stderr and gone when done unless ``on`` and
    ``transient`` say otherwise (``nidslab lab`` keeps its bars on stdout).
    """
    counter = (MofNCompleteColumn(),) if counter is None else counter
    tail = (TimeElapsedColumn(), TimeRemainingColumn()) if remaining else (TimeElapsedColumn(),)
    return RichProgress(TextColumn(description), BarColumn(), *counter, *extra, *tail, console=on,
                        transient=transient)


def open_prepared(dataset: str, features: str, fraction: float, seed: int, target: str | None = None,
                  split: str = "random"):
    """Open ``dataset`` behind a progress bar and prepare it as the lab does (:func:`nidslab.data.prep.prepare`);
    with ``target`` a (Prepared, Target) pair whose y is that feature column (:mod:`nidslab.data.target`)."""
    from nidslab.data import open_dataset
    from nidslab.data.prep import prepare
    from nidslab.data.target import prepare_regression

    if split not in SPLITS:
        raise ConfigError(f"--split must be random or temporal, got {split!r}")
    with progress_bar(f"opening {dataset}") as update:
        ds = open_dataset(dataset, progress=update)
    if target is not None:
        return prepare_regression(ds, target, features=features, fraction=fraction, seed=seed)
    return prepare(ds, features=features, fraction=fraction, seed=seed, temporal=split == "temporal")


def score_test_split(model, p, target) -> dict[str, Any]:
    """evaluate() on the test split; for a target column, its metrics in the column's own units."""
    from nidslab.evaluate import evaluate, evaluate_target

    if target is None:
        return evaluate(model, p.X_test, p.y_test)
    return evaluate_target(model, p.X_test, target.test, mean=target.mean, sd=target.sd)


def metrics_table(title: str, metrics: dict[str, Any]) -> Table:
    """Metrics (as :func:`nidslab.evaluate.evaluate` returns them) as a two-column table."""
    t = Table(title=title, show_header=False)
    for k, v in metrics.items():
        if isinstance(v, float):
            t.add_row(k, f"{v:.4f}")
        elif k == "confusion_matrix":
            (tn, fp), (fn, tp) = v
            t.add_row(k, f"tn {tn:,}  fp {fp:,}\nfn {fn:,}  tp {tp:,}")
        elif v is not None:
            t.add_row(k, str(v))
    return t


@contextlib.contextmanager
def progress_bar(description: str, *, bytes_: bool = False) -> Iterator[progress.Progress]:
    """A transient progress bar on stderr; yields the callback library functions take."""
    counter = (DownloadColumn(), TransferSpeedColumn()) if bytes_ else (MofNCompleteColumn(),)
    with rich_bar(counter=counter, remaining=True) as bar:
        description = escape(description)  # file names and messages are text, not rich markup
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None = None, message: str = "") -> None:
            bar.update(task, completed=done, total=total, description=escape(message) if message else description)

        yield update


def write_table(path, columns: dict) -> None:
    """Write named 1-D columns to ``path`` as Parquet (``.parquet``) or CSV (anything else), atomically."""
    import os
    from pathlib import Path

    import pyarrow as pa

    from nidslab.paths import atomic_path, disk_error

    path = Path(path)
    table = pa.table(columns)
    tmp = atomic_path(path)
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            # dictionary encoding only where values repeat (labels, ints); for floats it costs time and size
            coded = [f.name for f in table.schema if not pa.types.is_floating(f.type)]
            pq.write_table(table, tmp, use_dictionary=coded)
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if (named := disk_error(exc, path)) is not None:  # PyArrow's "[Errno 28]" names no file
            raise named from None
        raise
