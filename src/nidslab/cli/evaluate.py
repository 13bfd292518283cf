"""`nidslab evaluate | uncertainty`: a saved model on the test split of the data it was trained on."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.markup import escape

from nidslab.cli.common import (DATA_DEFAULTS, TARGET_FPR_CHOICES, console, metrics_table, open_prepared,
                                score_test_split)
from nidslab.errors import ConfigError, DataError
from nidslab.operating_points import PROBABILITY_THRESHOLD


def _test_split(saved):
    """The prepared dataset a saved model was trained on (its test split is what it never saw)."""
    if not isinstance(saved.metrics.get("data"), dict) or "dataset" not in saved.metrics["data"]:
        raise DataError(f"{saved.path / 'metrics.json'} records no training data (the model was not saved by "
                        "`nidslab train`), so its test split is unknown and nidslab will not guess one. Score rows "
                        f"you hold out with `nidslab predict {saved.path} FEATURES -o scores.csv`")
    data = {**DATA_DEFAULTS, "seed": 0, **saved.metrics["data"]}
    target = data.get("target")
    p = open_prepared(data["dataset"], data["features"], data["fraction"], data["seed"], target,
                      data.get("split", "random"))
    p, tgt = p if target is not None else (p, None)
    saved.check_features(p.feature_names, source=f"dataset {data['dataset']!r}")
    if data.get("fingerprint") and data["fingerprint"] != p.fingerprint:
        raise DataError(f"dataset {data['dataset']!r} has changed since {saved.path} was trained on it "
                        f"(fingerprint {p.fingerprint}, the model recorded {data['fingerprint']}): it was imported or "
                        "built again, so its test split is other rows. Train again, or import the original data "
                        "under another name and train on that")
    return p, tgt


def evaluate_cmd(
    model_dir: Path = typer.Argument(..., help="Model folder written by `nidslab train`."),
    threshold: float = typer.Option(PROBABILITY_THRESHOLD, "--threshold", help="Probability at or above which a row is malicious."),
    target_fpr: float = typer.Option(None, "--target-fpr", help="Use the model's stored threshold for this false-"
                                     f"positive rate ({TARGET_FPR_CHOICES}; picked from validation benign rows) "
                                     "instead of --threshold, and show test TPR/FPR with 95% Wilson intervals."),
) -> None:
    """Every metric of a saved model on the test split of the data it was trained on."""
    import numpy as np

    from nidslab.evaluate import evaluate, predict_raw, rates_at
    from nidslab.saved_model import load_model

    if not 0 <= threshold <= 1:
        raise DataError(f"--threshold must be a probability in [0, 1], got {threshold}")
    saved = load_model(model_dir)
    t_logit = saved.threshold_for(target_fpr) if target_fpr is not None else None
    p, tgt = _test_split(saved)
    if t_logit is not None:
        threshold = float(1.0 / (1.0 + np.exp(-t_logit)))  # the same cut on the probability scale, for evaluate()
    metrics = (evaluate(saved.model, p.X_test, p.y_test, threshold=threshold) if tgt is None
               else score_test_split(saved.model, p, tgt))
    what = "" if tgt is None else f", predicting {tgt.name} in its own units"
    console.print(metrics_table(f"{escape(str(model_dir))} on the test split ({len(p.y_test):,} rows{what})", metrics))
    if t_logit is not None:
        r = rates_at(p.y_test, predict_raw(saved.model, p.X_test), t_logit)
        rows = {"target FPR": f"{target_fpr:g}", "threshold (logit)": f"{t_logit:.6g}"}
        for k in ("tpr", "fpr"):
            if r[k] is not None:
                lo, hi = r[f"{k}_ci"]
                rows[f"test {k.upper()} [95% CI]"] = f"{r[k]:.4g} [{lo:.4g}, {hi:.4g}]"
        console.print(metrics_table("at the stored threshold", rows))


def uncertainty_cmd(
    model_dir: Path = typer.Argument(..., help="Model folder with dropout layers."),
    passes: int = typer.Option(100, "--passes", help="Stochastic passes of the test split."),
    seed: int = typer.Option(0, "--seed", help="Seed of the dropout masks."),
) -> None:
    """Monte Carlo dropout: test accuracy over many passes with dropout on (the lab's Part 20)."""
    from nidslab.saved_model import load_model
    from nidslab.uncertainty import mc_dropout

    saved = load_model(model_dir)
    p, _ = _test_split(saved)
    try:
        t0 = time.perf_counter()
        r = mc_dropout(saved.model, p.X_test, p.y_test, passes=passes, seed=seed)
        seconds = time.perf_counter() - t0
    except ValueError as exc:
        raise ConfigError(f"{model_dir}: {exc}") from None
    console.print(f"{passes} passes of {len(p.y_test):,} rows with dropout {r.dropout} in {seconds:.1f} s")
    console.print(f"test accuracy: mean {r.accuracy_mean:.4f}, sd {r.accuracy_std:.5f} "
                  f"(min {r.accuracies.min():.4f}, max {r.accuracies.max():.4f})")
    console.print(f"per-row sd of the malicious probability: mean {r.std.mean():.4f}, max {r.std.max():.4f}")


def register(app: typer.Typer) -> None:
    """Add `evaluate` and `uncertainty` to the root app."""
    app.command("evaluate")(evaluate_cmd)
    app.command("uncertainty")(uncertainty_cmd)


__all__ = ["register"]
