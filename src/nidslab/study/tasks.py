"""The study's independent pieces of work as tasks: module-level functions a :mod:`nidslab.cluster`
executor runs here or on a Ray worker.

Each task takes a ``job`` (the network's settings, its seed, its torch thread count) and the data it
trains on (handles the executor resolves: the arrays are sent once per run, not per task), seeds
everything it draws from the job, and returns plain data (no models): the same job gives the same
numbers wherever it runs, on the same thread count.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nidslab.progress import Progress
from nidslab.study import training
from nidslab.study.config import split_settings

Arrays = tuple[np.ndarray, np.ndarray]


def fit_task(job: dict[str, Any], train: Arrays, validation: Arrays | None, test: Arrays | None) -> dict[str, Any]:
    """Train and evaluate one network (:func:`nidslab.study.training.train_eval`); its result dict."""
    result, _ = training.train_eval(job["settings"], train, validation, test, seed=job["seed"], threads=job["threads"])
    return result


def seeds_task(job: dict[str, Any], train: Arrays, validation: Arrays | None, test: Arrays) -> dict[str, list[float]]:
    """Networks of ``job``'s settings trained from each of ``job["seeds"]`` as one stacked model and scored
    (:func:`nidslab.study.training.seed_runs`)."""
    return training.seed_runs(job["settings"], job["seeds"], train, validation, test, threads=job["threads"])


def stacked_task(job: dict[str, Any], train: Arrays, validation: Arrays | None, test: Arrays) -> list[dict[str, Any]]:
    """Networks ``job["runs"]`` (``[(settings, seed)]``) trained as one stacked model on the shuffle of
    ``job["seed"]`` (:func:`nidslab.study.training.train_stacked`); their result dicts, in order."""
    runs = [(dict(s), int(seed)) for s, seed in job["runs"]]
    return [r for r, _ in training.train_stacked(runs, train, validation, test, shuffle_seed=job["seed"],
                                                 threads=job["threads"])]


def experiment_task(what: tuple[str, dict[str, Any]], train: Arrays, validation: Arrays | None,
                    test: Arrays) -> Any:
    """``("fit", job)``: :func:`fit_task`; ``("seeds", job)``: :func:`seeds_task`; ``("stacked", job)``:
    :func:`stacked_task` (one map serves them all)."""
    kind, job = what
    if kind == "stacked":
        return stacked_task(job, train, validation, test)
    return fit_task(job, train, validation, test) if kind == "fit" else seeds_task(job, train, validation, test)


def timed_fit_task(job: dict[str, Any], train: Arrays, validation: Arrays | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`fit_task` with no test split, and the bytes one training step of that network holds at the
    job's batch size (:func:`nidslab.memory.step_memory`: batch, saved activations, weights, gradients,
    optimiser state), with ``usage``: how busy the device was while it trained
    (:class:`nidslab.memory.DeviceUsage`: GPU utilisation and peak memory, or the CPU's busy cores)."""
    from nidslab.memory import DeviceUsage, step_memory

    s = job["settings"]
    with DeviceUsage() as usage:
        result, model = training.train_eval(s, train, validation, None, seed=job["seed"], threads=job["threads"])
    memory = step_memory(model, train[0].shape[1], s["batch_size"], optimizer=s["optimizer"], lr=s["lr"],
                         class_weighted=s["class_weight"] not in (None, "none"))
    return result, {**memory, "usage": usage.result()}


def fold_task(fold: int, X: np.ndarray, y: np.ndarray, folds: int, seed: int, job: dict[str, Any],
              blocked: bool = False) -> dict[str, Any]:
    """Fold ``fold`` of a stratified ``folds``-fold split (seeded ``seed``; with ``blocked``, contiguous
    blocks in time cut per class, :func:`nidslab.data.prep.blocked_kfold`) of ``X`` (n, k) float32
    (unstandardised, rows in time order) and ``y`` (n,) uint8: a standardiser fitted on the fold's
    training rows, then :func:`fit_task` scored on its test rows. Every task derives the same split, so
    only the fold's number travels with it."""
    from nidslab.data.prep import Standardizer, blocked_kfold, kfold

    splits = blocked_kfold(len(y), folds, y=y) if blocked else kfold(y, n_splits=folds, seed=seed)
    tr, te = list(splits)[fold]
    scaler = Standardizer().fit(X[tr])
    return fit_task(job, (scaler.transform(X[tr]), y[tr]), None, (scaler.transform(X[te]), y[te]))


def folds_task(group: list[int], X: np.ndarray, y: np.ndarray, folds: int, seed: int, job: dict[str, Any],
               blocked: bool = False, mode: str = "shared", progress: Progress | None = None) -> list[dict[str, Any]]:
    """Folds ``group`` of the same split as :func:`fold_task`, trained side by side as one stacked model
    (:func:`nidslab.stacked.cross_validate` in ``mode``: ``"shared"`` batches or ``"own"``); one result
    dict per fold of ``group`` (``test``: the same test metrics as :func:`fit_task`'s). ``progress(done,
    total, message)`` per epoch (in this process only)."""
    from nidslab.data.prep import blocked_kfold, kfold
    from nidslab.stacked import cross_validate
    from nidslab.threads import torch_threads

    splits = list(blocked_kfold(len(y), folds, y=y) if blocked else kfold(y, n_splits=folds, seed=seed))
    spec, config = split_settings(job["settings"])
    config = config.replace(seed=job["seed"], threads=job["threads"])
    with torch_threads(job["threads"]):
        out = cross_validate(X, y, [splits[i] for i in group], spec, config, mode=mode, progress=progress)
    return [{**r, "fold": i, "test": training.report_metrics(r["test"])} for i, r in zip(group, out, strict=True)]


__all__ = ["experiment_task", "fit_task", "fold_task", "folds_task", "seeds_task", "timed_fit_task"]
