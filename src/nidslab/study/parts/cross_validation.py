"""Part 21: cross-validation. Stratified k-fold over every row the study uses (blocked folds, each class cut
into contiguous blocks in time, when the study's split is temporal); per fold a standardiser and class
weights fitted on the fold's training rows, a fresh network, and the fold's test accuracy.

The folds train side by side as one stacked model (:mod:`nidslab.stacked`), ``stacking`` says how:
``"shared"`` (default: one shuffled batch serves every fold, a fold's held-out rows weigh 0 in its loss;
not bit-equal to one-by-one training, per-fold accuracies agree within the folds' spread), ``"own"``
(each fold its own batches: equal to one-by-one training to float rounding) or ``"none"`` (one fold
at a time, as before). On a cluster the folds go out in groups, one stacked model per worker."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from nidslab.study.blocks import Block, Rendered
from nidslab.study.charts import TRAIN, VAL, plt, png_bytes
from nidslab.study.config import Quick, Study, known_experiment, need
from nidslab.study.context import Context
from nidslab.study.numbers import fmt
from nidslab.study.results import doc, optional, to_plain

NAME = "cross_validation"
STACKING = ("shared", "own", "none")
NEEDS: tuple[str, ...] = ()
CACHE = "part"


@dataclass(frozen=True)
class Config:
    TABLE = NAME
    experiment: str = "balanced_2x20"
    folds: int = 10
    seed: int = 1234
    stacking: str = "shared"   # "shared" | "own" | "none": how the folds train (see the module's docstring)
    #: stacked models the folds are split into (parallel tasks on a cluster); a fold sees the same batches
    #: in any group, so the numbers do not depend on it (to float rounding). 0: one group per worker of the
    #: executor (one when the study runs here)
    groups: int = 0

    def __post_init__(self) -> None:
        need(self.folds >= 2, "[cross_validation] folds", "must be at least 2", self.folds)
        need(self.stacking in STACKING, "[cross_validation] stacking", f"must be one of {', '.join(STACKING)}",
             self.stacking)
        need(0 <= self.groups <= self.folds, "[cross_validation] groups",
             "must be between 0 (one per worker) and folds", self.groups)

    def check(self, study: Study) -> None:
        known_experiment(study, "[cross_validation] experiment", self.experiment)

    def quick(self, q: Quick) -> Config:
        folds = min(self.folds, q.folds)
        return dataclasses.replace(self, folds=folds, groups=min(self.groups, folds))


@dataclass
class Result:
    experiment: str = doc("the experiment cross-validated")
    folds: int = doc("folds")
    seed: int = doc("the folds' shuffling seed")
    seconds: float = doc("wall-clock time of every fold, seconds")
    accuracy: dict[str, Any] = doc("test accuracy over folds: mean, sd (population), per_fold")
    balanced_accuracy: dict[str, Any] = doc("test balanced accuracy over folds: mean, sd, per_fold")
    rows: int | None = optional("rows the folds cover")
    kind: str | None = optional("stratified or blocked")
    stacking: str | None = optional("how the folds trained: shared (one batch for all folds, held-out rows "
                                    "weigh 0), own (stacked, each fold its own batches) or none (one by one)")


def cache_settings(cfg: Config, ctx: Context) -> Any:
    return [dataclasses.asdict(cfg), ctx.study.experiment(cfg.experiment).settings()]


def run(cfg: Config, ctx: Context) -> Result:
    from nidslab.study import tasks

    e = ctx.study.experiment(cfg.experiment)
    data = ctx.data
    rows = np.sort(np.concatenate(list(data.split_rows.values())))
    start = time.perf_counter()
    blocked = ctx.study.split == "temporal"
    # each task takes the study's rows (put once) and makes its own fold from (folds, seed, its number)
    job = ctx.job(e.settings())
    if cfg.stacking == "none":
        X, y = ctx.shared(data.X_raw[rows], data.y_all[rows])
        results = ctx.executor.map(tasks.fold_task, range(cfg.folds), X, y, cfg.folds, cfg.seed, job,
                                   blocked, progress=lambda d, t, _m="": ctx.detail(d, t, f"{d}/{t} folds"))
    else:
        n_groups = cfg.groups or (min(cfg.folds, ctx.executor.workers) if ctx.executor.remote else 1)
        groups = [g.tolist() for g in np.array_split(np.arange(cfg.folds), n_groups)]
        if ctx.executor.remote:  # the groups as parallel tasks
            X, y = ctx.shared(data.X_raw[rows], data.y_all[rows])
            done = ctx.executor.map(tasks.folds_task, groups, X, y, cfg.folds, cfg.seed, job, blocked, cfg.stacking,
                                    progress=lambda d, t, _m="": ctx.detail(d, t, f"{d}/{t} groups of folds"))
        else:  # here, group after group, with their epochs' progress
            X, y = data.X_raw[rows], data.y_all[rows]
            done = [tasks.folds_task(g, X, y, cfg.folds, cfg.seed, job, blocked, cfg.stacking, progress=ctx.detail)
                    for g in groups]
        results = [r for group in done for r in group]
    acc = [r["test"]["accuracy"] for r in results]
    bal = [r["test"]["balanced_accuracy"] for r in results]
    seconds = time.perf_counter() - start
    a, b = np.asarray(acc), np.asarray(bal, dtype=np.float64)
    return Result(experiment=e.name, folds=cfg.folds, seed=cfg.seed, rows=len(rows), seconds=seconds,
                  kind="blocked" if blocked else "stratified", stacking=cfg.stacking,
                  accuracy={"mean": float(a.mean()), "sd": float(a.std()), "per_fold": a.tolist()},
                  balanced_accuracy={"mean": float(b.mean()), "sd": float(b.std()), "per_fold": b.tolist()})


def figure(part: dict[str, Any]) -> bytes:
    """Per-fold test accuracy, with the mean and +-1 sd."""
    acc = part["accuracy"]["per_fold"]
    mean, sd = part["accuracy"]["mean"], part["accuracy"]["sd"]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar(range(1, len(acc) + 1), acc, color=TRAIN)
    ax.axhline(mean, color=VAL, label="mean")
    ax.axhspan(mean - sd, mean + sd, color=VAL, alpha=0.2, label="mean +- sd")
    lo = min(acc)
    ax.set_ylim(max(0.0, lo - 0.02), min(1.0, max(acc) + 0.02))
    ax.set_xlabel("fold")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return png_bytes(fig)


def _kind(c: dict[str, Any]) -> str:
    if c.get("kind") == "blocked":
        return "blocked cross-validation (each class cut into contiguous blocks in time, no shuffling)"
    return f"stratified cross-validation (shuffled, random_state {c['seed']})"


def _stacking(how: str | None) -> str:
    if how == "shared":
        return ("the folds trained side by side as one stacked model sharing each shuffled batch (a fold's "
                "held-out rows weigh 0 in its loss)")
    if how == "own":
        return "the folds trained side by side as one stacked model, each fold with its own batches"
    return "one fold at a time"


def render(result: Result, results: dict[str, Any]) -> Rendered:
    c = to_plain(result)
    a = c["accuracy"]
    blocks: list[Block] = [
        ("h2", "Part 21: cross-validation"),
        ("p", f"{fmt(c['folds'], 'int')}-fold {_kind(c)} of "
              f"{c['experiment']}, class weights computed per fold, standardiser fitted per fold, "
              f"{_stacking(c.get('stacking'))}, in "
              f"{fmt(c['seconds'], 's')}: test accuracy mean {fmt(a['mean'], 'acc')}, sd {fmt(a['sd'], 'num')} "
              f"(balanced accuracy mean {fmt(c['balanced_accuracy']['mean'], 'acc')}, sd "
              f"{fmt(c['balanced_accuracy']['sd'], 'num')}). sd as the lab's np.std (population)."),
        ("table", ["fold", "accuracy", "balanced accuracy"],
         [[str(i + 1), fmt(x, "acc"), fmt(y, "acc")]
          for i, (x, y) in enumerate(zip(a["per_fold"], c["balanced_accuracy"]["per_fold"], strict=True))]),
        ("figure", "cross_validation", "Test accuracy per fold; line and band: mean and +-1 sd.")]
    return blocks, {"cross_validation": figure(c)}
