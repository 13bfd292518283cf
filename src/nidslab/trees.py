"""LightGBM as nidslab trains it everywhere (the study's tree baseline and evaluation, the detectors of
:mod:`nidslab.generalise`): one home for its settings."""

from __future__ import annotations

from typing import Any


def lightgbm_classifier(n_estimators: int, num_leaves: int, learning_rate: float, *, seed: int,
                        threads: int | None) -> Any:
    """An unfitted ``lightgbm.LGBMClassifier``: balanced class weights, deterministic and row-wise (the same
    trees for the same seed and thread count), ``threads`` threads (None: LightGBM's default), quiet."""
    import lightgbm as lgb

    return lgb.LGBMClassifier(n_estimators=n_estimators, num_leaves=num_leaves, learning_rate=learning_rate,
                              class_weight="balanced", random_state=seed, n_jobs=threads or 0, verbose=-1,
                              deterministic=True, force_row_wise=True)
