"""nidslab.estimator: DNNClassifier behaves as a scikit-learn classifier."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from nidslab.estimator import DNNClassifier


def data(n=600):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 5)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.uint8)


def test_fit_predict_score_and_clone(tmp_path):
    X, y = data()
    est = DNNClassifier(n_layers=1, n_nodes=8, activation="relu", optimizer="adam", lr=0.05, batch_size=50, epochs=5)
    assert est.fit(X, y) is est
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 2) and np.allclose(proba.sum(axis=1), 1)
    assert est.score(X, y) > 0.9
    assert clone(est).get_params() == est.get_params()
    again = DNNClassifier.load(est.save(tmp_path / "m", feature_names=list("abcde")))
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    # the loaded history is a History as the fitted one is (it was the stored dict)
    assert type(again.history_) is type(est.history_)
    assert again.history_.epochs == est.history_.epochs == 5
    assert again.history_.loss == pytest.approx(est.history_.loss)


def test_unfitted_raises():
    with pytest.raises(NotFittedError):
        DNNClassifier().predict(np.zeros((1, 5), np.float32))
