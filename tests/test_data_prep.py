"""Standardiser, the lab's splits, k-fold, fractions, prepare."""

import numpy as np
import pytest

from nidslab import schema
from nidslab.data.prep import Standardizer, kfold, lab_split, prepare, subsample
from nidslab.data.synthetic import make_synthetic


def lab_labels(n=764_137, benign=121_621):
    y = np.ones(n, dtype=np.uint8)
    y[:benign] = 0
    return y


def test_lab_split_sizes_match_the_lab_for_the_full_table():
    s = lab_split(lab_labels())
    assert s.sizes() == (534_895, 114_621, 114_621)


def test_lab_split_is_a_partition_stratified_and_seeded():
    y = lab_labels(20_000, 3_183)
    s = lab_split(y, seed=3)
    rows = np.concatenate([s.train, s.validation, s.test])
    assert np.array_equal(np.sort(rows), np.arange(len(y)))
    shares = [y[r].mean() for r in (s.train, s.validation, s.test)]
    assert max(shares) - min(shares) < 1e-3
    assert np.array_equal(lab_split(y, seed=3).test, s.test)
    assert not np.array_equal(lab_split(y, seed=4).test, s.test)


def test_temporal_split_keeps_time_order():
    s = lab_split(lab_labels(1000, 159), temporal=True)
    assert s.train.max() < s.validation.min() and s.validation.max() < s.test.min()
    assert s.sizes() == (700, 150, 150)


def test_kfold_is_the_labs_stratified_10_fold_with_seed_1234():
    from sklearn.model_selection import StratifiedKFold

    y = lab_labels(5_000, 800)
    ours = list(kfold(y))
    theirs = list(StratifiedKFold(10, shuffle=True, random_state=1234).split(np.zeros(len(y)), y))
    assert len(ours) == 10
    for (a, b), (c, d) in zip(ours, theirs):
        assert np.array_equal(a, c) and np.array_equal(b, d)


def test_subsample_fraction_is_stratified_sorted_and_seeded():
    y = lab_labels(10_000, 1_592)
    half = subsample(y, 0.5, seed=0)
    assert len(half) == 5_000 and np.all(np.diff(half) > 0)
    assert abs(y[half].mean() - y.mean()) < 1e-3
    assert np.array_equal(subsample(y, 0.25, temporal=True), np.arange(2_500))
    with pytest.raises(ValueError, match="fraction"):
        subsample(y, 1.5)


def test_standardizer_fits_in_float64_and_handles_constant_columns():
    rng = np.random.default_rng(0)
    X = (rng.lognormal(8, 2, (5_000, 4))).astype(np.float32)
    X[:, 2] = 7.0
    s = Standardizer().fit(X)
    Z = s.transform(X)
    assert Z.dtype == np.float32 and np.isfinite(Z).all()
    assert np.all(Z[:, 2] == 0)
    np.testing.assert_allclose(s.mean_, X.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(Z[:, [0, 1, 3]].std(axis=0, dtype=np.float64), 1, atol=1e-5)
    check = s.check(Z)
    assert check["constant_columns"] == 1 and check["max_abs_mean"] < 1e-5 and check["max_abs_std_minus_1"] < 1e-5


def test_standardizer_round_trips_through_a_dict():
    X = np.random.default_rng(1).normal(3, 2, (100, 3)).astype(np.float32)
    s = Standardizer().fit(X)
    t = Standardizer.from_dict(s.to_dict())
    assert np.array_equal(s.transform(X), t.transform(X))
    with pytest.raises(ValueError, match="scale"):
        Standardizer.from_dict({"mean": [0, 0], "scale": [1, 0]})
    with pytest.raises(ValueError, match="3 columns"):
        s.transform(X[:, :2])


class _Table:
    def __init__(self, X, y):
        self.X, self.y, self.feature_names, self.name = X, y, schema.FEATURE_NAMES, "t"


def test_prepare_selects_the_lab_features_and_fits_on_training_rows_only():
    X, y = make_synthetic(4_000, seed=2)
    p = prepare(_Table(X, y), features="lab", seed=0)
    assert p.feature_names == schema.LAB_FEATURES and p.X_train.shape == (2_800, 92)
    assert (len(p.y_val), len(p.y_test)) == (600, 600)
    cols = schema.indices(schema.LAB_FEATURES)
    expect = Standardizer().fit(X[p.split.train][:, cols])
    np.testing.assert_allclose(p.standardizer.mean_, expect.mean_)
    np.testing.assert_array_equal(p.y_test, y[p.split.test])
    np.testing.assert_allclose(p.X_test, expect.transform(X[p.split.test][:, cols]))
    assert abs(p.X_train.mean()) < 1e-4 and abs(p.X_test.mean()) > 1e-6  # test rows were not used in the fit


def test_prepare_with_a_fraction_and_a_group():
    X, y = make_synthetic(4_000, seed=2)
    p = prepare(_Table(X, y), features="HH_jit", fraction=0.5)
    assert p.X_train.shape == (1_400, 15)
    with pytest.raises(KeyError, match="unknown feature"):
        prepare(_Table(X, y), features="nope")
