"""Part 19: the best configuration, by an Optuna TPE search, and training time against depth.

Trials train on a seeded subsample of the training split for a few epochs and are scored by their
balanced accuracy on the whole validation split (plain accuracy would reward predicting the majority
class). Trials run in batches of ``trials_per_batch``: the sampler proposes a whole batch (Optuna's
ask), the batch trains (in parallel on a cluster), then its scores are told to the sampler. The batch
size is a study setting, not the number of workers, so a study proposes the same trials wherever it
runs. The search stops at the trial budget, or at the time budget, which is checked between batches
only: a started batch always finishes, and a budget long enough for every batch makes the trials the
same on any machine. The best
configuration is then trained on the whole training split for ``final_epochs`` and scored on the test
split, which the search never saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from nidslab.progress import Progress
from nidslab.study.config import Search

Arrays = tuple[np.ndarray, np.ndarray]
#: train_eval(settings, train, validation, test) -> (result dict with "test" metrics, trained model)
TrainEval = Callable[[dict[str, Any], Arrays, Arrays | None, Arrays], tuple[dict[str, Any], Any]]
#: train_many(list of settings, train, test) -> their result dicts (with "test" metrics), in order
TrainMany = Callable[[list[dict[str, Any]], Arrays, Arrays], list[dict[str, Any]]]

OBJECTIVE = "validation balanced accuracy"


def _suggest(trial: Any, cfg: Search) -> dict[str, Any]:
    p = {
        "n_layers": trial.suggest_int("n_layers", *cfg.n_layers),
        "n_nodes": trial.suggest_int("n_nodes", *cfg.n_nodes, log=True),
        "activation": trial.suggest_categorical("activation", list(cfg.activation)),
        "optimizer": trial.suggest_categorical("optimizer", list(cfg.optimizer)),
        "lr": trial.suggest_float("lr", *cfg.lr, log=True),
        "batch_norm": trial.suggest_categorical("batch_norm", list(cfg.batch_norm)),
    }
    lo, hi = cfg.dropout
    p["dropout"] = trial.suggest_float("dropout", lo, hi) if hi > lo else lo
    return p


def settings_of(params: dict[str, Any], cfg: Search, epochs: int) -> dict[str, Any]:
    """Full experiment settings (as :meth:`Experiment.settings`) for searched ``params``."""
    return {**params, "batch_size": cfg.batch_size, "epochs": epochs, "class_weight": cfg.class_weight}


def run_search(cfg: Search, train: Arrays, validation: Arrays, test: Arrays, train_eval: TrainEval, *,
               seed: int = 0, detail: Progress | None = None,
               train_many: TrainMany | None = None) -> tuple[dict[str, Any], Any]:
    """Search, then train the best configuration on the whole training split.

    ``train_many`` trains one batch of trials (default: one after another with ``train_eval``); a
    cluster passes one that trains them in parallel. The results do not depend on which is used.

    Returns (the ``search`` part of results.json, the final trained model). The dict holds ``trials``
    (number, params, value, accuracy, seconds), ``best`` (params, value), ``final`` (an experiment
    result on the test split), the budgets, and the wall time.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(seed)
    n = len(train[1])
    rows = np.sort(rng.choice(n, size=max(1, int(round(cfg.fraction * n))), replace=False)) if cfg.fraction < 1 else None
    sub = (train[0][rows], train[1][rows]) if rows is not None else train
    trials: list[dict[str, Any]] = []
    if train_many is None:
        def train_many(batch: list[dict[str, Any]], tr: Arrays, te: Arrays) -> list[dict[str, Any]]:
            return [train_eval(settings, tr, None, te)[0] for settings in batch]

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(8, max(1, cfg.trials // 3)))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    start = time.perf_counter()
    while len(trials) < cfg.trials and (not trials or time.perf_counter() - start < cfg.timeout_s):
        asked = [study.ask() for _ in range(min(cfg.trials_per_batch, cfg.trials - len(trials)))]
        params = [_suggest(t, cfg) for t in asked]
        t0 = time.perf_counter()
        results = train_many([settings_of(p, cfg, cfg.epochs) for p in params], sub, validation)
        seconds = (time.perf_counter() - t0) / len(asked)  # the batch's wall time, shared out
        for trial, p, result in zip(asked, params, results):
            value = result["test"]["balanced_accuracy"]
            value = 0.0 if value is None or not np.isfinite(value) else float(value)
            study.tell(trial, value)
            trials.append({"number": trial.number, "params": p, "value": value,
                           "accuracy": result["test"]["accuracy"], "seconds": seconds,
                           "train_seconds": result["train_seconds"]})
            if detail:
                detail(len(trials), cfg.trials, f"trial {trial.number}: {OBJECTIVE} {value:.4f}")
    wall = time.perf_counter() - start

    best = max(trials, key=lambda t: t["value"])
    if detail:
        detail(len(trials), cfg.trials, f"training the best configuration for {cfg.final_epochs} epochs")
    final, model = train_eval(settings_of(best["params"], cfg, cfg.final_epochs), train, validation, test)
    final["title"] = "best configuration found by the search"
    final["part"] = "Part 19"
    out = {
        "seed": seed,
        "sampler": "Optuna TPE",
        "objective": OBJECTIVE,
        "trials_budget": cfg.trials,
        "timeout_s": cfg.timeout_s,
        "trials_per_batch": cfg.trials_per_batch,
        "trials_run": len(trials),
        "wall_s": wall,
        "epochs": cfg.epochs,
        "train_rows": int(len(sub[1])),
        "space": {"n_layers": list(cfg.n_layers), "n_nodes": list(cfg.n_nodes), "activation": list(cfg.activation),
                  "optimizer": list(cfg.optimizer), "lr": list(cfg.lr), "batch_norm": list(cfg.batch_norm),
                  "dropout": list(cfg.dropout)},
        "trials": trials,
        "best": {"params": best["params"], "value": best["value"], "trial": best["number"]},
        "final": final,
    }
    return out, model


#: rows each depth is timed on; the epoch time is scaled to the whole training split (it is linear in rows)
DEPTH_TIMING_ROWS = 200_000


def depth_timing(cfg: Search, best_params: dict[str, Any], train: Arrays, train_eval: TrainEval,
                 *, detail: Progress | None = None, train_many: TrainMany | None = None) -> list[dict[str, Any]]:
    """Seconds per training epoch for the best configuration at each depth in ``cfg.depth_timing``
    (``cfg.depth_timing_nodes`` nodes per layer). Each depth trains on the first
    :data:`DEPTH_TIMING_ROWS` training rows and the time is scaled to a whole-split epoch. The fastest of
    ``depth_timing_epochs`` epochs is kept, so one-off start-up costs do not count. ``train_many``
    (as :func:`run_search`'s, called with no test split) times every depth at once on a cluster."""
    n = len(train[1])
    rows = min(n, DEPTH_TIMING_ROWS)
    sub = (train[0][:rows], train[1][:rows])
    if train_many is None:
        def train_many(batch: list[dict[str, Any]], tr: Arrays, te: Arrays | None) -> list[dict[str, Any]]:
            out = []
            for i, settings in enumerate(batch):
                if detail:
                    detail(i, len(batch), f"timing {settings['n_layers']} x {settings['n_nodes']}")
                out.append(train_eval(settings, tr, None, te)[0])
            return out

    batch = [settings_of({**best_params, "n_layers": depth, "n_nodes": cfg.depth_timing_nodes}, cfg,
                         cfg.depth_timing_epochs) for depth in cfg.depth_timing]
    return [{"n_layers": depth, "n_nodes": cfg.depth_timing_nodes, "params": result["params"],
             "timed_rows": rows, "train_rows": n,
             "seconds_per_epoch": float(min(result["history"]["epoch_seconds"])) * n / rows}
            for depth, result in zip(cfg.depth_timing, train_many(batch, sub, None))]
