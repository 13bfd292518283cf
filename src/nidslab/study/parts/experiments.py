"""Parts 10-18: the lab's networks, one per ``[experiments.NAME]`` table, each trained on the lab's split
and scored on its test split. Each experiment is cached on its own, so a changed experiment alone re-runs.

An experiment with ``seeds = N`` (its table or ``[defaults]``) is also retrained from the N - 1 seeds
after the study's; its result's ``seed_runs`` holds every seed's test and validation accuracy, this run's
first. How they train is ``[study] stacking``:

- ``"shared"`` (default): the networks the cache lacks are grouped by shape (layers, nodes, batch norm),
  batch size, epochs and whether they have dropout (:func:`nidslab.study.training.stack_key`; activation,
  dropout rate, class weights, learning rate and the optimiser between SGD and Adam may differ), the
  other seeds' networks included, and each group trains as one stacked model on the study seed's shuffle
  (:func:`nidslab.study.training.train_stacked`: one gather per step for the whole group). A network of
  the study's seed sees the batches one-by-one training gives it, so its numbers are one-by-one's to
  float rounding; a network of another seed differs from it in initial weights and dropout masks only
  (not in the order of its batches): the seed spread the report quotes is over initialisation and
  dropout. The group's time is booked to its first experiment's unit; each result's ``stacked`` says
  which networks trained together.
- ``"none"``: one network at a time, each seed with its own shuffle (its other seeds stacked with their
  own batches, equal to one-by-one training).

On a cluster every group the cache lacks trains at once, as parallel tasks."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from nidslab.study.blocks import Block, Rendered, experiment_blocks
from nidslab.study.charts import curves
from nidslab.study.config import Experiment
from nidslab.study.context import Context, model_key
from nidslab.study.numbers import fmt
from nidslab.study.results import doc, from_plain, optional, to_plain

NAME = "experiments"
NEEDS: tuple[str, ...] = ()
CACHE = "self"  # one cache entry per experiment
Config = None   # its tables are the study's [experiments.NAME]; see nidslab.study.config.Experiment
TABLES = "[experiments.NAME] (and [defaults])"


@dataclass
class ExperimentResult:
    """One trained network (also the search's final network)."""

    settings: dict[str, Any] = doc("n_layers, n_nodes, activation, batch_norm, dropout, optimizer, lr, batch_size, "
                                   "epochs, class_weight")
    params: int = doc("trainable parameters")
    init: dict[str, Any] = doc("the first Dense layer's initial weights: fan_in, fan_out, glorot_limit, "
                               "max_abs_weight, weight_std, max_abs_bias")
    train_seconds: float = doc("wall-clock training time, seconds")
    history: dict[str, list[float]] = doc("per epoch: loss, accuracy, val_loss, val_accuracy, epoch_seconds")
    test: dict[str, Any] = doc("test metrics: loss, accuracy, balanced_accuracy, roc_auc, precision, recall, f1, "
                               "positive_rate, confusion_matrix [[tn, fp], [fn, tp]]")
    title: str = doc("the experiment's title")
    part: str = doc("the lab's part, e.g. Part 12")
    updates_per_epoch: int | None = optional("weight updates per epoch")
    seed_runs: dict[str, list[float]] | None = optional(
        "the same experiment retrained with other seeds: seeds, test_accuracy, test_balanced_accuracy, "
        "val_accuracy (one entry per seed, this run's seed first); None where the study trains one seed")
    stacked: dict[str, Any] | None = optional(
        "trained side by side with other networks as one stacked model on one shared shuffle: networks (how "
        "many, this one included), seconds (the stacked run's wall time; train_seconds is its share), with "
        "(the others, as NAME or NAME seed N); None: trained alone")
    seed_shuffle: str | None = optional(
        "the other seeds' shuffle: shared (the study seed's, one stacked model) or own (each seed its own); "
        "None without seed runs")


#: the part's result: each experiment's, by name, in the study's order
Result = dict[str, ExperimentResult]


def units(study: Any) -> list[str]:
    """Progress and cache units: one per experiment."""
    return [f"experiments/{e.name}" for e in study.experiments]


def cache_key(e: Experiment, stacking: str = "none") -> dict[str, Any]:
    """What experiment ``e``'s cached result depends on besides the data: its settings (and its seeds, and
    with ``stacking = "shared"`` that its other seeds share the study seed's shuffle)."""
    if e.seeds == 1:
        return e.settings()
    return {**e.settings(), "seeds": e.seeds} if stacking == "none" else {**e.settings(), "seeds": e.seeds,
                                                                          "seed_shuffle": "shared"}


def other_seeds(ctx: Context, e: Experiment) -> list[int]:
    """The seeds ``e`` is retrained with besides the study's: the next ``e.seeds - 1``."""
    return [ctx.seed + i for i in range(1, e.seeds)]


def train_one(ctx: Context, e: Experiment) -> dict[str, Any]:
    """One of the lab's networks on the lab's split (its result dict, before the title is added), and its
    other seeds' runs (``seed_runs``) when ``e.seeds > 1``."""
    from nidslab.study.training import seed_runs

    result, model = ctx.train_eval(e.settings(), ctx.data.train, ctx.data.validation, ctx.data.test)
    ctx.models[model_key(e.settings())] = (result, model)  # a later part on the same split reuses it
    if e.seeds > 1:
        runs = seed_runs(e.settings(), other_seeds(ctx, e), ctx.data.train, ctx.data.validation, ctx.data.test,
                         threads=ctx.threads, detail=ctx.detail)
        result["seed_runs"] = with_this_run(result, ctx.seed, runs)
        result["seed_shuffle"] = "own"
    return result


def with_this_run(result: dict[str, Any], seed: int, runs: dict[str, list[float]]) -> dict[str, list[float]]:
    """``runs`` (other seeds') with this run's seed and numbers first."""
    val = result["history"].get("val_accuracy") or [float("nan")]
    first = {"seeds": seed, "test_accuracy": result["test"]["accuracy"],
             "test_balanced_accuracy": result["test"]["balanced_accuracy"], "val_accuracy": val[-1]}
    return {k: [first[k], *runs[k]] for k in first}


def run(cfg: None, ctx: Context) -> Result:
    ahead = _ahead(ctx)
    out: Result = {}
    for i, e in enumerate(ctx.study.experiments):
        unit = f"experiments/{e.name}"
        r = ctx.cached(unit, cache_key(e, ctx.study.stacking), functools.partial(_trained, ctx, i, ahead))
        out[e.name] = from_plain(ExperimentResult, {**r, "title": e.title or e.name, "part": e.part}, unit)
    return out


Run = tuple[Experiment, int]  # an experiment's network at one seed


def groups(ctx: Context, todo: list[Experiment]) -> list[list[Run]]:
    """The networks ``todo`` needs (each at the study's seed, then its other seeds), grouped by
    :func:`nidslab.study.training.stack_key` in the study's order: each group trains as one stacked model."""
    from nidslab.study.training import stack_key

    by: dict[str, list[Run]] = {}
    for e in todo:
        key = stack_key(e.settings())
        by.setdefault(key, []).extend([(e, ctx.seed)] + [(e, s) for s in other_seeds(ctx, e)])
    return list(by.values())


def alone(group: list[Run]) -> bool:
    """Whether ``group`` trains one network at a time (:func:`train_one`): a single network."""
    return len(group) == 1


def _label(run: Run, seed: int) -> str:
    return run[0].name if run[1] == seed else f"{run[0].name} seed {run[1]}"


def assemble(ctx: Context, group: list[Run], trained: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each experiment's result from its group's trained networks (``trained[i]`` is ``group[i]``'s result
    dict): its study-seed network's result, its other seeds' ``seed_runs``, ``stacked`` and ``seed_shuffle``."""
    out: dict[str, dict[str, Any]] = {}
    labels = [_label(r, ctx.seed) for r in group]
    for e in dict.fromkeys(r[0] for r in group):
        mine = [(r[1], res) for r, res in zip(group, trained, strict=True) if r[0] is e]
        result = dict(next(res for s, res in mine if s == ctx.seed))
        stacked = result.pop("stacked", None)
        if stacked is not None and len(group) > 1:
            result["stacked"] = {**stacked, "with": [lab for lab, r in zip(labels, group, strict=True)
                                                     if not (r[0] is e and r[1] == ctx.seed)]}
        others = [(s, res) for s, res in mine if s != ctx.seed]
        if others:
            runs = {"seeds": [s for s, _ in others],
                    "test_accuracy": [res["test"]["accuracy"] for _, res in others],
                    "test_balanced_accuracy": [res["test"]["balanced_accuracy"] for _, res in others],
                    "val_accuracy": [(res["history"].get("val_accuracy") or [float("nan")])[-1] for _, res in others]}
            result["seed_runs"] = with_this_run(result, ctx.seed, runs)
            result["seed_shuffle"] = "shared"
        out[e.name] = result
    return out


def train_group(ctx: Context, group: list[Run]) -> dict[str, dict[str, Any]]:
    """One group here, now: one network alone as ``fit`` trains it, several as one stacked model."""
    from nidslab.study.training import train_stacked

    if alone(group):
        return {group[0][0].name: train_one(ctx, group[0][0])}
    trained = train_stacked([(e.settings(), s) for e, s in group], ctx.data.train, ctx.data.validation,
                            ctx.data.test, shuffle_seed=ctx.seed, threads=ctx.threads, detail=ctx.detail)
    for (e, s), (result, model) in zip(group, trained, strict=True):
        if s == ctx.seed:  # a later part on the same split reuses it
            ctx.models[model_key(e.settings())] = (result, model)
    return assemble(ctx, group, [r for r, _ in trained])


def _trained(ctx: Context, i: int, ahead: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Experiment ``i``'s result: trained ahead (on the cluster, or with an earlier experiment of its
    group), or here, now (with ``stacking = "shared"``: its whole group, the experiments after it that the
    cache lacks, whose results wait in ``ahead``)."""
    e = ctx.study.experiments[i]
    if e.name in ahead:
        return ahead.pop(e.name)
    if ctx.study.stacking == "none":
        return train_one(ctx, e)
    todo = [x for x in ctx.study.experiments[i + 1:]
            if not ctx.has_cached(f"experiments/{x.name}", cache_key(x, ctx.study.stacking))]
    group = next(g for g in groups(ctx, [e, *todo]) if g[0][0] is e)
    done = train_group(ctx, group)
    ahead.update({name: r for name, r in done.items() if name != e.name})
    return done[e.name]


def _ahead(ctx: Context) -> dict[str, dict[str, Any]]:
    """On a cluster, every experiment the cache lacks, trained at once as parallel tasks (one per group,
    or per experiment and seed group with ``stacking = "none"``), by name (in this process: none; each
    trains in its turn, with its epochs' progress)."""
    from nidslab.study import tasks

    if not ctx.executor.remote:
        return {}
    stacking = ctx.study.stacking
    todo = [e for e in ctx.study.experiments if not ctx.has_cached(f"experiments/{e.name}", cache_key(e, stacking))]
    if not todo:
        return {}
    data = ctx.shared(ctx.data.train, ctx.data.validation, ctx.data.test)

    def progress(done: int, total: int | None, message: str = "") -> None:
        ctx.detail(done, total, f"{done}/{total} experiments and seed groups")

    out: dict[str, dict[str, Any]] = {}
    gs: list[list[Run]] = []
    if stacking == "shared":
        gs = [g for g in groups(ctx, todo) if not alone(g)]
        stacked_names = {e.name for g in gs for e, _ in g}
        todo = [e for e in todo if e.name not in stacked_names]
    jobs = [("stacked", {"runs": [(e.settings(), s) for e, s in g], "seed": ctx.seed, "threads": ctx.threads})
            for g in gs]
    many = [e for e in todo if e.seeds > 1]
    done = ctx.executor.map(tasks.experiment_task, jobs + [("fit", ctx.job(e.settings())) for e in todo] +
                            [("seeds", {**ctx.job(e.settings()), "seeds": other_seeds(ctx, e)}) for e in many],
                            *data, progress=progress)
    for g, r in zip(gs, done[:len(gs)], strict=True):
        out.update(assemble(ctx, g, r))
    done = done[len(gs):]
    out.update(zip([e.name for e in todo], done[:len(todo)], strict=True))
    for e, runs in zip(many, done[len(todo):], strict=True):
        out[e.name]["seed_runs"] = with_this_run(out[e.name], ctx.seed, runs)
        out[e.name]["seed_shuffle"] = "own"
    return out


def render(result: Result, results: dict[str, Any]) -> Rendered:
    if not result:
        return [], {}
    blocks: list[Block] = [("h2", "Parts 10-18: the lab's networks")]
    figures = {}
    for name, e in result.items():
        d = to_plain(e)
        blocks += experiment_blocks(name, d, f"curves_{name}")
        figures[f"curves_{name}"] = curves(d)
    blocks += seed_runs_blocks(result)
    return blocks, figures


def seed_runs_blocks(result: Result) -> list[Block]:
    """A plain table of the experiments retrained with several seeds (none when no experiment was)."""
    import numpy as np

    rows = []
    for name, e in result.items():
        runs = e.seed_runs
        if not runs:
            continue
        acc, bal = np.asarray(runs["test_accuracy"]), np.asarray(runs["test_balanced_accuracy"])
        rows.append([f"{e.title} ({name})", ", ".join(str(s) for s in runs["seeds"]),
                     ", ".join(fmt(a, "acc") for a in acc), f"{fmt(float(acc.mean()), 'acc')} +- {fmt(float(acc.std()), 'acc')}",
                     f"{fmt(float(bal.mean()), 'acc')} +- {fmt(float(bal.std()), 'acc')}"])
    if not rows:
        return []
    shared = any(e.seed_shuffle == "shared" for e in result.values() if e.seed_runs)
    own = [name for name, e in result.items() if e.seed_runs and e.seed_shuffle != "shared"]
    how = ("other initial weights and dropout masks, the same shuffle: the study seed's, the seeds trained side by "
           "side as one stacked model with one shared batch per step; so the spread leaves out the order of the "
           "batches" if shared else "other initial weights, shuffles and dropout masks, the other seeds trained "
                                    "side by side as one stacked model, each with its own batches")
    if shared and own:
        how += f"; except {', '.join(own)}: each seed with its own shuffle, one network at a time"
    return [("h3", "Repeated seeds"),
            ("p", f"The same networks retrained from other seeds ({how}; the first seed is the run above). "
                  "Mean +- sd over seeds (population sd, as np.std)."),
            ("table", ["experiment", "seeds", "test accuracy per seed", "test accuracy", "balanced accuracy"], rows)]
