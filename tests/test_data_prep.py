"""Standardiser, the lab's splits, k-fold, fractions, prepare."""

import numpy as np
import pytest

from nidslab import schema
from nidslab.data.prep import Standardizer, blocked_kfold, kfold, lab_split, prepare, subsample, temporal_split
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


def test_temporal_split_keeps_time_order_within_each_class():
    y = lab_labels(1000, 160)
    s = lab_split(y, temporal=True)
    for c in (0, 1):
        tr, va, te = (r[y[r] == c] for r in (s.train, s.validation, s.test))
        assert tr.max() < va.min() and va.max() < te.min()
    assert s.sizes() == (700, 150, 150)
    assert np.array_equal(np.sort(np.concatenate([s.train, s.validation, s.test])), np.arange(1000))


def test_temporal_split_never_puts_a_test_period_row_into_training():
    # interleaved classes in bursts, and a subset of rows: for each class, the test period (from its first
    # test row on) holds no training or validation row of that class
    rng = np.random.default_rng(0)
    y = np.repeat(rng.integers(0, 2, 300), rng.integers(1, 20, 300)).astype(np.uint8)
    rows = np.sort(rng.choice(len(y), size=len(y) // 2, replace=False))
    s = temporal_split(y, rows=rows)
    assert set(np.concatenate([s.train, s.validation, s.test])) == set(rows)
    for c in (0, 1):
        first_test = s.test[y[s.test] == c].min()
        assert not np.any(s.train[y[s.train] == c] >= first_test)
        assert not np.any(s.validation[y[s.validation] == c] >= first_test)
        assert s.train[y[s.train] == c].max() < s.validation[y[s.validation] == c].min()
    for part in (s.train, s.validation, s.test):
        assert set(np.unique(y[part])) == {0, 1}


def test_blocked_kfold_folds_are_contiguous_and_cover_every_row_once():
    n = 1003
    folds = list(blocked_kfold(n, 5))
    assert len(folds) == 5
    tested = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tested), np.arange(n))  # every row in exactly one test fold
    for tr, te in folds:
        assert np.all(np.diff(te) == 1)  # one contiguous block
        assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == n
    assert [te[0] for _, te in folds] == sorted(te[0] for _, te in folds)
    with pytest.raises(ValueError, match="n_splits"):
        list(blocked_kfold(3, 5))


def test_blocked_kfold_by_class_cuts_each_class_into_contiguous_blocks():
    y = lab_labels(1000, 160)
    folds = list(blocked_kfold(len(y), 4, y=y))
    tested = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tested), np.arange(1000))
    for _, te in folds:
        assert set(np.unique(y[te])) == {0, 1}  # both classes in every fold
        for c in (0, 1):
            assert np.all(np.diff(te[y[te] == c]) == 1)  # contiguous within each class
        assert (y[te] == 0).sum() == 40


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
    first = subsample(y, 0.25, temporal=True)  # the first quarter of each class
    assert np.array_equal(first, np.concatenate([np.arange(398), 1_592 + np.arange(2_102)]))
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


def test_a_leaky_random_split_scores_higher_than_the_temporal_split_where_the_future_is_informative():
    # A drifting series (a random walk) whose label switches in time blocks: a row's neighbours in time
    # share its features and its label, so a shuffled split lets the model look them up (the leak);
    # under the temporal split the test period's features lie where training never went.
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    n = 6_000
    X = np.cumsum(rng.standard_normal((n, 3)), axis=0).astype(np.float32)
    y = ((np.arange(n) // 300) % 2).astype(np.uint8)

    def score(s):
        knn = KNeighborsClassifier(n_neighbors=5).fit(X[s.train], y[s.train])
        return float(np.mean(knn.predict(X[s.test]) == y[s.test]))

    leaky, honest = score(lab_split(y, seed=0)), score(lab_split(y, temporal=True))
    assert leaky > 0.95 and leaky - honest > 0.2, (leaky, honest)


def test_network_split_never_shares_a_network():
    from nidslab.data.prep import network_split

    network = np.repeat(np.arange(1, 11), np.arange(5, 15))  # 10 networks of unequal sizes
    for seed in range(5):
        s = network_split(network, test=3, validation=0.2, seed=seed)
        assert (len(s.test_networks), len(s.validation_networks), len(s.train_networks)) == (3, 2, 5)
        parts = [set(network[r]) for r in (s.train, s.validation, s.test)]
        assert parts == [set(s.train_networks), set(s.validation_networks), set(s.test_networks)]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert np.array_equal(np.sort(np.concatenate([s.train, s.validation, s.test])), np.arange(len(network)))
    assert network_split(network, seed=1).test_networks == network_split(network, seed=1).test_networks
    assert network_split(network, seed=1).test_networks != network_split(network, seed=2).test_networks
    with pytest.raises(ValueError, match="at least one"):
        network_split(np.array([1, 1, 2, 2]), test=1, validation=1)
