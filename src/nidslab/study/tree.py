"""Beyond the lab: reference models on the same split and features as the networks.

A LightGBM gradient-boosted tree model (what a tree reaches on tabular features like these) and
scikit-learn's logistic regression (what a stack of Dense layers without activations can represent,
Question 5). Both use balanced class weights, like the lab's networks from Part 12 on.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from nidslab.study.config import TreeBaseline


def scored(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Test metrics of probabilities ``p`` for labels ``y``, by the same code as the networks'
    (:func:`nidslab.evaluate.binary_metrics`, which takes logits)."""
    from nidslab.evaluate import binary_metrics
    from nidslab.study.backend import report_metrics

    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return report_metrics(binary_metrics(np.asarray(y), np.log(p) - np.log1p(-p)))


def subsample_rows(n: int, max_rows: int, seed: int) -> np.ndarray | slice:
    if max_rows <= 0 or n <= max_rows:
        return slice(None)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def tree_baseline(cfg: TreeBaseline, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                  *, seed: int = 0, threads: int | None = None) -> dict[str, Any]:
    """Train LightGBM and logistic regression on (a sample of ``cfg.max_rows``) training rows and score
    them on the test split. Returns ``settings``, ``train_rows``, ``train_seconds``, ``test`` (see
    :func:`binary_metrics`) and ``linear`` (the logistic regression's ``train_seconds`` and ``test``)."""
    import lightgbm as lgb
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    X, y = train
    rows = subsample_rows(len(y), cfg.max_rows, seed)
    Xs, ys = np.ascontiguousarray(X[rows]), np.asarray(y[rows])
    model = lgb.LGBMClassifier(n_estimators=cfg.n_estimators, num_leaves=cfg.num_leaves,
                               learning_rate=cfg.learning_rate, class_weight="balanced", random_state=seed,
                               n_jobs=threads or 0, verbose=-1, deterministic=True, force_row_wise=True)
    start = time.perf_counter()
    model.fit(Xs, ys)
    seconds = time.perf_counter() - start
    tree_scores = model.predict_proba(test[0])[:, 1]

    linear = LogisticRegression(class_weight="balanced", max_iter=300)
    start = time.perf_counter()
    with warnings.catch_warnings():  # convergence is reported in the result instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        linear.fit(Xs, ys)
    lin_seconds = time.perf_counter() - start
    return {
        "model": "LightGBM",
        "settings": {"n_estimators": cfg.n_estimators, "num_leaves": cfg.num_leaves,
                     "learning_rate": cfg.learning_rate, "class_weight": "balanced"},
        "train_rows": int(len(ys)),
        "train_seconds": seconds,
        "test": scored(test[1], tree_scores),
        "linear": {"model": "logistic regression (scikit-learn, lbfgs)", "train_seconds": lin_seconds,
                   "converged": bool(linear.n_iter_.max() < linear.max_iter),
                   "test": scored(test[1], linear.predict_proba(test[0])[:, 1])},
    }
