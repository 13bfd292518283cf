"""Scorers for live scoring (:mod:`nidslab.watch`): features in, one score per packet out.

:class:`DNNScorer` wraps a model folder written by ``nidslab train`` (its columns, its standardiser,
the malicious-class probability); :class:`KitNETScorer` a saved KitNET (reconstruction RMSE).
Anything with the :class:`Scorer` attributes plugs in.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numba
import numpy as np

from nidslab import schema
from nidslab.errors import ConfigError, DataError
from nidslab.operating_points import PROBABILITY_THRESHOLD

if TYPE_CHECKING:
    from nidslab.calibrate import Calibration
    from nidslab.detect.kitnet import KitNET
    from nidslab.saved_model import SavedModel


class Scorer(Protocol):
    """Anything that scores packets from their Kitsune features."""

    name: str
    layout: str  # the feature layout it reads: "uci" (115 columns) or "kitsune-py" (100)
    probability: bool  # scores are probabilities in [0, 1] (thresholds too)
    strict: bool  # alert when score > threshold (else >=)

    def score(self, features: np.ndarray) -> np.ndarray:
        """Scores (n,) float (higher = more likely malicious) of features float32 (n, columns of layout)."""

    def default_threshold(self) -> float:
        """The alert threshold when none is given; ConfigError if the scorer has none."""

    def threshold_for_fpr(self, fpr: float) -> float:
        """The alert threshold stored for a target false-positive rate; ConfigError if none is."""

    # Optional: ``warm_up(features)`` scores a throwaway row without changing the scorer.


class DNNScorer:
    """A saved DNN (:class:`nidslab.saved_model.SavedModel`): its columns, its standardiser, its
    malicious-class probability (:func:`nidslab.evaluate.predict_scores`), on ``threads`` torch
    threads (default 1: a chunk of a small network is not worth a thread pool's hand-offs)."""

    def __init__(self, saved: SavedModel, *, threads: int | None = 1) -> None:
        from nidslab.data.prep import Standardizer

        self.saved = saved
        self.name = f"DNN {saved.path}"
        self.layout = "uci"
        self.probability = True
        self.strict = False  # the evaluation's rule: malicious when logit >= threshold
        self.threads = threads
        self._cols = np.asarray(schema.indices(saved.feature_names), np.int64)
        std = Standardizer.from_dict(saved.standardizer) if saved.standardizer else None
        k = len(self._cols)
        self._mean = np.zeros(k) if std is None else np.asarray(std.mean_, np.float64)
        self._scale = np.ones(k) if std is None else np.asarray(std.scale_, np.float64)

    def score(self, features: np.ndarray) -> np.ndarray:
        from nidslab.evaluate import predict_scores
        from nidslab.threads import torch_threads

        X = np.empty((len(features), len(self._cols)), np.float32)
        _select_standardise(np.ascontiguousarray(features, np.float32), self._cols, self._mean, self._scale, X)
        with torch_threads(self.threads):
            return predict_scores(self.saved.model, X)

    def warm_up(self, features: np.ndarray) -> None:
        """Score ``features`` once and drop the result (loads the compiled kernels)."""
        self.score(features)

    def default_threshold(self) -> float:
        return PROBABILITY_THRESHOLD

    def threshold_for_fpr(self, fpr: float) -> float:
        return stored_threshold(self.saved.path, fpr)

    def calibrated(self, features: np.ndarray, fpr: float, *, source: str = "the calibration traffic"
                   ) -> tuple[DNNScorer, float, Calibration]:
        """Re-fit to a site's benign ``features`` (:func:`nidslab.calibrate.calibrate`): returns a new
        scorer, its probability threshold for false-positive rate ``fpr`` and the
        :class:`~nidslab.calibrate.Calibration`."""
        from nidslab.calibrate import calibrate

        cal = calibrate(self.saved, features, source=source, targets=sorted({1e-4, 1e-3, 1e-2, float(fpr)}))
        logit = cal.model.threshold_for(fpr)
        return DNNScorer(cal.model, threads=self.threads), 1.0 / (1.0 + math.exp(-logit)) if logit > -700 else 0.0, cal


@numba.njit(cache=True)
def _select_standardise(X: np.ndarray, cols: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                        out: np.ndarray) -> None:
    """out[i, j] = (X[i, cols[j]] - mean[j]) / scale[j], in float64 then rounded to float32: the
    same numbers as ``Standardizer.transform(X[:, cols])`` in one pass, without the copies."""
    for i in range(X.shape[0]):
        for j in range(cols.shape[0]):
            out[i, j] = (np.float64(X[i, cols[j]]) - mean[j]) / scale[j]


def stored_threshold(model_dir: str | os.PathLike, fpr: float) -> float:
    """The probability threshold a model folder stores for false-positive rate ``fpr``.

    Read from the folder's ``thresholds.json`` (written by the evaluation: ``points`` of
    ``{"target_fpr", "threshold"}`` with thresholds on the logit scale, flag when logit >= it),
    returned as the probability sigmoid(threshold) in float64. Raises :class:`ConfigError` saying
    how to get one when the folder has none, or none for that rate.
    """
    path = Path(model_dir) / "thresholds.json"
    if not path.is_file():
        raise ConfigError(f"{model_dir} stores no thresholds for target false-positive rates (no thresholds.json): "
                          f"pass --threshold P (a probability), or use a model folder whose evaluation stored "
                          f"thresholds.json (target-FPR thresholds picked on its validation split)")
    try:
        doc = json.loads(path.read_text())
        points = [(float(p["target_fpr"]), float(p["threshold"])) for p in doc["points"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a thresholds document: {exc}") from None
    for rate, logit in points:
        if math.isclose(rate, fpr, rel_tol=1e-9):
            if doc.get("score", "logit") != "logit":
                raise ConfigError(f"{path}: thresholds on the {doc.get('score')!r} scale; nidslab watch reads logits")
            return 1.0 / (1.0 + math.exp(-logit)) if logit > -700 else 0.0
    have = ", ".join(f"{r:g}" for r, _ in points) or "none"
    raise ConfigError(f"{model_dir} stores thresholds for false-positive rates {have}, not {fpr:g}; "
                      f"pass one of those to --target-fpr, or --threshold P")


class KitNETScorer:
    """A saved KitNET (:class:`nidslab.detect.KitNET`; score: the output autoencoder's RMSE).

    On its columns (115 -> ``uci`` layout, 100 -> ``kitsune-py``). A KitNET still inside its grace
    periods trains on the stream's first rows as KitNET-py does (those rows score 0); once trained
    it only scores (nothing is updated, nothing is saved back).
    """

    def __init__(self, kitnet: KitNET, path: str | os.PathLike = "KitNET") -> None:
        self.kitnet = kitnet
        self.path = Path(path)
        self.name = f"KitNET {path}"
        self.probability = False
        self.strict = True  # nidslab.detect's thresholds: at most the target share of benign scores above
        n = kitnet.n_features
        if n not in (None, 115, 100):
            raise DataError(f"{path}: the KitNET reads {n} features per row; nidslab watch makes 115 (uci) "
                            f"or 100 (kitsune-py)")
        self.layout = "kitsune-py" if n == 100 else "uci"

    @classmethod
    def load(cls, path: str | os.PathLike) -> KitNETScorer:
        """Read a KitNET written by ``KitNET.save`` (its ``.npz`` file or folder)."""
        from nidslab.detect import KitNET

        return cls(KitNET.load(path), path)

    def score(self, features: np.ndarray) -> np.ndarray:
        kit = self.kitnet
        X = features.astype(np.float64)
        return kit.score(X) if kit.trained else np.atleast_1d(kit.process(X))  # process gives a float for one row

    def warm_up(self, features: np.ndarray) -> None:
        """Score ``features`` once if trained (scoring changes nothing then; training would)."""
        if self.kitnet.trained:
            self.score(features)

    def default_threshold(self) -> float:
        if self.kitnet.threshold is None:
            raise ConfigError(f"{self.path} stores no alert threshold: pass --threshold RMSE (KitNET scores "
                              f"are reconstruction errors; nidslab.detect.threshold_for_fpr picks one from "
                              f"benign scores), or save the KitNET with its .threshold set")
        return float(self.kitnet.threshold)

    def calibrated(self, features: np.ndarray, fpr: float, *, source: str = "the calibration traffic"
                   ) -> tuple[KitNETScorer, float, dict[str, Any]]:
        """A new alert threshold from a site's benign ``features``: at most ``fpr`` of their scores above
        it (the KitNET itself is not retrained). Returns (self, threshold, record)."""
        from nidslab.calibrate import MIN_ROWS
        from nidslab.detect.thresholds import threshold_for_fpr

        if not self.kitnet.trained:
            raise ConfigError(f"{self.path}: the KitNET is still in its grace periods; calibrating its threshold "
                              f"needs a trained KitNET")
        if len(features) < MIN_ROWS:
            raise DataError(f"{source}: {len(features):,} rows; calibration needs at least {MIN_ROWS:,}")
        t = threshold_for_fpr(self.score(features), fpr)
        return self, t, {"source": source, "refitted": ["threshold"], "threshold_before": self.kitnet.threshold,
                         "threshold_after": t, "target_fpr": fpr}

    def threshold_for_fpr(self, fpr: float) -> float:
        raise ConfigError(f"{self.path}: a saved KitNET keeps one threshold ({self.kitnet.threshold}), not one "
                          f"per false-positive rate; leave out --target-fpr to use it, or pass --threshold RMSE")


__all__ = ["DNNScorer", "KitNETScorer", "Scorer", "stored_threshold"]
