"""A scikit-learn-style estimator around :mod:`nidslab.model` and :mod:`nidslab.train`.

``DNNClassifier`` takes the lab's settings in ``__init__`` (so ``get_params``/``set_params``,
``clone`` and grid searches work) and offers ``fit``/``predict_proba``/``predict``/``score``.
Inputs are standardised float32 features; standardisation stays the caller's (or a Pipeline's) job.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin

from nidslab.settings import BUILD_DNN_KEYS, FitConfig, ModelSpec

if TYPE_CHECKING:
    from nidslab.model import DNN

# The defaults below are read from these, so they live in nidslab.settings only.
_SPEC, _FIT = ModelSpec(), FitConfig()
_SPEC_KEYS = BUILD_DNN_KEYS
_FIT_KEYS = ("optimizer", "lr", "batch_size", "epochs", "class_weight", "seed", "device", "threads")


class DNNClassifier(ClassifierMixin, BaseEstimator):
    """The lab's dense network as a binary classifier (labels 0 benign, 1 malicious)."""

    def __init__(self, n_layers: int = _SPEC.n_layers, n_nodes: int = _SPEC.n_nodes,
                 activation: str = _SPEC.activation, batch_norm: bool = _SPEC.batch_norm,
                 dropout: float = _SPEC.dropout, optimizer: str = _FIT.optimizer, lr: float = _FIT.lr,
                 batch_size: int = _FIT.batch_size, epochs: int = _FIT.epochs,
                 class_weight: None | str | dict[int, float] = _FIT.class_weight, seed: int = _FIT.seed,
                 device: str = _FIT.device, threads: int | None = _FIT.threads) -> None:
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

    def fit(self, X: ArrayLike, y: ArrayLike, validation: tuple[np.ndarray, np.ndarray] | None = None
            ) -> DNNClassifier:
        """Build a fresh network (seeded) and train it on ``X`` ``(n, d)`` and ``y`` ``(n,)`` 0/1."""
        from nidslab.model import build_model
        from nidslab.train import fit

        X = np.asarray(X, dtype=np.float32)
        self.spec_ = ModelSpec.from_dict({k: getattr(self, k) for k in _SPEC_KEYS})
        self.fit_config_ = FitConfig.from_dict({k: getattr(self, k) for k in _FIT_KEYS})
        self.model_ = build_model(self.spec_, X.shape[1], seed=self.fit_config_.seed)
        self.history_ = fit(self.model_, (X, np.asarray(y)), validation, self.fit_config_)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """``(n, 2)``: probabilities of benign and malicious."""
        from nidslab.evaluate import predict_scores

        p = predict_scores(self._fitted(), np.asarray(X, dtype=np.float32)).astype(np.float64)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: ArrayLike) -> np.ndarray:
        """``(n,)`` uint8 labels: 1 where the malicious probability is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.uint8)

    def save(self, path: str | os.PathLike, *, feature_names: Sequence[str], standardizer: Any = None,
             metrics: dict[str, Any] | None = None) -> Path:
        """Write the fitted network as a model folder (see :func:`nidslab.saved_model.save_model`)."""
        from nidslab.saved_model import save_model

        return save_model(path, self._fitted(), self.spec_, standardizer=standardizer, feature_names=feature_names,
                          metrics=metrics, history=self.history_)

    @classmethod
    def load(cls, path: str | os.PathLike) -> DNNClassifier:
        """A fitted classifier from a model folder (its training settings are not stored: defaults)."""
        from nidslab.saved_model import load_model
        from nidslab.train import History

        saved = load_model(path)
        s = saved.spec
        est = cls(**{k: getattr(s, k) for k in _SPEC_KEYS})
        # history_ is a History after load as after fit (it was the stored dict, so .epochs failed)
        est.spec_, est.model_, est.history_ = s, saved.model, History.from_dict(saved.history)
        est.classes_, est.n_features_in_ = np.array([0, 1]), saved.model.n_inputs
        return est

    def _fitted(self) -> DNN:
        from sklearn.exceptions import NotFittedError

        if not hasattr(self, "model_"):
            raise NotFittedError("this DNNClassifier is not fitted yet: call fit(X, y) first")
        return self.model_


__all__ = ["DNNClassifier"]
