"""Calibration to the site: thresholds follow the site's benign traffic; what was seen is recorded."""

import numpy as np
import pytest
import torch

from nidslab import schema
from nidslab.calibrate import CalibrationSample, calibrate, save_calibrated
from nidslab.data.prep import Standardizer
from nidslab.errors import DataError
from nidslab.model import ModelSpec, build_model
from nidslab.saved_model import load_model, save_model


@pytest.fixture()
def model_dir(tmp_path):
    """A linear model whose logit is the first lab feature (standardised), weights set by hand."""
    spec = ModelSpec(n_layers=0)
    net = build_model(spec, len(schema.LAB_FEATURES))
    with torch.no_grad():
        (lin,) = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        lin.weight.zero_()
        lin.bias.zero_()
        lin.weight[0, 0] = 1.0
    rng = np.random.default_rng(0)
    std = Standardizer().fit(rng.normal(0, 1, (500, len(schema.LAB_FEATURES))))
    return save_model(tmp_path / "m", net, spec, standardizer=std, feature_names=schema.LAB_FEATURES)


def benign(n=20_000, shift=0.0, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, (n, schema.N_FEATURES)).astype(np.float32)
    X[:, schema.indices(schema.LAB_FEATURES)[0]] += shift
    return X


def test_a_shifted_site_moves_the_thresholds_and_restandardising_undoes_the_shift(model_dir):
    saved = load_model(model_dir)
    base = calibrate(saved, benign(), standardize=False).model
    up = calibrate(saved, benign(shift=3.0), standardize=False).model
    for f in (1e-2, 1e-3):
        assert up.threshold_for(f) > base.threshold_for(f)  # the site's benign traffic scores higher
        assert up.threshold_for(f) >= base.threshold_for(f) + 1.0
    # with the standardiser re-fitted, a constant shift of the site's traffic changes nothing
    a = calibrate(saved, benign(), standardize=True).model
    b = calibrate(saved, benign(shift=3.0), standardize=True).model
    for f in (1e-2, 1e-3):
        assert b.threshold_for(f) == pytest.approx(a.threshold_for(f), abs=1e-3)
    # and each threshold holds its budget on the calibration rows
    for p in b.thresholds["points"]:
        assert p["calibration_fpr"] <= p["target_fpr"]


def test_the_record_and_the_saved_folder(model_dir, tmp_path):
    X = benign(5_000)
    times = 1000.0 + np.arange(len(X)) * 0.1
    hosts = np.where(np.arange(len(X)) % 5 == 0, "192.168.0.2", "192.168.0.3")
    cal = calibrate(model_dir, X, times=times, hosts=hosts, source="site.pcap")
    r = cal.record
    assert r["packets"] == 5_000 and r["hosts"] == 2 and r["duration_s"] == pytest.approx(499.9)
    assert r["busiest_hosts"][0] == {"host": "192.168.0.3", "packets": 4_000}
    assert r["thresholds_before"] is None and len(r["thresholds_after"]) == 3
    out = save_calibrated(cal, tmp_path / "m2")
    again = load_model(out)
    assert again.calibration["source"] == "site.pcap" and again.calibration["packets"] == 5_000
    assert again.threshold_for(1e-3) == cal.model.threshold_for(1e-3)
    np.testing.assert_allclose(again.predict(X[:100]), cal.model.predict(X[:100]))
    assert not np.allclose(load_model(model_dir).predict(X[:100]), again.predict(X[:100]))  # restandardised


def test_too_little_traffic_is_refused(model_dir):
    with pytest.raises(DataError, match="at least 1,000"):
        calibrate(model_dir, benign(500))


def test_a_site_kitnet_is_trained_and_saved(model_dir, tmp_path):
    X = benign(3_000)
    cal = calibrate(model_dir, X, kitnet=True, kitnet_fpr=1e-2)
    assert cal.kitnet is not None and cal.kitnet.trained and cal.kitnet.threshold > 0
    held = cal.kitnet.score(X[cal.kitnet.grace_rows:])
    assert np.mean(held > cal.kitnet.threshold) <= 1e-2
    out = save_calibrated(cal, tmp_path / "m3")
    assert (out / "kitnet.npz").is_file()


def test_the_stream_sample_keeps_everything_then_a_uniform_share():
    s = CalibrationSample(max_rows=1_000, seed=0)
    for lo in range(0, 10_000, 700):
        rows = np.arange(lo, min(lo + 700, 10_000), dtype=np.float32)[:, None]
        s.add(rows, times=rows[:, 0], hosts=["h"] * len(rows))
    kept = s.rows()[:, 0]
    assert s.seen == 10_000 and len(kept) == 1_000 and len(np.unique(kept)) == 1_000
    assert 3_500 < kept.mean() < 6_500  # drawn from the whole stream, not its start
    assert s.describe()["duration_s"] == 9_999 and s.describe()["hosts"] == 1


def test_a_kitnet_scorer_gets_the_sites_threshold():
    from nidslab.detect import KitNET
    from nidslab.scorers import KitNETScorer

    X = benign(4_000)
    kit = KitNET(fm_grace=200, ad_grace=1_000).fit(X)
    kit.threshold = 123.0
    scorer = KitNETScorer(kit)
    same, t, record = scorer.calibrated(X[2_000:], 1e-2)
    assert same is scorer and t != 123.0 and record["threshold_before"] == 123.0
    assert np.mean(scorer.score(X[2_000:]) > t) <= 1e-2
    shifted = X[2_000:] * 3.0  # traffic unlike the training's: higher errors, a higher threshold
    assert scorer.calibrated(shifted, 1e-2)[1] > t
