"""The ``nidslab`` command line: one typer app, one module per command group.

This package is the only place that parses arguments, prints with rich or sets exit codes;
everything below it returns values and raises errors with messages a user can act on.
Each module here exposes ``register(app)``; errors nidslab raises for bad input
(:class:`nidslab.errors.NidslabError`) become one red line and exit code 2, not a traceback.
"""

from __future__ import annotations

import errno

import typer
from rich.console import Console
from rich.markup import escape

from nidslab.errors import NidslabError

err_console = Console(stderr=True)


#: OSError numbers that describe the user's disk, not a bug: the disk is full, or read-only
_DISK_ERRNOS = {errno.ENOSPC: "no space left on the device", errno.EROFS: "the file system is read-only",
                errno.EDQUOT: "disk quota exceeded"}
_PATH_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


def os_error_message(exc: OSError) -> str | None:
    """One line naming the path and what went wrong, for the file-system errors a user can act on; else None."""
    code = -1 if exc.errno is None else exc.errno
    if not isinstance(exc, _PATH_ERRORS) and code not in _DISK_ERRNOS:
        return None
    path = exc.filename
    if path is None:
        return str(exc)  # nidslab's own FileNotFoundError("<path>: no such file") already names it
    what = _DISK_ERRNOS.get(code) or {
        FileNotFoundError: "no such file or folder", PermissionError: "permission denied",
        IsADirectoryError: "is a folder; expected a file", NotADirectoryError: "a part of this path is a file, "
        "not a folder", FileExistsError: "already exists"}.get(type(exc), exc.strerror)
    hint = {errno.ENOSPC: "; free some space (or set NIDSLAB_HOME / -o to another disk) and run again",
            errno.EDQUOT: "; free some space and run again",
            errno.EROFS: "; write somewhere else (NIDSLAB_HOME, -o)"}.get(code, "")
    if isinstance(exc, PermissionError):
        hint = "; check the file's permissions (or set NIDSLAB_HOME / -o to a folder you can write)"
    return f"{path}: {what}{hint}"


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


#: what Ctrl-C leaves, by command: only these resume; every other command wrote nothing half-done
_INTERRUPTED = {
    "train": "the epochs finished so far are checkpointed; run the same command again with --resume to continue",
    "lab": "finished parts are cached; run the same command again to resume",
    "data download": "the partial download is kept; run the same command again to resume it",
}
_NOTHING_KEPT = "nothing half-written was left; run the same command again to start over"


class _Group(typer.core.TyperGroup):
    """Root command group that turns nidslab's user errors into a message and exit code 2.

    User errors are :class:`NidslabError` and the file-system errors of :func:`os_error_message` (a missing
    or unwritable path, a full or read-only disk); anything else is a bug and keeps its traceback.
    """

    def main(self, *args, **kwargs):  # noqa: D102 - click API
        _quiet_flags(self, self.context_class(self, info_name="nidslab"))
        return super().main(*args, **kwargs)

    def invoke(self, ctx):  # noqa: D102 - click API
        # the command's words, read before click hands them on (a sub-command's Ctrl-C hint depends on them)
        words = [a for a in [*getattr(ctx, "_protected_args", []), *ctx.args] if not a.startswith("-")]
        try:
            return super().invoke(ctx)
        except NidslabError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None
        except OSError as exc:
            message = os_error_message(exc)
            if message is None:
                raise
            err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            hint = _INTERRUPTED.get(" ".join(words[:2]), _INTERRUPTED.get(words[0] if words else "", _NOTHING_KEPT))
            err_console.print(f"[yellow]interrupted[/]: {escape(hint)}", highlight=False)
            raise typer.Exit(130) from None


app = typer.Typer(
    name="nidslab",
    cls=_Group,
    help=(
        "Train, evaluate and explain deep networks that tell benign network traffic from "
        "Mirai botnet traffic, on Kitsune (AfterImage) features.\n\n"
        "Start with `nidslab lab` (the whole study, on the embedded default dataset), or "
        "walk the steps: `data`, `train`, `evaluate`, `predict`, `uncertainty`, `bench`, "
        "`features extract`, `simulate`, `calibrate` (to a site's benign traffic), `watch` (live scoring)."
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
    from nidslab.cli import bench, calibrate, data, evaluate, features, lab, model, predict, simulate, train, watch

    for module in (data, features, simulate, train, evaluate, predict, calibrate, bench, model, watch, lab):
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    finally:
        # The command is over and its files are closed. The interpreter's shutdown would run full garbage
        # collections over every object numba's compiler (or torch) created, 0.15-0.2 s; frozen, they are
        # freed by reference counting alone (objects in cycles are left to the OS, as at any exit).
        import gc

        gc.freeze()
