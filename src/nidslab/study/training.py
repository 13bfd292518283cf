"""How a study trains and scores one model: :func:`train_eval` (one network, its result as results.json
holds it) and :func:`scored` (test metrics of any model's probabilities). LightGBM's settings live in
:func:`nidslab.trees.lightgbm_classifier`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nidslab.study.config import settings_of, split_settings

Arrays = tuple[np.ndarray, np.ndarray]
#: detail(done, total, message): progress within a part
Detail = Callable[..., None]


def train_eval(settings: dict[str, Any], train: Arrays, validation: Arrays | None, test: Arrays | None, *,
               seed: int, threads: int | None = None, mc_dropout: bool = False,
               detail: Detail | None = None) -> tuple[dict[str, Any], Any]:
    """Build, train and evaluate one network of ``settings`` (see :meth:`Experiment.settings`), seeded
    ``seed``, on ``threads`` torch threads; ``detail(epoch, epochs, message)`` after each epoch.

    Returns (result dict: settings, params, init, history, train_seconds, test metrics or None, model)."""
    from nidslab.evaluate import evaluate
    from nidslab.threads import torch_threads
    from nidslab.model import build_model, summary
    from nidslab.train import fit

    spec, config = split_settings(settings)
    spec = spec.replace(mc_dropout=mc_dropout)
    config = config.replace(seed=seed, threads=threads)
    n_inputs = train[0].shape[1]
    model = build_model(spec, n_inputs, seed=config.seed)
    init = first_layer_init(model)
    params = int(summary(model, n_inputs).trainable_params)
    epochs = config.epochs

    def on_epoch(epoch: int, logs: dict[str, Any]) -> None:
        if detail is not None:
            detail(epoch, epochs, f"epoch {epoch}/{epochs}")

    with torch_threads(threads):  # evaluation too: its sums depend on the thread count as training's do
        start = time.perf_counter()
        history = fit(model, train, validation, config, callback=on_epoch)
        seconds = time.perf_counter() - start
        result: dict[str, Any] = {"settings": settings_of(spec, config), "params": params, "init": init,
                                  "train_seconds": seconds, "history": history_lists(history),
                                  "updates_per_epoch": int(history.updates_per_epoch), "test": None}
        if test is not None:
            result["test"] = report_metrics(evaluate(model, test[0], test[1]))
    return result, model


def seed_runs(settings: dict[str, Any], seeds: list[int], train: Arrays, validation: Arrays | None,
              test: Arrays, *, threads: int | None = None, mode: str = "own",
              detail: Detail | None = None) -> dict[str, list[float]]:
    """Networks of ``settings`` trained from each of ``seeds`` side by side as one stacked model
    (:func:`nidslab.stacked.fit_seeds`; ``mode="own"``: each seed its own shuffle, as one ``fit`` per seed
    would), each scored on ``test``. Returns lists in seed order: seeds, test_accuracy,
    test_balanced_accuracy, val_accuracy (the last epoch's; NaN without validation)."""
    from nidslab.evaluate import evaluate
    from nidslab.threads import torch_threads
    from nidslab.stacked import fit_seeds

    spec, config = split_settings(settings)
    config = config.replace(threads=threads)
    epochs = config.epochs
    def on_epoch(epoch: int, histories: Any) -> None:
        if detail is not None:
            detail(epoch, epochs, f"seeds {', '.join(map(str, seeds))}: epoch {epoch}/{epochs}")

    out: dict[str, list[float]] = {"seeds": [int(s) for s in seeds], "test_accuracy": [],
                                   "test_balanced_accuracy": [], "val_accuracy": []}
    with torch_threads(threads):
        for model, history in fit_seeds(spec, train, validation, config, [int(s) for s in seeds], mode=mode,
                                        callback=on_epoch):
            m = evaluate(model, test[0], test[1])
            out["test_accuracy"].append(float(m["accuracy"]))
            out["test_balanced_accuracy"].append(float(m["balanced_accuracy"]))
            out["val_accuracy"].append(float(history.val_accuracy[-1]) if history.val_accuracy else float("nan"))
    return out


def stack_key(settings: dict[str, Any]) -> str:
    """Networks whose ``settings`` agree on this key train as one stacked model (:func:`train_stacked`):
    the shape (layers, nodes, batch norm), batch size, epochs and whether there is dropout; activation, the
    dropout rate and class weights may differ, the learning rate except with RMSprop, and the optimiser
    between SGD and Adam (what :class:`nidslab.stacked.StackedDNN` and its trainer take). Networks with
    dropout stack apart: in a stack with others their masked copies cost a pass over every network's
    activations (measured, 19 networks of 2 x 20 with SGD and Adam, sigmoid, ReLU and linear, 3 of them with
    dropout 0.5: 0.150-0.157 s per network-epoch; the same 19 without dropout 0.135-0.141)."""
    import json

    optimizer = settings["optimizer"]
    differ = ("class_weight", "activation", "dropout", "optimizer") + (() if optimizer == "rmsprop" else ("lr",))
    key = {k: v for k, v in settings.items() if k not in differ}
    key["optimizer"] = "sgd/adam" if optimizer in ("sgd", "adam") else optimizer
    key["dropout"] = bool(settings["dropout"])
    return json.dumps(key, sort_keys=True)


def train_stacked(runs: list[tuple[dict[str, Any], int]], train: Arrays, validation: Arrays | None,
                  test: Arrays | None, *, shuffle_seed: int, threads: int | None = None,
                  detail: Detail | None = None) -> list[tuple[dict[str, Any], Any]]:
    """Networks ``runs = [(settings, seed)]`` (one :func:`stack_key`) trained side by side as one stacked
    model on one shared shuffle (:func:`nidslab.stacked.fit_shared`, every network on every row, one
    gather per step for all), each scored on ``test``.

    The shuffle is ``shuffle_seed``'s; a network's own seed draws its initial weights and dropout masks.
    So a network whose seed is ``shuffle_seed`` sees exactly the batches ``fit`` would give it, and its
    result equals :func:`train_eval`'s to float rounding (``tests/test_study_stacking.py``); a network of
    another seed differs from its own ``fit`` in the order of its batches only. Returns one (result dict
    as :func:`train_eval`'s, model) per run, in order; ``train_seconds`` is the stacked run's wall time
    divided by the networks, ``stacked`` ``{"networks", "seconds"}`` says so."""
    from nidslab.evaluate import evaluate, torch_threads
    from nidslab.model import build_model, summary
    from nidslab.stacked import fit_shared

    keys = {stack_key(s) for s, _ in runs}
    if len(keys) != 1:
        raise ValueError(f"networks trained as one stacked model share shape, batch size and epochs (see stack_key); "
                         f"got {len(keys)} different ones")
    specs = [split_settings(s)[0] for s, _ in runs]
    configs = [split_settings(s)[1].replace(seed=int(seed), threads=threads) for s, seed in runs]
    n_inputs = train[0].shape[1]
    models = [build_model(spec, n_inputs, seed=int(seed)) for spec, (_, seed) in zip(specs, runs, strict=True)]
    inits = [first_layer_init(m) for m in models]
    params = int(summary(models[0], n_inputs).trainable_params)
    k, epochs = len(runs), configs[0].epochs

    def on_epoch(epoch: int, histories: Any) -> None:
        if detail is not None:
            detail(epoch, epochs, f"{k} networks stacked: epoch {epoch}/{epochs}")

    out = []
    with torch_threads(threads):
        start = time.perf_counter()
        members = np.ones((k, len(train[1])), dtype=bool)
        histories = fit_shared(models, train[0], train[1], members, configs, validations=[validation] * k,
                               shuffle_seed=shuffle_seed, callback=on_epoch)
        seconds = time.perf_counter() - start
        for spec, model, config, init, history in zip(specs, models, configs, inits, histories, strict=True):
            result: dict[str, Any] = {"settings": settings_of(spec, config), "params": params, "init": init,
                                      "train_seconds": seconds / k, "history": history_lists(history),
                                      "updates_per_epoch": int(history.updates_per_epoch), "test": None,
                                      "stacked": {"networks": k, "seconds": seconds}}
            if test is not None:
                result["test"] = report_metrics(evaluate(model, test[0], test[1]))
            out.append((result, model))
    return out


def first_layer_init(model: Any) -> dict[str, Any]:
    """Statistics of the first Dense layer's freshly initialised weights and biases (Question 6)."""
    weight = bias = None
    for name, p in model.named_parameters():
        if p.ndim == 2 and weight is None:
            weight = p.detach().cpu().numpy()
            bias_name = name.rsplit(".", 1)[0] + ".bias"
            bias = dict(model.named_parameters()).get(bias_name)
            bias = None if bias is None else bias.detach().cpu().numpy()
            break
    if weight is None:
        return {}
    fan_out, fan_in = weight.shape
    return {"fan_in": int(fan_in), "fan_out": int(fan_out),
            "glorot_limit": float(np.sqrt(6.0 / (fan_in + fan_out))),
            "max_abs_weight": float(np.abs(weight).max()), "weight_std": float(weight.std()),
            "max_abs_bias": float(np.abs(bias).max()) if bias is not None else None}


def history_lists(h: Any) -> dict[str, list[float]]:
    """A History as plain lists: loss, accuracy, val_loss, val_accuracy, epoch_seconds."""
    get = h.get if isinstance(h, dict) else (lambda k, d=None: getattr(h, k, d))
    out = {}
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"):
        value = get(key)
        out[key] = [float(v) for v in value] if value is not None else []
    return out


def report_metrics(m: dict[str, Any]) -> dict[str, Any]:
    """The evaluate() dict reduced to the report's test metrics (plus positive_rate)."""
    cm = np.asarray(m["confusion_matrix"]).tolist()
    (tn, fp), (fn, tp) = cm
    return {"loss": _float(m.get("loss")), "accuracy": float(m["accuracy"]),
            "balanced_accuracy": _float(m["balanced_accuracy"]), "roc_auc": _float(m.get("roc_auc")),
            "precision": _float(m.get("precision")), "recall": _float(m.get("recall")), "f1": _float(m.get("f1")),
            "positive_rate": (fp + tp) / max(1, tn + fp + fn + tp), "confusion_matrix": cm}


def scored(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Test metrics of probabilities ``p`` for labels ``y``, by the same code as the networks'
    (:func:`nidslab.evaluate.binary_metrics`, which takes logits)."""
    from nidslab.evaluate import binary_metrics

    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return report_metrics(binary_metrics(np.asarray(y), np.log(p) - np.log1p(-p)))


def subsample_rows(n: int, max_rows: int, seed: int) -> np.ndarray | slice:
    """A seeded, sorted sample of ``max_rows`` of ``n`` row indices (all rows: ``slice(None)``)."""
    if max_rows <= 0 or n <= max_rows:
        return slice(None)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def _float(v: Any) -> float | None:
    return None if v is None else float(v)


__all__ = ["report_metrics", "scored", "seed_runs", "stack_key", "subsample_rows", "train_eval",
           "train_stacked"]
