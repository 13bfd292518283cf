"""Detectors trained on many networks and calibrated to one site.

A :class:`Recipe` names a choice: which detector (``dnn``: the lab's network built by
:func:`nidslab.model.build_model` and trained by :func:`nidslab.train.fit`; ``lightgbm``; ``kitnet``:
trained on the site's own benign traffic only; ``dnn+kitnet``: both, an alert needs both (``and``) or
either (``or``); ``dnn+lightgbm``: both supervised models, an alert needs both), which feature view (:mod:`.views`) and which standardisation (``site``: each network
on its own benign traffic, the deployment site on its calibration window; ``pooled``: one
standardisation over all training rows, as the lab does, used unchanged at a new site).

:func:`train` fits a recipe on training networks and returns a :class:`Trained`; :meth:`Trained.at_site`
calibrates it on a site's benign rows (standardisation and, for KitNET, the model itself, from the first
part of the window; thresholds from the scores of the rest) and returns a :class:`SiteModel` whose
:meth:`SiteModel.flagged` gives per-packet alerts at a threshold level.

Threshold levels (:data:`LEVELS`), all computed on the site's benign calibration scores: ``q1e-3``
(0.1% of them above), ``q1e-4``, ``max`` (none above), ``max+50%`` / ``max+100%`` / ``max+200%`` (above the
largest by that share of its distance from the median).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nidslab.errors import ConfigError, DataError
from nidslab.generalise import views
from nidslab.generalise.views import SiteScaler

if TYPE_CHECKING:
    from nidslab.detect import KitNET

MODELS = ("dnn", "lightgbm", "kitnet", "dnn+kitnet", "dnn|kitnet", "dnn+lightgbm")
SCALINGS = ("site", "pooled")
LEVELS = ("q1e-3", "q1e-4", "max", "max+50%", "max+100%", "max+200%")


@dataclass(frozen=True)
class Recipe:
    """One choice to train and measure. ``model`` in :data:`MODELS` (``dnn+kitnet``, ``dnn+lightgbm``: alert
    when both alert, each at its own threshold of the level; ``dnn|kitnet``: when either does), ``view`` in :data:`nidslab.generalise.views.VIEWS`,
    ``scaling`` in :data:`SCALINGS`; ``dnn_seeds``: DNNs averaged (an ensemble of seeds);
    ``augment``: extra copies of each training network under a random per-column shift and scale of its
    standardised features (a calibration that is off by that much), 0 for none."""

    model: str = "lightgbm"
    view: str = "log"
    scaling: str = "site"
    dnn_seeds: int = 1
    augment: int = 0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"model {self.model!r}; expected one of {', '.join(MODELS)}")
        views.check_view(self.view)
        if self.scaling not in SCALINGS:
            raise ConfigError(f"scaling {self.scaling!r}; expected one of {', '.join(SCALINGS)}")
        if self.dnn_seeds < 1 or self.augment < 0:
            raise ConfigError(f"dnn_seeds must be >= 1 and augment >= 0, got {self.dnn_seeds}, {self.augment}")

    @property
    def name(self) -> str:
        extra = (f" x{self.dnn_seeds}" if self.dnn_seeds > 1 else "") + (f" aug{self.augment}" if self.augment else "")
        return f"{self.model} / {self.view} / {self.scaling}{extra}"

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.model.replace("|", "+").split("+"))


@dataclass(frozen=True)
class TrainSettings:
    """Training sizes and settings shared by every recipe (kept small: a 2-core machine)."""

    rows_per_network: int = 10_000  # training rows drawn per network, half benign where it has them
    n_layers: int = 2  # the lab's 2x20
    n_nodes: int = 20
    activation: str = "sigmoid"
    epochs: int = 4
    batch_size: int = 512
    lr: float = 3e-3
    lgbm_trees: int = 100
    lgbm_leaves: int = 31
    kitnet_max_ae: int = 10
    kitnet_rows: int = 20_000  # most calibration rows KitNET trains on (the first ones)
    floor: float = 0.05  # SiteScaler floor, as a share of a column's spread over the training networks
    clip: float = 30.0
    augment_strength: float = 0.3
    threads: int = 1  # torch and LightGBM threads: one each on a shared 2-core machine (2 spin and wait)
    seed: int = 0


def calibration_windows(ts: np.ndarray, benign_rows: int, *, fraction: float = 0.5) -> tuple[slice, slice, int]:
    """Split a site's benign prefix: the first ``fraction`` is the calibration window, whose first two
    thirds fit the standardisation (and KitNET) and last third sets the thresholds; the rest is scored.

    Returns (fit rows, threshold rows, first scored row) as slices and an index.
    """
    end = int(benign_rows * fraction)
    if end < 30:
        raise DataError(f"a calibration window needs at least 30 benign packets, got {end}")
    cut = (2 * end) // 3
    return slice(0, cut), slice(cut, end), end


def _level_threshold(scores: np.ndarray, level: str) -> float:
    s = np.asarray(scores, np.float64)
    if level.startswith("q"):
        from nidslab.operating_points import threshold_for_fpr

        return float(threshold_for_fpr(s, float(level[1:])))
    top, mid = float(s.max()), float(np.median(s))
    share = 0.0 if level == "max" else float(level[4:-1]) / 100.0
    return float(np.nextafter(top + share * (top - mid), np.inf))


def level_threshold(scores: np.ndarray, level: str) -> float:
    """The threshold of ``level`` (:data:`LEVELS`) from benign calibration ``scores``; flag at score >= it."""
    if level not in LEVELS:
        raise ConfigError(f"threshold level {level!r}; expected one of {', '.join(LEVELS)}")
    return _level_threshold(scores, level)


def _train_rows(truth: np.ndarray, n: int, rng) -> np.ndarray:
    ben, mal = np.flatnonzero(truth == 0), np.flatnonzero(truth == 1)
    nb = min(len(ben), n // 2) if len(mal) else min(len(ben), n)
    nm = min(len(mal), n - nb)
    pick = np.concatenate([rng.choice(ben, nb, replace=False), rng.choice(mal, nm, replace=False)])
    return np.sort(pick)


@dataclass
class Trained:
    """A recipe fitted on training networks (see :func:`train`)."""

    recipe: Recipe
    settings: TrainSettings
    reference_sd: np.ndarray  # per view column: spread over the training rows (the scaler floor's unit)
    pooled: SiteScaler | None = None
    dnns: list = field(default_factory=list)
    lgbm: Any = None  # lightgbm.LGBMClassifier (imported when used)
    train_rows: int = 0
    seconds: float = 0.0

    def at_site(self, X: np.ndarray, fit_rows: slice, threshold_rows: slice) -> SiteModel:
        """Calibrate to a site from its benign rows ``X[fit_rows]`` (standardisation, KitNET) and
        ``X[threshold_rows]`` (thresholds). ``X``: (n, 115) float32 of the site, in time order."""
        V = views.transform(X[: threshold_rows.stop], self.recipe.view)
        if self.recipe.scaling == "site":
            scaler = SiteScaler(self.settings.floor, self.settings.clip).fit(V[fit_rows], self.reference_sd)
        elif self.pooled is None:
            raise RuntimeError(f"{self.recipe.name}: pooled scaling without a pooled scaler (train() fits it)")
        else:
            scaler = self.pooled
        site = SiteModel(self, scaler)
        if "kitnet" in self.recipe.parts:
            site.fit_kitnet(scaler.transform(V[fit_rows]))
        site.calibrate(X[threshold_rows])
        return site


class SiteModel:
    """A trained recipe calibrated to one site: per-part scores and thresholds per level."""

    def __init__(self, trained: Trained, scaler: SiteScaler):
        self.trained = trained
        self.scaler = scaler
        self.kitnet: KitNET | None = None
        self.benign_scores: dict[str, np.ndarray] = {}

    def fit_kitnet(self, Z: np.ndarray) -> None:
        from nidslab.detect import KitNET

        s = self.trained.settings
        Z = Z[: s.kitnet_rows]
        if len(Z) < 60:
            raise DataError(f"KitNET needs at least 60 benign calibration rows, got {len(Z)}")
        fm = max(len(Z) // 10, 10)
        self.kitnet = KitNET(max_ae=s.kitnet_max_ae, fm_grace=fm, ad_grace=len(Z) - fm - 1, seed=s.seed + 1234)
        self.kitnet.fit(Z.astype(np.float64))

    def scores(self, X: np.ndarray, chunk: int = 262_144) -> dict[str, np.ndarray]:
        """Per part (``dnn``, ``lightgbm``, ``kitnet``): (n,) float64 scores, higher = more malicious.

        ``X``: (n, 115) float32 (may be memory-mapped); scored ``chunk`` rows at a time."""
        parts: dict[str, list[np.ndarray]] = {p: [] for p in self.trained.recipe.parts}
        for a in range(0, max(len(X), 1), chunk):
            Z = self.scaler.transform(views.transform(X[a:a + chunk], self.trained.recipe.view))
            for part, out in parts.items():
                if part == "dnn":
                    from nidslab.evaluate import predict_raw

                    out.append(np.mean([predict_raw(m, Z) for m in self.trained.dnns], axis=0))
                elif part == "lightgbm":
                    assert self.trained.lgbm is not None, "train() fits the recipe's LightGBM"
                    out.append(self.trained.lgbm.predict(Z, raw_score=True))
                else:  # log RMSE: a threshold's "max + share" margin then scales, as for logits
                    assert self.kitnet is not None, "at_site() fits the site's KitNET"
                    out.append(np.log(self.kitnet.score(Z.astype(np.float64)) + 1e-12))
        return {p: np.concatenate(v).astype(np.float64) for p, v in parts.items()}

    def calibrate(self, X_benign: np.ndarray) -> None:
        """Keep the benign calibration scores thresholds are taken from."""
        self.benign_scores = self.scores(X_benign)

    def thresholds(self, level: str) -> dict[str, float]:
        return {p: level_threshold(s, level) for p, s in self.benign_scores.items()}

    def flagged(self, scores: dict[str, np.ndarray], level: str) -> np.ndarray:
        """Per-packet alerts (n,) bool from :meth:`scores` at ``level`` (a combination: and / or)."""
        th = self.thresholds(level)
        flags = [scores[p] >= th[p] for p in self.trained.recipe.parts]
        if self.trained.recipe.model == "dnn|kitnet":
            return np.logical_or.reduce(flags)
        return np.logical_and.reduce(flags)


def train(recipe: Recipe, networks: list, settings: TrainSettings = TrainSettings(), progress=None, *,
          fitted: dict | None = None) -> Trained:
    """Fit ``recipe`` on training ``networks`` (:class:`~nidslab.generalise.networks.Network`).

    Each network contributes ``settings.rows_per_network`` rows; with ``scaling="site"`` each is
    standardised on its own calibration window's fit rows (:func:`calibration_windows`), else one
    standardisation is fitted on all training rows. KitNET alone trains nothing here (it trains at the site).
    ``fitted``: a dict shared by the recipes of one run: a part (the DNNs, LightGBM) that another recipe
    already fitted on the same rows (same networks, settings, view, scaling and augmentation) is taken from it
    instead of fitted again. It is the same model either way: the rows and the training are seeded.
    """
    import time

    start = time.perf_counter()
    rng = np.random.default_rng([22, settings.seed])
    Vs, ys, fits = [], [], []
    for net in networks:
        fit_rows, _thr, _end = calibration_windows(net.ts, net.benign_rows)
        rows = _train_rows(net.truth, settings.rows_per_network, rng)
        Vs.append(views.transform(net.X[rows], recipe.view))
        ys.append(net.truth[rows])
        if recipe.scaling == "site":
            fits.append(views.transform(net.X[fit_rows], recipe.view))
    allV = np.concatenate(Vs)
    reference_sd = np.maximum(allV.std(axis=0, dtype=np.float64), 1e-6)
    trained = Trained(recipe, settings, reference_sd)
    if recipe.scaling == "pooled":
        trained.pooled = SiteScaler(settings.floor, settings.clip).fit(allV)
        Zs = [trained.pooled.transform(V) for V in Vs]
    else:
        Zs = [SiteScaler(settings.floor, settings.clip).fit(F, reference_sd).transform(V) for F, V in zip(fits, Vs)]
    Z, y = np.concatenate(Zs), np.concatenate(ys)
    if recipe.augment:
        extra = []
        for k in range(recipe.augment):
            for Zi in Zs:
                scale = np.exp(rng.normal(0, settings.augment_strength, size=Zi.shape[1])).astype(np.float32)
                shift = np.asarray(rng.normal(0, settings.augment_strength, size=Zi.shape[1]), dtype=np.float32)
                extra.append(Zi * scale + shift)
        Z = np.concatenate([Z, *extra])
        y = np.concatenate([y] + [ys[i] for _k in range(recipe.augment) for i in range(len(Zs))])
    trained.train_rows = len(y)
    rows_key = (tuple(n.name for n in networks), settings, recipe.view, recipe.scaling, recipe.augment)
    fitted = {} if fitted is None else fitted
    if "dnn" in recipe.parts:
        if ("dnn", recipe.dnn_seeds, rows_key) not in fitted:
            fitted[("dnn", recipe.dnn_seeds, rows_key)] = _fit_dnns(Z, y, settings, recipe.dnn_seeds)
        trained.dnns = fitted[("dnn", recipe.dnn_seeds, rows_key)]
    if "lightgbm" in recipe.parts:
        if ("lightgbm", rows_key) not in fitted:
            from nidslab.trees import lightgbm_classifier

            fitted[("lightgbm", rows_key)] = lightgbm_classifier(
                settings.lgbm_trees, settings.lgbm_leaves, 0.1, seed=settings.seed, threads=settings.threads).fit(Z, y)
        trained.lgbm = fitted[("lightgbm", rows_key)]
    trained.seconds = time.perf_counter() - start
    return trained


def _fit_dnns(Z: np.ndarray, y: np.ndarray, settings: TrainSettings, seeds: int) -> list:
    """``seeds`` of the lab's network (settings' shape), each trained on standardised rows ``Z`` (n, d)."""
    from nidslab.model import ModelSpec, build_model
    from nidslab.train import FitConfig, fit

    spec = ModelSpec(n_layers=settings.n_layers, n_nodes=settings.n_nodes, activation=settings.activation)
    models = []
    for k in range(seeds):
        model = build_model(spec, Z.shape[1], seed=settings.seed + k)
        cfg = FitConfig(optimizer="adam", lr=settings.lr, batch_size=settings.batch_size, epochs=settings.epochs,
                        class_weight="balanced", seed=settings.seed + k, threads=settings.threads, device="cpu")
        fit(model, (Z, y), None, cfg)
        model.eval()
        models.append(model)
    return models
