"""nidslab.train: the loop, class weights, checkpoints and resume, early stopping."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from nidslab.errors import CacheError
from nidslab.model import ModelSpec, build_model
from nidslab.train import History, balanced_class_weight, fit


def blobs(n=2000, d=6, seed=0, share=0.8):
    """Two Gaussian blobs: class 1 (share ``share``) shifted along every axis."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < share).astype(np.uint8)
    X = (rng.standard_normal((n, d)) + 1.5 * y[:, None]).astype(np.float32)
    return X, y


def fresh(spec=ModelSpec(), d=6, seed=0):
    torch.manual_seed(seed)
    return build_model(spec, d)


def test_balanced_class_weight_is_sklearns():
    y = np.array([0] * 10 + [1] * 30, dtype=np.uint8)
    assert balanced_class_weight(y) == pytest.approx({0: 40 / 20, 1: 40 / 60})
    with pytest.raises(ValueError, match="0 and 1"):
        balanced_class_weight(np.ones(5, dtype=np.uint8))


def test_class_weighted_loss_equals_the_hand_computed_value():
    # One batch, lr 0: the reported loss is the loss at the initial weights.
    X, y = blobs(8, 3)
    model = fresh(d=3)
    with torch.no_grad():
        z = model(torch.from_numpy(X)).double().numpy()
    bce = np.logaddexp(0, z) - y * z
    w = np.where(y == 1, 0.25, 3.0)
    h = fit(model, (X, y), lr=0.0, batch_size=8, epochs=1, class_weight={0: 3.0, 1: 0.25})
    # Keras: weighted sum over the batch divided by the batch size.
    assert h.loss[0] == pytest.approx(float(np.sum(w * bce) / len(y)), rel=1e-5)
    # ... not the sum divided by the sum of the weights (Keras 3's opt-in "mean_with_sample_weight").
    assert h.loss[0] != pytest.approx(float(np.sum(w * bce) / np.sum(w)), rel=1e-3)


def test_fit_learns_and_reports_history():
    X, y = blobs()
    h = fit(fresh(ModelSpec(activation="relu")), (X, y), validation=blobs(500, seed=1), optimizer="adam", lr=0.01,
            batch_size=100, epochs=5)
    assert isinstance(h, History) and h.epochs == 5 and h.updates_per_epoch == 20
    assert len(h.val_loss) == len(h.val_accuracy) == len(h.epoch_seconds) == 5
    assert h.loss[-1] < h.loss[0]
    assert h.val_accuracy[-1] > 0.9
    assert set(h.to_dict()) >= {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds", "updates_per_epoch"}


def test_same_seed_same_weights_other_seed_other_weights():
    X, y = blobs()
    runs = []
    for seed in (0, 0, 1):
        m = fresh(ModelSpec(dropout=0.3))
        fit(m, (X, y), batch_size=64, epochs=2, seed=seed)
        runs.append(m[0].weight.detach().clone())
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


def test_callback_sees_every_epoch():
    X, y = blobs(300)
    seen = []
    fit(fresh(), (X, y), validation=(X, y), epochs=3, batch_size=100, callback=lambda e, logs: seen.append((e, logs)))
    assert [e for e, _ in seen] == [1, 2, 3]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"} <= set(seen[0][1])


class Killed(Exception):
    pass


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_after_a_kill_equals_an_uninterrupted_run_bit_for_bit(tmp_path, optimizer):
    X, y = blobs(1500)
    val = blobs(300, seed=2)
    spec = ModelSpec(batch_norm=True, dropout=0.2)
    kw = dict(validation=val, optimizer=optimizer, lr=0.05, batch_size=128, epochs=5, class_weight="balanced", seed=7)

    whole = fresh(spec)
    h_whole = fit(whole, (X, y), **kw)

    def kill_after_2(epoch, logs):
        if epoch == 2:
            raise Killed

    killed = fresh(spec)
    with pytest.raises(Killed):
        fit(killed, (X, y), checkpoint_dir=tmp_path, callback=kill_after_2, **kw)
    resumed = fresh(spec, seed=99)  # a new process: different starting weights, overwritten by the checkpoint
    h_resumed = fit(resumed, (X, y), checkpoint_dir=tmp_path, resume=True, **kw)

    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    assert h_resumed.loss == h_whole.loss and h_resumed.val_accuracy == h_whole.val_accuracy


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path):
    X, y = blobs(200)
    fit(fresh(), (X, y), epochs=1, checkpoint_dir=tmp_path)
    with pytest.raises(CacheError, match="other settings"):
        fit(fresh(), (X, y), epochs=2, lr=0.5, checkpoint_dir=tmp_path, resume=True)


def test_early_stopping_stops_and_restores_the_best_weights():
    X, y = blobs(400)
    Xv, yv = blobs(200, seed=3)
    yv = 1 - yv  # validation labels flipped: val_loss rises as the model learns
    m = fresh()
    h = fit(m, (X, y), validation=(Xv, yv), lr=0.5, batch_size=50, epochs=50,
            early_stopping={"patience": 2, "restore_best_weights": True})
    assert h.stopped_early and h.epochs < 50
    assert h.epochs == h.best_epoch + 2
    with torch.no_grad():
        z = m(torch.from_numpy(Xv)).double()
        best = F.binary_cross_entropy_with_logits(z, torch.from_numpy(yv).double()).item()
    assert best == pytest.approx(min(h.val_loss), rel=1e-4)


def test_regression_head_learns_a_linear_target():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 4)).astype(np.float32)
    t = (X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.3).astype(np.float32)
    m = fresh(ModelSpec(n_layers=1, n_nodes=16, activation="relu", head="regression"), d=4)
    h = fit(m, (X, t), validation=(X[:500], t[:500]), optimizer="adam", lr=0.01, batch_size=100, epochs=15)
    assert h.accuracy == [] and h.val_loss[-1] < 0.02 * t.var()


@pytest.mark.parametrize("kwargs, match", [
    ({"optimizer": "lbfgs"}, "optimizer"),
    ({"class_weight": "auto"}, "class_weight"),
    ({"early_stopping": 3}, "validation"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_options_are_refused(kwargs, match):
    X, y = blobs(50)
    with pytest.raises(ValueError, match=match):
        fit(fresh(), (X, y), epochs=1, **kwargs)


def test_bad_arrays_are_refused_naming_the_row():
    X, y = blobs(50)
    y = y.copy()
    y[7] = 2
    with pytest.raises(ValueError, match="row 7"):
        fit(fresh(), (X, y), epochs=1)
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="row 3, column 1"):
        fit(fresh(), (X, blobs(50)[1]), epochs=1)


def test_optimizers_have_kerass_defaults():
    from nidslab.train import make_optimizer

    params = list(fresh().parameters())
    sgd = make_optimizer("sgd", params, 0.1)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0 and sgd.defaults["lr"] == 0.1
    for name, cls in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("rmsprop", torch.optim.RMSprop)):
        opt = make_optimizer(name, params, 0.001)
        assert isinstance(opt, cls) and opt.defaults["eps"] == 1e-7, name
    assert make_optimizer("adam", params, 0.001).defaults["betas"] == (0.9, 0.999)
    assert make_optimizer("rmsprop", params, 0.001).defaults["alpha"] == 0.9


def test_one_sgd_step_is_weights_minus_lr_times_the_gradient():
    # fit's SGD step (one foreach call) must be exactly torch.optim.SGD's: p <- p - lr * grad.
    X, y = blobs(64, 3)
    spec = ModelSpec(n_layers=2, n_nodes=5)
    a, b = fresh(spec, d=3), fresh(spec, d=3)
    fit(a, (X, y), lr=0.3, batch_size=64, epochs=1, class_weight={0: 2.0, 1: 0.5})
    opt = torch.optim.SGD(b.parameters(), lr=0.3)
    w = torch.where(torch.from_numpy(y) == 1, 0.5, 2.0)
    F.binary_cross_entropy_with_logits(b(torch.from_numpy(X)), torch.from_numpy(y).float(), weight=w).backward()
    opt.step()
    moved = 0.0
    for pa, pb, p0 in zip(a.parameters(), b.parameters(), fresh(spec, d=3).parameters()):
        # fit shuffles the rows, so the batch sums add up in another order: equal to float rounding.
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-7)
        moved = max(moved, float((pa - p0).detach().abs().max()))
    assert moved > 1e-2
