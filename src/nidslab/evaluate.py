"""Scores and metrics of a trained network: one forward pass over batches, then scikit-learn.

:func:`predict_scores` runs the model in eval mode under ``torch.inference_mode`` in large batches;
:func:`evaluate` gathers the raw outputs once and computes every metric from them.
"""

from __future__ import annotations


import numpy as np
import torch
from torch import nn

from nidslab.model import EVAL_BATCH
from nidslab.threads import torch_threads  # noqa: F401 - its home is nidslab.threads; callers import it from here too
from nidslab.operating_points import (TARGET_FPRS, Z95, operating_points, rates_at, roc_points,  # noqa: F401
                                      threshold_for_fpr, wilson_interval)

ECE_BINS = 15


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.inference_mode()
def predict_raw(model: nn.Module, X: np.ndarray, *, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Raw outputs ``(n,)`` float32: logits for a binary head, values for a regression head."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows, features), got shape {X.shape}")
    n_inputs = getattr(model, "n_inputs", None)
    if n_inputs is not None and X.shape[1] != n_inputs:
        raise ValueError(f"X has {X.shape[1]} columns; the model takes {n_inputs} features")
    dev = _device_of(model)
    was_training = model.training
    model.eval()
    out = np.empty(len(X), dtype=np.float32)
    try:
        for s in range(0, len(X), batch_size):
            xb = torch.from_numpy(np.ascontiguousarray(X[s:s + batch_size])).to(dev)
            out[s:s + len(xb)] = model(xb).float().cpu().numpy()
    finally:
        model.train(was_training)
    return out


def predict_scores(model: nn.Module, X: np.ndarray, *, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Scores ``(n,)`` float32: the probability of the malicious class for a binary head
    (sigmoid of the logits), the predicted value for a regression head."""
    return scores_of(predict_raw(model, X, batch_size=batch_size),
                     getattr(getattr(model, "spec", None), "head", "binary"))


def scores_of(raw: np.ndarray, head: str = "binary") -> np.ndarray:
    """Scores ``(n,)`` float32 from raw outputs ``(n,)``: the sigmoid of the logits for a binary head, the
    outputs themselves for a regression head (what :func:`predict_scores` returns)."""
    if head == "regression":
        return raw
    return (1.0 / (1.0 + np.exp(-raw.astype(np.float64)))).astype(np.float32)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE of the malicious-class probability ``p``: over ``bins`` equal-width bins of p, the
    row-weighted mean of |share of malicious rows - mean p| (0 = perfectly calibrated)."""
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    n = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, weights=y, minlength=bins) - np.bincount(which, weights=p, minlength=bins))
    return float(gap.sum() / max(1, n.sum()))


def binary_metrics(y: np.ndarray, logits: np.ndarray, threshold: float = 0.5) -> dict:
    """Every binary metric from labels ``y`` (0/1) and logits (see :func:`evaluate`).

    The confusion matrix is one ``bincount``, and the metrics it defines (accuracy, balanced accuracy,
    precision, recall, F1 with scikit-learn's ``zero_division=0``), the log loss and the Brier score
    are computed from it and from ``p`` directly: scikit-learn's functions check and ``np.unique``
    their inputs on every call, which was 5 s of a study's 75 evaluations. The ranking metrics (ROC-AUC,
    average precision) stay scikit-learn's. ``tests/test_evaluate.py`` checks every value against
    scikit-learn's.
    """
    from sklearn import metrics

    y = np.asarray(y).astype(np.int64)
    z = logits.astype(np.float64)
    from scipy.special import expit

    p = expit(z)  # 1 / (1 + e^-z) without overflow warnings for very negative logits
    pred = (p >= threshold).astype(np.int64)
    if y.size and (y.min() < 0 or y.max() > 1):
        raise ValueError(f"binary metrics take 0/1 labels; got values from {y.min()} to {y.max()}")
    cm = np.bincount(2 * y + pred, minlength=4).reshape(2, 2)  # [[tn, fp], [fn, tp]]
    (tn, fp), (fn, tp) = (int(v) for v in cm[0]), (int(v) for v in cm[1])
    n = len(y)
    both = tn + fp > 0 and fn + tp > 0
    # BCE from logits, stable for large |z|: softplus(z) - y*z.
    bce = float(np.mean(np.logaddexp(0.0, z) - y * z))
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    return {
        "rows": int(n),
        "threshold": float(threshold),
        "loss": bce,
        "accuracy": (tn + tp) / n if n else 0.0,
        "balanced_accuracy": (tp / (tp + fn) + tn / (tn + fp)) / 2 if both else None,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else 0.0,
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "roc_auc": float(metrics.roc_auc_score(y, p)) if both else None,
        "pr_auc": float(metrics.average_precision_score(y, p)) if both else None,
        "log_loss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log1p(-pc))) if n else 0.0,
        "brier": float(np.mean((p - y) ** 2)) if n else 0.0,
        "ece": expected_calibration_error(y, p),
        "confusion_matrix": cm.tolist(),
    }


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    """MAE, RMSE, R^2 and the MSE loss of predictions ``pred`` against ``y``."""
    from sklearn import metrics

    y, pred = np.asarray(y, dtype=np.float64), pred.astype(np.float64)
    mse = float(metrics.mean_squared_error(y, pred))
    return {"rows": int(len(y)), "loss": mse, "mae": float(metrics.mean_absolute_error(y, pred)),
            "rmse": float(np.sqrt(mse)), "r2": float(metrics.r2_score(y, pred)) if len(y) > 1 else None}


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, *, head: str | None = None, threshold: float = 0.5,
             batch_size: int = EVAL_BATCH) -> dict:
    """Metrics of ``model`` on ``(X, y)``, from one pass over ``batch_size`` rows at a time.

    Binary head (y 0/1): accuracy, balanced_accuracy, precision, recall, f1 (class 1 = malicious
    is positive, predicted when p >= ``threshold``), roc_auc, pr_auc (average precision), log_loss,
    brier, ece, confusion_matrix ``[[tn, fp], [fn, tp]]`` and loss (mean BCE, as Keras's
    ``evaluate`` reports). Metrics undefined with one class present are None.
    Regression head: mae, rmse, r2 and loss (MSE). ``head`` defaults to the model's own.
    """
    head = head or getattr(getattr(model, "spec", None), "head", "binary")
    y = np.asarray(y)
    if y.shape != (len(X),):
        raise ValueError(f"y must have shape ({len(X)},) to match X, got {y.shape}")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold is a probability in [0, 1], got {threshold}")
    raw = predict_raw(model, X, batch_size=batch_size)
    if head == "regression":
        return regression_metrics(y, raw)
    if head != "binary":
        raise ValueError(f"head must be 'binary' or 'regression', got {head!r}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y must hold 0/1 labels for a binary head")
    return binary_metrics(y, raw, threshold)


def evaluate_target(model: nn.Module, X: np.ndarray, y: np.ndarray, *, mean: float, sd: float,
                    batch_size: int = EVAL_BATCH) -> dict:
    """Metrics of a regression network trained on a standardised target (``(value - mean) / sd``, see
    :func:`nidslab.data.target.prepare_regression`), in the target's own units: :func:`regression_metrics`
    of ``output * sd + mean`` against ``y`` (n,), plus ``mean_baseline_mae`` (always predicting ``mean``)."""
    pred = predict_scores(model, X, batch_size=batch_size).astype(np.float64) * sd + mean
    y = np.asarray(y, dtype=np.float64)
    return {**regression_metrics(y, pred), "mean_baseline_mae": float(np.abs(y - mean).mean()) if len(y) else None}





__all__ = ["predict_scores", "predict_raw", "scores_of", "evaluate", "evaluate_target", "binary_metrics", "regression_metrics",
           "expected_calibration_error", "threshold_for_fpr", "wilson_interval", "rates_at", "operating_points",
           "roc_points", "TARGET_FPRS"]
