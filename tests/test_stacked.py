"""nidslab.stacked: k networks trained at once equal k ``fit`` calls (own batches); with shared batches a
row outside a network's rows moves none of its weights."""

import numpy as np
import pytest
import torch

from nidslab.data.prep import kfold
from nidslab.model import ModelSpec, build_model
from nidslab.settings import FitConfig
from nidslab.stacked import StackedDNN, cross_validate, fit_seeds, fit_shared, fit_stacked
from nidslab.train import fit


def blobs(n, d=7, seed=0, share=0.7):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < share).astype(np.uint8)
    X = (rng.standard_normal((n, d)) + 1.2 * y[:, None]).astype(np.float32)
    return X, y


def max_diff(a, b) -> float:
    return max(float((p - q).abs().max()) for p, q in zip(a.state_dict().values(), b.state_dict().values())
               if p.dtype.is_floating_point)


SPECS = [ModelSpec(n_layers=2, n_nodes=5),
         ModelSpec(n_layers=2, n_nodes=5, batch_norm=True, dropout=0.3),
         ModelSpec(n_layers=3, n_nodes=4, activation="relu", batch_norm=True)]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("spec", SPECS, ids=["plain", "bn+dropout", "relu+bn"])
def test_own_batches_equal_one_by_one(spec, optimizer):
    # different rows (and row counts: the third has one step fewer per epoch), class weights and seeds
    trains = [blobs(230, seed=1), blobs(229, seed=2), blobs(180, seed=3)]
    val = blobs(60, seed=9)
    configs = [FitConfig(epochs=3, batch_size=64, seed=s, class_weight=cw, optimizer=optimizer, lr=lr, threads=1)
               for s, cw, lr in [(1, None, 0.05), (2, "balanced", 0.05), (3, {0: 2.0, 1: 0.5}, 0.02)]]
    stacked = [build_model(spec, 7, seed=10 + i) for i in range(3)]
    alone = [build_model(spec, 7, seed=10 + i) for i in range(3)]
    hs = fit_stacked(stacked, trains, [val] * 3, configs)
    hr = [fit(m, t, val, c) for m, t, c in zip(alone, trains, configs)]
    for s, a, h, g in zip(stacked, alone, hs, hr):
        assert max_diff(s, a) < 1e-5
        assert max_diff(s, build_model(spec, 7, seed=99)) > 1e-2  # it trained
        assert h.updates_per_epoch == g.updates_per_epoch
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert getattr(h, key) == pytest.approx(getattr(g, key), abs=1e-5), key


def test_shared_batches_ignore_rows_outside_each_network():
    X, y = blobs(600, seed=4)
    fold = np.arange(600) % 3
    members = np.stack([fold != i for i in range(3)])
    spec = ModelSpec(n_layers=2, n_nodes=6, batch_norm=True, dropout=0.2)
    cfg = FitConfig(epochs=2, batch_size=100, class_weight="balanced", threads=1)
    first = [build_model(spec, 7, seed=i) for i in range(3)]
    fit_shared(first, X, y, members, cfg)
    # fold 0's held-out rows changed beyond recognition: features scaled and shifted, labels flipped
    X2, y2 = X.copy(), y.copy()
    X2[fold == 0] = X2[fold == 0] * 50 + 7
    y2[fold == 0] = 1 - y2[fold == 0]
    second = [build_model(spec, 7, seed=i) for i in range(3)]
    fit_shared(second, X2, y2, members, cfg)
    assert max_diff(first[0], second[0]) == 0.0  # network 0 never saw them
    assert max_diff(first[1], second[1]) > 1e-3 and max_diff(first[2], second[2]) > 1e-3  # the others did


def test_shared_standardiser_folded_into_first_layer():
    X, y = blobs(400, seed=5)
    X = X * np.arange(1, 8, dtype=np.float32) + np.arange(7, dtype=np.float32)
    mean, scale = X.mean(0).astype(np.float64), X.std(0).astype(np.float64)
    Xs = ((X - mean) / scale).astype(np.float32)
    cfg = FitConfig(epochs=2, batch_size=50, threads=1)
    members = np.ones((1, 400), dtype=bool)
    folded, plain = build_model(SPECS[0], 7, seed=3), build_model(SPECS[0], 7, seed=3)
    fit_shared([folded], X, y, members, cfg, standardizers=[(mean, scale)])
    fit_shared([plain], Xs, y, members, cfg)
    assert max_diff(folded, plain) < 1e-4


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("spec", SPECS + [ModelSpec(n_layers=2, n_nodes=5, dropout=0.3)],
                         ids=["plain", "bn+dropout", "relu+bn", "dropout"])
def test_shared_batches_on_every_row_equal_one_by_one_for_the_shuffle_seed(spec, optimizer):
    """Every network on every row (an experiment's group): a network of the shuffle's seed sees fit's
    batches, so it equals fit (other lr and class weights included); another seed only differs in order."""
    X, y = blobs(230, seed=1)
    val = blobs(60, seed=9)
    configs = [FitConfig(epochs=3, batch_size=64, seed=s, class_weight=cw, optimizer=optimizer, lr=lr, threads=1)
               for s, cw, lr in [(0, None, 0.05), (0, "balanced", 0.05), (0, "balanced", 0.02), (5, "balanced", 0.05)]]
    stacked = [build_model(spec, 7, seed=10 + i) for i in range(4)]
    alone = [build_model(spec, 7, seed=10 + i) for i in range(4)]
    hs = fit_shared(stacked, X, y, np.ones((4, len(y)), dtype=bool), configs, validations=[val] * 4)
    hr = [fit(m, (X, y), val, c) for m, c in zip(alone, configs)]
    for s, a, h, g in list(zip(stacked, alone, hs, hr))[:3]:
        assert max_diff(s, a) < 1e-5
        assert h.updates_per_epoch == g.updates_per_epoch
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert getattr(h, key) == pytest.approx(getattr(g, key), abs=1e-5), key
    assert max_diff(stacked[3], alone[3]) > 1e-4  # seed 5 walked seed 0's shuffle, not its own


def test_stacked_dnn_round_trip_and_forward():
    models = [build_model(SPECS[1], 7, seed=i) for i in range(3)]
    net = StackedDNN(models).eval()
    x = torch.from_numpy(blobs(20)[0])
    out = net(x)
    for i, m in enumerate(models):
        assert torch.allclose(out[i], m.eval()(x), atol=1e-6)
    others = [build_model(SPECS[1], 7, seed=50 + i) for i in range(3)]
    net.copy_into(others)
    assert all(max_diff(a, b) == 0.0 for a, b in zip(models, others))


def test_cross_validate_modes_agree_and_shape():
    X, y = blobs(900, seed=6)
    X = X * 3 + 10  # raw features: each fold fits its own standardiser
    splits = list(kfold(y, n_splits=3, seed=1))
    cfg = FitConfig(epochs=10, batch_size=100, lr=0.5, class_weight="balanced", threads=1)
    own = cross_validate(X, y, splits, SPECS[0], cfg, mode="own")
    single = cross_validate(X, y, splits, SPECS[0], cfg, mode="single")
    ticks: list[tuple] = []
    shared = cross_validate(X, y, splits, SPECS[0], cfg, mode="shared", progress=lambda *a: ticks.append(a))
    assert [t[:2] for t in ticks] == [(e, 10) for e in range(1, 11)]  # one tick per epoch, of 10
    for o, s in zip(own, single):
        assert o["test"]["accuracy"] == pytest.approx(s["test"]["accuracy"], abs=2 / 300)
        assert o["history"]["loss"] == pytest.approx(s["history"]["loss"], abs=1e-5)
    assert [r["rows_test"] for r in shared] == [len(te) for _, te in splits]
    acc = np.array([r["test"]["accuracy"] for r in shared])
    assert (acc > 0.8).all()  # the blobs are easy; shared batches learn them too
    assert set(shared[0]) >= {"fold", "history", "test", "train_seconds", "updates_per_epoch"}


def test_fit_seeds_own_equals_single():
    train, val = blobs(300, seed=7), blobs(50, seed=8)
    cfg = FitConfig(epochs=2, batch_size=64, threads=1)
    own = fit_seeds(SPECS[0], train, val, cfg, [1, 2])
    single = fit_seeds(SPECS[0], train, val, cfg, [1, 2], mode="single")
    for (m, h), (m2, h2) in zip(own, single):
        assert max_diff(m, m2) < 1e-5
        assert h.val_loss == pytest.approx(h2.val_loss, abs=1e-5)
    assert max_diff(own[0][0], own[1][0]) > 1e-3


def test_refusals():
    models = [build_model(SPECS[0], 7, seed=i) for i in range(2)]
    train = blobs(50)
    with pytest.raises(ValueError, match="share lr"):
        fit_stacked(models, [train] * 2, None, [FitConfig(lr=0.1, optimizer="rmsprop"), FitConfig(lr=0.2, optimizer="rmsprop")])
    with pytest.raises(ValueError, match="share batch_size"):
        fit_stacked(models, [train] * 2, None, [FitConfig(batch_size=10), FitConfig(batch_size=20)])
    with pytest.raises(ValueError, match="early stopping"):
        fit_stacked(models, [train] * 2, None, FitConfig(early_stopping=2))
    with pytest.raises(ValueError, match="members must have shape"):
        fit_shared(models, *train, np.ones((3, 50), bool))
    with pytest.raises(ValueError, match="share layers, nodes, batch norm and head"):
        StackedDNN([models[0], build_model(SPECS[1], 7)])  # SPECS[1] has BatchNorm
    with pytest.raises(ValueError, match="mix SGD with one of Adam and AdamW"):
        fit_stacked(models, [train] * 2, None, [FitConfig(optimizer="adam"), FitConfig(optimizer="adamw")])
    with pytest.raises(ValueError, match="mix SGD with one of Adam and AdamW"):
        fit_stacked(models, [train] * 2, None, [FitConfig(optimizer="sgd"), FitConfig(optimizer="rmsprop")])
    with pytest.raises(ValueError, match="mode must be"):
        cross_validate(*train, [], SPECS[0], mode="fast")


@pytest.mark.parametrize("optimizer", ["adamw", "rmsprop"])
def test_own_batches_other_optimizers(optimizer):
    trains = [blobs(150, seed=1), blobs(100, seed=2)]  # the second sits out the third step
    configs = [FitConfig(epochs=2, batch_size=50, seed=s, optimizer=optimizer, lr=0.01, threads=1) for s in (1, 2)]
    stacked = [build_model(SPECS[0], 7, seed=i) for i in range(2)]
    alone = [build_model(SPECS[0], 7, seed=i) for i in range(2)]
    fit_stacked(stacked, trains, None, configs)
    for m, t, c in zip(alone, trains, configs):
        fit(m, t, None, c)
    assert all(max_diff(s, a) < 1e-5 for s, a in zip(stacked, alone))


@pytest.mark.parametrize("spec", [ModelSpec(n_layers=3, n_nodes=5, activation="tanh", dropout=0.2),
                                  ModelSpec(n_layers=1, n_nodes=4, head="regression"),
                                  ModelSpec(n_layers=3, n_nodes=5, batch_norm=True, dropout=0.2),
                                  ModelSpec(n_layers=2, n_nodes=4, activation="relu", batch_norm=True)],
                         ids=["tanh+dropout", "regression", "bn+dropout", "relu+bn"])
def test_hand_derived_step_equals_autograd(spec):
    X, y = blobs(400, seed=11)
    if spec.head == "regression":
        y = X[:, 0] * 0.5 + 0.1
    X = X * 2 + 3
    fold = np.arange(400) % 2
    members = np.stack([fold != i for i in range(2)])
    stds = [(X[m].mean(0).astype(np.float64), X[m].std(0).astype(np.float64)) for m in members]
    cw = "balanced" if spec.head == "binary" else None
    runs = []
    for step in ("auto", "autograd"):
        models = [build_model(spec, 7, seed=i) for i in range(2)]
        hs = fit_shared(models, X, y, members, FitConfig(epochs=2, batch_size=60, class_weight=cw, step=step, threads=1),
                        standardizers=stds)
        runs.append((models, hs))
    assert StackedDNN(runs[0][0]).can_fuse()
    for a, b in zip(runs[0][0], runs[1][0]):
        assert max_diff(a, b) < 1e-5
    for h, g in zip(runs[0][1], runs[1][1]):
        assert h.loss == pytest.approx(g.loss, abs=1e-5)


def test_fold_standardiser_from_column_moments_equals_a_fit():
    """Shared-batch CV gets each fold's standardiser from all rows' column moments minus its held-out
    rows' (no pass over the fold's training rows): the same mean and scale as Standardizer.fit."""
    from nidslab.data.prep import Standardizer, kfold
    from nidslab.stacked import _column_moments, _complement, _standardiser_of

    rng = np.random.default_rng(0)
    X = rng.lognormal(3, 1, size=(20_000, 6)).astype(np.float32)
    X[:, 2] = 7.0  # a constant column: scale 1, as the Standardizer gives it
    Xg = Standardizer().fit(X).transform(X)
    y = (rng.random(len(X)) < 0.8).astype(np.uint8)
    total = _column_moments(Xg, chunk=3_000)
    for tr, te in kfold(y, n_splits=4, seed=1):
        assert _complement(tr, te, len(y)) and not _complement(tr[1:], te, len(y))
        mean, scale = _standardiser_of(total, _column_moments(Xg[te]), len(tr))
        ref = Standardizer().fit(Xg[tr])
        np.testing.assert_allclose(mean, ref.mean_, atol=1e-12)
        np.testing.assert_allclose(scale, ref.scale_, rtol=1e-10)


def test_shared_batches_membership_of_many_networks():
    """More networks than an int64 has membership bits (63) take the float membership gather: the same
    rule holds there (a network's held-out rows move none of its weights)."""
    X, y = blobs(300, seed=8)
    k = 65
    fold = np.arange(300) % k
    members = np.stack([fold != i for i in range(k)])
    spec = ModelSpec(n_layers=1, n_nodes=3)
    cfg = FitConfig(epochs=1, batch_size=100, threads=1)
    first = [build_model(spec, 7, seed=i) for i in range(k)]
    fit_shared(first, X, y, members, cfg)
    X2 = X.copy()
    X2[fold == 64] += 5
    second = [build_model(spec, 7, seed=i) for i in range(k)]
    fit_shared(second, X2, y, members, cfg)
    assert max_diff(first[64], second[64]) == 0.0 and max_diff(first[0], second[0]) > 1e-4


MIXED = [ModelSpec(n_layers=2, n_nodes=5), ModelSpec(n_layers=2, n_nodes=5, activation="relu"),
         ModelSpec(n_layers=2, n_nodes=5, dropout=0.4), ModelSpec(n_layers=2, n_nodes=5, activation="linear"),
         ModelSpec(n_layers=2, n_nodes=5, activation="tanh", dropout=0.2)]


@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "bn"])
def test_mixed_stack_equals_one_by_one(batch_norm):
    """Networks of one shape with their own activations, dropout rates and optimisers (SGD and Adam) in
    one stack, each on its own batches: each equals its own ``fit``."""
    specs = [s.replace(batch_norm=batch_norm) for s in MIXED]
    trains = [blobs(200, seed=i) for i in range(len(specs))]
    configs = [FitConfig(epochs=2, batch_size=64, seed=i, optimizer=opt, lr=lr, class_weight="balanced", threads=1)
               for i, (opt, lr) in enumerate([("sgd", 0.1), ("adam", 0.01), ("sgd", 0.05), ("sgd", 0.02), ("adam", 0.01)])]
    # (not Adam on the linear network: before BatchNorm its first bias has a zero gradient up to rounding,
    # which Adam's normalisation would turn into steps of the learning rate's size)
    stacked = [build_model(s, 7, seed=20 + i) for i, s in enumerate(specs)]
    alone = [build_model(s, 7, seed=20 + i) for i, s in enumerate(specs)]
    net = StackedDNN(stacked)
    assert net.can_fuse() and [a for _, _, a in net.segments] == ["sigmoid", "relu", "sigmoid", "linear", "tanh"]
    hs = fit_stacked(stacked, trains, None, configs)
    for m, t, c, h in zip(alone, trains, configs, hs):
        g = fit(m, t, None, c)
        assert h.loss == pytest.approx(g.loss, abs=1e-5)
    for s_, a in zip(stacked, alone):
        assert max_diff(s_, a) < 1e-5


def test_mixed_stack_hand_derived_equals_autograd():
    X, y = blobs(300, seed=12)
    members = np.stack([np.arange(300) % 5 != i for i in range(5)])
    configs = [FitConfig(epochs=2, batch_size=50, seed=i, optimizer="adam" if i % 2 else "sgd", lr=0.02, threads=1)
               for i in range(5)]
    runs = []
    for step in ("auto", "autograd"):
        models = [build_model(s, 7, seed=i) for i, s in enumerate(MIXED)]
        fit_shared(models, X, y, members, [c.replace(step=step) for c in configs])
        runs.append(models)
    for a, b in zip(*runs):
        assert max_diff(a, b) < 1e-5
