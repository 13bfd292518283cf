"""`nidslab bench`: seconds per training epoch, weight updates and the training step's memory per batch size."""

from __future__ import annotations

import typer
from rich.table import Table

from nidslab.cli.common import (ACTIVATION, BATCH_NORM, DEVICE, DROPOUT, N_LAYERS, N_NODES, OPTIMIZER, console, given,
                                make_fit, make_spec, open_prepared)
from nidslab.errors import ConfigError


def bench(
    dataset: str = typer.Option("default", "--data", help="Dataset name or path."),
    batch_sizes: str = typer.Option("100,1000,10000", "--batch-sizes", help="Comma-separated batch sizes."),
    n_layers: int = N_LAYERS, n_nodes: int = N_NODES, activation: str = ACTIVATION, batch_norm: bool = BATCH_NORM,
    dropout: float = DROPOUT,
    optimizer: str = OPTIMIZER,
    threads: int = typer.Option(None, "--threads", help="CPU threads for torch."),
    device: str = DEVICE,
) -> None:
    """Time one training epoch (with its validation pass) per batch size: seconds, updates, and the bytes
    of tensors one training step holds (batch, activations kept for backward, weights, gradients,
    optimiser state; counted from a real step, see nidslab.memory)."""
    from nidslab.memory import step_memory
    from nidslab.model import build_model
    from nidslab.train import fit

    try:
        sizes = [int(s) for s in batch_sizes.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--batch-sizes must be integers separated by commas, got {batch_sizes!r}") from None
    spec = make_spec(given(n_layers=n_layers, n_nodes=n_nodes, activation=activation, batch_norm=batch_norm,
                           dropout=dropout))
    fit_cfg = make_fit({"epochs": 1, **given(optimizer=optimizer, threads=threads, device=device)})
    p = open_prepared(dataset, "lab", 1.0, 0)
    t = Table(title=f"one epoch on {len(p.y_train):,} x {p.X_train.shape[1]} rows (+ validation {len(p.y_val):,})")
    for col in ("batch size", "seconds", "updates", "step memory (MiB)", "val accuracy"):
        t.add_column(col, justify="right")
    for bs in sizes:
        model = build_model(spec, p.X_train.shape[1], seed=fit_cfg.seed)
        memory = step_memory(model, p.X_train.shape[1], bs, optimizer=fit_cfg.optimizer, lr=fit_cfg.lr,
                             class_weighted=fit_cfg.class_weight is not None)
        h = fit(model, (p.X_train, p.y_train), (p.X_val, p.y_val), fit_cfg.replace(batch_size=bs))
        t.add_row(f"{bs:,}", f"{h.epoch_seconds[0]:.3f}", f"{h.updates_per_epoch:,}",
                  f"{memory['total'] / 2**20:.2f}", f"{h.val_accuracy[0]:.4f}")
    console.print(t)


def register(app: typer.Typer) -> None:
    """Add `bench` to the root app."""
    app.command("bench")(bench)


__all__ = ["register"]
