"""The one progress-callback type nidslab's long-running calls take.

``progress(done, total, message="")``: ``done`` units of work finished out of ``total`` (None when
the total is not known yet), ``message`` what is being done now. Library code calls it and never
draws anything; the CLI passes a rich progress bar's update (``nidslab.cli.common.progress_bar``).
"""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """``progress(done: int, total: int | None, message: str = "") -> None``."""

    def __call__(self, done: int, total: int | None, message: str = "") -> None: ...


def no_progress(done: int, total: int | None, message: str = "") -> None:
    """A :class:`Progress` that reports nothing (the default where a caller passes None)."""


__all__ = ["Progress", "no_progress"]
