"""What the report's figures share: matplotlib on its Agg backend, the colours, the training curves of one
network and the summary chart of every model. Each part draws its own figures in its module.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from nidslab.figures import png_bytes as _png_bytes
from nidslab.figures import DPI, pyplot

plt = pyplot()  # the Agg backend, chosen before anything draws
from matplotlib.ticker import MaxNLocator  # noqa: E402

TRAIN, VAL, ACCENT, GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f"

#: the text every study figure carries in its lower right corner (the dataset, "simulated" when it is)
_STAMP: ContextVar[str | None] = ContextVar("nidslab_figure_stamp", default=None)


@contextlib.contextmanager
def stamped(text: str | None) -> Iterator[None]:
    """Within the block, every figure :func:`png_bytes` writes carries ``text`` in its corner."""
    token = _STAMP.set(text)
    try:
        yield
    finally:
        _STAMP.reset(token)


def png_bytes(fig: Any) -> bytes:
    """The figure as PNG bytes (:func:`nidslab.figures.png_bytes`), stamped with the data it shows."""
    text = _STAMP.get()
    if not text:
        return _png_bytes(fig)
    fig.tight_layout()
    # just below the figure's bottom edge; the tight bounding box grows to hold it
    fig.text(0.995, -0.005, text, ha="right", va="top", fontsize=7, color=GREY)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    return buf.getvalue()


def curves(exp: dict[str, Any]) -> bytes:
    """Loss and accuracy per epoch, training and validation: the lab's ``plot_results``."""
    h = exp["history"]
    epochs = range(1, len(h["loss"]) + 1)
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(9, 2.8))
    for ax, key, label in ((ax_l, "loss", "Loss"), (ax_a, "accuracy", "Accuracy")):
        ax.plot(epochs, h[key], color=TRAIN, label="Training")
        if h.get(f"val_{key}"):
            ax.plot(epochs, h[f"val_{key}"], color=VAL, label="Validation")
        ax.set_xlabel("Epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(exp.get("title", ""), fontsize=10)
    return png_bytes(fig)


def summary(results: dict[str, Any]) -> bytes | None:
    """Test accuracy and balanced accuracy of every model, with the naive classifier as a line."""
    fig = summary_figure(results)
    return None if fig is None else png_bytes(fig)


def summary_figure(results: dict[str, Any]) -> Any:
    """The figure of :func:`summary` (None when no model was trained): the lab's networks, the search's
    choice, LightGBM and logistic regression, one row each; the legend sits above the bars."""
    names, acc, bal = [], [], []
    for e in results.get("experiments", {}).values():
        names.append(e["title"])
        acc.append(e["test"]["accuracy"])
        bal.append(e["test"]["balanced_accuracy"])
    tree = results.get("tree_baseline") or {}
    extra = [("best found (search)", ((results.get("search") or {}).get("final") or {}).get("test")),
             ("LightGBM", tree.get("test")), ("logistic regression", (tree.get("linear") or {}).get("test"))]
    for label, test in extra:
        if test:
            names.append(label)
            acc.append(test["accuracy"])
            bal.append(test["balanced_accuracy"])
    if not names:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.38 * len(names) + 1.6))
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], acc, height=0.4, color=TRAIN, label="accuracy")
    ax.barh([i - 0.2 for i in y], bal, height=0.4, color=ACCENT, label="balanced accuracy")
    naive = (results.get("data") or {}).get("test_naive_accuracy")
    if naive is not None:  # on the accuracy bars only: balanced accuracy's naive level is 0.5, not this
        ax.vlines([naive] * len(names), [i - 0.02 for i in y], [i + 0.42 for i in y], colors=GREY,
                  linestyles="--", zorder=3, label="naive (majority) accuracy")
    ax.set_yticks(list(y), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(min(0.4, min(bal + acc) - 0.05), 1.0)
    ax.set_xlabel("test score")
    # above the axes, outside them: inside, it covered the bars of the last rows
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig



__all__ = ["ACCENT", "GREY", "TRAIN", "VAL", "curves", "plt", "png_bytes", "stamped", "summary", "summary_figure"]
