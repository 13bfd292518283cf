"""The report's building blocks, shared by the parts' ``render`` functions and :mod:`nidslab.study.report`.

A block is a tuple: ``("h1"|"h2"|"h3"|"p", text)``, ``("table", headers, rows)`` or ``("figure", stem,
caption)`` or ``("toc",)`` (the table of contents: a link to every h2); a part renders to (blocks, figures by stem as PNG bytes).
"""

from __future__ import annotations

from typing import Any

from nidslab.study.numbers import fmt

Block = tuple[Any, ...]
#: what a part's render returns: its blocks in reading order, and its figures (PNG bytes) by file stem
Rendered = tuple[list[Block], dict[str, bytes]]


def metrics_row(label: str, part: str, e: dict[str, Any]) -> list[str]:
    t = e["test"]
    s = e.get("settings", {})
    seconds = fmt(e.get("train_seconds"), "s") + (f" (1/{e['stacked']['networks']} of a stack)" if e.get("stacked") else "")
    return [label, part, fmt(e.get("params"), "int"), fmt(s.get("epochs"), "int"), seconds,
            fmt(t.get("loss"), "num"), fmt(t["accuracy"], "acc"), fmt(t["balanced_accuracy"], "acc"),
            fmt(t.get("roc_auc"), "acc")]


METRIC_HEADERS = ["model", "part", "parameters", "epochs", "training time", "test loss", "accuracy",
                   "balanced accuracy", "ROC-AUC"]


def _class_weight_text(cw: Any) -> str:
    """None (or "none", as results.json files before FitConfig hold it), "balanced" or the two weights."""
    if isinstance(cw, dict):
        return ", ".join(f"{k}: {fmt(v, 'num')}" for k, v in cw.items())
    return cw or "none"


def settings_text(s: dict[str, Any]) -> str:
    bits = [f"{s['n_layers']} x {s['n_nodes']} {s['activation']}", f"{s['optimizer']} lr {fmt(s['lr'], 'num')}",
            f"batch {fmt(s['batch_size'], 'int')}", f"{fmt(s['epochs'], 'int')} epochs",
            f"class weights: {_class_weight_text(s.get('class_weight'))}"]
    if s.get("batch_norm"):
        bits.append("batch normalisation")
    if s.get("dropout"):
        bits.append(f"dropout {fmt(s['dropout'], 'num')}")
    return ", ".join(bits)


def confusion(e: dict[str, Any]) -> Block:
    (tn, fp), (fn, tp) = e["test"]["confusion_matrix"]
    return ("table", ["", "predicted benign", "predicted malicious"],
            [["benign", fmt(tn, "int"), fmt(fp, "int")], ["malicious", fmt(fn, "int"), fmt(tp, "int")]])


def seed_text(e: dict[str, Any]) -> str | None:
    """The experiment's spread over seeds in words (None: trained with one seed)."""
    import statistics

    runs = e.get("seed_runs") or {}
    acc, bal = runs.get("test_accuracy") or [], runs.get("test_balanced_accuracy") or []
    if len(acc) < 2:
        return None
    words = (f"test accuracy {fmt(statistics.fmean(acc), 'acc')} +- {fmt(statistics.stdev(acc), 'num')}")
    if len(bal) >= 2:
        words += f", balanced accuracy {fmt(statistics.fmean(bal), 'acc')} +- {fmt(statistics.stdev(bal), 'num')}"
    how = (" on one shared shuffle (the seeds differ in initial weights and dropout masks)"
           if e.get("seed_shuffle") == "shared" else "")
    return (f"Retrained with {len(acc)} seeds ({', '.join(str(s) for s in runs.get('seeds', []))}){how}: {words} "
            "(mean +- sd).")


def stacked_text(e: dict[str, Any]) -> str:
    """How the experiment trained when it shared a stacked model ("" when it trained alone)."""
    st = e.get("stacked")
    if not st:
        return ""
    return (f" (its share of {fmt(st['seconds'], 's')} for {fmt(st['networks'], 'int')} networks trained side by "
            f"side as one stacked model on one shared shuffle, with {', '.join(st.get('with') or [])}; its numbers "
            "are those of training it alone, to float rounding)")


def seed_blocks(e: dict[str, Any]) -> list[Block]:
    text = seed_text(e)
    return [("p", text)] if text else []


def experiment_blocks(name: str, e: dict[str, Any], fig_stem: str) -> list[Block]:
    t = e["test"]
    blocks: list[Block] = [
        ("h3", f"{e.get('part', '')}: {e['title']}".strip(": ")),
        ("p", f"Settings: {settings_text(e['settings'])}. {fmt(e['params'], 'int')} trainable parameters; trained in "
              f"{fmt(e['train_seconds'], 's')}{stacked_text(e)}. Test: loss {fmt(t.get('loss'), 'num')}, accuracy {fmt(t['accuracy'], 'acc')}, "
              f"balanced accuracy {fmt(t['balanced_accuracy'], 'acc')}, ROC-AUC {fmt(t.get('roc_auc'), 'acc')}; share "
              f"of test packets predicted malicious {fmt(t.get('positive_rate'), 'acc')}."),
        *seed_blocks(e),
        confusion(e),
        ("figure", fig_stem, f"Loss and accuracy per epoch, training and validation ({name})."),
    ]
    return blocks




__all__ = ["Block", "METRIC_HEADERS", "Rendered", "confusion", "experiment_blocks", "metrics_row", "settings_text"]
