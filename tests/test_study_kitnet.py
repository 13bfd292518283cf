"""The study's KitNET part on a small generated capture: benign prefix, then an attack that shifts features."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from nidslab.study.parts.kitnet import measure as kitnet_part


def _capture(rows: int, onset: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    mix = np.random.default_rng(99).normal(size=(3, 12))
    X = rng.normal(size=(rows, 3)) @ mix + 0.05 * rng.normal(size=(rows, 12))
    y = np.zeros(rows, np.uint8)
    y[onset:] = 1
    X[onset:, :6] += 8.0  # the attack moves half of the features out of their benign range
    truth = y.copy()
    truth[onset::10] = 0  # background traffic that goes on during the attack
    return X.astype(np.float32), y, truth


def _cfg(**kw):
    base = dict(max_ae=4, fm_grace=200, ad_grace=2000, lr=0.1, hidden_ratio=0.75, seed=1234,
                target_fpr=1e-2, calibration=0.5, max_rows=0)
    return SimpleNamespace(**{**base, **kw})


def test_kitnet_part_measures_the_attack():
    X, y, truth = _capture(8000, 5000)
    r = kitnet_part(_cfg(), X, y, truth=truth)
    assert r["onset"] == 5000 and r["grace_rows"] == 2201
    assert r["calibration_rows"] == (5000 - 2201) // 2
    assert r["evaluation_rows"] == 8000 - 2201 - r["calibration_rows"]
    assert r["roc_auc"] > 0.95
    fpr = r["alerts"]["target_fpr"]
    assert fpr["tpr"] > 0.9 and fpr["fpr"] < 0.05
    assert fpr["delay_packets"] is not None and fpr["delay_packets"] < 20
    assert r["truth"]["roc_auc"] is not None
    assert r["train_packets_per_s"] > 0 and r["score_packets_per_s"] > 0
    # max_rows cuts the capture: fewer evaluation rows, same onset
    short = kitnet_part(_cfg(max_rows=6000), X, y)
    assert short["evaluation_rows"] == 6000 - 2201 - short["calibration_rows"]


def test_kitnet_part_skips_with_a_reason_when_the_benign_prefix_is_short():
    X, y, _ = _capture(4000, 2000)
    r = kitnet_part(_cfg(), X, y)
    assert "2,000 rows before the first malicious one" in r["skipped"] and "roc_auc" not in r
    assert "no malicious row" in kitnet_part(_cfg(max_rows=1500), X, y)["skipped"]


def test_kitnet_table_is_parsed_and_checked():
    import pytest

    from nidslab.errors import ConfigError
    from nidslab.study.study_file import load_study, parse_study

    study = load_study()  # the lab's own study file has a [kitnet] table
    assert (study.kitnet.fm_grace, study.kitnet.ad_grace, study.kitnet.target_fpr) == (5000, 50000, 1e-3)
    quick = study.quick_version().kitnet
    assert quick.max_rows == 200_000 and quick.ad_grace == 50000
    s = parse_study({"kitnet": {"max_ae": 5, "calibration": 0.25}})
    assert s.kitnet.max_ae == 5 and s.kitnet.calibration == 0.25 and s.kitnet.fm_grace == 5000
    assert parse_study({"experiments": {"a": {}}}).kitnet is None
    with pytest.raises(ConfigError, match=r"\[kitnet\] target_fpr must be in \(0, 1\)"):
        parse_study({"kitnet": {"target_fpr": 1.5}})
    with pytest.raises(ConfigError, match=r"\[kitnet\] unknown key 'grace'"):
        parse_study({"kitnet": {"grace": 5}})
