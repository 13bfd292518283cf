"""Pieces the CLI modules share: a rich progress bar behind nidslab's ``progress(done, total, message)``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn, TransferSpeedColumn)

err = Console(stderr=True)


@contextlib.contextmanager
def progress_bar(description: str, *, bytes_: bool = False) -> Iterator[Callable[..., None]]:
    """A transient progress bar on stderr; yields the callback library functions take."""
    counter = (DownloadColumn(), TransferSpeedColumn()) if bytes_ else (MofNCompleteColumn(),)
    with Progress(TextColumn("{task.description}"), BarColumn(), *counter, TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err, transient=True) as bar:
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

    from nidslab.paths import atomic_path

    path = Path(path)
    table = pa.table(columns)
    tmp = atomic_path(path)
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table, tmp)
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
