"""Feature views that encode less of the site, and standardisation on each site's own benign traffic.

A view maps the 115 Kitsune features (``uci`` layout, :data:`nidslab.schema.FEATURE_NAMES`) to the
columns a model sees. Each Kitsune statistic comes at five decay rates (lambdas 5, 3, 1, 0.1, 0.01 /s),
so a stream's recent behaviour can be read against its own past instead of against absolute numbers:

- ``"lab"``: the lab's 92 columns as they are (absolute sizes, rates, jitters).
- ``"log"``: all 115, each as ``sign(x) * log1p(|x|)``: the same information with heavy tails compressed.
- ``"relative"``: per group and statistic, the four faster lambdas' log values minus the slowest's
  (the stream now against the stream over the last minutes: "this host suddenly talks 100x faster
  to many new peers"), plus the correlation (``pcc``) columns as they are. Absolute sizes, rates and
  jitters, which name a site's devices, are dropped.
- ``"relative+rates"``: ``relative`` plus the log weights (packet counts, i.e. rates) at every lambda:
  rates stay absolute, sizes do not.

:class:`SiteScaler` standardises a view on one site's benign rows (mean and standard deviation, with
a floor on the deviation so a column that is constant at one site does not explode elsewhere, and a
clip); fitting one per training network and one per deployment site is the "per-network
standardisation" of issue 20, the same re-fit calibration does at a new site.
"""

from __future__ import annotations

import numpy as np

from nidslab.errors import ConfigError, DataError
from nidslab.schema import (
    FEATURE_NAMES,
    GROUP_STATS,
    LAB_FEATURES,
    LAMBDA_LABELS,
    indices,
)

VIEWS = ("lab", "log", "relative", "relative+rates")


def _slog(x: np.ndarray) -> np.ndarray:
    """sign(x) * log1p(|x|) in float32, in one output buffer (the views' hot spot on millions of rows)."""
    out = np.abs(x, dtype=np.float32)
    np.log1p(out, out=out)
    return np.copysign(out, x, out=out, dtype=np.float32)


def _col(group: str, lam: str, stat: str) -> int:
    return FEATURE_NAMES.index(f"{group}_L{lam}_{stat}")


def _relative_parts():
    """(fast column, slow column) index pairs and pass-through columns of the relative view, with names."""
    pairs, names, keep, keep_names, weights, weight_names = [], [], [], [], [], []
    slow = LAMBDA_LABELS[-1]
    for group, stats in GROUP_STATS.items():
        if group == "H":  # equal to MI_dir in the released layout (same source stream): skip the copy
            continue
        for stat in stats:
            for lam in LAMBDA_LABELS:
                c = _col(group, lam, stat)
                if stat == "pcc":
                    keep.append(c)
                    keep_names.append(FEATURE_NAMES[c])
                    continue
                if stat == "weight":
                    weights.append(c)
                    weight_names.append(f"log {FEATURE_NAMES[c]}")
                if lam != slow:
                    pairs.append((c, _col(group, slow, stat)))
                    names.append(f"{group}_{stat} L{lam}-L{slow}")
    return (np.array(pairs), names, np.array(keep), keep_names, np.array(weights), weight_names)


_REL = _relative_parts()


def view_names(view: str) -> tuple[str, ...]:
    """Column names of ``view``."""
    check_view(view)
    if view == "lab":
        return LAB_FEATURES
    if view == "log":
        return FEATURE_NAMES
    _pairs, names, _keep, keep_names, _weights, weight_names = _REL
    out = tuple(names) + tuple(keep_names)
    return out + tuple(weight_names) if view == "relative+rates" else out


def check_view(view: str) -> None:
    if view not in VIEWS:
        raise ConfigError(f"feature view {view!r}; expected one of {', '.join(VIEWS)}")


def transform(X: np.ndarray, view: str) -> np.ndarray:
    """The columns of ``view`` for ``X`` (n, 115) float32 (``uci`` layout): (n, len(view_names(view))) float32."""
    check_view(view)
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != len(FEATURE_NAMES):
        raise DataError(f"feature view {view!r} needs (rows, {len(FEATURE_NAMES)}) features in the uci layout, "
                        f"got shape {X.shape}")
    if view == "lab":
        return np.ascontiguousarray(X[:, indices(LAB_FEATURES)], dtype=np.float32)
    if view == "log":
        return _slog(X)
    pairs, _names, keep, _kn, weights, _wn = _REL
    used = np.unique(np.concatenate([pairs.ravel(), weights]))
    logs = np.zeros((len(X), len(FEATURE_NAMES)), np.float32)
    logs[:, used] = _slog(X[:, used])
    parts = [logs[:, pairs[:, 0]] - logs[:, pairs[:, 1]], X[:, keep].astype(np.float32)]
    if view == "relative+rates":
        parts.append(logs[:, weights])
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


class SiteScaler:
    """Standardise columns on one site's benign rows: ``clip((x - mean) / max(sd, floor), -clip, clip)``.

    ``floor``: the smallest scale, as a share of the column's spread over every site a model trained
    on (``reference_sd``) when given, else absolute (in the view's units). ``clip``: bound on |z| so a
    column that never moved at calibration time cannot dominate a score.
    """

    def __init__(self, floor: float = 0.05, clip: float = 30.0):
        if not floor > 0 or not clip > 0:
            raise ConfigError(f"SiteScaler: floor and clip must be > 0, got floor={floor}, clip={clip}")
        self.floor = float(floor)
        self.clip = float(clip)
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None
        self.n_rows_ = 0

    def fit(self, X: np.ndarray, reference_sd: np.ndarray | None = None) -> SiteScaler:
        """Fit on benign rows ``X`` (n, k). ``reference_sd`` (k,): a column's spread across sites, for the floor."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) < 2:
            raise DataError(f"SiteScaler needs at least 2 benign rows (rows, columns), got shape {X.shape}")
        self.mean_ = X.mean(axis=0)
        sd = X.std(axis=0)
        floor = self.floor * (np.asarray(reference_sd, np.float64) if reference_sd is not None else 1.0)
        self.scale_ = np.maximum(sd, np.maximum(floor, 1e-9))
        self.n_rows_ = len(X)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(n, k) float32 standardised and clipped rows."""
        if self.mean_ is None or self.scale_ is None:
            raise RuntimeError("SiteScaler.transform before fit")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.mean_):
            raise DataError(f"SiteScaler was fitted on {len(self.mean_)} columns, got shape {X.shape}")
        Z = np.subtract(X, self.mean_.astype(np.float32), dtype=np.float32)  # float32 in place: rows are many
        Z /= self.scale_.astype(np.float32)
        return np.clip(Z, -self.clip, self.clip, out=Z)
