"""A scikit-learn-style estimator around :mod:`nidslab.model` and :mod:`nidslab.train`.

``DNNClassifier`` takes the lab's settings in ``__init__`` (so ``get_params``/``set_params``,
``clone`` and grid searches work) and offers ``fit``/``predict_proba``/``predict``/``score``.
Inputs are standardised float32 features; standardisation stays the caller's (or a Pipeline's) job.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class DNNClassifier(ClassifierMixin, BaseEstimator):
    """The lab's dense network as a binary classifier (labels 0 benign, 1 malicious)."""

    def __init__(self, n_layers: int = 2, n_nodes: int = 20, activation: str = "sigmoid", batch_norm: bool = False,
                 dropout: float = 0.0, optimizer: str = "sgd", lr: float = 0.1, batch_size: int = 10_000,
                 epochs: int = 20, class_weight=None, seed: int = 0, device: str = "auto", threads: int | None = None):
        self.n_layers = n_layers
        self.n_nodes = n_nodes
        self.activation = activation
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.optimizer = optimizer
        self.lr = lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.class_weight = class_weight
        self.seed = seed
        self.device = device
        self.threads = threads

    def fit(self, X, y, validation=None):
        """Build a fresh network (seeded) and train it on ``X`` ``(n, d)`` and ``y`` ``(n,)`` 0/1."""
        import torch

        from nidslab.model import ModelSpec, build_model
        from nidslab.train import fit

        X = np.asarray(X, dtype=np.float32)
        self.spec_ = ModelSpec(n_layers=self.n_layers, n_nodes=self.n_nodes, activation=self.activation,
                               batch_norm=self.batch_norm, dropout=self.dropout)
        torch.manual_seed(self.seed)
        self.model_ = build_model(self.spec_, X.shape[1])
        self.history_ = fit(self.model_, (X, np.asarray(y)), validation=validation, optimizer=self.optimizer,
                            lr=self.lr, batch_size=self.batch_size, epochs=self.epochs,
                            class_weight=self.class_weight, seed=self.seed, device=self.device,
                            threads=self.threads)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X) -> np.ndarray:
        """``(n, 2)``: probabilities of benign and malicious."""
        from nidslab.evaluate import predict_scores

        p = predict_scores(self._fitted(), np.asarray(X, dtype=np.float32)).astype(np.float64)
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """``(n,)`` uint8 labels: 1 where the malicious probability is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.uint8)

    def save(self, path, *, feature_names, standardizer=None, metrics=None):
        """Write the fitted network as a model folder (see :func:`nidslab.saved_model.save_model`)."""
        from nidslab.saved_model import save_model

        return save_model(path, self._fitted(), self.spec_, standardizer=standardizer, feature_names=feature_names,
                          metrics=metrics, history=self.history_)

    @classmethod
    def load(cls, path) -> DNNClassifier:
        """A fitted classifier from a model folder (its training settings are not stored: defaults)."""
        from nidslab.saved_model import load_model

        saved = load_model(path)
        s = saved.spec
        est = cls(n_layers=s.n_layers, n_nodes=s.n_nodes, activation=s.activation, batch_norm=s.batch_norm,
                  dropout=s.dropout)
        est.spec_, est.model_, est.history_ = s, saved.model, saved.history
        est.classes_, est.n_features_in_ = np.array([0, 1]), saved.model.n_inputs
        return est

    def _fitted(self):
        from sklearn.exceptions import NotFittedError

        if not hasattr(self, "model_"):
            raise NotFittedError("this DNNClassifier is not fitted yet: call fit(X, y) first")
        return self.model_


__all__ = ["DNNClassifier"]
