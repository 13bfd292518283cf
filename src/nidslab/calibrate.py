"""Calibration to the site: re-fit what depends on the network a model is deployed on.

A model trained on one network meets another at deployment. Before it alerts there, it watches the
site's own benign traffic and re-fits, from those rows only:

- the standardiser (per-column mean and scale of the model's inputs), so the network sees the
  site's traffic on the scale it saw its training network's (``standardize=False`` keeps the trained one);
- the thresholds for the false-alarm budgets (:data:`nidslab.evaluate.TARGET_FPRS`: at most that share
  of the site's benign packets at or above each), on the logit scale as training stores them;
- optionally (``kitnet=True``) a KitNET trained on the same rows, with its own threshold for
  ``kitnet_fpr``: a second opinion that never saw another network.

What it saw is recorded (packets, time span, hosts, the thresholds before and after) and saved with the
model as ``calibration.json``; ``nidslab calibrate MODEL benign.pcap -o MODEL2`` writes a new model folder
(the trained weights untouched) and ``nidslab watch --calibrate 10m`` does the same live.

>>> cal = calibrate(load_model("models/m1"), X_site, times=ts, hosts=host_names)  # doctest: +SKIP
>>> cal.model.threshold_for(1e-3), cal.record["packets"]                          # doctest: +SKIP
>>> save_calibrated(cal, "models/m1-site")                                        # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from nidslab.errors import DataError
from nidslab.operating_points import DEFAULT_TARGET_FPR

if TYPE_CHECKING:
    from nidslab.detect.kitnet import KitNET
    from nidslab.saved_model import SavedModel

#: fewest benign rows a calibration accepts: below this even the 1e-2 budget rests on a handful of rows
MIN_ROWS = 1_000
#: most rows kept for calibration (a uniform sample of a longer stream; see :class:`CalibrationSample`)
MAX_ROWS = 1 << 18


@dataclass
class Calibration:
    """The outcome of :func:`calibrate`: ``model`` (a :class:`~nidslab.saved_model.SavedModel` in memory
    with the site's standardiser and thresholds, the trained weights shared), ``record`` (the
    calibration.json document: what was seen and re-fitted) and ``kitnet`` (the site's KitNET or None)."""

    model: SavedModel
    record: dict
    kitnet: KitNET | None = None


def _site_record(features: np.ndarray, times: ArrayLike | None, hosts: ArrayLike | None, source: str) -> dict:
    rec: dict = {"source": source, "packets": int(len(features)), "calibrated_at": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if times is not None:
        t = np.asarray(times, np.float64).ravel()
        if t.size != len(features):
            raise DataError(f"{source}: {t.size} times for {len(features)} rows of features")
        rec.update(start=float(t.min()), end=float(t.max()), duration_s=float(t.max() - t.min()))
    if hosts is not None:
        names, counts = np.unique(np.asarray(hosts).astype(str), return_counts=True)
        top = np.argsort(-counts, kind="stable")[:50]
        rec["hosts"] = int(names.size)
        rec["busiest_hosts"] = [{"host": str(names[i]), "packets": int(counts[i])} for i in top]
    return rec


def calibrate(model: SavedModel | str | os.PathLike, features: np.ndarray, *, times: ArrayLike | None = None,
              hosts: ArrayLike | None = None, targets: Sequence[float] | None = None,
              standardize: bool = True, kitnet: bool = False, kitnet_fpr: float = DEFAULT_TARGET_FPR, seed: int = 0,
              source: str = "the calibration traffic") -> Calibration:
    """Re-fit ``model``'s site-dependent parts on the site's benign ``features``.

    Args:
        model: a :class:`~nidslab.saved_model.SavedModel` (or the path of a model folder).
        features: (n, 115) Kitsune features (UCI layout) or (n, k) in the model's own columns, of benign
            traffic of the site, in time order; n >= :data:`MIN_ROWS`.
        times: (n,) packet times in seconds (for the record: start, end, duration).
        hosts: (n,) source host per row (names or ids; for the record: how many, the busiest).
        targets: false-positive budgets to store thresholds for (default ``TARGET_FPRS``).
        standardize: re-fit the standardiser on these rows (else keep the trained one).
        kitnet: also train a KitNET on these rows (grace periods scaled to them: the feature map on the
            first 10 %, the autoencoders on the next 70 %, its threshold for ``kitnet_fpr`` on the last 20 %).
        seed: the KitNET's weight seed.
        source: names the rows in messages and in the record.
    Returns:
        a :class:`Calibration`; the thresholds stored in ``model.thresholds["points"]``, each with its
        ``calibration_fpr`` (the share of these rows at or above it).
    """
    from nidslab.data.prep import Standardizer
    from nidslab.evaluate import TARGET_FPRS, predict_raw
    from nidslab.saved_model import SavedModel, load_model, thresholds_doc

    saved = model if isinstance(model, SavedModel) else load_model(model)
    X = np.asarray(features)
    if X.ndim != 2:
        raise DataError(f"{source}: features must be a 2-D table (rows, columns), got shape {X.shape}")
    if len(X) < MIN_ROWS:
        raise DataError(f"{source}: {len(X):,} rows of benign traffic; calibration needs at least {MIN_ROWS:,} "
                        f"(a few minutes of the site's traffic) to pick thresholds for its false-alarm budgets")
    if not np.isfinite(X).all():
        r = int(np.flatnonzero(~np.isfinite(X).all(axis=1))[0])
        raise DataError(f"{source}: row {r} holds a value that is not finite")
    plain = replace(saved, standardizer=None)
    raw_inputs = plain.inputs(X, source=source)  # the model's columns, not standardised
    before = saved.thresholds
    std = saved.standardizer
    if standardize:
        std = Standardizer().fit(raw_inputs).to_dict()
    site = replace(saved, standardizer=std)
    inputs = site.inputs(raw_inputs, source=source)
    logits = predict_raw(saved.model, inputs)
    doc = thresholds_doc(logits, split=f"calibration: {source}", targets=list(targets or TARGET_FPRS))
    for p in doc["points"]:
        p["calibration_fpr"] = p.pop("validation_fpr")
    doc["calibration_rows"] = doc.pop("validation_benign_rows")
    record = _site_record(X, times, hosts, source)
    record.update(
        refitted=["standardizer", "thresholds"] if standardize else ["thresholds"],
        thresholds_before=(before or {}).get("points"),
        thresholds_after=doc["points"],
        standardizer_before=saved.standardizer if standardize else None,
    )
    kit = None
    if kitnet:
        kit = _site_kitnet(X, kitnet_fpr, seed, source)
        record["kitnet"] = {"threshold": kit.threshold, "target_fpr": kitnet_fpr, "fm_grace": kit.fm_grace,
                            "ad_grace": kit.ad_grace, "file": "kitnet.npz"}
    calibrated = replace(saved, standardizer=std, thresholds=doc, calibration=record)
    return Calibration(model=calibrated, record=record, kitnet=kit)


def _site_kitnet(X: np.ndarray, fpr: float, seed: int, source: str) -> KitNET:
    from nidslab import schema
    from nidslab.detect import KitNET
    from nidslab.detect.thresholds import threshold_for_fpr

    if X.shape[1] != schema.N_FEATURES:
        raise DataError(f"{source}: a site KitNET reads the {schema.N_FEATURES} Kitsune features; got "
                        f"{X.shape[1]} columns")
    n = len(X)
    fm = max(1, n // 10)
    ad = max(1, int(n * 0.8) - fm - 1)
    kit = KitNET(fm_grace=fm, ad_grace=ad, seed=seed).fit(X.astype(np.float64))
    held = X[kit.grace_rows:]
    if len(held) < 100:
        raise DataError(f"{source}: too few rows left ({len(held)}) to pick the site KitNET's threshold")
    kit.threshold = threshold_for_fpr(kit.score(held), fpr)
    return kit


def save_calibrated(cal: Calibration, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write the calibrated model as a new model folder at ``path`` (atomically; the trained weights,
    metrics and history copied), with calibration.json and, if trained, kitnet.npz. Returns the folder."""
    from nidslab.saved_model import save_model

    m = cal.model
    extra = {}
    if cal.kitnet is not None:
        with tempfile.TemporaryDirectory() as tmp:
            extra["kitnet.npz"] = Path(cal.kitnet.save(Path(tmp) / "kitnet.npz")).read_bytes()
    return save_model(path, m.model, m.spec, standardizer=m.standardizer, feature_names=m.feature_names,
                      metrics=m.metrics, history=m.history, thresholds=m.thresholds, overwrite=overwrite,
                      calibration=cal.record, extra_files=extra)


class CalibrationSample:
    """Rows of a stream kept for calibration: all of them up to ``max_rows``, then a uniform sample
    (reservoir sampling, vectorised per chunk; seeded). ``add(X, times, hosts)`` per chunk; ``rows()``."""

    def __init__(self, max_rows: int = MAX_ROWS, seed: int = 0):
        self.max_rows = int(max_rows)
        self.rng = np.random.default_rng(seed)
        self.seen = 0
        self._X: np.ndarray | None = None
        self.t_min, self.t_max = np.inf, -np.inf
        self.hosts: dict[str, int] = {}

    def add(self, X: np.ndarray, times: ArrayLike | None = None, hosts: Sequence[str] | None = None) -> None:
        X = np.asarray(X, np.float32)
        n = len(X)
        if n == 0:
            return
        if self._X is None:
            self._X = np.empty((self.max_rows, X.shape[1]), np.float32)
        room = max(0, self.max_rows - self.seen)
        k = min(room, n)
        self._X[self.seen:self.seen + k] = X[:k]
        if k < n:  # reservoir: row number i (0-based over the stream) replaces a random slot with p = cap/(i+1)
            i = self.seen + np.arange(k, n)
            j = (self.rng.random(n - k) * (i + 1)).astype(np.int64)
            keep = j < self.max_rows
            self._X[j[keep]] = X[k:][keep]  # repeated slots: the later row wins, as in the sequential form
        self.seen += n
        t = np.empty(0) if times is None else np.asarray(times, np.float64).ravel()
        if t.size:
            self.t_min = min(self.t_min, float(t.min()))
            self.t_max = max(self.t_max, float(t.max()))
        if hosts is not None:
            names, counts = np.unique(np.asarray(hosts).astype(str), return_counts=True)
            for h, c in zip(names.tolist(), counts.tolist()):
                self.hosts[h] = self.hosts.get(h, 0) + c

    def rows(self) -> np.ndarray:
        """The kept rows, (min(seen, max_rows), columns) float32."""
        if self._X is None:
            return np.zeros((0, 0), np.float32)
        return self._X[:min(self.seen, self.max_rows)]

    def describe(self) -> dict:
        """What the stream showed: packets (all, not just the kept rows), span, hosts."""
        d: dict = {"packets": self.seen, "kept_rows": len(self.rows())}
        if np.isfinite(self.t_min):
            d.update(start=self.t_min, end=self.t_max, duration_s=self.t_max - self.t_min)
        if self.hosts:
            top = sorted(self.hosts.items(), key=lambda kv: -kv[1])[:50]
            d["hosts"] = len(self.hosts)
            d["busiest_hosts"] = [{"host": h, "packets": c} for h, c in top]
        return d


__all__ = ["Calibration", "CalibrationSample", "MAX_ROWS", "MIN_ROWS", "calibrate", "save_calibrated"]
