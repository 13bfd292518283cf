"""KitNET: equal to KitNET-py on its own output, and behaviour on small generated data.

The fixture ``tests/data/kitnet_reference_mirai2000.npz`` holds KitNET-py's RMSEs and feature map on
the 100 Kitsune-py features of mirai2000.pcap (maxAE 10, FMgrace 200, ADgrace 1,000). It was made by

    /work/main/.venv/bin/python benchmarks/make_kitnet_reference.py --kitsune-py /tmp/Kitsune-py

with a checkout of ymirsky/Kitsune-py at 7c8ea51 in /tmp/Kitsune-py (see that script's docstring).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nidslab.detect import KitNET
from nidslab.detect.ensemble import _ae_train
from nidslab.detect.mapper import FeatureMapper
from nidslab.errors import DataError, NidslabError

from conftest import shared_file

FIXTURE = Path(__file__).parent / "data" / "kitnet_reference_mirai2000.npz"


def _reference():
    d = np.load(FIXTURE)
    off = d["cluster_offsets"]
    clusters = [d["clusters"][a:b] for a, b in zip(off[:-1], off[1:])]
    return d["rmse"], clusters, tuple(int(v) for v in d["settings"])


def test_equals_kitnet_py_on_mirai2000():
    X = np.loadtxt(shared_file("kitsune-mirai", "mirai2000.kitsune-py-features.csv"),
                   delimiter=",", skiprows=1, dtype=np.float64)
    ref, ref_clusters, (max_ae, fm, ad) = _reference()
    kit = KitNET(max_ae, fm, ad)
    rmse = kit.process(X)
    assert len(kit.clusters) == len(ref_clusters) == 17
    for got, want in zip(kit.clusters, ref_clusters):
        np.testing.assert_array_equal(got, want)
    grace = kit.grace_rows
    assert grace == 1201
    assert (rmse[:grace] == 0).all() and (ref[:grace] == 0).all()
    np.testing.assert_allclose(rmse[grace:], ref[grace:], rtol=1e-6, atol=0)
    # the same rows in uneven pieces, and fit + score, give the same numbers
    kit2 = KitNET(max_ae, fm, ad)
    pieces = np.concatenate([np.atleast_1d(kit2.process(X[a:a + 77])) for a in range(0, len(X), 77)])
    np.testing.assert_array_equal(pieces, rmse)
    np.testing.assert_allclose(KitNET(max_ae, fm, ad).fit(X).score(X[grace:]), rmse[grace:], rtol=1e-12)


def _correlated(rows: int, seed: int) -> tuple[np.ndarray, list[set[int]]]:
    """Three independent signals, each copied into three columns (scaled, shifted, one negated)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(rows, 3))
    groups = [{0, 4, 8}, {1, 3, 7}, {2, 5, 6}]
    X = np.empty((rows, 9))
    for g, cols in enumerate(groups):
        for m, c in enumerate(sorted(cols)):
            X[:, c] = (m + 1) * base[:, g] + 10 * m
    return X, groups


def test_mapper_groups_perfectly_correlated_columns():
    X, groups = _correlated(500, 0)
    m = FeatureMapper(9)
    m.update(X[:200])
    m.update(X[200:])  # in two pieces: the sums carry over
    D = m.distance()
    for cols in groups:
        for a in cols:
            for b in cols:
                assert D[a, b] < 1e-9
    clusters = m.cluster(3)
    assert sorted(sorted(c.tolist()) for c in clusters) == sorted(sorted(g) for g in groups)
    assert len(m.cluster(1)) == 9 and len(m.cluster(100)) == 1


def test_autoencoder_step_matches_the_formulas():
    rng = np.random.default_rng(1)
    nv, nh, lr = 6, 5, 0.1
    W = rng.uniform(-0.2, 0.2, (nv, nh))
    hb, vb = rng.normal(size=nh) * 0.1, rng.normal(size=nv) * 0.1
    nmax, nmin = np.full(nv, 2.0), np.full(nv, -1.0)
    x = rng.uniform(-2, 3, nv)
    # by hand: min/max first, then normalise, tied-weight forward, one SGD step
    mx, mn = np.maximum(nmax, x), np.minimum(nmin, x)
    xn = (x - mn) / (mx - mn + 1e-16)
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    y = sig(xn @ W + hb)
    z = sig(y @ W.T + vb)
    e = xn - z
    g = (e @ W) * y * (1 - y)
    W_want = W + lr * (np.outer(xn, g) + np.outer(e, y))
    # the kernel's flat layout, with this autoencoder at offsets 3 (weights), 2 (hidden), 1 (visible)
    Wk = np.concatenate([np.zeros(3), W.ravel()])
    hbk, vbk = np.concatenate([np.zeros(2), hb]), np.concatenate([np.zeros(1), vb])
    nmaxk, nmink = np.concatenate([[0.0], nmax]), np.concatenate([[0.0], nmin])
    scratch = [np.empty(nv), np.empty(nh), np.empty(nv), np.empty(nh)]
    rmse = _ae_train(x, Wk, 3, hbk, 2, vbk, nmaxk, nmink, 1, nv, nh, lr, *scratch)
    assert rmse == pytest.approx(np.sqrt(np.mean(e**2)), rel=1e-12)
    np.testing.assert_allclose(Wk[3:].reshape(nv, nh), W_want, rtol=1e-12)
    np.testing.assert_allclose(hbk[2:], hb + lr * g, rtol=1e-12)
    np.testing.assert_allclose(vbk[1:], vb + lr * e, rtol=1e-12)
    np.testing.assert_array_equal(nmaxk[1:], mx)
    np.testing.assert_array_equal(nmink[1:], mn)
    assert not Wk[:3].any() and not hbk[:2].any() and not vbk[:1].any()  # others' slots untouched


def _benign(rows: int, seed: int) -> np.ndarray:
    """Rows from a few correlated latent factors plus noise, like traffic statistics."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(rows, 3))
    mix = np.random.default_rng(99).normal(size=(3, 20))
    return (latent @ mix + 0.05 * rng.normal(size=(rows, 20))).astype(np.float32)


def test_scores_shifted_rows_higher():
    kit = KitNET(max_ae=5, fm_grace=300, ad_grace=3000, seed=7)
    kit.fit(_benign(kit.grace_rows, 0))
    benign = kit.score(_benign(2000, 1))
    attack = _benign(2000, 2)
    attack[:, :10] += 3.0  # a shift in half of the features
    shifted = kit.score(attack)
    assert np.median(shifted) > 3 * np.median(benign)
    assert np.mean(shifted > np.quantile(benign, 0.99)) > 0.9


def test_score_equals_process_row_by_row():
    X = _benign(2600, 3)
    kit = KitNET(max_ae=4, fm_grace=100, ad_grace=900, seed=1)
    kit.fit(X)
    X[-1, :5] += 1e3  # far outside the training range: sigmoids saturate
    batch = kit.score(X[1001:])  # matrix products
    one_by_one = np.array([kit.process(x) for x in X[1001:]])  # the numba row loop
    np.testing.assert_allclose(batch, one_by_one, rtol=1e-12)
    assert kit.n_executed == len(X) - 1001


@pytest.mark.parametrize("stop", [50, 101, 600, 1001, 1200])
def test_save_load_round_trip_at_any_point(tmp_path, stop):
    X = _benign(1300, 4)
    whole = KitNET(max_ae=4, fm_grace=100, ad_grace=900, seed=2)
    want = whole.process(X)
    first = KitNET(max_ae=4, fm_grace=100, ad_grace=900, seed=2)
    head = first.process(X[:stop])
    first.threshold = 0.25
    path = first.save(tmp_path / "model")  # a folder
    assert path == tmp_path / "model" / "kitnet.npz"
    again = KitNET.load(tmp_path / "model")
    assert (again.n_trained, again.threshold, again.n_features) == (first.n_trained, 0.25, 20)
    tail = again.process(X[stop:])
    np.testing.assert_array_equal(np.concatenate([head, tail]), want)
    again.save(tmp_path / "k.npz")
    np.testing.assert_array_equal(KitNET.load(tmp_path / "k.npz").process(X[1001:]), want[1001:])


def test_given_feature_map_skips_the_mapper():
    X = _benign(600, 5)
    fmap = [[0, 1, 2], list(range(3, 20))]
    kit = KitNET(fm_grace=100, ad_grace=300, feature_map=fmap)
    kit.process(X[:401])  # the mapper's rows train the autoencoders instead
    assert kit.trained
    assert [c.tolist() for c in kit.clusters] == fmap
    assert (kit.process(X[401:]) > 0).all()


def test_errors_name_the_problem(tmp_path):
    kit = KitNET(max_ae=4, fm_grace=10, ad_grace=20)
    with pytest.raises(NidslabError, match="0 of its 31 grace rows"):
        kit.score(np.zeros((3, 5)))
    with pytest.raises(DataError, match="needs 31 more rows"):
        kit.fit(np.zeros((30, 5)))
    X = _benign(40, 6)
    X[3, 7] = np.nan
    with pytest.raises(DataError, match="row 3 .*column 7"):
        kit.process(X)
    kit.process(X[:3])
    with pytest.raises(DataError, match="20 features per row before, now 5"):
        kit.process(np.zeros(5))
    with pytest.raises(FileNotFoundError):
        KitNET.load(tmp_path / "none")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(NidslabError, match="not a readable KitNET"):
        KitNET.load(tmp_path / "bad.npz")
