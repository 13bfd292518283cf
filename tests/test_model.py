"""nidslab.model: the lab's build_DNN with Keras's defaults."""

import numpy as np
import pytest
import torch
from torch import nn

from nidslab.model import Dropout, MCDropout, ModelSpec, build_model, dropout, summary


def test_parameter_counts_match_the_lab():
    assert summary(build_model(ModelSpec(n_layers=2, n_nodes=20), 92), 92).total_params == 2301
    s = summary(build_model(ModelSpec(n_layers=4, n_nodes=50), 92), 92)
    assert (s.total_params, s.trainable_params, s.non_trainable_params) == (12351, 12351, 0)
    assert [r.params for r in s.rows] == [4650, 2550, 2550, 2550, 51]


def test_batch_norm_counts_moving_statistics_as_non_trainable():
    s = summary(build_model(ModelSpec(batch_norm=True), 92))
    assert s.total_params == 2301 + 2 * 4 * 20
    assert s.non_trainable_params == 2 * 2 * 20
    assert "batch_normalization" in str(s)


def test_layer_order_is_dense_activation_batchnorm_dropout():
    m = build_model(ModelSpec(n_layers=1, activation="relu", batch_norm=True, dropout=0.5), 7)
    kinds = [type(layer) for layer in m.children()]
    assert kinds == [nn.Linear, nn.ReLU, nn.BatchNorm1d, Dropout, nn.Linear]
    bn = m[2]
    assert bn.eps == pytest.approx(1e-3) and bn.momentum == pytest.approx(0.01)


def test_keras_default_initialisation():
    torch.manual_seed(0)
    m = build_model(ModelSpec(n_layers=2, n_nodes=200), 300)
    w = m[0].weight.detach().numpy()
    limit = np.sqrt(6 / (300 + 200))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit
    # Uniform on [-limit, limit] has sd limit / sqrt(3).
    assert w.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)
    assert all(float(layer.bias.detach().abs().max()) == 0 for layer in m.children() if isinstance(layer, nn.Linear))


def test_batchnorm_and_dropout_differ_between_train_and_eval():
    torch.manual_seed(0)
    m = build_model(ModelSpec(batch_norm=True, dropout=0.5), 5)
    x = torch.randn(64, 5)
    m.eval()
    a, b = m(x), m(x)
    assert torch.equal(a, b)  # eval: deterministic
    m.train()
    c, d = m(x), m(x)
    assert not torch.equal(c, d)  # train: dropout draws new masks
    assert not torch.allclose(a, c)


def test_mc_dropout_stays_on_in_eval_mode():
    torch.manual_seed(0)
    m = build_model(ModelSpec(dropout=0.5, mc_dropout=True), 5).eval()
    assert any(isinstance(layer, MCDropout) for layer in m.children())
    x = torch.randn(32, 5)
    assert not torch.equal(m(x), m(x))
    plain = build_model(ModelSpec(dropout=0.5), 5).eval()
    assert torch.equal(plain(x), plain(x))


def test_output_shape_is_one_value_per_row():
    m = build_model(ModelSpec(head="regression"), 4)
    assert m(torch.zeros(3, 4)).shape == (3,)


@pytest.mark.parametrize("bad", [{"activation": "swish"}, {"dropout": 1.0}, {"head": "multi"},
                                 {"n_nodes": 0}, {"mc_dropout": True}])
def test_bad_specs_are_refused(bad):
    with pytest.raises(ValueError):
        ModelSpec(**bad)


def test_spec_round_trips_through_a_dict():
    spec = ModelSpec(n_layers=3, n_nodes=80, batch_norm=True, dropout=0.7)
    assert ModelSpec(**spec.to_dict()) == spec
    with pytest.raises(ValueError, match="unknown model spec key"):
        ModelSpec.from_dict({**spec.to_dict(), "lr": 0.1})


def test_dropout_zeroes_at_the_rate_and_keeps_the_mean():
    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = dropout(x, 0.7)
    assert float((y == 0).float().mean()) == pytest.approx(0.7, abs=0.005)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.02)
    assert torch.unique(y).tolist() == [0.0, pytest.approx(1 / 0.3)]
    x.requires_grad_(True)
    y = dropout(x, 0.5)
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # gradient flows through kept units only, scaled the same
