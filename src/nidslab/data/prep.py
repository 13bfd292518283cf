"""Preprocessing and splits (Parts 6-8 and 21 of the lab).

Two decisions differ from the lab's notebook, on purpose:

* The standardiser is fitted on the training split only. The lab standardises the whole table before
  splitting, which leaks the test rows' mean and spread into training.
* ``fraction`` (the lab's "half" and "quarter" datasets) takes a stratified random subset of the rows,
  kept in their original order; with ``temporal=True`` it takes the first ``fraction`` of each class's
  rows instead, so the timeline stays intact.

The random split shuffles the packets of one time series, so a test packet's neighbours in time (whose
decayed statistics it nearly shares) sit in training: the future leaks into the model. The temporal split
(``temporal=True``) cuts each class in time order instead (train = the earliest 70 % of each class's
rows, then validation, then test), and :func:`blocked_kfold` cuts the rows into k contiguous blocks.
Rows are assumed to be in capture (time) order, as every nidslab dataset is.

Row indices always address the dataset's full table, so a split can be saved, compared and reused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from nidslab import schema
from nidslab.progress import Progress
from nidslab.data.fingerprint import fingerprint as data_fingerprint
from nidslab.errors import ConfigError, UnknownNameError


#: rows per chunk when fitting or applying the standardiser (bounds the float64 temporaries)
_CHUNK = 1 << 16


class Standardizer:
    """Zero mean, unit variance per column, fitted on training rows only.

    Fitting accumulates in float64 (scikit-learn's ``StandardScaler.partial_fit`` over row chunks, so a
    memory-mapped table is never copied whole); ``transform`` returns float32. A constant column gets
    scale 1 and becomes all zeros instead of NaN.

    Attributes after :meth:`fit`: ``mean_`` and ``scale_`` (float64, shape (n_features,)), ``n_samples_``.
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.n_samples_: int = 0

    def fit(self, X: np.ndarray, progress: Progress | None = None) -> Standardizer:
        """Fit on ``X`` (n, k), any float dtype or a memmap. Returns self."""
        X = _as_2d(X)
        scaler = StandardScaler()
        for start in range(0, len(X), _CHUNK):
            scaler.partial_fit(np.asarray(X[start:start + _CHUNK], dtype=np.float64))
            if progress:
                progress(min(start + _CHUNK, len(X)), len(X), "fitting the standardiser")
        self.mean_ = np.asarray(scaler.mean_, dtype=np.float64)
        self.scale_ = np.asarray(scaler.scale_, dtype=np.float64)  # 1.0 where the column is constant
        self.n_samples_ = int(scaler.n_samples_seen_ if np.ndim(scaler.n_samples_seen_) == 0
                              else np.max(scaler.n_samples_seen_))
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Standardise ``X`` (n, k) into a new float32 array (n, k)."""
        mean, scale = self._fitted()
        X = _as_2d(X)
        if X.shape[1] != len(mean):
            raise ValueError(f"the standardiser was fitted on {len(mean)} columns, got {X.shape[1]}")
        out = np.empty(X.shape, dtype=np.float32)
        for start in range(0, len(X), _CHUNK):
            block = np.asarray(X[start:start + _CHUNK], dtype=np.float64)
            out[start:start + _CHUNK] = (block - mean) / scale
        return out

    def fit_transform(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).transform(X)

    def check(self, Z: np.ndarray) -> dict[str, float | int]:
        """How far standardised data ``Z`` is from zero mean and unit sd, over non-constant columns.

        Returns ``max_abs_mean``, ``max_abs_std_minus_1`` (float64 statistics of ``Z``) and
        ``constant_columns`` (columns the fit found constant, which are all zero by design)."""
        self._fitted()
        Z = _as_2d(Z)
        mean = np.zeros(Z.shape[1])
        sq = np.zeros(Z.shape[1])
        for start in range(0, len(Z), _CHUNK):
            block = np.asarray(Z[start:start + _CHUNK], dtype=np.float64)
            mean += block.sum(axis=0)
            sq += np.square(block).sum(axis=0)
        n = max(len(Z), 1)
        mean /= n
        std = np.sqrt(np.maximum(sq / n - mean**2, 0.0))
        constant = std == 0
        return {
            "max_abs_mean": float(np.abs(mean).max(initial=0.0)),
            "max_abs_std_minus_1": float(np.abs(std[~constant] - 1.0).max(initial=0.0)),
            "constant_columns": int(constant.sum()),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (saved with a model)."""
        mean, scale = self._fitted()
        return {"mean": mean.tolist(), "scale": scale.tolist(), "n_samples": self.n_samples_}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Standardizer:
        """Inverse of :meth:`to_dict`; checks the two vectors agree and the scales are positive."""
        s = cls()
        try:
            s.mean_ = np.asarray(d["mean"], dtype=np.float64)
            s.scale_ = np.asarray(d["scale"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a standardiser: {exc}") from None
        if s.mean_.ndim != 1 or s.mean_.shape != s.scale_.shape or not np.all(s.scale_ > 0):
            raise ValueError("not a standardiser: 'mean' and 'scale' must be equal-length vectors, scale > 0")
        s.n_samples_ = int(d.get("n_samples", 0))
        return s

    def _fitted(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, scale); RuntimeError before :meth:`fit`."""
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("the standardiser is not fitted yet; call fit(X_train) first")
        return self.mean_, self.scale_

    def __repr__(self) -> str:
        k = "unfitted" if self.mean_ is None else f"{len(self.mean_)} columns, {self.n_samples_:,} rows"
        return f"Standardizer({k})"


@dataclasses.dataclass(frozen=True)
class Split:
    """Row indices (int64, ascending) of the training, validation and test sets."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def sizes(self) -> tuple[int, int, int]:
        return len(self.train), len(self.validation), len(self.test)


def lab_split(y: np.ndarray | int, *, seed: int = 0, stratify: bool = True, temporal: bool = False,
              test_size: float = 0.3, rows: np.ndarray | None = None) -> Split:
    """The lab's 70 / 15 / 15 split: ``train_test_split(test_size=0.3)``, then the rest halved.

    For 764,137 rows this gives 534,895 / 114,621 / 114,621, as in the lab. ``stratify`` keeps the
    class shares equal in the three sets. ``temporal`` cuts each class in time order (see
    :func:`temporal_split`): no shuffling, and no row of a class's test period is in training.
    ``rows`` restricts the split to those row indices (e.g. a :func:`subsample`); the result still
    addresses the full table.
    """
    y = np.arange(y) if isinstance(y, (int, np.integer)) else np.asarray(y)
    idx = np.arange(len(y), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    if temporal:
        return temporal_split(y, test_size=test_size, rows=idx)
    labels = y[idx] if stratify and not temporal else None
    if len(idx) < 4:
        raise ValueError(f"cannot split {len(idx)} rows into training, validation and test sets")
    if labels is not None and _smallest_class(labels) < 2:
        labels = None  # a class with one row cannot be stratified; fall back to a plain shuffle
    train, rest = train_test_split(idx, test_size=test_size, random_state=seed, shuffle=not temporal,
                                   stratify=labels)
    val, test = train_test_split(rest, test_size=0.5, random_state=seed, shuffle=not temporal,
                                 stratify=None if labels is None else y[rest])
    return Split(np.sort(train), np.sort(val), np.sort(test))


def temporal_split(y: np.ndarray, *, test_size: float = 0.3, rows: np.ndarray | None = None) -> Split:
    """Each class cut in time order: its first ``1 - test_size`` rows train, the next half of the rest
    validate, the last half test (70 / 15 / 15 by default).

    ``y`` (n,) labels of rows in time order; ``rows`` restricts the split to those row indices. Per class
    c, every training row of c precedes every validation row of c, which precedes every test row of c, so
    no row of a class's test period is ever in training. Cutting per class (not the whole series at one
    time) keeps both classes in every set when the labels are a time cut (Kitsune's: benign, then
    malicious), where one global cut would leave a test set of one class.
    """
    y = np.asarray(y)
    idx = np.arange(len(y), dtype=np.int64) if rows is None else np.sort(np.asarray(rows, dtype=np.int64))
    if len(idx) < 4:
        raise ValueError(f"cannot split {len(idx)} rows into training, validation and test sets")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    labels = y[idx]
    for c in np.unique(labels):
        r = idx[labels == c]  # this class's rows, in time order
        n_rest = int(np.ceil(len(r) * test_size)) if len(r) >= 3 else 0
        n_test = n_rest // 2 + n_rest % 2 if n_rest else 0  # test gets the odd row, as train_test_split does
        cut_train, cut_val = len(r) - n_rest, len(r) - n_test
        for part, block in zip(parts, (r[:cut_train], r[cut_train:cut_val], r[cut_val:])):
            part.append(block)
    train, val, test = (np.sort(np.concatenate(p)).astype(np.int64) for p in parts)
    return Split(train, val, test)


def blocked_kfold(n: int | np.ndarray, n_splits: int = 5, *,
                  y: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Cross-validation for a time series: the rows cut into ``n_splits`` contiguous blocks in time order.

    ``n``: the number of rows, or an array whose length it is. Yields (train, test) positions (int64,
    ascending) per fold; fold i tests on block i and trains on every other block. Every row is in exactly
    one test fold. With labels ``y`` (n,), each class is cut into its own ``n_splits`` contiguous blocks
    and fold i tests on the i-th block of every class (for time-cut labels, where one cut of the whole
    series would give folds of a single class). Training on blocks after the test block still uses the
    future; what blocks remove is the shuffled split's neighbouring-packet leak, except at block edges.
    """
    n = int(n) if isinstance(n, (int, np.integer)) else len(n)
    if not 2 <= n_splits <= n:
        raise ValueError(f"n_splits must be in [2, {n}] for {n} rows, got {n_splits}")
    groups = [np.arange(n, dtype=np.int64)]
    if y is not None:
        y = np.asarray(y)
        if len(y) != n:
            raise ValueError(f"y has {len(y)} labels for {n} rows")
        groups = [np.flatnonzero(y == c).astype(np.int64) for c in np.unique(y)]
    fold_of = np.empty(n, np.int64)
    for g in groups:
        edges = np.linspace(0, len(g), n_splits + 1).round().astype(np.int64)
        fold_of[g] = np.searchsorted(edges, np.arange(len(g)), side="right") - 1
    every = np.arange(n, dtype=np.int64)
    for i in range(n_splits):
        test = fold_of == i
        yield every[~test], every[test]


def kfold(y: np.ndarray, n_splits: int = 10, seed: int = 1234) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The lab's cross-validation: ``StratifiedKFold(n_splits, shuffle=True, random_state=seed)``.

    Yields (train, test) positions into ``y`` (int64)."""
    y = np.asarray(y)
    yield from StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)


def subsample(y: np.ndarray, fraction: float, *, seed: int = 0, temporal: bool = False) -> np.ndarray:
    """Row indices (ascending) of a ``fraction`` of the rows: stratified random, or (``temporal``) the
    first ``fraction`` of each class's rows, so each class's timeline stays contiguous."""
    y = np.asarray(y)
    if not 0 < fraction <= 1:
        raise ConfigError(f"fraction (the share of the rows used) must be in (0, 1], got {fraction}")
    n = len(y)
    if fraction == 1:
        return np.arange(n, dtype=np.int64)
    _check_enough_rows(y, fraction)
    k = max(4, int(round(n * fraction)))
    if temporal:
        keep = [r[:max(1, int(round(len(r) * fraction)))] for r in (np.flatnonzero(y == c) for c in np.unique(y))]
        return np.sort(np.concatenate(keep)).astype(np.int64)
    strat = y if _smallest_class(y) >= 2 else None
    keep, _ = train_test_split(np.arange(n, dtype=np.int64), train_size=k, random_state=seed, stratify=strat)
    return np.sort(keep)


#: rows of each class a fraction must keep: 3 or more land in each of the 70/15/15 splits
MIN_CLASS_ROWS = 20


def _check_enough_rows(y: np.ndarray, fraction: float) -> None:
    """Refuse (:class:`ConfigError`) a fraction that keeps fewer than :data:`MIN_CLASS_ROWS` rows of a class that
    has that many: its validation and test splits would hold one row or none, and every metric would be noise."""
    values, counts = np.unique(np.asarray(y), return_counts=True)
    for value, count in zip(values, counts):
        kept = int(round(count * fraction))
        if count >= MIN_CLASS_ROWS and kept < MIN_CLASS_ROWS:
            name = {0: "benign", 1: "malicious"}.get(int(value), f"label {value}") if np.ndim(value) == 0 else value
            raise ConfigError(f"fraction {fraction:g} keeps about {kept:,} of the {count:,} {name} rows; each class "
                              f"needs at least {MIN_CLASS_ROWS} (a few in each of the train, validation and test "
                              f"splits). Use a fraction of at least {MIN_CLASS_ROWS / count:.2g}")


@dataclasses.dataclass
class Prepared:
    """A dataset made ready for training: features selected, rows split, standardised (float32)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    split: Split
    standardizer: Standardizer
    dataset: str = ""
    fraction: float = 1.0
    seed: int = 0
    temporal: bool = False
    #: :func:`nidslab.data.fingerprint.fingerprint` of the whole dataset the rows came from
    fingerprint: str = ""

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def __repr__(self) -> str:
        return (f"Prepared({self.dataset!r}: {self.n_features} features; train {len(self.y_train):,}, "
                f"validation {len(self.y_val):,}, test {len(self.y_test):,} rows)")


def select_columns(dataset_names: Sequence[str], features: str | Sequence[str] | None) -> tuple[list[int], tuple[str, ...]]:
    """Column positions and names of a feature selection within a table whose columns are ``dataset_names``.

    ``features`` is anything :func:`nidslab.schema.select` accepts; for a table that is not the 115-column
    Kitsune schema, ``"all"``/``None`` takes every column and names are matched as given."""
    names = list(dataset_names)
    if features in (None, "all"):
        return list(range(len(names))), tuple(names)
    wanted = schema.select(features)
    missing = [n for n in wanted if n not in names]
    if missing:
        raise UnknownNameError(f"the dataset has no column(s) {', '.join(missing[:5])}"
                       f"{' ...' if len(missing) > 5 else ''} (feature selection {features!r})")
    pos = {n: i for i, n in enumerate(names)}
    return [pos[n] for n in wanted], tuple(wanted)


def prepare(dataset: Any, *, features: str | Sequence[str] | None = "lab", fraction: float = 1.0, seed: int = 0,
            temporal: bool = False, stratify: bool = True, progress: Progress | None = None) -> Prepared:
    """Select features, split 70/15/15, fit the standardiser on the training rows and apply it.

    ``dataset`` is a :class:`nidslab.data.Dataset` (or anything with ``X``, ``y``, ``feature_names``).
    Arrays come back as float32 (n, k) and uint8 (n,).
    """
    cols, names = select_columns(dataset.feature_names, features)
    y = np.asarray(dataset.y)
    rows = subsample(y, fraction, seed=seed, temporal=temporal)
    split = lab_split(y, seed=seed, stratify=stratify, temporal=temporal, rows=rows)
    X = dataset.X

    def take(r: np.ndarray) -> np.ndarray:
        # rows first (a contiguous read of a memmap when r is dense), then columns
        return np.asarray(X[r])[:, cols] if len(cols) != X.shape[1] else np.asarray(X[r])

    X_train = take(split.train)
    scaler = Standardizer().fit(X_train, progress=progress)
    return Prepared(
        X_train=scaler.transform(X_train), y_train=y[split.train],
        X_val=scaler.transform(take(split.validation)), y_val=y[split.validation],
        X_test=scaler.transform(take(split.test)), y_test=y[split.test],
        feature_names=names, split=split, standardizer=scaler, dataset=getattr(dataset, "name", ""),
        fraction=fraction, seed=seed, temporal=temporal, fingerprint=data_fingerprint(X, y))


def _as_2d(X: np.ndarray) -> np.ndarray:
    if getattr(X, "ndim", None) != 2:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"expected a 2-D array (rows x features), got shape {X.shape}")
    return X


def _smallest_class(y: np.ndarray) -> int:
    """Rows of the rarest class present (stratifying needs at least 2 of each)."""
    counts = np.bincount(np.asarray(y, dtype=np.int64))
    counts = counts[counts > 0]
    return int(counts.min()) if counts.size else 0


@dataclasses.dataclass(frozen=True)
class NetworkSplit(Split):
    """A :class:`Split` by network: the network ids (sorted) of each part; no network is in two parts."""

    train_networks: tuple[int, ...] = ()
    validation_networks: tuple[int, ...] = ()
    test_networks: tuple[int, ...] = ()


def _count(share: float | int, n: int, what: str) -> int:
    if isinstance(share, (int, np.integer)) and not isinstance(share, bool) and share >= 1:
        return int(share)
    if not 0 < float(share) < 1:
        raise ValueError(f"{what}: a share in (0, 1) or a count of networks >= 1, got {share!r}")
    return max(1, int(round(float(share) * n)))


def network_split(network: np.ndarray, *, test: float | int = 0.25, validation: float | int = 0.15,
                  seed: int = 0, rows: np.ndarray | None = None) -> NetworkSplit:
    """Split rows by the network they come from: train, validation and held-out (test) networks are disjoint.

    ``network``: (rows,) integer network id per row (a family's ``arrays["network"]``). ``test`` and
    ``validation``: a share of the networks (rounded, at least one) or a count. Networks are shuffled with
    ``seed`` before they are dealt out; every row of a network goes to its network's part. ``rows``
    restricts the split to those row indices (the result still addresses the full table).
    """
    network = np.asarray(network)
    if network.ndim != 1 or not np.issubdtype(network.dtype, np.integer):
        raise ValueError(f"network ids must be one integer per row, got {network.dtype} {network.shape}")
    idx = np.arange(len(network), dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    ids = np.unique(network[idx])
    n_test, n_val = _count(test, len(ids), "test"), _count(validation, len(ids), "validation")
    if n_test + n_val >= len(ids):
        raise ValueError(f"cannot deal {len(ids)} network(s) into train, {n_val} validation and {n_test} held-out "
                         "networks: at least one must be left to train on")
    order = np.random.default_rng(seed).permutation(ids)
    te, va, tr = np.sort(order[:n_test]), np.sort(order[n_test:n_test + n_val]), np.sort(order[n_test + n_val:])
    part = network[idx]
    return NetworkSplit(idx[np.isin(part, tr)], idx[np.isin(part, va)], idx[np.isin(part, te)],
                        train_networks=tuple(int(x) for x in tr), validation_networks=tuple(int(x) for x in va),
                        test_networks=tuple(int(x) for x in te))
