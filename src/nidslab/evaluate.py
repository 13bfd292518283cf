"""Scores and metrics of a trained network: one forward pass over batches, then scikit-learn.

:func:`predict_scores` runs the model in eval mode under ``torch.inference_mode`` in large batches;
:func:`evaluate` gathers the raw outputs once and computes every metric from them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from nidslab.model import EVAL_BATCH

ECE_BINS = 15


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with torch's CPU thread count set to ``n`` (None: unchanged), then restore it.

    Small networks scored in chunks (``nidslab watch``) run faster on one thread: with more, the
    thread pool's hand-offs cost more than the matmuls, and far more on a loaded machine.
    """
    old = torch.get_num_threads()
    if n and n != old:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if n and n != old:
            torch.set_num_threads(old)


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
    raw = predict_raw(model, X, batch_size=batch_size)
    if getattr(getattr(model, "spec", None), "head", "binary") == "regression":
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
    """Every binary metric from labels ``y`` (0/1) and logits (see :func:`evaluate`)."""
    from sklearn import metrics

    y = np.asarray(y).astype(np.int64)
    z = logits.astype(np.float64)
    from scipy.special import expit

    p = expit(z)  # 1 / (1 + e^-z) without overflow warnings for very negative logits
    pred = (p >= threshold).astype(np.int64)
    cm = metrics.confusion_matrix(y, pred, labels=[0, 1])
    both = len(np.unique(y)) == 2
    # BCE from logits, stable for large |z|: softplus(z) - y*z.
    bce = float(np.mean(np.logaddexp(0.0, z) - y * z))
    return {
        "rows": int(len(y)),
        "threshold": float(threshold),
        "loss": bce,
        "accuracy": float(metrics.accuracy_score(y, pred)),
        "balanced_accuracy": float(metrics.balanced_accuracy_score(y, pred)) if both else None,
        "precision": float(metrics.precision_score(y, pred, zero_division=0)),
        "recall": float(metrics.recall_score(y, pred, zero_division=0)),
        "f1": float(metrics.f1_score(y, pred, zero_division=0)),
        "roc_auc": float(metrics.roc_auc_score(y, p)) if both else None,
        "pr_auc": float(metrics.average_precision_score(y, p)) if both else None,
        "log_loss": float(metrics.log_loss(y, np.clip(p, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "brier": float(metrics.brier_score_loss(y, p, pos_label=1)),
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



# ----------------------------------------------------------------------------- operating points
# Pure NumPy from here on (KitNET and the tree model use them on their own scores): a detector is deployed
# at a threshold, and the threshold is chosen for a false-alarm budget on benign traffic it has seen.

#: false-positive rates the study reports an operating point for; the first is the default
TARGET_FPRS = (1e-3, 1e-2, 1e-4)
Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile (a two-sided 95 % interval)


def threshold_for_fpr(benign_scores: np.ndarray, target_fpr: float = 1e-3) -> float:
    """The lowest threshold whose false-positive rate on ``benign_scores`` is at most ``target_fpr``.

    ``benign_scores`` (n,): scores of benign rows (validation rows, never test rows), higher = more
    malicious, any monotone scale (logits, probabilities, reconstruction errors). A row is flagged when its
    score is ``>= threshold``. The threshold lies just above the (k+1)-th largest score, k = floor(f * n),
    so at most k benign rows score at or above it, ties included. When ``f * n < 1`` that is just above
    the largest benign score (the rate cannot be resolved below 1/n). Returns a float (the scores' scale;
    for float32 scores, a float32 value, so the rule holds whether they are compared in float32 or float64).
    """
    raw = np.asarray(benign_scores)
    # the step above the k-th score is taken in the scores' own precision, so float32 scores compared with
    # the threshold (NumPy compares a float32 array with a Python float in float32) still clear it
    step = np.float32 if raw.dtype == np.float32 else np.float64
    s = raw.astype(np.float64).ravel()
    if s.size == 0:
        raise ValueError("no benign scores to pick a threshold from")
    if not 0.0 <= target_fpr < 1.0:
        raise ValueError(f"target_fpr must be in [0, 1), got {target_fpr}")
    if not np.all(np.isfinite(s)):
        raise ValueError("benign scores must be finite")
    k = int(np.floor(target_fpr * s.size + 1e-9))
    kth = np.partition(s, s.size - 1 - k)[s.size - 1 - k]  # the (k+1)-th largest
    return float(np.nextafter(step(kth), step(np.inf)))


def wilson_interval(k: int | np.ndarray, n: int | np.ndarray, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion k/n (95 % by default). Returns (low, high); (0, 1) for n = 0."""
    k, n = float(k), float(n)
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    den = 1.0 + z * z / n
    mid = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if k <= 0 else max(0.0, mid - half)  # exact ends: rounding would leave 1e-19 for k = 0
    hi = 1.0 if k >= n else min(1.0, mid + half)
    return float(lo), float(hi)


def rates_at(y: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    """Detection and false-alarm rates of ``scores >= threshold`` against labels ``y`` (0/1), each with its
    Wilson 95 % interval: ``tpr``, ``tpr_ci``, ``fpr``, ``fpr_ci``, counts ``tp, fn, fp, tn`` (None rates
    where a class is absent)."""
    y = np.asarray(y).astype(bool).ravel()
    flag = np.asarray(scores, dtype=np.float64).ravel() >= threshold
    if y.shape != flag.shape:
        raise ValueError(f"y has {y.size} rows, scores {flag.size}")
    tp, fp = int(np.sum(flag & y)), int(np.sum(flag & ~y))
    pos, neg = int(y.sum()), int((~y).sum())
    return {"threshold": float(threshold), "tp": tp, "fn": pos - tp, "fp": fp, "tn": neg - fp,
            "tpr": tp / pos if pos else None, "tpr_ci": list(wilson_interval(tp, pos)) if pos else None,
            "fpr": fp / neg if neg else None, "fpr_ci": list(wilson_interval(fp, neg)) if neg else None}


def operating_points(val_benign_scores: np.ndarray, y_test: np.ndarray, test_scores: np.ndarray,
                     targets: tuple[float, ...] = TARGET_FPRS) -> list[dict]:
    """For each target FPR: the threshold from the validation benign scores and the test rates at it
    (:func:`rates_at`), plus ``target_fpr``, ``validation_rows`` and ``resolvable`` (whether
    ``target * validation_rows >= 1``, i.e. the validation set can tell that rate from zero)."""
    n = int(np.size(val_benign_scores))
    out = []
    for f in targets:
        t = threshold_for_fpr(val_benign_scores, f)
        out.append({"target_fpr": float(f), "validation_rows": n, "resolvable": bool(f * n >= 1),
                    **rates_at(y_test, test_scores, t)})
    return out


def roc_points(y: np.ndarray, scores: np.ndarray, max_points: int = 200) -> dict:
    """The ROC curve of ``scores`` for labels ``y``, thinned to at most ``max_points`` points (kept evenly
    along the curve's length in log-FPR, so the low-FPR end a deployment cares about keeps its detail).
    Returns ``fpr``, ``tpr`` (lists) and ``auc`` (from the full curve); None when one class is absent."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.asarray(y).astype(np.int64).ravel()
    if len(np.unique(y)) < 2:
        return None
    s = np.asarray(scores, dtype=np.float64).ravel()
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=True)
    if len(fpr) > max_points:
        pos = np.log10(np.maximum(fpr, 1e-7))
        # the last point at or below each target: the highest TPR reached at that FPR (ties at FPR 0 included)
        at = np.searchsorted(pos, np.linspace(pos[0], pos[-1], max_points - 2), side="right") - 1
        keep = np.unique(np.concatenate([[0, len(fpr) - 1], at.clip(0, len(fpr) - 1)]))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "auc": float(roc_auc_score(y, s))}


__all__ = ["predict_scores", "predict_raw", "evaluate", "evaluate_target", "binary_metrics", "regression_metrics",
           "expected_calibration_error", "threshold_for_fpr", "wilson_interval", "rates_at", "operating_points",
           "roc_points", "TARGET_FPRS"]
