"""Figures written as PNG files: a training run's loss and accuracy curves (the lab's ``plot_results``).

The report's figures (``nidslab.study.charts`` and each study part) draw from results.json and return PNG bytes with the
same helpers: :func:`png_bytes` renders a figure, :func:`pyplot` gives matplotlib on its Agg backend.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

DPI = 100


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (files only; nothing opens a window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig: Any, *, dpi: int = DPI) -> bytes:
    """The figure laid out tightly, as PNG bytes; the figure is closed."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    pyplot().close(fig)
    return buf.getvalue()


def write_curves(folder: str | Path, history: dict[str, list[float]]) -> list[Path]:
    """``loss.png`` and ``accuracy.png`` in ``folder``, each a 10 x 4 inch figure of the training and
    validation curve per epoch (no accuracy figure for a regression head). ``history`` is a
    :class:`nidslab.train.History` as a dict. Returns the paths written; each is written atomically."""
    from nidslab.paths import atomic_write

    plt = pyplot()
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
        path = Path(folder) / f"{train_key}.png"
        png = png_bytes(fig)
        with atomic_write(path) as fh:
            fh.write(png)
        written.append(path)
    return written


__all__ = ["write_curves", "png_bytes", "pyplot", "DPI"]
