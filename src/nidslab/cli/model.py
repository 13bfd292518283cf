"""`nidslab train | evaluate | predict | uncertainty | bench | model summary`: the lab's networks from the shell."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nidslab.cli.common import write_table
from nidslab.errors import ConfigError, DataError

console = Console()
err = Console(stderr=True)
model_app = typer.Typer(help="Inspect network shapes.", no_args_is_help=True)

# Network and training defaults live in nidslab.settings (ModelSpec, FitConfig); these are the data ones.
DATA_DEFAULTS: dict[str, Any] = {"dataset": "default", "features": "lab", "fraction": 1.0}

# --------------------------------------------------------------------------- shared option types

N_LAYERS = typer.Option(None, "--n-layers", help="Hidden Dense layers (default 2).")
N_NODES = typer.Option(None, "--n-nodes", help="Nodes per hidden layer (default 20).")
ACTIVATION = typer.Option(None, "--activation", help="sigmoid | relu | tanh | elu | gelu (default sigmoid).")
BATCH_NORM = typer.Option(None, "--batch-norm/--no-batch-norm", help="BatchNormalization after each activation.")
DROPOUT = typer.Option(None, "--dropout", help="Dropout rate after each hidden layer (default 0: none).")
MC_DROPOUT = typer.Option(None, "--mc-dropout/--no-mc-dropout", help="Keep dropout on at inference (myDropout).")
HEAD = typer.Option(None, "--head", help="binary | regression (default binary; regression fits the 0/1 labels by MSE).")


def _spec_fields(**given: Any) -> dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


def _make_spec(fields: dict[str, Any]):
    from nidslab.settings import ModelSpec

    try:
        return ModelSpec.from_dict(fields)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model settings: {exc}") from None


def _make_fit(fields: dict[str, Any]):
    from nidslab.settings import FitConfig

    try:
        return FitConfig.from_dict(fields)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"fit settings: {exc}") from None


def _read_config(path: Path | None) -> dict[str, dict[str, Any]]:
    """``--config`` TOML: tables [model] (ModelSpec fields), [fit] and [data]."""
    if path is None:
        return {}
    try:
        doc = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    import dataclasses

    from nidslab.settings import FitConfig, ModelSpec

    known = {"model": {f.name for f in dataclasses.fields(ModelSpec)},
             "fit": {f.name for f in dataclasses.fields(FitConfig)}, "data": set(DATA_DEFAULTS)}
    for table, value in doc.items():
        if table not in known or not isinstance(value, dict):
            raise ConfigError(f"{path}: unknown table [{table}]; expected [model], [fit] and [data]")
        allowed = known[table]
        if allowed is not None and (extra := sorted(set(value) - allowed)):
            raise ConfigError(f"{path}: [{table}] has unknown key(s) {', '.join(extra)}; known: {', '.join(sorted(allowed))}")
    return doc


def _open(dataset: str, features: str, fraction: float, seed: int):
    from nidslab.data import open_dataset
    from nidslab.data.prep import prepare

    with _progress() as bar:
        task = bar.add_task(f"opening {dataset}", total=None)
        ds = open_dataset(dataset, progress=lambda d, t, m="": bar.update(task, completed=d, total=t,
                                                                          description=m or f"opening {dataset}"))
    return prepare(ds, features=features, fraction=fraction, seed=seed)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def _metrics_table(title: str, metrics: dict[str, Any]) -> Table:
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


# --------------------------------------------------------------------------- train


def train(
    out: Path = typer.Option(Path("model"), "--out", "-o", help="Model folder to write."),
    dataset: str = typer.Option(None, "--data", help="Dataset name or path (default: the embedded default)."),
    features: str = typer.Option(None, "--features", help="Feature selection (default lab: the lab's 92)."),
    fraction: float = typer.Option(None, "--fraction", help="Share of the rows to use (default 1)."),
    config: Path = typer.Option(None, "--config", help="TOML with [model], [fit], [data] tables; flags override it."),
    n_layers: int = N_LAYERS, n_nodes: int = N_NODES, activation: str = ACTIVATION, batch_norm: bool = BATCH_NORM,
    dropout: float = DROPOUT, mc_dropout: bool = MC_DROPOUT, head: str = HEAD,
    optimizer: str = typer.Option(None, "--optimizer", help="sgd | adam | adamw | rmsprop (default sgd)."),
    lr: float = typer.Option(None, "--lr", help="Learning rate (default 0.1)."),
    batch_size: int = typer.Option(None, "--batch-size", help="Rows per weight update (default 10,000)."),
    epochs: int = typer.Option(None, "--epochs", help="Passes over the training split (default 20)."),
    class_weight: str = typer.Option(None, "--class-weight", help="none | balanced (default none)."),
    seed: int = typer.Option(None, "--seed", help="Seed of the split, the initial weights and the shuffles (default 0)."),
    device: str = typer.Option(None, "--device", help="auto | cpu | cuda (default auto)."),
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice)."),
    early_stopping: int = typer.Option(None, "--early-stopping", help="Stop after this many epochs without a lower val_loss."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run from its last epoch's checkpoint."),
    step: str = typer.Option(None, "--step", help="Gradients: auto | fused (hand-derived, CPU) | autograd (default auto)."),
) -> None:
    """Train the lab's network on a dataset and save it as a model folder, with its curves."""
    from nidslab.evaluate import evaluate
    from nidslab.model import build_model
    from nidslab.saved_model import save_model
    from nidslab.train import fit

    cfg = _read_config(config)
    spec = _make_spec({**cfg.get("model", {}), **_spec_fields(
        n_layers=n_layers, n_nodes=n_nodes, activation=activation, batch_norm=batch_norm, dropout=dropout,
        mc_dropout=mc_dropout, head=head)})
    fit_cfg = _make_fit({**cfg.get("fit", {}), **_spec_fields(
        optimizer=optimizer, lr=lr, batch_size=batch_size, epochs=epochs, class_weight=class_weight, seed=seed,
        device=device, threads=threads, early_stopping=early_stopping, step=step)})
    data = {**DATA_DEFAULTS, **cfg.get("data", {}), **_spec_fields(dataset=dataset, features=features, fraction=fraction)}

    p = _open(data["dataset"], data["features"], data["fraction"], fit_cfg.seed)
    model = build_model(spec, p.X_train.shape[1], seed=fit_cfg.seed)
    n_epochs = fit_cfg.epochs
    with _progress() as bar:
        task = bar.add_task("epoch", total=n_epochs)

        def on_epoch(epoch: int, logs: dict) -> None:
            shown = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k not in ("epoch", "epoch_seconds"))
            bar.update(task, completed=epoch, description=f"epoch {epoch}/{n_epochs}  {shown}")

        try:
            history = fit(model, (p.X_train, p.y_train), (p.X_val, p.y_val), fit_cfg,
                          checkpoint_dir=out.with_name(f".{out.name}.checkpoint"), resume=resume, callback=on_epoch)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    metrics = evaluate(model, p.X_test, p.y_test)
    metrics_doc = {"test": metrics, "data": {**data, "seed": fit_cfg.seed}, "fit": fit_cfg.to_dict()}
    save_model(out, model.cpu(), spec, standardizer=p.standardizer, feature_names=list(p.feature_names),
               metrics=metrics_doc, history=history)
    curves = write_curves(out, history.to_dict())
    import shutil

    shutil.rmtree(out.with_name(f".{out.name}.checkpoint"), ignore_errors=True)
    s = sum(history.epoch_seconds)
    console.print(f"trained {history.epochs} epochs in {s:.1f} s ({history.updates_per_epoch:,} updates per epoch)")
    shown = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse", "r2", "loss",
             "confusion_matrix")
    console.print(_metrics_table("test split", {k: metrics[k] for k in shown if k in metrics}))
    console.print(f"saved [bold]{out}[/] (curves: {', '.join(str(c) for c in curves)})")


def write_curves(folder: Path, history: dict[str, list[float]]) -> list[Path]:
    """The lab's ``plot_results``: ``loss.png`` and ``accuracy.png`` in ``folder``, each a 10 x 4 inch
    figure of the training and validation curve per epoch (no accuracy figure for a regression head).
    Returns the paths written; each is written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nidslab.paths import atomic_write

    written = []
    for label, train_key, val_key in (("Loss", "loss", "val_loss"), ("Accuracy", "accuracy", "val_accuracy")):
        if not history.get(train_key):
            continue
        fig, ax = plt.subplots(figsize=(10, 4))
        epochs = range(1, len(history[train_key]) + 1)
        ax.plot(epochs, history[train_key], label="Training")
        if history.get(val_key):
            ax.plot(epochs, history[val_key], label="Validation")
        ax.set_xlabel("Epochs")
        ax.set_ylabel(label)
        ax.legend()
        fig.tight_layout()
        path = Path(folder) / f"{train_key}.png"
        with atomic_write(path) as fh:
            fig.savefig(fh, format="png", dpi=100)
        plt.close(fig)
        written.append(path)
    return written


# --------------------------------------------------------------------------- evaluate / uncertainty


def _load(model_dir: Path):
    from nidslab.saved_model import load_model

    return load_model(model_dir)


def _test_split(saved):
    data = saved.metrics.get("data") or DATA_DEFAULTS
    p = _open(data.get("dataset", "default"), data.get("features", "lab"), data.get("fraction", 1.0),
              data.get("seed", 0))
    saved.check_features(p.feature_names, source=f"dataset {data.get('dataset', 'default')!r}")
    return p


def evaluate_cmd(
    model_dir: Path = typer.Argument(..., help="Model folder written by `nidslab train`."),
    threshold: float = typer.Option(0.5, "--threshold", help="Probability at or above which a row is malicious."),
) -> None:
    """Every metric of a saved model on the test split of the data it was trained on."""
    from nidslab.evaluate import evaluate

    saved = _load(model_dir)
    p = _test_split(saved)
    console.print(_metrics_table(f"{model_dir} on the test split ({len(p.y_test):,} rows)",
                                 evaluate(saved.model, p.X_test, p.y_test, threshold=threshold)))


def uncertainty_cmd(
    model_dir: Path = typer.Argument(..., help="Model folder with dropout layers."),
    passes: int = typer.Option(100, "--passes", help="Stochastic passes of the test split."),
    seed: int = typer.Option(0, "--seed", help="Seed of the dropout masks."),
) -> None:
    """Monte Carlo dropout: test accuracy over many passes with dropout on (the lab's Part 20)."""
    from nidslab.uncertainty import mc_dropout

    saved = _load(model_dir)
    p = _test_split(saved)
    try:
        t0 = time.perf_counter()
        r = mc_dropout(saved.model, p.X_test, p.y_test, passes=passes, seed=seed)
        seconds = time.perf_counter() - t0
    except ValueError as exc:
        raise ConfigError(f"{model_dir}: {exc}") from None
    console.print(f"{passes} passes of {len(p.y_test):,} rows with dropout {r.dropout} in {seconds:.1f} s")
    console.print(f"test accuracy: mean {r.accuracy_mean:.4f}, sd {r.accuracy_std:.5f} "
                  f"(min {r.accuracies.min():.4f}, max {r.accuracies.max():.4f})")
    console.print(f"per-row sd of the malicious probability: mean {r.std.mean():.4f}, max {r.std.max():.4f}")


# --------------------------------------------------------------------------- predict


_CAPTURES = (".pcap", ".pcapng", ".cap")


def predict_cmd(
    model_dir: Path = typer.Argument(..., help="Model folder written by `nidslab train`."),
    source: Path = typer.Argument(..., help="Features (.csv, .parquet, .npy; 115 columns) or a capture (.pcap, .pcapng)."),
    out: Path = typer.Option(..., "--out", "-o", help="Scores and labels to write: .csv or .parquet."),
    threshold: float = typer.Option(0.5, "--threshold", help="Probability at or above which a row is malicious."),
    window: float = typer.Option(1.0, "--window", help="For captures: seconds per line of the summary."),
) -> None:
    """Score rows of features or the packets of a capture; write score and label per row."""
    import numpy as np

    from nidslab.evaluate import predict_scores

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise DataError(f"{out}: output must be .csv or .parquet")
    if not 0 <= threshold <= 1:
        raise DataError(f"--threshold must be a probability in [0, 1], got {threshold}")
    saved = _load(model_dir)
    ts = None
    if source.suffix.lower() in _CAPTURES:
        X, ts = _capture_features(source)
    else:
        from nidslab.data import read_features

        X = read_features(source)
    X = _model_inputs(saved, X, source)
    scores = predict_scores(saved.model, X)
    labels = (scores >= threshold).astype(np.uint8)
    columns = {"score": scores, "label": labels}
    if ts is not None:
        columns = {"time": ts, **columns}
    write_table(out, columns)
    flagged = int(labels.sum())
    console.print(f"{len(labels):,} rows scored; {flagged:,} ({flagged / max(1, len(labels)):.1%}) at or above "
                  f"{threshold} flagged malicious; written to {out}")
    if ts is not None and len(ts):
        console.print(_window_table(ts, labels, window))


def _model_inputs(saved, X, source: Path):
    """Select the model's feature columns of a 115-column table and apply its standardiser."""
    import numpy as np

    from nidslab import schema

    if X.shape[1] == schema.N_FEATURES:
        X = X[:, schema.indices(saved.feature_names)]
    elif X.shape[1] != len(saved.feature_names):
        raise DataError(f"{source}: {X.shape[1]} columns; expected the {schema.N_FEATURES} Kitsune features "
                        f"or the model's own {len(saved.feature_names)}")
    if saved.standardizer:
        from nidslab.data.prep import Standardizer

        X = Standardizer.from_dict(saved.standardizer).transform(X)
    return np.ascontiguousarray(X, dtype=np.float32)


def _capture_features(path: Path):
    """Features (uci layout) and timestamps of every decoded packet of a capture."""
    import numpy as np

    from nidslab.features.extract import FeatureExtractor
    from nidslab.features.pcap import iter_packets

    fx = FeatureExtractor("uci")
    feats, times = [], []
    with _progress() as bar:
        task = bar.add_task(f"reading {path.name}", total=None)
        for packets in iter_packets(path):
            feats.append(fx.transform(packets))
            times.append(packets.ts)
            bar.update(task, advance=len(packets))
    if not feats:
        raise DataError(f"{path}: no packets decoded")
    return np.concatenate(feats), np.concatenate(times)


def _window_table(ts, labels, window: float) -> Table:
    import numpy as np

    t0 = float(ts[0])
    which = ((ts - t0) // window).astype(np.int64)
    n = np.bincount(which)
    flagged = np.bincount(which, weights=labels, minlength=len(n))
    t = Table(title=f"share flagged per {window:g} s window")
    for col in ("window start (s)", "packets", "flagged"):
        t.add_column(col, justify="right")
    rows = np.flatnonzero(n)
    if len(rows) > 40:  # keep the terminal readable: first and last 20 windows
        rows = np.concatenate([rows[:20], rows[-20:]])
    for i in rows:
        t.add_row(f"{i * window:g}", f"{n[i]:,}", f"{flagged[i] / n[i]:.1%}")
    return t


# --------------------------------------------------------------------------- bench


def bench(
    dataset: str = typer.Option("default", "--data", help="Dataset name or path."),
    batch_sizes: str = typer.Option("100,1000,10000", "--batch-sizes", help="Comma-separated batch sizes."),
    n_layers: int = N_LAYERS, n_nodes: int = N_NODES, activation: str = ACTIVATION, batch_norm: bool = BATCH_NORM,
    dropout: float = DROPOUT,
    optimizer: str = typer.Option(None, "--optimizer", help="sgd | adam | adamw | rmsprop (default sgd)."),
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch."),
    device: str = typer.Option(None, "--device", help="auto | cpu | cuda (default auto)."),
) -> None:
    """Time one training epoch (with its validation pass) per batch size: seconds, updates, peak memory."""
    from nidslab.model import build_model
    from nidslab.train import fit

    try:
        sizes = [int(s) for s in batch_sizes.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--batch-sizes must be integers separated by commas, got {batch_sizes!r}") from None
    spec = _make_spec(_spec_fields(n_layers=n_layers, n_nodes=n_nodes, activation=activation,
                                   batch_norm=batch_norm, dropout=dropout))
    p = _open(dataset, "lab", 1.0, 0)
    t = Table(title=f"one epoch on {len(p.y_train):,} x {p.X_train.shape[1]} rows (+ validation {len(p.y_val):,})")
    for col in ("batch size", "seconds", "updates", "peak memory (MiB)", "val accuracy"):
        t.add_column(col, justify="right")
    fit_cfg = _make_fit({"epochs": 1, **_spec_fields(optimizer=optimizer, threads=threads, device=device)})
    for bs in sizes:
        model = build_model(spec, p.X_train.shape[1], seed=fit_cfg.seed)
        with _PeakRSS() as peak:
            h = fit(model, (p.X_train, p.y_train), (p.X_val, p.y_val), fit_cfg.replace(batch_size=bs))
        t.add_row(f"{bs:,}", f"{h.epoch_seconds[0]:.3f}", f"{h.updates_per_epoch:,}", f"{peak.mib:.0f}",
                  f"{h.val_accuracy[0]:.4f}")
    console.print(t)


class _PeakRSS:
    """Peak resident memory of this process during the block (CUDA: peak allocated), in MiB."""

    def __enter__(self):
        import torch

        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc):
        import resource

        import torch

        if self.cuda:
            self.mib = torch.cuda.max_memory_allocated() / 2**20
        else:  # ru_maxrss is the process's lifetime peak (KiB on Linux)
            self.mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return False


# --------------------------------------------------------------------------- model summary


@model_app.command("summary")
def summary_cmd(
    n_inputs: int = typer.Option(92, "--n-inputs", help="Input features (the lab's 92)."),
    n_layers: int = N_LAYERS, n_nodes: int = N_NODES, activation: str = ACTIVATION, batch_norm: bool = BATCH_NORM,
    dropout: float = DROPOUT, mc_dropout: bool = MC_DROPOUT,
    head: str = HEAD,
) -> None:
    """Per-layer output shape and parameter count of a network, like Keras's model.summary()."""
    from nidslab.model import build_model, summary

    spec = _make_spec(_spec_fields(n_layers=n_layers, n_nodes=n_nodes, activation=activation, batch_norm=batch_norm,
                                   dropout=dropout, mc_dropout=mc_dropout, head=head))
    s = summary(build_model(spec, n_inputs), n_inputs)
    t = Table(title=f"{spec.n_layers} x {spec.n_nodes} {spec.activation} on {n_inputs} inputs")
    for col, justify in (("Layer (type)", "left"), ("Output Shape", "left"), ("Param #", "right")):
        t.add_column(col, justify=justify)
    for r in s.rows:
        t.add_row(f"{r.name} ({r.kind})", str(r.output_shape), f"{r.params:,}")
    console.print(t)
    console.print(f"Total params: {s.total_params:,}  Trainable params: {s.trainable_params:,}  "
                  f"Non-trainable params: {s.non_trainable_params:,}")


def register(app: typer.Typer) -> None:
    """Add train, evaluate, predict, uncertainty, bench and `model summary` to the root app."""
    app.command("train")(train)
    app.command("evaluate")(evaluate_cmd)
    app.command("predict")(predict_cmd)
    app.command("uncertainty")(uncertainty_cmd)
    app.command("bench")(bench)
    app.add_typer(model_app, name="model")


__all__ = ["register", "write_curves"]
