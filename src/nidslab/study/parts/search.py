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

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nidslab.progress import Progress
from nidslab.settings import ACTIVATIONS, OPTIMIZERS
from nidslab.study.blocks import Block, Rendered, experiment_blocks
from nidslab.study.charts import ACCENT, TRAIN, curves, plt, png_bytes
from nidslab.study.config import Experiment, Quick, Study, network, need
from nidslab.study.context import Context, model_key
from nidslab.study.numbers import fmt
from nidslab.study.parts.experiments import ExperimentResult
from nidslab.study.results import doc, from_plain, optional, to_plain

NAME = "search"
NEEDS: tuple[str, ...] = ()
CACHE = "part"


@dataclass(frozen=True)
class Config:
    """The search's space and budgets. The defaults are the lab's (``mirai_lab.toml`` states the same values)."""

    TABLE = NAME
    trials: int = 24
    trials_per_batch: int = 4
    timeout_s: float = 40.0
    fraction: float = 0.1
    epochs: int = 5
    n_layers: tuple[int, int] = (1, 5)
    n_nodes: tuple[int, int] = (10, 64)
    activation: tuple[str, ...] = ("sigmoid", "relu", "tanh", "elu")
    optimizer: tuple[str, ...] = ("sgd", "adam")
    lr: tuple[float, float] = (1e-3, 0.3)
    batch_norm: tuple[bool, ...] = (False, True)
    dropout: tuple[float, float] = (0.05, 0.5)
    batch_size: int = 10_000
    class_weight: str = "balanced"
    final_epochs: int = 20
    depth_timing: tuple[int, ...] = (2, 4, 6, 8, 10)
    depth_timing_nodes: int = 80
    depth_timing_epochs: int = 1

    def __post_init__(self) -> None:
        w = "[search]"
        need(self.trials >= 1, f"{w} trials", "must be at least 1", self.trials)
        need(self.trials_per_batch >= 1, f"{w} trials_per_batch", "must be at least 1", self.trials_per_batch)
        need(self.timeout_s > 0, f"{w} timeout_s", "must be positive", self.timeout_s)
        need(0 < self.fraction <= 1, f"{w} fraction", "must be in (0, 1]", self.fraction)
        for key in ("n_layers", "n_nodes", "lr", "dropout"):
            lo_hi = getattr(self, key)
            need(len(lo_hi) == 2 and lo_hi[0] <= lo_hi[1], f"{w} {key}", "must be [low, high]", lo_hi)
        need(self.n_layers[0] >= 1 and self.n_nodes[0] >= 1, f"{w} n_layers/n_nodes", "must start at 1 or more",
             (self.n_layers, self.n_nodes))
        need(0 < self.lr[0], f"{w} lr", "must be positive", self.lr)
        need(0 <= self.dropout[0] and self.dropout[1] < 1, f"{w} dropout", "must lie in [0, 1)", self.dropout)
        bad_act = [a for a in self.activation if a not in ACTIVATIONS]
        need(not bad_act, f"{w} activation", f"must be drawn from {ACTIVATIONS}", self.activation)
        bad_opt = [o for o in self.optimizer if o not in OPTIMIZERS]
        need(not bad_opt, f"{w} optimizer", f"must be drawn from {OPTIMIZERS}", self.optimizer)
        network(Experiment, {"class_weight": self.class_weight}, "search")
        for key in ("epochs", "final_epochs", "batch_size", "depth_timing_nodes", "depth_timing_epochs"):
            need(getattr(self, key) >= 1, f"{w} {key}", "must be at least 1", getattr(self, key))
        need(all(d >= 1 for d in self.depth_timing), f"{w} depth_timing", "must be positive", self.depth_timing)

    def check(self, study: Study) -> None:
        pass

    def quick(self, q: Quick) -> Config:
        return dataclasses.replace(self, trials=min(self.trials, q.trials), timeout_s=min(self.timeout_s, q.search_timeout_s),
                                   epochs=min(self.epochs, q.search_epochs),
                                   final_epochs=min(self.final_epochs, q.final_epochs),
                                   depth_timing=q.depth_timing, depth_timing_epochs=1)


@dataclass
class Result:
    seed: int = doc("the sampler's seed (the study's)")
    sampler: str = doc("Optuna TPE")
    objective: str = doc("what a trial is scored by: validation balanced accuracy")
    trials_budget: int = doc("trials allowed")
    timeout_s: float = doc("time budget, seconds (checked between batches)")
    trials_per_batch: int = doc("trials proposed and trained together")
    trials_run: int = doc("trials run")
    wall_s: float = doc("the search's wall-clock time, seconds")
    epochs: int = doc("epochs per trial")
    train_rows: int = doc("training rows each trial trained on (a seeded subsample)")
    space: dict[str, list[Any]] = doc("the search space, per setting")
    trials: list[dict[str, Any]] = doc("per trial: number, params, value (validation balanced accuracy), accuracy "
                                       "(validation), seconds, train_seconds")
    best: dict[str, Any] = doc("params, value, trial of the best trial")
    final: ExperimentResult = doc("the best configuration trained on the whole training split, scored on test")
    depth_timing: list[dict[str, Any]] | None = optional("per depth: n_layers, n_nodes, params, timed_rows, "
                                                         "train_rows, seconds_per_epoch")
    depth_slowdown: float | None = optional("seconds per epoch at the deepest over the shallowest")


def cache_settings(cfg: Config, ctx: Context) -> Any:
    return dataclasses.asdict(cfg)


def run(cfg: Config, ctx: Context) -> Result:
    """The Optuna search, the best configuration on the full split, and time against depth."""
    from nidslab.study import tasks

    data = ctx.data

    def train_eval(settings: dict[str, Any], train: Arrays, validation: Arrays | None,
                   test: Arrays | None) -> tuple[dict[str, Any], Any]:
        return ctx.train_eval(settings, train, validation, test)

    def train_many(batch: list[dict[str, Any]], train: Arrays, test: Arrays | None) -> list[dict[str, Any]]:
        """A batch of trials (or timings: ``test`` None) as tasks; ``train`` and ``test`` are put once."""
        return ctx.executor.map(tasks.fit_task, [ctx.job(settings) for settings in batch],
                                *ctx.shared(train, None, test))

    out, model = run_search(cfg, data.train, data.validation, data.test, train_eval, seed=ctx.seed,
                            detail=ctx.detail, train_many=train_many)
    ctx.models[model_key(out["final"]["settings"])] = (out["final"], model)
    depth = depth_timing(cfg, out["best"]["params"], data.train, train_eval, detail=ctx.detail,
                         train_many=train_many)
    out["depth_timing"] = depth
    out["depth_slowdown"] = depth[-1]["seconds_per_epoch"] / depth[0]["seconds_per_epoch"] if len(depth) > 1 else None
    return from_plain(Result, out, NAME)


Arrays = tuple[np.ndarray, np.ndarray]
#: train_eval(settings, train, validation, test) -> (result dict with "test" metrics, trained model)
TrainEval = Callable[[dict[str, Any], Arrays, Arrays | None, Arrays | None], tuple[dict[str, Any], Any]]
#: train_many(list of settings, train, test) -> their result dicts (with "test" metrics), in order
TrainMany = Callable[[list[dict[str, Any]], Arrays, Arrays | None], list[dict[str, Any]]]

OBJECTIVE = "validation balanced accuracy"


def _suggest(trial: Any, cfg: Config) -> dict[str, Any]:
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


def trial_settings(params: dict[str, Any], cfg: Config, epochs: int) -> dict[str, Any]:
    """Full experiment settings (as :meth:`Experiment.settings`) for searched ``params``."""
    return {**params, "batch_size": cfg.batch_size, "epochs": epochs, "class_weight": cfg.class_weight}


def run_search(cfg: Config, train: Arrays, validation: Arrays, test: Arrays, train_eval: TrainEval, *,
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
        def train_many(batch: list[dict[str, Any]], tr: Arrays, te: Arrays | None) -> list[dict[str, Any]]:
            return [train_eval(settings, tr, None, te)[0] for settings in batch]

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(8, max(1, cfg.trials // 3)))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    start = time.perf_counter()
    while len(trials) < cfg.trials and (not trials or time.perf_counter() - start < cfg.timeout_s):
        asked = [study.ask() for _ in range(min(cfg.trials_per_batch, cfg.trials - len(trials)))]
        params = [_suggest(t, cfg) for t in asked]
        t0 = time.perf_counter()
        results = train_many([trial_settings(p, cfg, cfg.epochs) for p in params], sub, validation)
        seconds = (time.perf_counter() - t0) / len(asked)  # the batch's wall time, shared out
        for trial, p, result in zip(asked, params, results, strict=True):
            scores = result["test"]  # train_eval scores the split it is handed as test: here the validation split
            value = scores["balanced_accuracy"]
            value = 0.0 if value is None or not np.isfinite(value) else float(value)
            study.tell(trial, value)
            trials.append({"number": trial.number, "params": p, "value": value,
                           "accuracy": scores["accuracy"], "seconds": seconds,
                           "train_seconds": result["train_seconds"]})
            if detail:
                detail(len(trials), cfg.trials, f"trial {trial.number}: {OBJECTIVE} {value:.4f}")
    wall = time.perf_counter() - start

    best = max(trials, key=lambda t: t["value"])
    if detail:
        detail(len(trials), cfg.trials, f"training the best configuration for {cfg.final_epochs} epochs")
    final, model = train_eval(trial_settings(best["params"], cfg, cfg.final_epochs), train, validation, test)
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


def depth_timing(cfg: Config, best_params: dict[str, Any], train: Arrays, train_eval: TrainEval,
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

    batch = [trial_settings({**best_params, "n_layers": depth, "n_nodes": cfg.depth_timing_nodes}, cfg,
                         cfg.depth_timing_epochs) for depth in cfg.depth_timing]
    return [{"n_layers": depth, "n_nodes": cfg.depth_timing_nodes, "params": result["params"],
             "timed_rows": rows, "train_rows": n,
             "seconds_per_epoch": float(min(result["history"]["epoch_seconds"])) * n / rows}
            for depth, result in zip(cfg.depth_timing, train_many(batch, sub, None))]


def trials_figure(part: dict[str, Any]) -> bytes | None:
    """Each Optuna trial's validation score in trial order, and the best so far."""
    trials = [t for t in part.get("trials", []) if t.get("value") is not None]
    if not trials:
        return None
    x = [t["number"] for t in trials]
    v = [t["value"] for t in trials]
    best, run_max = [], float("-inf")
    for value in v:
        run_max = max(run_max, value)
        best.append(run_max)
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.scatter(x, v, color=TRAIN, s=18, label="trial")
    ax.step(x, best, where="post", color=ACCENT, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(part.get("objective", "validation score"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def depth_figure(part: dict[str, Any]) -> bytes | None:
    """Seconds per training epoch against the number of hidden layers."""
    rows = part.get("depth_timing") or []
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r["n_layers"] for r in rows], [r["seconds_per_epoch"] for r in rows], "o-", color=TRAIN)
    ax.set_xlabel(f"hidden layers ({rows[0]['n_nodes']} nodes each)")
    ax.set_ylabel("seconds per epoch")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return png_bytes(fig)


def render(result: Result, results: dict[str, Any]) -> Rendered:
    s = to_plain(result)
    best = s["best"]["params"]
    b: list[Block] = [
        ("h2", "Part 19: the best configuration (search)"),
        ("p", f"Optuna TPE sampler, seed {s['seed']}: {fmt(s['trials_run'], 'int')} trials (budget "
              f"{fmt(s['trials_budget'], 'int')} trials or {fmt(s['timeout_s'], 's')}) in {fmt(s['wall_s'], 's')}. Each trial "
              f"trained for {fmt(s['epochs'], 'int')} epochs on {fmt(s['train_rows'], 'int')} training rows and was scored "
              f"by its {s['objective']}. Space: {json.dumps(s['space'])}."),
        ("table", ["setting", "chosen"], [[k, fmt(v, "num") if isinstance(v, float) else str(v)] for k, v in best.items()]),
        ("figure", "search_trials", "Validation score of each trial, and the best so far."),
    ]
    figures: dict[str, bytes | None] = {"search_trials": trials_figure(s), "depth_timing": depth_figure(s)}
    if s.get("final"):
        b += experiment_blocks("search_final", s["final"], "curves_search_final")
        figures["curves_search_final"] = curves(s["final"])
    if s.get("depth_timing"):
        b.append(("h3", "Training time against depth"))
        b.append(("table", ["hidden layers", "nodes", "parameters", "seconds per epoch"],
                  [[fmt(d["n_layers"], "int"), fmt(d["n_nodes"], "int"), fmt(d["params"], "int"),
                    fmt(d["seconds_per_epoch"], "s")] for d in s["depth_timing"]]))
        d0 = s["depth_timing"][0]
        if d0.get("timed_rows") and d0["timed_rows"] < d0.get("train_rows", 0):
            b.append(("p", f"Each depth was timed for one epoch on {fmt(d0['timed_rows'], 'int')} of the "
                           f"{fmt(d0['train_rows'], 'int')} training rows and scaled to a full epoch."))
        b.append(("figure", "depth_timing", "Seconds per training epoch against the number of hidden layers."))
    return b, {k: v for k, v in figures.items() if v is not None}
