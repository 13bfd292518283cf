"""The data a study's parts share: one dataset, prepared as the lab prepares it (the study's features, its
split, standardised on the training split). Opened once per run by the runner and handed to each part in
its :class:`nidslab.study.context.Context`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nidslab import schema
from nidslab.progress import Progress

Arrays = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class PreparedData:
    """One dataset and the study's split of it."""

    name: str                  # what the user asked for (a dataset name or path)
    X_raw: np.ndarray          # (n, k) float32, the study's features before standardising
    y_all: np.ndarray          # (n,) uint8
    feature_names: tuple[str, ...]
    train: Arrays              # standardised (X, y) of each split
    validation: Arrays
    test: Arrays
    split_rows: dict[str, np.ndarray]   # row indices into X_raw of each split
    prepared: Any              # nidslab.data.prep.Prepared (its standardizer, the split)
    dataset: Any               # the whole dataset as opened (every column, in capture order)


def open_prepared(data: str, *, features: str, fraction: float, seed: int, temporal: bool,
                  detail: Progress) -> PreparedData:
    """Open dataset ``data`` (any name or path nidslab reads) and prepare it: ``features`` (lab | all),
    ``fraction`` of the rows, a seeded split, random or ``temporal``."""
    from nidslab.data import open_dataset
    from nidslab.data.prep import prepare

    ds = open_dataset(data, progress=lambda d, t, m="": detail(d, t, m or f"opening {data}"))
    p = prepare(ds, features=features, fraction=fraction, seed=seed, temporal=temporal)
    names = tuple(p.feature_names)
    X_all = np.asarray(ds.X)
    cols = [schema.INDEX[n] for n in names] if X_all.shape[1] == schema.N_FEATURES else list(range(X_all.shape[1]))
    rows = {"train": np.asarray(p.split.train), "validation": np.asarray(p.split.validation),
            "test": np.asarray(p.split.test)}
    # The study's columns of the whole table, unstandardised (the splits' row indices address it).
    X_raw = X_all[:, cols] if cols != list(range(X_all.shape[1])) else X_all
    return PreparedData(name=data, X_raw=X_raw, y_all=np.asarray(ds.y), feature_names=names,
                        train=(p.X_train, p.y_train), validation=(p.X_val, p.y_val), test=(p.X_test, p.y_test),
                        split_rows=rows, prepared=p, dataset=ds)


__all__ = ["Arrays", "PreparedData", "open_prepared"]
