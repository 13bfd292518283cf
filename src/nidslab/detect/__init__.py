"""Unsupervised anomaly detection: KitNET (Kitsune's own detector) and alert thresholds.

    KitNET                                   nidslab.detect.kitnet
    threshold_for_fpr, fit_lognormal,
    lognormal_logsf, lognormal_threshold     nidslab.detect.thresholds
"""

from .kitnet import KitNET
from .thresholds import fit_lognormal, lognormal_logsf, lognormal_threshold, threshold_for_fpr

__all__ = ["KitNET", "fit_lognormal", "lognormal_logsf", "lognormal_threshold", "threshold_for_fpr"]
