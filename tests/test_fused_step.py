"""nidslab.fused_step: the hand-derived backward pass gives autograd's gradients, and fit uses it."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from nidslab.fused_step import FusedStep, supports
from nidslab.model import ACTIVATION_MODULES, ModelSpec, build_model, dropout_mask, seed_dropout
from nidslab.train import fit

N_IN = 7


def twins(spec, seed=1):
    torch.manual_seed(seed)
    a = build_model(spec, N_IN)
    b = build_model(spec, N_IN)
    b.load_state_dict(a.state_dict())
    return a, b


def batch(rows=257, seed=0, head="binary"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, N_IN, generator=g) * 2 + 0.5
    y = (torch.rand(rows, generator=g) > 0.3).float() if head == "binary" else torch.randn(rows, generator=g)
    w = torch.rand(rows, generator=g) + 0.5
    return x, y, w


def autograd_step(model, x, y, w):
    model.train()
    out = model(x)
    if model.spec.head == "binary":
        loss = F.binary_cross_entropy_with_logits(out, y, weight=w)
    else:
        loss = F.mse_loss(out, y)
    model.zero_grad(set_to_none=True)
    loss.backward()
    return loss.detach(), out.detach()


CASES = [(act, bn, p, head, weighted, n_layers)
         for act, bn, p, head, weighted, n_layers in itertools.product(
             list(ACTIVATION_MODULES), (False, True), (0.0, 0.3), ("binary", "regression"), (False, True), (0, 1, 3))
         if not (head == "regression" and weighted) and not (n_layers == 0 and (bn or p))]


@pytest.mark.parametrize("act,bn,p,head,weighted,n_layers", CASES)
def test_gradients_loss_and_running_stats_equal_autograds(act, bn, p, head, weighted, n_layers):
    spec = ModelSpec(n_layers=n_layers, n_nodes=5, activation=act, batch_norm=bn, dropout=p, head=head)
    ref, fused = twins(spec)
    x, y, w = batch(head=head)
    w = w if weighted else None
    seed_dropout(5)  # both draw the same masks in the same order
    loss_ref, out_ref = autograd_step(ref, x, y, w)
    seed_dropout(5)
    loss, out = FusedStep(fused, batch_size=300)(x, y, w)

    assert float(loss) == pytest.approx(float(loss_ref), rel=1e-5)
    torch.testing.assert_close(out, out_ref, rtol=1e-5, atol=1e-5)
    for (name, a), b in zip(ref.named_parameters(), fused.parameters()):
        scale = a.grad.abs().max().clamp_min(1e-6)
        if bn and act == "linear" and float(scale) <= 1e-6:
            # without activations a shift before BatchNorm (a Dense bias, an earlier BatchNorm's beta) has a
            # zero gradient: both sides give rounding noise (about 1e-8)
            assert float(b.grad.abs().max()) < 1e-6, name
            continue
        assert float((a.grad - b.grad).abs().max() / scale) < 1e-4, name
    for (name, a), b in zip(ref.named_buffers(), fused.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_a_step_on_a_shorter_last_batch_uses_the_first_rows_of_its_buffers():
    spec = ModelSpec(n_layers=2, n_nodes=6, batch_norm=True, dropout=0.2)
    ref, fused = twins(spec)
    step = FusedStep(fused, batch_size=100)
    x, y, w = batch(100)
    seed_dropout(0)
    step(x, y, w)
    seed_dropout(0)
    autograd_step(ref, x, y, w)
    x, y, w = batch(37, seed=1)  # now a short batch through the same buffers
    seed_dropout(1)
    step(x, y, w)
    seed_dropout(1)
    autograd_step(ref, x, y, w)
    for a, b in zip(ref.parameters(), fused.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6)


def test_batch_norm_on_a_one_row_batch_does_not_fail():
    # 101 rows at batch 100 leave one row: training-mode BatchNorm has no spread to use.
    torch.manual_seed(0)
    model = build_model(ModelSpec(n_layers=2, n_nodes=4, batch_norm=True), 3)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((101, 3)).astype(np.float32), (rng.random(101) > 0.5).astype(np.uint8)
    h = fit(model, (X, y), batch_size=100, epochs=2, device="cpu", step="fused")
    assert np.isfinite(h.loss).all()
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("spec", [ModelSpec(n_layers=2, n_nodes=8),
                                  ModelSpec(n_layers=3, n_nodes=8, activation="relu", batch_norm=True, dropout=0.3)])
def test_fit_with_the_fused_step_ends_where_autograd_does(spec):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((3000, N_IN)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.uint8)
    ref, fused = twins(spec)
    kw = dict(validation=(X[:500], y[:500]), batch_size=256, epochs=3, seed=7, device="cpu", class_weight="balanced")
    h_ref = fit(ref, (X, y), step="autograd", **kw)
    h = fit(fused, (X, y), step="fused", **kw)
    # test_gradients_* checks one step to 1e-4; here the float32 rounding (sums in another order)
    # compounds over 36 updates, most with ReLU and BatchNorm. A wiring fault (masks, weights, the
    # short last batch) would move the weights by far more than these tolerances.
    np.testing.assert_allclose(h.loss, h_ref.loss, rtol=1e-3)
    np.testing.assert_allclose(h.val_accuracy, h_ref.val_accuracy, atol=2 / 500)
    for a, b in zip(ref.state_dict().values(), fused.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=0.05, atol=5e-3)


def test_fit_checks_the_step_option():
    X, y = np.zeros((10, 3), np.float32), np.array([0, 1] * 5, np.uint8)
    model = build_model(ModelSpec(), 3)
    with pytest.raises(ValueError, match="step must be one of"):
        fit(model, (X, y), step="magic")
    other = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0))
    assert not supports(other)
    with pytest.raises(ValueError, match="step='fused'"):
        fit(other, (X, y), step="fused")
    fit(other, (X, y), epochs=1)  # "auto" falls back to autograd for a module it cannot fuse
    assert supports(model)
    with pytest.raises(ValueError, match="DNN"):
        FusedStep(other, 10)


def test_dropout_mask_drops_p_and_scales_the_rest_reproducibly():
    seed_dropout(11)
    m = dropout_mask((400, 500), 0.7)
    assert m.dtype == torch.float32 and m.shape == (400, 500)
    assert float((m == 0).float().mean()) == pytest.approx(0.7, abs=0.005)
    assert torch.unique(m).tolist() == [0.0, pytest.approx(1 / 0.3)]
    seed_dropout(11)
    assert torch.equal(dropout_mask((400, 500), 0.7), m)
    assert not torch.equal(dropout_mask((400, 500), 0.7), m)  # the generator moved on
    seed_dropout(0)
    assert float((dropout_mask((1001, 3), 0.5) == 0).float().mean()) == pytest.approx(0.5, abs=0.03)  # odd count


def _trained(model, step):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((400, N_IN)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.uint8)
    fit(model, (X, y), batch_size=64, epochs=2, lr=0.5, device="cpu", step=step)
    return [p.detach().clone() for p in model.parameters()]


def test_an_activation_outside_the_table_trains_with_autograd(monkeypatch):
    # As if "tanh" had been added to nidslab.model.ACTIVATION_MODULES without fused kernels: the step must not
    # run it as another activation (before the table, an unknown name ran as GELU).
    from nidslab import fused_step

    spec = ModelSpec(n_layers=2, n_nodes=6, activation="tanh")
    ref, auto = twins(spec)
    monkeypatch.delitem(fused_step.ACTIVATION_KERNELS, "tanh")
    assert not supports(auto)
    with pytest.raises(ValueError, match="DNN"):
        FusedStep(auto, 64)
    with pytest.raises(ValueError, match="step='fused'"):
        fit(auto, (np.zeros((4, N_IN), np.float32), np.array([0, 1, 0, 1], np.uint8)), step="fused")
    got, want = _trained(auto, "auto"), _trained(ref, "autograd")
    for a, b in zip(got, want):
        assert torch.equal(a, b)  # the same path as autograd, bit for bit


def test_a_layer_swapped_outside_the_blocks_trains_with_autograd():
    # A module replaced in the Sequential (SiLU where the block says sigmoid) no longer matches the
    # blocks the fused step would walk, so fit trains it with autograd: SiLU's gradients, not sigmoid's.
    ref, swapped = twins(ModelSpec(n_layers=1, n_nodes=6))
    ref[1], swapped[1] = nn.SiLU(), nn.SiLU()
    assert supports(build_model(ModelSpec(), N_IN)) and not supports(swapped)
    got, want = _trained(swapped, "auto"), _trained(ref, "autograd")
    for a, b in zip(got, want):
        assert torch.equal(a, b)
    sigmoid = _trained(twins(ModelSpec(n_layers=1, n_nodes=6))[0], "auto")
    assert not all(torch.equal(a, b) for a, b in zip(got, sigmoid))


def test_the_fused_step_walks_the_models_blocks():
    model = build_model(ModelSpec(n_layers=3, n_nodes=5, batch_norm=True, dropout=0.2), N_IN)
    step = FusedStep(model, 16)
    assert [h.linear for h in step.hidden] == [b.linear for b in model.blocks]
    assert [h.bn for h in step.hidden] == [b.bn for b in model.blocks]
    assert step.out is model.output and all(h.p == 0.2 for h in step.hidden)
