"""KitNET (Mirsky et al., NDSS 2018): an online, unsupervised ensemble of autoencoders.

The same algorithm as KitNET-py (``KitNET/KitNET.py`` in ymirsky/Kitsune-py), with the same phases,
the same off-by-one and the same random draws, so its RMSEs equal the reference's to rounding
(``tests/test_detect_kitnet.py`` checks 1e-6 relative on the reference's own output). Row ``t``
(counting from 0, over every row ever given) is used as follows, as KitNET-py's ``process`` does:

- ``t <= fm_grace``: the feature mapper learns from it (``fm_grace + 1`` rows); after row ``fm_grace``
  the features are clustered and the autoencoders built. With a given ``feature_map`` this phase is
  skipped and these rows train the autoencoders instead.
- ``fm_grace < t <= fm_grace + ad_grace``: one SGD step of every autoencoder (``ad_grace`` rows).
- later rows: executed (scored, no update).

Training rows score 0.0, as in the reference. The code lives in :mod:`.mapper` (clustering) and
:mod:`.ensemble` (numba kernels); this module keeps the phases, checks inputs, and saves/loads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from nidslab.errors import CacheError, DataError, NidslabError
from nidslab.paths import atomic_write
from nidslab.settings import KITNET_DEFAULTS as KITNET

from .ensemble import Ensemble
from .mapper import FeatureMapper

FORMAT = 1
FILE_NAME = "kitnet.npz"  # inside a model folder


class KitNET:
    """KitNET anomaly detector; ``process`` for online use, ``fit``/``score`` for arrays.

    Args:
        max_ae: most features per ensemble autoencoder (KitNET-py ``max_autoencoder_size``; <1 means 1).
        fm_grace: rows that learn the feature map (KitNET-py ``FM_grace_period``; the mapper sees
            ``fm_grace + 1`` rows). ``None``: equal to ``ad_grace``, as in the reference.
        ad_grace: rows that train the autoencoders after the map is made (``AD_grace_period``).
        lr: SGD learning rate of every autoencoder.
        hidden_ratio: hidden units per visible unit (rounded up).
        seed: each autoencoder's weights come from ``numpy.random.RandomState(seed)``; the
            reference hard-codes 1234, so the default reproduces it.
        feature_map: optional list of feature-index lists, one per autoencoder; skips the mapper.
    """

    def __init__(self, max_ae: int = int(KITNET["max_ae"]), fm_grace: int | None = int(KITNET["fm_grace"]),
                 ad_grace: int = int(KITNET["ad_grace"]), lr: float = KITNET["lr"],
                 hidden_ratio: float = KITNET["hidden_ratio"], seed: int = int(KITNET["seed"]),
                 feature_map: list | None = None):
        if ad_grace < 0 or (fm_grace is not None and fm_grace < 0):
            raise ValueError(f"grace periods must be >= 0, got fm_grace={fm_grace}, ad_grace={ad_grace}")
        if not lr > 0 or not hidden_ratio > 0:
            raise ValueError(f"lr and hidden_ratio must be > 0, got lr={lr}, hidden_ratio={hidden_ratio}")
        self.max_ae = max(int(max_ae), 1)
        self.ad_grace = int(ad_grace)
        self.fm_grace = self.ad_grace if fm_grace is None else int(fm_grace)
        self.lr = float(lr)
        self.hidden_ratio = float(hidden_ratio)
        self.seed = int(seed)
        self.n_features: int | None = None
        self.n_trained = 0  # rows used for training so far (the reference's counter)
        self.n_executed = 0  # rows scored by process() so far
        self.threshold: float | None = None  # optional alert threshold kept with the model
        self.mapper: FeatureMapper | None = None
        self.ensemble: Ensemble | None = None
        if feature_map is not None:
            clusters = [np.asarray(c, dtype=np.int64) for c in feature_map]
            if not clusters or any(c.ndim != 1 or c.size == 0 for c in clusters):
                raise ValueError("feature_map must be a non-empty list of non-empty index lists")
            self.ensemble = Ensemble(clusters, self.hidden_ratio, self.seed)

    # ----------------------------------------------------------------- state
    @property
    def grace_rows(self) -> int:
        """Rows KitNET trains on before it scores: ``fm_grace + ad_grace + 1`` (the reference's count)."""
        return self.fm_grace + self.ad_grace + 1

    @property
    def trained(self) -> bool:
        """True once both grace periods are over (``process`` scores from here on)."""
        return self.n_trained >= self.grace_rows

    @property
    def clusters(self) -> list[np.ndarray] | None:
        """The feature map (one int64 index array per ensemble autoencoder), or None before it exists."""
        return None if self.ensemble is None else self.ensemble.clusters

    def _rows(self, X) -> np.ndarray:
        """X as a 2-D float array, checked: (rows, n_features), finite."""
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2:
            raise DataError(f"KitNET expects rows (n, features) or one row, got shape {X.shape}")
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
        if self.n_features is None:  # the first rows fix the width (and check a given feature_map)
            if self.ensemble is not None and self.ensemble.feat.max() >= X.shape[1]:
                raise DataError(f"feature_map names feature {self.ensemble.feat.max()}, rows have {X.shape[1]}")
            self.n_features = X.shape[1]
        if X.shape[1] != self.n_features:
            raise DataError(f"KitNET was given {self.n_features} features per row before, now {X.shape[1]}")
        if not np.isfinite(X).all():
            bad = int(np.argmin(np.isfinite(X).all(axis=1)))
            col = int(np.argmin(np.isfinite(X[bad])))
            raise DataError(f"KitNET input row {bad} (of this call) column {col} is {X[bad, col]}; "
                            "features must be finite")
        return X

    def _built_ensemble(self) -> Ensemble:
        """The ensemble, which exists once the feature map is learnt (or was given)."""
        if self.ensemble is None:
            raise NidslabError(f"KitNET has no autoencoders yet: it learns its feature map from the first "
                               f"{self.fm_grace + 1} rows")
        return self.ensemble

    # ---------------------------------------------------------------- online
    def process(self, x) -> np.ndarray | float:
        """Train on or score rows in arrival order, as KitNET-py's ``process``, one call for many rows.

        Args:
            x: one row (n_features,) or rows (n, n_features), float32/float64.
        Returns:
            the RMSE of each row: a float for one row, else (n,) float64; 0.0 for rows used to train.
        """
        one = np.ndim(x) == 1
        X = self._rows(x)
        out = np.zeros(X.shape[0])
        i, n = 0, X.shape[0]
        while i < n:
            t = self.n_trained
            if t >= self.grace_rows:
                out[i:] = self._built_ensemble().run(X[i:], train=False, lr=self.lr)
                self.n_executed += n - i
                break
            if self.ensemble is None:  # mapping phase: rows t..fm_grace
                end = min(n, i + self.fm_grace + 1 - t)
                if self.mapper is None:
                    self.mapper = FeatureMapper(X.shape[1])  # = n_features, fixed by _rows
                self.mapper.update(X[i:end])
                self.n_trained += end - i
                if self.n_trained == self.fm_grace + 1:
                    self.ensemble = Ensemble(self.mapper.cluster(self.max_ae), self.hidden_ratio, self.seed)
                    self.mapper = None  # its job is done; the reference keeps it, but never reads it again
            else:
                end = min(n, i + self.grace_rows - t)
                self.ensemble.run(X[i:end], train=True, lr=self.lr)
                self.n_trained += end - i
            i = end
        return float(out[0]) if one else out

    # ---------------------------------------------------------------- arrays
    def fit(self, X) -> KitNET:
        """Train on the first rows of X until both grace periods are over; later rows are not used.

        Args:
            X: (n, n_features) benign rows in time order, n >= the grace rows still to go.
        Returns:
            self.
        """
        need = self.grace_rows - self.n_trained
        X = np.asarray(X)
        if need > 0:
            if X.ndim != 2 or X.shape[0] < need:
                raise DataError(f"KitNET.fit needs {need} more rows to finish its grace periods "
                                f"(fm_grace {self.fm_grace} + ad_grace {self.ad_grace} + 1), got "
                                f"{X.shape[0] if X.ndim == 2 else X.shape}; process() takes rows in pieces")
            self.process(X[:need])
        return self

    def score(self, X) -> np.ndarray:
        """RMSE of every row of X without updating anything (execute mode), (n,) float64.

        Vectorised across rows (matrix products, see :meth:`.Ensemble.score`); equal to what ``process``
        returns for the same rows after training, to rounding (about 1e-14 relative). The model is
        unchanged, so rows may be scored in any order or in parallel.
        """
        if not self.trained:
            raise NidslabError(f"KitNET has trained on {self.n_trained} of its {self.grace_rows} grace rows; "
                               "fit() or process() more benign rows before score()")
        return self._built_ensemble().score(self._rows(X))

    # ------------------------------------------------------------ save / load
    def _settings(self) -> dict:
        return {"format": FORMAT, "max_ae": self.max_ae, "fm_grace": self.fm_grace,
                "ad_grace": self.ad_grace, "lr": self.lr, "hidden_ratio": self.hidden_ratio,
                "seed": self.seed, "n_features": self.n_features, "n_trained": self.n_trained,
                "n_executed": self.n_executed, "threshold": self.threshold}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the whole state (mid-training too) to ``path``: a ``.npz`` file, or a folder that gets
        ``kitnet.npz``. Written atomically. Returns the file written."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path / FILE_NAME
        # Any: numpy's stub would let a ** of arrays reach savez's allow_pickle: bool
        arrays: dict[str, Any] = {"settings": np.array(json.dumps(self._settings()))}
        if self.mapper is not None:
            arrays.update(self.mapper.state())
        if self.ensemble is not None:
            arrays.update(self.ensemble.state())
        with atomic_write(path) as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> KitNET:
        """Read a KitNET written by :meth:`save` (the ``.npz`` file or its folder)."""
        path = Path(path)
        if path.is_dir():
            path = path / FILE_NAME
        if not path.is_file():
            raise FileNotFoundError(f"no saved KitNET at {path}")
        try:
            with np.load(path, allow_pickle=False) as d:
                s = json.loads(str(d["settings"]))
                if s.get("format") != FORMAT:
                    raise CacheError(f"{path}: KitNET format {s.get('format')}, this nidslab reads {FORMAT}")
                kit = cls(s["max_ae"], s["fm_grace"], s["ad_grace"], s["lr"], s["hidden_ratio"], s["seed"])
                kit.n_features, kit.n_trained, kit.n_executed = s["n_features"], s["n_trained"], s["n_executed"]
                kit.threshold = s["threshold"]
                if "fm_c" in d:
                    kit.mapper = FeatureMapper.from_state(d)
                if "ae_W" in d:
                    kit.ensemble = Ensemble.from_state(d)
        except (KeyError, ValueError, OSError) as exc:  # not a zip, a missing array, bad JSON
            raise CacheError(f"{path} is not a readable KitNET file: {exc}") from exc
        return kit

    def __repr__(self) -> str:
        k = "?" if self.ensemble is None else len(self.ensemble.v_off) - 1
        return (f"KitNET(max_ae={self.max_ae}, fm_grace={self.fm_grace}, ad_grace={self.ad_grace}, "
                f"lr={self.lr}, hidden_ratio={self.hidden_ratio}, seed={self.seed}; "
                f"{k} autoencoders, trained {self.n_trained}/{self.grace_rows})")
