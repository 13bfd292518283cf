"""A feature column as a regression target (the lab's Part 22), taken out of the inputs together with the
columns computed from it.

An AfterImage statistic is named ``<group>_L<lambda>_<stat>``; every statistic of the same group and
decay rate (weight, mean, std, magnitude, radius, covariance, pcc) is computed from the same decayed
sums, so leaving one in the inputs would give the target away. The study's ``[regression]`` part
leaves out the same columns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nidslab.data.prep import Prepared, prepare, select_columns
from nidslab.errors import DataError


def derived_columns(target: str, names: Sequence[str]) -> tuple[str, ...]:
    """The columns of ``names`` other than ``target`` that share its group and decay rate (its prefix up to
    the last ``_``, e.g. ``HH_L0.1_`` for ``HH_L0.1_mean``); none for a name without that form."""
    if "_L" not in target or "_" not in target:
        return ()
    prefix = target.rsplit("_", 1)[0] + "_"
    return tuple(n for n in names if n != target and n.startswith(prefix))


@dataclass(frozen=True)
class Target:
    """How a target column was scaled: the network learns ``(value - mean) / sd`` (float32), fitted on
    the training split; predictions in the column's own units are ``output * sd + mean``."""

    name: str
    mean: float
    sd: float
    excluded: tuple[str, ...]   # input columns left out besides the target itself
    test: np.ndarray            # (n_test,) float64, the test split's values in the column's units

    def to_dict(self) -> dict[str, Any]:
        """What a model folder's metrics.json records about the target (not the test values)."""
        return {"name": self.name, "mean": self.mean, "sd": self.sd, "excluded": list(self.excluded)}


def prepare_regression(dataset: Any, target: str, *, features: str | Sequence[str] | None = "lab",
                       fraction: float = 1.0, seed: int = 0, temporal: bool = False) -> tuple[Prepared, Target]:
    """:func:`nidslab.data.prep.prepare` with feature column ``target`` as ``y``: the inputs are the feature
    selection less the target and :func:`derived_columns`; ``y_*`` are the target standardised on the
    training split (float32). The split is the lab's (stratified on the class labels), so a classifier and
    a regressor trained with the same seed see the same rows."""
    names = tuple(dataset.feature_names)
    if target not in names:
        close = [n for n in names if n.split("_L")[0] == target.split("_L")[0]][:6]
        raise DataError(f"--target {target!r} is not a column of dataset {getattr(dataset, 'name', '')!r}"
                        + (f"; columns of that group: {', '.join(close)}" if close else ""))
    _, selected = select_columns(names, features)
    drop = {target, *derived_columns(target, names)}
    keep = [n for n in selected if n not in drop]
    if not keep:
        raise DataError(f"--target {target!r}: no input columns are left once it and its own statistics are removed")
    p = prepare(dataset, features=keep, fraction=fraction, seed=seed, temporal=temporal)
    t = names.index(target)
    raw = {k: np.asarray(dataset.X[rows, t], dtype=np.float64)
           for k, rows in (("train", p.split.train), ("validation", p.split.validation), ("test", p.split.test))}
    mean = float(raw["train"].mean())
    sd = float(raw["train"].std()) or 1.0

    def z(v: np.ndarray) -> np.ndarray:
        return ((v - mean) / sd).astype(np.float32)

    prepared = dataclasses.replace(p, y_train=z(raw["train"]), y_val=z(raw["validation"]), y_test=z(raw["test"]))
    excluded = tuple(n for n in selected if n in drop and n != target)
    return prepared, Target(name=target, mean=mean, sd=sd, excluded=excluded, test=raw["test"])
