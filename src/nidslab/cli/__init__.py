"""The ``nidslab`` command line: one typer app, one module per command group.

This package is the only place that parses arguments, prints with rich or sets exit codes;
everything below it returns values and raises errors with messages a user can act on.
Each module here exposes ``register(app)``; errors nidslab raises for bad input
(:class:`nidslab.errors.NidslabError`) become one red line and exit code 2, not a traceback.
"""

from __future__ import annotations

import typer
from rich.console import Console

from nidslab.errors import NidslabError

err_console = Console(stderr=True)


def _quiet_flags(command, ctx) -> None:
    """Blank the value placeholder of every on/off flag of ``command`` and the commands below it.

    typer's rich help prints a type after every option, so a flag that takes no value (``--quick``,
    ``--help``) read ``<bool>`` as if it took one; an empty metavar leaves its cell empty.
    """
    params = [*command.params, command.get_help_option(ctx)]
    for p in params:
        if isinstance(p, typer.core.TyperOption) and p.is_flag:
            p.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _quiet_flags(sub, ctx)


class _Group(typer.core.TyperGroup):
    """Root command group that turns nidslab's user errors into a message and exit code 2."""

    def main(self, *args, **kwargs):  # noqa: D102 - click API
        _quiet_flags(self, self.context_class(self, info_name="nidslab"))
        return super().main(*args, **kwargs)

    def invoke(self, ctx):  # noqa: D102 - click API
        try:
            return super().invoke(ctx)
        except NidslabError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
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


def _print_version(value: bool) -> None:
    if value:
        from nidslab import __version__

        print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print nidslab's version and exit."),
) -> None:
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
