"""nidslab.uncertainty: Monte Carlo dropout, vectorised over passes."""

import numpy as np
import pytest
import torch

from nidslab.evaluate import predict_scores
from nidslab.model import ModelSpec, build_model
from nidslab.uncertainty import mc_dropout


def data(n=400):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 5)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(np.uint8)


def model(**kw):
    torch.manual_seed(0)
    return build_model(ModelSpec(n_layers=2, n_nodes=16, dropout=0.5, **kw), 5)


def test_passes_differ_and_are_summarised():
    X, y = data()
    r = mc_dropout(model(batch_norm=True), X, y, passes=30, seed=1)
    assert r.accuracies.shape == (30,) and r.mean.shape == r.std.shape == (len(X),)
    assert len(np.unique(r.accuracies)) > 1 or r.std.max() > 0
    assert r.std.max() > 0
    assert r.accuracy_mean == pytest.approx(r.accuracies.mean())
    assert r.accuracy_std == pytest.approx(r.accuracies.std())
    assert set(r.to_dict()) >= {"accuracies", "accuracy_mean", "accuracy_std", "passes"}
    assert "per_sample_std" in r.to_dict(include_per_sample=True)


def test_same_seed_same_numbers_and_chunking_does_not_matter():
    X, y = data()
    m = model()
    a = mc_dropout(m, X, y, passes=10, seed=3)
    b = mc_dropout(m, X, y, passes=10, seed=3)
    c = mc_dropout(m, X, y, passes=10, seed=4)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert not np.array_equal(a.mean, c.mean)
    # Per-pass accuracy is the accuracy of one full pass: check with a single pass by hand.
    one = mc_dropout(m, X, y, passes=1, seed=5, batch_size=len(X))
    assert one.accuracies[0] == pytest.approx(np.mean((one.mean >= 0.5) == (y == 1)))
    assert one.std.max() == 0


def test_mean_of_many_passes_approaches_the_deterministic_prediction():
    X, y = data(200)
    m = model()
    r = mc_dropout(m, X, y, passes=400, seed=0)
    det = predict_scores(m, X)  # plain dropout layers are off in eval mode
    assert np.abs(r.mean - det).mean() < 0.05


def test_models_without_dropout_are_refused():
    X, y = data(10)
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="dropout layers"):
        mc_dropout(build_model(ModelSpec(), 5), X, y, passes=3)


def test_global_random_state_is_left_alone():
    X, y = data(10)
    m = model()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    mc_dropout(m, X, y, passes=3)
    assert torch.equal(torch.rand(3), expected)
