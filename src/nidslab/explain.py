"""Reasons per alert: which features pushed a row's score, against the site's benign baseline, in words.

One entry point for both kinds of detector:

- a network (a model folder written by ``nidslab train``: :class:`~nidslab.saved_model.SavedModel`, a
  :class:`~nidslab.scorers.DNNScorer`, or the folder's path): **integrated gradients** of the
  logit from the baseline row to the row, all rows of a batch at once (:func:`integrated_gradients`: Captum's
  Gauss-Legendre integrated gradients, vectorised into one forward and one backward pass; Captum's own
  ``IntegratedGradients`` is the reference the tests hold it to). The network reads standardised
  inputs ``z = (x - mean) / scale``; the straight path from the baseline to ``x`` in raw features is the
  straight path between their standardised images, and the chain rule scales each gradient by exactly
  what the step in ``z`` divides, so the attributions are those of the raw features the user sees. They
  are in logit units and sum over the features to ``logit(x) - logit(baseline)`` (up to the integral's
  error, :data:`DEFAULT_STEPS`). MC dropout is switched off while attributing (its expectation).
- a KitNET (:class:`~nidslab.detect.KitNET`, a :class:`~nidslab.scorers.KitNETScorer` or a saved
  ``.npz``): the score is the output autoencoder's RMSE over the ensemble autoencoders' RMSEs. Each
  feature gets its share of the squared score: the output layer's squared error on its autoencoder,
  split over that autoencoder's features in proportion to their squared reconstruction errors. Shares
  sum to 1 per row; :attr:`Reason.autoencoder` names the autoencoder.

Either way the top features (largest positive attribution: those that pushed towards an alert) are
condensed to words with :mod:`nidslab.features.describe`, e.g. ``"packets this host sent in the last
~0.2 s (H_L5_weight): 160, 40x its baseline (4)"``.

The baseline is the site's normal traffic: benign feature rows (their mean is used) or that mean, in the
same columns as the rows explained.

>>> reasons = explain("models/dnn", X_alerts, X_benign, top=3)      # doctest: +SKIP
>>> reasons[0][0].text                                               # doctest: +SKIP
>>> fn = explainer_for(model, X_benign); fn(X_alerts)[0][0]["feature"]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import heapq
import math
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nidslab import schema
from nidslab.errors import DataError
from nidslab.features.describe import describe_feature

#: Integrated-gradient steps (Gauss-Legendre points of Captum), chosen with benchmarks/bench_explain.py on a
#: trained lab-shaped network (2,000 alerting rows against a 256-step reference): 8 steps name the same top
#: feature in 99.8% of rows and the same top three in 99.5%, the attributions' sum within 0.44% (median) of
#: logit(x) - logit(baseline); 4 steps fall to 97.5% and 6.7%; 16 steps reach 100% for twice the IG time.
#: At 8 steps the gradients are under a third of an explained row's cost (8.8 of 30 us); the words are the rest.
DEFAULT_STEPS = 8
DEFAULT_TOP = 3
MIN_SHARE = 0.01  # reasons below this share of the row's largest |attribution| are rounding, not reasons
_CHUNK = 2048  # rows attributed at once: steps x chunk rows go through the network per pass


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    """One feature that pushed one row's score, against its baseline.

    ``value``: the row's raw feature value; ``baseline``: the baseline's (mean of benign rows); ``ratio``:
    ``value / baseline`` when both are non-zero and of the same sign, else None. ``attribution``: for a
    network, the integrated-gradients attribution in logit units (a row's attributions sum to its logit
    minus the baseline's logit); for KitNET, the feature's share (0-1) of the squared score.
    ``autoencoder``: KitNET's ensemble autoencoder that holds the feature (None for a network).
    ``text``: the reason in words.
    """

    feature: str
    value: float
    baseline: float
    ratio: float | None
    attribution: float
    text: str
    autoencoder: int | None = None

    def to_dict(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies field by field, several times the cost of a reason's text
        return {"feature": self.feature, "value": self.value, "baseline": self.baseline, "ratio": self.ratio,
                "attribution": self.attribution, "text": self.text, "autoencoder": self.autoencoder}


# ------------------------------------------------------------------------------------------ words
def _num(x: float) -> str:
    """A value for prose: whole numbers with thousands separated from 100 to a million, else 3 significant digits."""
    a = abs(x)
    if 100 <= a < 1e6:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def ratio_of(value: float, baseline: float) -> float | None:
    """``value / baseline`` when both are non-zero, finite and of the same sign; else None."""
    if value == 0 or baseline == 0 or not (math.isfinite(value) and math.isfinite(baseline)):
        return None
    if (value > 0) != (baseline > 0):
        return None
    return value / baseline


@functools.lru_cache(maxsize=512)
def _words(feature: str, layout: str | None) -> tuple[str, str]:
    """(``"<phrase> (<name>): "``, ``" <unit>"`` or ``""``) of a feature, looked up once."""
    d = describe_feature(feature, layout)
    return f"{d.phrase} ({feature}): ", (f" {d.unit}" if d.unit and d.statistic != "weight" else "")


def reason_text(feature: str, value: float, baseline: float, *, layout: str | None = None) -> str:
    """``"<what the feature is> (<name>): <value>, <r>x its baseline (<baseline>)"`` in words."""
    head, unit = _words(feature, layout)
    r = ratio_of(value, baseline)
    if r is None:
        against = f"against {_num(baseline)}{unit} at baseline"
    elif 0.9 <= r <= 1.1:
        against = f"about its baseline ({_num(baseline)}{unit})"
    else:
        against = f"{f'{r:,.0f}' if r >= 10 else f'{r:.2g}'}x its baseline ({_num(baseline)}{unit})"
    return f"{head}{_num(value)}{unit}, {against}"


# ------------------------------------------------------------------------------------------ models
class _Network:
    """A saved DNN: its feature names, column selection, standardiser and network."""

    kind = "network"

    def __init__(self, saved):
        from nidslab.data.prep import Standardizer

        self.saved = saved
        self.names = list(saved.feature_names)
        self.layout = "uci"
        std = Standardizer.from_dict(saved.standardizer) if saved.standardizer else None
        k = len(self.names)
        self.mean = np.zeros(k) if std is None else np.asarray(std.mean_, np.float64)
        self.scale = np.ones(k) if std is None else np.asarray(std.scale_, np.float64)
        self._select = None if k == schema.N_FEATURES else np.asarray(schema.indices(self.names), np.int64)
        self._mc: list | None = None  # the network's MC dropout modules, found at the first attribution
        self._plan = _numpy_plan(saved.model)  # the network in NumPy (None: a layer without a NumPy form here)
        self._zb: tuple[np.ndarray, np.ndarray] | None = None  # (baseline row, its standardised float32 image)

    def columns(self, X: np.ndarray, what: str) -> np.ndarray:
        """``X`` (n, 115) or (n, k) -> this model's k columns, float64."""
        if X.shape[1] == schema.N_FEATURES and self._select is not None:
            X = X[:, self._select]
        elif X.shape[1] != len(self.names):
            raise DataError(f"{what}: {X.shape[1]} columns; expected the {schema.N_FEATURES} Kitsune features or "
                            f"the model's own {len(self.names)}")
        return np.asarray(X, np.float64)

    def attributions(self, X: np.ndarray, base: np.ndarray, steps: int) -> np.ndarray:
        """Integrated gradients (n, k) float64 of the logit, in logit units (see the module docstring)."""
        import torch

        model = self.saved.model
        Z = ((X - self.mean) / self.scale).astype(np.float32)
        if self._zb is None or self._zb[0] is not base:  # a watch asks with the same baseline many times
            self._zb = (base, ((base - self.mean) / self.scale).astype(np.float32))
        zb = self._zb[1]
        out = np.empty(X.shape, np.float64)
        if self._plan is not None:  # the network's layers in NumPy: no autograd, no module calls (a watch's few rows)
            with _one_blas_thread(len(Z)):
                for s in range(0, len(Z), _CHUNK):
                    a = _plan_integrated_gradients(self._plan, Z[s:s + _CHUNK], zb, steps)
                    out[s:s + len(a)] = a
            return out
        Zt, zbt = torch.from_numpy(Z), torch.from_numpy(zb)
        with self._attributing():
            for s in range(0, len(Zt), _CHUNK):
                a = integrated_gradients(model, Zt[s:s + _CHUNK], zbt, steps)
                out[s:s + len(a)] = a.double().numpy()
        return out

    @contextlib.contextmanager
    def _attributing(self) -> Iterator[None]:
        """Eval mode, MC dropout off (its expectation), gradients on: the state attributions are taken in."""
        import torch

        model = self.saved.model
        if self._mc is None:
            from nidslab.model import MCDropout

            self._mc = [m for m in model.modules() if isinstance(m, MCDropout)]
        with _dropout_off(self._mc), torch.enable_grad():
            was = model.training
            if was:  # eval() and train() walk every module: skipped when already in eval mode (a watch's calls)
                model.eval()
            try:
                yield
            finally:
                if was:
                    model.train(True)


def _one_blas_thread(rows: int):
    """One BLAS thread for the products of many rows' attributions (2,000 rows under load: 15 ms, against 145 ms
    on OpenBLAS's 2 threads, which spin while the cores are busy: as the scorer's 1 torch thread); a few rows'
    products are single-threaded anyway, and setting the limit costs ~0.3 ms."""
    if rows < 256:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


def integrated_gradients(model, Z, zb, steps: int = DEFAULT_STEPS):
    """Integrated gradients of ``model``'s output (n,) from the baseline ``zb`` (k,) to each row of ``Z``
    (n, k), float32 tensors: (n, k), Gauss-Legendre quadrature with ``steps`` points.

    The computation of Captum's ``IntegratedGradients(model).attribute(Z, zb[None], n_steps=steps,
    method="gausslegendre")`` (tests hold the two equal, Captum being the reference), vectorised for a
    network whose rows do not interact (eval mode): the ``steps`` x n points of the paths go through the
    network in one forward and one backward pass of their summed outputs. Captum's own call builds the
    points one step at a time and differentiates one scalar per row and step (``torch.unbind``); on the
    few rows a watch explains per chunk its fixed cost was ~0.6 ms a call against ~0.1 ms here
    (benchmarks/bench_explain.py). The caller sets the model's mode (:meth:`_Network._attributing`).
    """
    import torch

    weights, alphas = _gauss_legendre_tensors(steps)
    n, k = Z.shape
    d = Z - zb
    path = (zb + alphas * d).reshape(steps * n, k).requires_grad_()  # step-major, as Captum's
    (grad,) = torch.autograd.grad(model(path).sum(), path)
    with torch.no_grad():
        return (grad.reshape(steps, n, k) * weights).sum(0) * d


def _numpy_plan(model) -> list | None:
    """The network's eval-mode forward as NumPy steps, or None where a layer has no NumPy form here.

    Steps (the first and the last a linear layer, the last with one output): ``("linear", W (out, in), b (out,))``, ``("scale", s, t)`` (batch norm on its running statistics:
    ``x * s + t``), ``("sigmoid" | "relu" | "tanh", None, None)``; dropout (off: attributions take MC
    dropout's expectation) and the identity are left out. The arrays share the parameters' memory (a
    network trained further in place is seen); a network whose layers are replaced needs a new explainer.
    """
    import torch
    from torch import nn

    from nidslab.model import Dropout

    if not isinstance(model, nn.Sequential):
        return None
    plan: list = []
    for m in model:
        if isinstance(m, nn.Linear):
            plan.append(("linear", m.weight.detach().numpy(), None if m.bias is None else m.bias.detach().numpy()))
        elif (isinstance(m, nn.BatchNorm1d) and m.track_running_stats and m.running_var is not None
              and m.running_mean is not None):
            with torch.no_grad():
                s = (m.weight if m.affine else 1.0) / torch.sqrt(m.running_var + m.eps)
                t = (m.bias if m.affine else 0.0) - m.running_mean * s
            plan.append(("scale", s.numpy().astype(np.float32), t.numpy().astype(np.float32)))
        elif isinstance(m, (nn.Sigmoid, nn.ReLU, nn.Tanh)):
            plan.append((type(m).__name__.lower(), None, None))
        elif not isinstance(m, (nn.Identity, Dropout)):
            return None
    if not plan or plan[0][0] != "linear" or plan[-1][0] != "linear" or plan[-1][1].shape[0] != 1:
        return None
    return plan


def _plan_integrated_gradients(plan: list, Z: np.ndarray, zb: np.ndarray, steps: int) -> np.ndarray:
    """:func:`integrated_gradients` on a :func:`_numpy_plan`: the same points, weights and sums, with the
    backward pass written out (float32, as the network runs); (n, k) float64."""
    from scipy.special import expit

    weights, alphas = _gauss_legendre_arrays(steps)
    n, k = Z.shape
    d = Z - zb
    # the first (linear) layer on the path's points zb + alpha d is W zb + b + alpha (W d): (n, width) products
    # instead of (steps n, k) ones; its gradient is taken after the sum over the steps
    _, W, b = plan[0]
    u = zb @ W.T
    if b is not None:
        u = u + b
    h = (u + alphas * (d @ W.T)).reshape(steps * n, W.shape[0])
    rest = plan[1:]
    slopes = []
    for kind, a, b in rest:
        if kind == "linear":
            h = h @ a.T
            if b is not None:
                h += b
        elif kind == "scale":
            h = h * a + b
        elif kind == "sigmoid":
            h = expit(h)
            slopes.append(h * (1 - h))
        elif kind == "tanh":
            h = np.tanh(h)
            slopes.append(1 - h * h)
        else:  # relu (its gradient at 0 is 0, as torch's)
            slopes.append(h > 0)
            h = np.maximum(h, 0)
    grad = np.ones((steps * n, 1), np.float32)
    for kind, a, _ in reversed(rest):
        if kind == "linear":
            grad = grad @ a
        elif kind == "scale":
            grad = grad * a
        else:
            grad = grad * slopes.pop()
    return (((grad.reshape(steps, n, -1) * weights).sum(0) @ W) * d).astype(np.float64)


@functools.lru_cache(maxsize=8)
def _gauss_legendre(steps: int) -> tuple[list[float], list[float]]:
    """Captum's Gauss-Legendre step sizes and points for ``steps`` (as ``method="gausslegendre"`` makes them)."""
    from captum.attr._utils.approximation_methods import approximation_parameters

    step_sizes, alphas = approximation_parameters("gausslegendre")
    return list(step_sizes(steps)), list(alphas(steps))


@functools.lru_cache(maxsize=8)
def _gauss_legendre_arrays(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_gauss_legendre` as float32 arrays shaped (steps, 1, 1), made once per step count."""
    sizes, alphas = _gauss_legendre(steps)
    return (np.asarray(sizes, np.float32).reshape(steps, 1, 1), np.asarray(alphas, np.float32).reshape(steps, 1, 1))


@functools.lru_cache(maxsize=8)
def _gauss_legendre_tensors(steps: int):
    """:func:`_gauss_legendre_arrays` as torch tensors."""
    import torch

    return tuple(torch.from_numpy(a) for a in _gauss_legendre_arrays(steps))


@contextlib.contextmanager
def _dropout_off(mods) -> Iterator[None]:
    """Dropout modules that stay on in eval mode (MC dropout) set to p = 0 for the block: their expectation."""
    ps = [m.p for m in mods]
    for m in mods:
        m.p = 0.0
    try:
        yield
    finally:
        for m, p in zip(mods, ps):
            m.p = p


class _KitNET:
    """A trained KitNET: per-feature shares of the squared score (see the module docstring)."""

    kind = "kitnet"

    def __init__(self, kitnet):
        if not kitnet.trained:
            raise DataError(f"this KitNET has trained on {kitnet.n_trained} of its {kitnet.grace_rows} grace rows; "
                            "it explains alerts only once trained")
        self.kitnet = kitnet
        n = kitnet.n_features
        self.layout = "kitsune-py" if n == 100 else "uci"
        self.names = list(schema.KITSUNE_PY_FEATURE_NAMES if n == 100 else schema.FEATURE_NAMES
                          ) if n in (100, 115) else [f"feature {i}" for i in range(n)]
        ens = kitnet.ensemble
        self.ae_of_visible = np.repeat(np.arange(len(ens.v_off) - 1), np.diff(ens.v_off))
        self.ae_of_feature = np.full(n, -1, np.int64)
        self.ae_of_feature[ens.feat] = self.ae_of_visible

    def columns(self, X: np.ndarray, what: str) -> np.ndarray:
        if X.shape[1] != len(self.names):
            raise DataError(f"{what}: {X.shape[1]} columns; this KitNET reads {len(self.names)}")
        return np.asarray(X, np.float64)

    def attributions(self, X: np.ndarray, base: np.ndarray, steps: int) -> np.ndarray:
        ens = self.kitnet.ensemble
        visible, output, rmse = ens.errors(X)
        k = output.shape[1]
        member = np.zeros((visible.shape[1], k))
        member[np.arange(visible.shape[1]), self.ae_of_visible] = 1.0
        per_ae = visible @ member  # (n, k) each autoencoder's summed squared error
        share = visible / np.maximum(per_ae, 1e-300)[:, self.ae_of_visible]
        score2 = np.maximum(rmse**2, 1e-300)[:, None]
        contrib = share * (output / k / score2)[:, self.ae_of_visible]  # sums to 1 over a row
        out = np.zeros(X.shape, np.float64)
        out[:, ens.feat] = contrib
        return out


def _resolve(model) -> _Network | _KitNET:
    """A model folder's path, a SavedModel, a DNNScorer, a KitNET, a KitNETScorer, or a saved KitNET's path."""
    if isinstance(model, (_Network, _KitNET)):
        return model
    if isinstance(model, (str, os.PathLike)):
        from nidslab.saved_model import is_model_folder, load_model

        path = Path(model)
        if is_model_folder(path):
            return _Network(load_model(path))
        if path.suffix == ".npz" or (path / "kitnet.npz").is_file():
            from nidslab.detect import KitNET

            return _KitNET(KitNET.load(path))
        raise DataError(f"{path}: neither a model folder written by `nidslab train` nor a saved KitNET (.npz)")
    if hasattr(model, "saved"):  # DNNScorer
        return _Network(model.saved)
    if hasattr(model, "kitnet"):  # KitNETScorer
        return _KitNET(model.kitnet)
    if hasattr(model, "feature_names") and hasattr(model, "model"):  # SavedModel
        return _Network(model)
    if hasattr(model, "ensemble") and hasattr(model, "grace_rows"):  # KitNET
        return _KitNET(model)
    raise TypeError(f"cannot explain a {type(model).__name__}: expected a model folder (path or SavedModel), "
                    "a DNNScorer, a KitNET or a KitNETScorer")


def _baseline(target: _Network | _KitNET, baseline, what: str = "the baseline") -> np.ndarray:
    """The baseline row (k,) float64 of ``target``'s columns: the mean of benign rows (m, d), or a row (d,)."""
    b = np.asarray(baseline, np.float64)
    if b.ndim == 1:
        b = b[None, :]
    if b.ndim != 2 or b.shape[0] == 0:
        raise DataError(f"{what}: expected benign feature rows (m, columns) or their mean (columns,), "
                        f"got shape {np.shape(baseline)}")
    b = target.columns(b, what)
    if not np.isfinite(b).all():
        raise DataError(f"{what}: has NaN or infinite values; drop those rows first")
    return b[0] if len(b) == 1 else b.mean(axis=0)


# ------------------------------------------------------------------------------------------ API
def _rows(target: _Network | _KitNET, X) -> np.ndarray:
    """The rows to explain, checked: (n, the target's k columns) float64."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"rows to explain must be a 2-D table (n, features), got shape {X.shape}")
    Xk = target.columns(X, "the rows to explain")
    if not np.isfinite(Xk).all():
        bad = int(np.argmin(np.isfinite(Xk).all(axis=1)))
        col = int(np.argmin(np.isfinite(Xk[bad])))
        raise DataError(f"the rows to explain: row {bad}, feature {target.names[col]} is {Xk[bad, col]}; "
                        "features must be finite")
    return Xk


def _prepare(model, X, baseline, steps: int):
    target = _resolve(model)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    Xk = _rows(target, X)
    base = _baseline(target, baseline)
    A = target.attributions(Xk, base, steps) if len(Xk) else np.zeros((0, len(target.names)))
    return target, Xk, base, A


def attributions(model, X: np.ndarray, baseline, *, steps: int = DEFAULT_STEPS) -> tuple[list[str], np.ndarray]:
    """Per-feature attributions of rows ``X`` against ``baseline``: ``(feature names, A (n, k) float64)``.

    ``X``: raw features (n, 115) or (n, the model's k); ``baseline``: benign rows or their mean, same columns.
    Units as :attr:`Reason.attribution`. ``steps``: integration steps (networks only).
    """
    target, _, _, A = _prepare(model, X, baseline, steps)
    return list(target.names), A


def explain(model, X: np.ndarray, baseline, *, top: int = DEFAULT_TOP, steps: int = DEFAULT_STEPS
            ) -> list[list[Reason]]:
    """The ``top`` features that pushed each row of ``X`` towards an alert, in words.

    Args:
        model: a model folder (path, :class:`~nidslab.saved_model.SavedModel` or
            :class:`~nidslab.scorers.DNNScorer`), or a trained KitNET (:class:`~nidslab.detect.KitNET`,
            :class:`~nidslab.scorers.KitNETScorer`, or the path of its ``.npz``).
        X: raw feature rows (n, columns): for a network the 115 Kitsune features or its own k columns;
            for a KitNET its 115 (uci) or 100 (kitsune-py) columns. Usually the alerting rows only.
        baseline: the site's benign traffic: rows (m, columns) (their mean is used) or that mean (columns,).
        top: reasons per row at most (only features with a positive attribution of at least
            :data:`MIN_SHARE` of the row's largest are reasons).
        steps: integrated-gradient steps (networks).
    Returns:
        one list of :class:`Reason` per row, largest attribution first.
    """
    target, Xk, base, A = _prepare(model, X, baseline, steps)
    return [[Reason(**r) for r in row] for row in _reasons(target, target.names, Xk, base, A, top)]


def _reasons(target, names: Sequence[str], Xk: np.ndarray, base: np.ndarray, A: np.ndarray, top: int
             ) -> list[list[dict]]:
    """Per row, the top reasons as :meth:`Reason.to_dict` dicts (dicts: the adapter hands them on as they are)."""
    if top < 1 or len(A) == 0:
        return [[] for _ in range(len(A))]
    top = min(top, A.shape[1])
    if len(A) <= 4:  # a watch's few rows: a row's top features in Python beat a dozen whole-array calls
        return [_row_reasons(target, names, x, base, a, top) for x, a in zip(Xk, A)]
    rows = np.arange(len(A))[:, None]
    best = np.argsort(-A, axis=1, kind="stable")[:, :top]  # ties: the first column first, as _row_reasons
    att = A[rows, best]
    # a reason pushed towards the alert, and by more than rounding: at least 1% of the row's largest |attribution|
    floor = np.maximum(MIN_SHARE * np.abs(A).max(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    keep = (att > floor).tolist()
    values = Xk[rows, best].tolist()
    attrib = att.tolist()
    best_l = best.tolist()
    base_l = base.tolist()
    ae = getattr(target, "ae_of_feature", None)
    ae_l = None if ae is None else ae.tolist()
    layout = _words_layout(target, names)
    out: list[list[dict]] = []
    for js, oks, vs, ats in zip(best_l, keep, values, attrib):  # a few small dicts per alert, alerts only
        row = []
        for j, ok, value, a in zip(js, oks, vs, ats):
            if not ok:
                break
            b = base_l[j]
            text = reason_text(names[j], value, b, layout=layout) if layout else f"{names[j]}: {_num(value)}"
            row.append({"feature": names[j], "value": value, "baseline": b, "ratio": ratio_of(value, b),
                        "attribution": a, "text": text, "autoencoder": None if ae_l is None else ae_l[j]})
        out.append(row)
    return out


def _row_reasons(target, names: Sequence[str], x: np.ndarray, base: np.ndarray, a: np.ndarray, top: int) -> list[dict]:
    """:func:`_reasons` of one row (the same dicts, the same order: ties by column, as a stable sort gives)."""
    att = a.tolist()
    best = heapq.nlargest(top, range(len(att)), key=att.__getitem__)
    floor = max(MIN_SHARE * max(map(abs, att)), np.finfo(np.float64).tiny)
    ae = getattr(target, "ae_of_feature", None)
    layout = _words_layout(target, names)
    row = []
    for j in best:
        if not att[j] > floor:
            break
        value, b = float(x[j]), float(base[j])
        text = reason_text(names[j], value, b, layout=layout) if layout else f"{names[j]}: {_num(value)}"
        row.append({"feature": names[j], "value": value, "baseline": b, "ratio": ratio_of(value, b),
                    "attribution": att[j], "text": text, "autoencoder": None if ae is None else int(ae[j])})
    return row


@functools.cache
def _columns(layout: str) -> frozenset[str]:
    return frozenset(schema.FEATURE_NAMES if layout == "uci" else schema.KITSUNE_PY_FEATURE_NAMES)


def _words_layout(target, names: Sequence[str]) -> str | None:
    """The layout whose words describe ``names`` (None: unknown names, said by name only); once per target."""
    got = getattr(target, "_words_layout", None)
    if got is None or got[0] is not names:
        got = (names, target.layout if _columns(target.layout).issuperset(names) else None)
        target._words_layout = got
    return got[1]


def explainer_for(model, baseline, *, top: int = DEFAULT_TOP, steps: int = DEFAULT_STEPS
                  ) -> Callable[[np.ndarray], list[list[dict]]]:
    """An ``explain(X_rows) -> list[list[dict]]`` callable for incidents (``nidslab watch``, ``predict``).

    The model is loaded and the baseline reduced to its mean once, here; each call explains raw feature
    rows (n, columns of the model's layout) and returns, per row, up to ``top`` :meth:`Reason.to_dict`
    dicts (keys ``feature, value, baseline, ratio, attribution, text, autoencoder``).

    ``baseline`` may also be a callable returning rows or their mean (or None: no baseline yet, every row
    gets ``[]``), asked at each call: a baseline that grows while a watch runs (``nidslab watch``'s sample
    of the packets it did not flag).
    """
    target = _resolve(model)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    fixed = None if callable(baseline) else _baseline(target, baseline)
    last: list = [None, None]  # the callable baseline's last answer and its row
    layout = _words_layout(target, target.names)
    if layout is not None:  # every feature's words looked up now, not at its first reason (~0.2 ms each)
        for name in target.names:
            _words(name, layout)

    def explain_rows(X_rows: np.ndarray) -> list[list[dict]]:
        X = np.asarray(X_rows)
        if X.ndim == 1:
            X = X[None, :]
        base = fixed
        if base is None:
            now = baseline()
            if now is None:
                return [[] for _ in range(len(X))]
            if last[0] is not now:  # a running baseline hands back the same array until it changes
                last[:] = [now, _baseline(target, now)]
            base = last[1]
        Xk = _rows(target, X)
        A = target.attributions(Xk, base, steps) if len(Xk) else np.zeros((0, len(target.names)))
        return _reasons(target, target.names, Xk, base, A, top)

    explain_rows.uses_torch = isinstance(target, _Network) and target._plan is None  # type: ignore[attr-defined]
    return explain_rows


def baseline_rows(spec: str, X: np.ndarray, *, times: np.ndarray | None = None,
                  flagged: np.ndarray | None = None, source: str = "the data", layout: str = "uci") -> np.ndarray:
    """The site's benign rows to compare alerts with, as ``nidslab predict --baseline SPEC`` names them.

    ``spec``: ``"unflagged"`` (the rows of ``X`` not flagged: the traffic the model finds normal here),
    a duration such as ``"10m"``, ``"90s"`` or ``"1h"`` (the rows in that much time from the first packet,
    taken as benign, as ``watch --calibrate`` does; needs ``times`` (n,) seconds), or the path of a benign
    features table (.csv, .parquet, .npy) or capture (.pcap, .pcapng; its features in ``layout``). Returns rows
    (m, columns of X).
    Raises :class:`DataError` saying what is missing.
    """
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|h)\s*", spec)
    if spec == "unflagged":
        if flagged is None:
            raise DataError("--baseline unflagged needs the flagged rows")
        rows = np.asarray(X)[~np.asarray(flagged, bool)]
        if len(rows) == 0:
            raise DataError(f"{source}: every row is flagged, so none can stand for normal traffic; pass --baseline "
                            "with a benign features file or capture of this site, or a duration (10m)")
        return rows
    if m:
        if times is None:
            raise DataError(f"--baseline {spec}: a duration needs packet times, which only a capture has; pass a "
                            "benign features file or 'unflagged'")
        seconds = float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]
        times = np.asarray(times, np.float64)
        rows = np.asarray(X)[times < times[0] + seconds]
        return rows
    path = Path(spec)
    if not path.exists():
        raise DataError(f"--baseline {spec!r}: no such file, and not 'unflagged' or a duration such as 10m or 90s")
    from nidslab.predict import CAPTURE_SUFFIXES, capture_features

    if path.suffix.lower() in CAPTURE_SUFFIXES:
        return capture_features(path, layout=layout)[0]
    from nidslab.data import read_features

    return np.asarray(read_features(path))


__all__ = ["DEFAULT_STEPS", "DEFAULT_TOP", "Reason", "attributions", "baseline_rows", "explain", "explainer_for",
           "integrated_gradients", "ratio_of", "reason_text"]
