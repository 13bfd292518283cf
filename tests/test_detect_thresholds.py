"""Alert thresholds: target false-positive rate and Kitsune's log-normal fit."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from nidslab.detect import fit_lognormal, lognormal_logsf, lognormal_threshold, threshold_for_fpr
from nidslab.errors import DataError


def test_threshold_for_fpr_allows_at_most_the_target_rate():
    rng = np.random.default_rng(0)
    s = rng.permutation(np.arange(1, 1001, dtype=np.float64))
    t = threshold_for_fpr(s, 0.01)
    assert t == 990.0 and (s > t).sum() == 10
    assert threshold_for_fpr(s, 0.0) == 1000.0
    assert (s > threshold_for_fpr(s, 0.0105)).sum() == 10  # floor(10.5)
    scores = rng.lognormal(size=100_000).astype(np.float32)
    for fpr in (1e-3, 1e-2, 0.1):
        assert np.mean(scores > threshold_for_fpr(scores, fpr)) <= fpr
        assert np.mean(scores > threshold_for_fpr(scores, fpr)) > 0.9 * fpr


def test_threshold_for_fpr_with_ties_stays_under_the_rate():
    s = np.array([0.0] * 95 + [1.0] * 5)
    assert threshold_for_fpr(s, 0.03) == 1.0  # 0 would let 5 % through
    with pytest.raises(ValueError):
        threshold_for_fpr(s, 1.0)
    with pytest.raises(DataError, match="no benign scores"):
        threshold_for_fpr([], 0.1)
    with pytest.raises(DataError, match="score 2 is not finite"):
        threshold_for_fpr([1.0, 2.0, np.nan], 0.1)


def test_lognormal_fit_as_the_kitsune_example():
    rng = np.random.default_rng(1)
    benign = rng.lognormal(mean=-3.0, sigma=0.5, size=200_000)
    mu, sigma = fit_lognormal(benign)
    assert mu == pytest.approx(-3.0, abs=0.01) and sigma == pytest.approx(0.5, abs=0.01)
    # example.py: norm.logsf(log(RMSEs), mean(log benign), std(log benign))
    x = np.array([0.01, 0.05, 0.2])
    np.testing.assert_allclose(lognormal_logsf(x, mu, sigma),
                               norm.logsf(np.log(x), np.mean(np.log(benign)), np.std(np.log(benign))))
    t = lognormal_threshold(benign, 1e-3)
    assert t == pytest.approx(np.exp(-3.0 + 0.5 * 3.0902), rel=0.01)
    assert np.mean(benign > t) == pytest.approx(1e-3, rel=0.2)
    # the threshold is where the log survival probability crosses log p
    assert lognormal_logsf([t * 0.999], mu, sigma)[0] > np.log(1e-3) > lognormal_logsf([t * 1.001], mu, sigma)[0]


def test_lognormal_rejects_zero_scores():
    with pytest.raises(DataError, match="score 1 is 0.0"):
        fit_lognormal([0.1, 0.0, 0.3])
