"""The report's figures, drawn from results.json with matplotlib (Agg backend), returned as PNG bytes.

Each function takes the results dict (or one part of it) and returns ``bytes`` of a PNG, or None
when the part it draws was not run.
"""

from __future__ import annotations

from typing import Any

from nidslab.figures import png_bytes, pyplot

plt = pyplot()  # the Agg backend, chosen before anything draws
from matplotlib.ticker import MaxNLocator  # noqa: E402

TRAIN, VAL, ACCENT, GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#7f7f7f"


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
    if naive is not None:
        ax.axvline(naive, color=GREY, linestyle="--", label="naive (majority) accuracy")
    ax.set_yticks(list(y), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(min(0.4, min(bal + acc) - 0.05), 1.0)
    ax.set_xlabel("test score")
    # above the axes, outside them: inside, it covered the bars of the last rows
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig


def batch_timing(part: dict[str, Any] | None) -> bytes | None:
    """Seconds per epoch and weight updates per epoch against batch size (log axes)."""
    if not part:
        return None
    rows = part["rows"]
    bs = [r["batch_size"] for r in rows]
    fig, (ax_t, ax_u) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_t.plot(bs, [r["seconds_per_epoch"] for r in rows], "o-", color=TRAIN)
    ax_t.set_ylabel("seconds per epoch")
    ax_u.plot(bs, [r["updates_per_epoch"] for r in rows], "o-", color=VAL)
    ax_u.set_ylabel("weight updates per epoch")
    for ax in (ax_t, ax_u):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.grid(alpha=0.3, which="both")
    return png_bytes(fig)


def depth_timing(part: dict[str, Any] | None) -> bytes | None:
    """Seconds per training epoch against the number of hidden layers."""
    rows = (part or {}).get("depth_timing") or []
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r["n_layers"] for r in rows], [r["seconds_per_epoch"] for r in rows], "o-", color=TRAIN)
    ax.set_xlabel(f"hidden layers ({rows[0]['n_nodes']} nodes each)")
    ax.set_ylabel("seconds per epoch")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return png_bytes(fig)


def search_trials(part: dict[str, Any] | None) -> bytes | None:
    """Each Optuna trial's validation score in trial order, and the best so far."""
    trials = [t for t in (part or {}).get("trials", []) if t.get("value") is not None]
    if not trials:
        return None
    x = [t["number"] for t in trials]
    v = [t["value"] for t in trials]
    best, run = [], float("-inf")
    for value in v:
        run = max(run, value)
        best.append(run)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.scatter(x, v, color=TRAIN, s=18, label="trial")
    ax.step(x, best, where="post", color=ACCENT, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(part.get("objective", "validation score"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def mc_dropout(part: dict[str, Any] | None) -> bytes | None:
    """Histogram of the per-pass test accuracies, and of the per-packet sd of the predicted probability."""
    if not part:
        return None
    fig, (ax_a, ax_u) = plt.subplots(1, 2, figsize=(9, 3.2))
    ax_a.hist(part["accuracy"]["per_pass"], bins=20, color=TRAIN)
    ax_a.axvline(part["deterministic_accuracy"], color=VAL, linestyle="--", label="dropout off")
    ax_a.set_xlabel("test accuracy of one pass")
    ax_a.set_ylabel("passes")
    ax_a.legend(fontsize=8)
    h = part["per_packet_sd"]["histogram"]
    edges, counts = h["edges"], h["counts"]
    ax_u.bar(edges[:-1], counts, width=[b - a for a, b in zip(edges[:-1], edges[1:], strict=True)],
             align="edge", color=ACCENT)
    ax_u.set_yscale("log")
    ax_u.set_xlabel("sd of a packet's predicted probability over passes")
    ax_u.set_ylabel("test packets")
    for ax in (ax_a, ax_u):
        ax.grid(alpha=0.3)
    return png_bytes(fig)


def cross_validation(part: dict[str, Any] | None) -> bytes | None:
    """Per-fold test accuracy, with the mean and +-1 sd."""
    if not part:
        return None
    acc = part["accuracy"]["per_fold"]
    mean, sd = part["accuracy"]["mean"], part["accuracy"]["sd"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(range(1, len(acc) + 1), acc, color=TRAIN)
    ax.axhline(mean, color=VAL, label="mean")
    ax.axhspan(mean - sd, mean + sd, color=VAL, alpha=0.2, label="mean +- sd")
    lo = min(acc)
    ax.set_ylim(max(0.0, lo - 0.02), min(1.0, max(acc) + 0.02))
    ax.set_xlabel("fold")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return png_bytes(fig)


def regression(part: dict[str, Any] | None) -> bytes | None:
    """Predicted against true target on a sample of test rows."""
    if not part or not part.get("sample"):
        return None
    t, p = part["sample"]["true"], part["sample"]["pred"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(t, p, s=4, alpha=0.4, color=TRAIN)
    lo, hi = min(min(t), min(p)), max(max(t), max(p))
    ax.plot([lo, hi], [lo, hi], color=GREY, linestyle="--")
    ax.set_xlabel(f"true {part['target']} ({part['units']})")
    ax.set_ylabel("predicted")
    ax.grid(alpha=0.3)
    return png_bytes(fig)


def all_figures(results: dict[str, Any]) -> dict[str, bytes]:
    """Every figure of the report by file stem (``curves_<experiment>`` etc.); parts not run are left out."""
    figs: dict[str, bytes | None] = {"summary": summary(results)}
    for name, exp in results.get("experiments", {}).items():
        figs[f"curves_{name}"] = curves(exp)
    figs["batch_size_timing"] = batch_timing(results.get("batch_size_timing"))
    figs["search_trials"] = search_trials(results.get("search"))
    figs["depth_timing"] = depth_timing(results.get("search"))
    if (results.get("search") or {}).get("final"):
        figs["curves_search_final"] = curves(results["search"]["final"])
    figs["mc_dropout"] = mc_dropout(results.get("mc_dropout"))
    figs["cross_validation"] = cross_validation(results.get("cross_validation"))
    figs["regression"] = regression(results.get("regression"))
    from nidslab.study import evaluation_report  # imports this module's helpers

    figs.update(evaluation_report.figures(results.get("evaluation")))
    return {k: v for k, v in figs.items() if v is not None}
