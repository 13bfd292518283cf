"""`nidslab train`: train the lab's network on a dataset and save it as a model folder with its curves."""

from __future__ import annotations

import dataclasses
import shutil
import tomllib
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from nidslab.cli.common import (ACTIVATION, BATCH_NORM, DATA_DEFAULTS, DEVICE, DROPOUT, HEAD, MC_DROPOUT, N_LAYERS,
                                N_NODES, OPTIMIZER, STEP, console, default_of, given, make_fit, make_spec,
                                metrics_table, open_prepared, rich_bar, score_test_split)
from nidslab.errors import ConfigError
from nidslab.settings import FitConfig


def read_config(path: Path | None) -> dict[str, dict[str, Any]]:
    """``--config`` TOML: tables [model] (ModelSpec fields), [fit] (FitConfig fields) and [data]."""
    from nidslab.settings import ModelSpec

    if path is None:
        return {}
    try:
        doc = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    known = {"model": [f.name for f in dataclasses.fields(ModelSpec)],
             "fit": [f.name for f in dataclasses.fields(FitConfig)], "data": list(DATA_DEFAULTS)}
    for table, value in doc.items():
        if table not in known or not isinstance(value, dict):
            raise ConfigError(f"{path}: unknown table [{table}]; expected [model], [fit] and [data]")
        if extra := sorted(set(value) - set(known[table])):
            raise ConfigError(f"{path}: [{table}] has unknown key(s) {', '.join(extra)}; "
                              f"known: {', '.join(known[table])}")
    return doc


def check_target(head: str, target: str | None) -> None:
    """A regression head predicts a feature column (``--target``); a target needs the regression head."""
    if head == "regression" and target is None:
        raise ConfigError("--head regression needs --target COLUMN, the feature to predict (the lab's Part 22: "
                          "--target HH_L0.1_mean); without one it would fit the 0/1 labels")
    if target is not None and head != "regression":
        raise ConfigError(f"--target {target} needs --head regression")


def run_record(data: dict, p, spec, fit_cfg) -> dict[str, Any]:
    """What a checkpoint's weights depend on besides the optimiser's settings, for ``fit(run=...)``: the data
    (name, fingerprint, features, split, fraction, target), the seed, the model spec and the fit settings that
    change the weights (epochs may grow on a resume; device and threads do not change what is learnt)."""
    fit = {k: v for k, v in fit_cfg.to_dict().items() if k not in ("epochs", "device", "threads")}
    return {"dataset": str(data["dataset"]), "fingerprint": p.fingerprint, "features": list(p.feature_names),
            "split": data["split"], "fraction": float(data["fraction"]), "target": data["target"],
            "seed": fit_cfg.seed, "model": spec.to_dict(), "fit": fit}


def train(
    out: Path = typer.Option(Path("model"), "--out", "-o", help="Model folder to write."),
    dataset: str = typer.Option(None, "--data", help="Dataset name or path (default: the embedded default)."),
    features: str = typer.Option(None, "--features", help="Feature selection (lab: the lab's 92).",
                                 show_default=DATA_DEFAULTS["features"]),
    fraction: float = typer.Option(None, "--fraction", help="Share of the rows to use.",
                                   show_default=f"{DATA_DEFAULTS['fraction']:g}"),
    split: str = typer.Option(None, "--split", help="random (the lab's shuffled 70/15/15) | temporal (each class cut "
                                                    "in time order; no test-period row in training).",
                              show_default=DATA_DEFAULTS["split"]),
    config: Path = typer.Option(None, "--config", help="TOML with [model], [fit], [data] tables; flags override it."),
    n_layers: int = N_LAYERS, n_nodes: int = N_NODES, activation: str = ACTIVATION, batch_norm: bool = BATCH_NORM,
    dropout: float = DROPOUT, mc_dropout: bool = MC_DROPOUT, head: str = HEAD,
    optimizer: str = OPTIMIZER,
    lr: float = typer.Option(None, "--lr", help="Learning rate.", show_default=default_of(FitConfig, "lr")),
    batch_size: int = typer.Option(None, "--batch-size", help="Rows per weight update.",
                                   show_default=default_of(FitConfig, "batch_size")),
    epochs: int = typer.Option(None, "--epochs", help="Passes over the training split.",
                               show_default=default_of(FitConfig, "epochs")),
    class_weight: str = typer.Option(None, "--class-weight", help="none | balanced.",
                                     show_default=default_of(FitConfig, "class_weight")),
    seed: int = typer.Option(None, "--seed", help="Seed of the split, the initial weights and the shuffles.",
                             show_default=default_of(FitConfig, "seed")),
    device: str = DEVICE,
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice)."),
    early_stopping: int = typer.Option(None, "--early-stopping", help="Stop after this many epochs without a lower val_loss."),
    resume: bool = typer.Option(False, "--resume", help="Continue a killed run from its last epoch's checkpoint."),
    step: str = STEP,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT even if it is a file or a folder of "
                                                              "other files (a model folder is always replaced)."),
    target: str = typer.Option(None, "--target", help="With --head regression: the feature column to predict, e.g. "
                                                     "HH_L0.1_mean (Part 22); it and its own statistics leave the inputs."),
) -> None:
    """Train the lab's network on a dataset and save it as a model folder, with its curves."""
    from nidslab.figures import write_curves
    from nidslab.model import build_model
    from nidslab.saved_model import check_destination, save_model
    from nidslab.train import fit

    check_destination(out, overwrite=overwrite)  # before training: the mistake should cost nothing
    cfg = read_config(config)
    spec = make_spec({**cfg.get("model", {}), **given(
        n_layers=n_layers, n_nodes=n_nodes, activation=activation, batch_norm=batch_norm, dropout=dropout,
        mc_dropout=mc_dropout, head=head)})
    fit_cfg = make_fit({**cfg.get("fit", {}), **given(
        optimizer=optimizer, lr=lr, batch_size=batch_size, epochs=epochs, class_weight=class_weight, seed=seed,
        device=device, threads=threads, early_stopping=early_stopping, step=step)})
    data = {**DATA_DEFAULTS, **cfg.get("data", {}), **given(dataset=dataset, features=features, fraction=fraction,
                                                                     target=target, split=split)}
    if fit_cfg.epochs < 1:
        raise ConfigError(f"--epochs {fit_cfg.epochs}: train for at least 1 epoch (0 would save an untrained model)")

    check_target(spec.head, data["target"])
    p = open_prepared(data["dataset"], data["features"], data["fraction"], fit_cfg.seed, data["target"],
                      data["split"])
    p, tgt = p if data["target"] is not None else (p, None)
    model = build_model(spec, p.X_train.shape[1], seed=fit_cfg.seed)
    checkpoints = out.with_name(f".{out.name}.checkpoint")
    with rich_bar() as bar:
        task = bar.add_task("epoch", total=fit_cfg.epochs)

        def on_epoch(epoch: int, logs: dict) -> None:
            shown = "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if k not in ("epoch", "epoch_seconds"))
            bar.update(task, completed=epoch, description=f"epoch {epoch}/{fit_cfg.epochs}  {shown}")

        try:
            history = fit(model, (p.X_train, p.y_train), (p.X_val, p.y_val), fit_cfg,
                          checkpoint_dir=checkpoints, resume=resume, callback=on_epoch,
                          run=run_record(data, p, spec, fit_cfg))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    metrics = score_test_split(model, p, tgt)
    metrics_doc = {"test": metrics, "data": {**data, "seed": fit_cfg.seed, "fingerprint": p.fingerprint},
                   "fit": fit_cfg.to_dict()}
    if tgt is not None:
        metrics_doc["target"] = tgt.to_dict()
    thresholds = None
    if spec.head == "binary" and (p.y_val == 0).any():  # thresholds for target FPRs from validation benign rows
        from nidslab.evaluate import predict_raw
        from nidslab.saved_model import thresholds_doc

        thresholds = thresholds_doc(predict_raw(model, p.X_val[p.y_val == 0]), split=data["split"])
    save_model(out, model.cpu(), spec, standardizer=p.standardizer, feature_names=list(p.feature_names),
               metrics=metrics_doc, history=history, thresholds=thresholds, overwrite=overwrite)
    curves = write_curves(out, history.to_dict())
    shutil.rmtree(checkpoints, ignore_errors=True)
    s = sum(history.epoch_seconds)
    console.print(f"trained {history.epochs} epochs in {s:.1f} s ({history.updates_per_epoch:,} updates per epoch)")
    shown = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse", "r2",
             "mean_baseline_mae", "loss", "confusion_matrix")
    where = "test split" if tgt is None else (f"test split: {tgt.name} in its own units (left out of the inputs too: "
                                              f"{', '.join(tgt.excluded) or 'nothing'})")
    console.print(metrics_table(where, {k: metrics[k] for k in shown if k in metrics}))
    if thresholds:
        console.print("thresholds (logit) for target false-positive rates, from the validation split's benign rows: "
                      + ", ".join(f"{q['target_fpr']:g}: {q['threshold']:.4g}" for q in thresholds["points"]))
    console.print(f"saved [bold]{escape(str(out))}[/] (curves: {escape(', '.join(str(c) for c in curves))})")


def register(app: typer.Typer) -> None:
    """Add `train` to the root app."""
    app.command("train")(train)


__all__ = ["register", "read_config"]
