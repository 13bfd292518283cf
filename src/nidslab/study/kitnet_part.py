"""Beyond the lab: KitNET, Kitsune's own unsupervised detector, on the same capture as the networks.

KitNET learns from the benign prefix of the capture in time order (its grace periods must end before
the first malicious row), then scores every later row. Its thresholds come from the benign rows
between the end of the grace periods and the onset: the first ``calibration`` share of them sets the
thresholds (target false-positive rate, and Kitsune's log-normal fit at the same tail probability);
everything after those rows is the evaluation set. Rows are the dataset's full feature table (the
115 Kitsune columns), not the lab's 92. A capture without a long enough benign prefix (or without
malicious rows) gives a result that says why it was skipped, so a study on any dataset still runs.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def _alerts(scores: np.ndarray, y: np.ndarray, threshold: float, onset: int) -> dict[str, Any]:
    """TPR/FPR of ``score > threshold`` on the evaluation rows and the delay to the first alert at or
    after ``onset`` (an index into ``scores``), in rows."""
    alert = scores > threshold
    benign, malicious = y == 0, y == 1
    after = np.flatnonzero(alert[onset:])
    return {
        "threshold": float(threshold),
        "tpr": float(alert[malicious].mean()) if malicious.any() else None,
        "fpr": float(alert[benign].mean()) if benign.any() else None,
        "false_alerts_before_onset": int(alert[:onset].sum()),
        "delay_packets": int(after[0]) if after.size else None,
    }


def kitnet_part(cfg: Any, X: np.ndarray, y: np.ndarray, *, truth: np.ndarray | None = None) -> dict[str, Any]:
    """Train KitNET on the benign prefix of (X, y) and measure it on the rest.

    Args:
        cfg: the study's ``[kitnet]`` settings (max_ae, fm_grace, ad_grace, lr, hidden_ratio, seed,
            target_fpr, calibration, max_rows).
        X: (n, k) float32 features in capture order; y: (n,) uint8 labels (the study's).
        truth: optional (n,) uint8 per-packet ground truth (a simulation's), measured as well.
    Returns:
        settings, rows used, onset, grace/calibration/evaluation row counts, autoencoders, ROC-AUC,
        per-threshold TPR/FPR/delay, training and scoring packets/s (wall clock); or settings and
        ``skipped`` (the reason) when the data does not allow the measurement.
    """
    from sklearn.metrics import roc_auc_score

    from nidslab.detect import KitNET, lognormal_threshold, threshold_for_fpr

    settings = {k: getattr(cfg, k) for k in ("max_ae", "fm_grace", "ad_grace", "lr", "hidden_ratio", "seed",
                                             "target_fpr", "calibration", "max_rows")}
    n = len(y) if cfg.max_rows <= 0 else min(len(y), cfg.max_rows)
    y = np.asarray(y[:n])
    if not (y == 1).any():
        return {"model": "KitNET", "settings": settings,
                "skipped": f"the first {n:,} rows have no malicious row, so there is no onset to measure"}
    onset = int(np.argmax(y == 1))
    kit = KitNET(cfg.max_ae, cfg.fm_grace, cfg.ad_grace, cfg.lr, cfg.hidden_ratio, cfg.seed)
    grace = kit.grace_rows
    n_cal = int((onset - grace) * cfg.calibration)
    if n_cal < 100 or not (y[grace + n_cal:] == 0).any():
        return {"model": "KitNET", "settings": settings,
                "skipped": f"the benign prefix ({onset:,} rows before the first malicious one) is too short for "
                           f"the grace periods ({grace:,} rows) and 100 calibration rows, with benign rows left "
                           "to evaluate; lower [kitnet] fm_grace/ad_grace"}

    start = time.perf_counter()
    kit.fit(X[:grace])
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    scores = kit.score(X[grace:n])  # (n - grace,), row i is capture row grace + i
    score_s = time.perf_counter() - start

    cal = scores[:n_cal]
    ev, ev_y = scores[n_cal:], y[grace + n_cal:n]
    ev_onset = onset - grace - n_cal
    thresholds = {"target_fpr": threshold_for_fpr(cal, cfg.target_fpr),
                  "lognormal": lognormal_threshold(cal, cfg.target_fpr)}
    out: dict[str, Any] = {
        "model": "KitNET",
        "settings": settings,
        "rows": n, "n_features": int(X.shape[1]), "onset": onset, "grace_rows": grace,
        "calibration_rows": n_cal, "evaluation_rows": int(len(ev)),
        "autoencoders": len(kit.clusters),
        "roc_auc": float(roc_auc_score(ev_y, ev)),
        "alerts": {name: _alerts(ev, ev_y, t, ev_onset) for name, t in thresholds.items()},
        "train_packets_per_s": grace / train_s,
        "score_packets_per_s": (n - grace) / score_s,
        "seconds": train_s + score_s,
    }
    if truth is not None:
        ev_t = np.asarray(truth[grace + n_cal:n])
        out["truth"] = {"roc_auc": float(roc_auc_score(ev_t, ev)) if len(np.unique(ev_t)) == 2 else None,
                        "alerts": {name: _alerts(ev, ev_t, t, ev_onset) for name, t in thresholds.items()}}
    return out
