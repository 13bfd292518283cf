"""The ``nidslab`` command line: one typer app, one module per command group.

This package is the only place that parses arguments, prints with rich or sets exit codes;
everything below it returns values and raises errors with messages a user can act on.
"""

from __future__ import annotations

import typer

from nidslab.cli import data as _data
from nidslab.cli import features as _features
from nidslab.cli import lab as _lab
from nidslab.cli import model as _model
from nidslab.cli import simulate as _simulate

app = typer.Typer(
    name="nidslab",
    help=(
        "Train, evaluate and explain deep networks that tell benign network traffic from "
        "Mirai botnet traffic, on Kitsune (AfterImage) features.\n\n"
        "Start with `nidslab lab` (the whole study, on the embedded default dataset), or "
        "walk the steps: `data`, `train`, `evaluate`, `predict`, `uncertainty`, `bench`, "
        "`features extract`, `simulate`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.command()
def version() -> None:
    """Print nidslab's version."""
    from nidslab import __version__

    print(__version__)


for _module in (_data, _features, _simulate, _model, _lab):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
