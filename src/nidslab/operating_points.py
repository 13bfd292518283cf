"""Operating points of a detector: a threshold for a false-alarm budget, and the rates it reaches.

Pure NumPy (no torch), so the DNN, LightGBM and KitNET all pick thresholds with the same rule: a
detector is deployed at a threshold chosen on benign traffic it has seen (validation rows, never test
rows). :mod:`nidslab.evaluate` re-exports these names.
"""

from __future__ import annotations

import numpy as np

#: the false-positive rate a threshold is picked for when none is given (threshold_for_fpr, calibrate, watch)
DEFAULT_TARGET_FPR = 1e-3
#: false-positive rates the study reports an operating point for; the first is the default
TARGET_FPRS = (DEFAULT_TARGET_FPR, 1e-2, 1e-4)
#: a binary network's alert threshold on its probability when no false-positive rate is asked for
PROBABILITY_THRESHOLD = 0.5
Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile (a two-sided 95 % interval)


def threshold_for_fpr(benign_scores: np.ndarray, target_fpr: float = DEFAULT_TARGET_FPR) -> float:
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
    hits, total = float(k), float(n)
    if total <= 0:
        return 0.0, 1.0
    p = hits / total
    den = 1.0 + z * z / total
    mid = (p + z * z / (2 * total)) / den
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / den
    lo = 0.0 if hits <= 0 else max(0.0, mid - half)  # exact ends: rounding would leave 1e-19 for k = 0
    hi = 1.0 if hits >= total else min(1.0, mid + half)
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


def roc_points(y: np.ndarray, scores: np.ndarray, max_points: int = 200) -> dict | None:
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


__all__ = ["TARGET_FPRS", "Z95", "threshold_for_fpr", "wilson_interval", "rates_at", "operating_points", "roc_points"]
