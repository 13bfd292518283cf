"""The ``nidslab`` command line: one typer app, one module per command group.

This package is the only place that parses arguments, prints with rich or sets exit codes;
everything below it returns values and raises errors with messages a user can act on.
Each module here exposes ``register(app)``; errors nidslab raises for bad input
(:class:`nidslab.errors.NidslabError`) become one red line and exit code 2, not a traceback.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from nidslab.errors import NidslabError

err_console = Console(stderr=True)


class _Group(typer.core.TyperGroup):
    """Root command group that turns nidslab's user errors into a message and exit code 2."""

    def invoke(self, ctx):  # noqa: D102 - click API
        try:
            return super().invoke(ctx)
        except NidslabError as exc:
            # escaped: messages name tables and extras in brackets ([search], .[cluster]), not rich markup
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err_console.print("[yellow]interrupted[/]: finished work is kept; run again to resume")
            raise typer.Exit(130) from None


app = typer.Typer(
    name="nidslab",
    cls=_Group,
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
    rich_markup_mode="markdown",
)


@app.callback()
def _root() -> None:
    # A callback keeps `nidslab` a command group even while it has a single command.
    pass


@app.command()
def version() -> None:
    """Print nidslab's version."""
    from nidslab import __version__

    print(__version__)


def _register_all() -> None:
    from nidslab.cli import data, features, lab, model, simulate

    for module in (data, features, simulate, model, lab):
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()
