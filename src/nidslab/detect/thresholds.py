"""Alert thresholds for anomaly scores: Kitsune's log-normal fit, and a target false-positive rate.

Both take scores of benign rows the detector did not train on and return a threshold ``t``; a row
alerts when its score is strictly greater than ``t``. Pure NumPy/SciPy, for any score (KitNET's RMSE,
a DNN's probability).
"""

from __future__ import annotations


import numpy as np

from nidslab.errors import DataError


def _benign(scores, what: str) -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.size == 0:
        raise DataError(f"{what}: no benign scores given")
    if not np.isfinite(s).all():
        raise DataError(f"{what}: benign score {int(np.argmin(np.isfinite(s)))} is not finite")
    return s


def threshold_for_fpr(benign_scores, target_fpr: float) -> float:
    """The smallest benign score with at most ``target_fpr`` of the benign scores above it.

    With ``k = floor(target_fpr * n)`` the threshold is the (k+1)-th largest of the n benign scores,
    so at most k of them are strictly greater (fewer when scores tie). ``target_fpr`` 0 gives the
    largest benign score.

    Args:
        benign_scores: (n,) scores of benign rows, any float dtype.
        target_fpr: wanted false-positive rate on those rows, in [0, 1).
    Returns:
        the threshold (float); alert when ``score > threshold``.
    """
    from nidslab import operating_points

    s = _benign(benign_scores, "threshold_for_fpr")
    # one rule for every detector (nidslab.operating_points, flag at score >= t); KitNET alerts at score > t,
    # so its threshold is the float64 just below the shared one: the (k+1)-th largest benign score
    return float(np.nextafter(operating_points.threshold_for_fpr(s, target_fpr), -np.inf))


def fit_lognormal(benign_scores) -> tuple[float, float]:
    """Mean and standard deviation (ddof 0) of the log of benign scores, as Kitsune-py's ``example.py``.

    Args:
        benign_scores: (n,) positive scores (KitNET RMSEs) of benign rows after the grace periods.
    Returns:
        (mu, sigma) of ``log(score)``.
    """
    s = _benign(benign_scores, "fit_lognormal")
    if (s <= 0).any():
        raise DataError(f"fit_lognormal: benign score {int(np.argmax(s <= 0))} is {s[s <= 0][0]}; "
                        "the log-normal fit needs positive scores (leave out the grace rows, which score 0)")
    logs = np.log(s)
    return float(logs.mean()), float(logs.std())


def lognormal_logsf(scores, mu: float, sigma: float) -> np.ndarray:
    """Log of the probability that a benign score is at least this large: the example's ``logProbs``.

    ``scipy.stats.norm.logsf(log(score), mu, sigma)``; (n,) float64, very negative = anomalous.
    """
    from scipy.stats import norm

    with np.errstate(divide="ignore"):
        return norm.logsf(np.log(np.asarray(scores, dtype=np.float64)), mu, sigma)


def lognormal_threshold(benign_scores, p: float) -> float:
    """The score above which the fitted log-normal puts probability ``p``: ``exp(mu + sigma * z_(1-p))``.

    A score alerts (``score > threshold``) exactly when :func:`lognormal_logsf` of it is below ``log p``.

    Args:
        benign_scores: (n,) positive benign scores (see :func:`fit_lognormal`).
        p: tail probability in (0, 1), e.g. 1e-3.
    Returns:
        the threshold on the score scale (float).
    """
    from scipy.stats import norm

    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    mu, sigma = fit_lognormal(benign_scores)
    return float(np.exp(mu + sigma * norm.isf(p)))
