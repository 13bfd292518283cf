"""`nidslab model summary`: a network's layers and parameter counts, like Keras's model.summary()."""

from __future__ import annotations

import typer
from rich.table import Table

from nidslab.cli.common import (ACTIVATION, BATCH_NORM, DROPOUT, HEAD, MC_DROPOUT, N_LAYERS, N_NODES, console, given,
                                make_spec)

model_app = typer.Typer(help="Inspect network shapes.", no_args_is_help=True)


@model_app.command("summary")
def summary_cmd(
    n_inputs: int = typer.Option(92, "--n-inputs", help="Input features (the lab's 92)."),
    n_layers: int = N_LAYERS, n_nodes: int = N_NODES, activation: str = ACTIVATION, batch_norm: bool = BATCH_NORM,
    dropout: float = DROPOUT, mc_dropout: bool = MC_DROPOUT,
    head: str = HEAD,
) -> None:
    """Per-layer output shape and parameter count of a network, like Keras's model.summary()."""
    from nidslab.model import build_model, summary

    spec = make_spec(given(n_layers=n_layers, n_nodes=n_nodes, activation=activation, batch_norm=batch_norm,
                           dropout=dropout, mc_dropout=mc_dropout, head=head))
    s = summary(build_model(spec, n_inputs), n_inputs)
    t = Table(title=f"{spec.n_layers} x {spec.n_nodes} {spec.activation} on {n_inputs} inputs")
    t.add_column("Layer (type)")
    t.add_column("Output Shape")
    t.add_column("Param #", justify="right")
    for r in s.rows:
        t.add_row(f"{r.name} ({r.kind})", str(r.output_shape), f"{r.params:,}")
    console.print(t)
    console.print(f"Total params: {s.total_params:,}  Trainable params: {s.trainable_params:,}  "
                  f"Non-trainable params: {s.non_trainable_params:,}")


def register(app: typer.Typer) -> None:
    """Add `model summary` to the root app."""
    app.add_typer(model_app, name="model")


__all__ = ["register"]
